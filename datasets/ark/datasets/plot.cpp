// PNG figures: a BGR cv::Mat is drawn with OpenCV's imgproc, encoded with libpng and written with
// io::write_file_atomic. Layout constants are in pixels at the default sizes; text is measured
// with cv::getTextSize so margins follow the labels actually drawn. What the figures promise:
// plot.h. Not here: interactive output, fonts beyond Hershey's ASCII, log axes.
#include "ark/datasets/plot.h"

#include <png.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>

#include "ark/core/error.h"
#include "ark/io/file.h"
#include "ark/ops/ops.h"

namespace ark::datasets {

namespace {

namespace fs = std::filesystem;

constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr int kShift = 4;  // sub-pixel bits for cv::line / cv::circle: smooth curves at any scale
const cv::Scalar kWhite(255, 255, 255), kText(30, 30, 30), kAxis(80, 80, 80), kGrid(228, 228, 228);
// matplotlib's tab10 (the default colour cycle), BGR.
const cv::Scalar kPalette[] = {{180, 119, 31}, {14, 127, 255},  {44, 160, 44},   {40, 39, 214},  {189, 103, 148},
                               {75, 86, 140},  {194, 119, 227}, {127, 127, 127}, {34, 189, 188}, {207, 190, 23}};

// Values this large would overflow the range arithmetic (max - min); they are left out like NaN.
constexpr double kMaxValue = 1e300;
bool usable(double v) { return std::isfinite(v) && std::abs(v) <= kMaxValue; }

// The Hershey font has ASCII only: each UTF-8 sequence becomes one '?', control characters a space.
std::string ascii(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80)
      out += (c < 0x20 || c == 0x7f) ? ' ' : static_cast<char>(c);
    else if ((c & 0xC0) != 0x80)
      out += '?';  // a lead byte; continuation bytes are skipped
  }
  return out;
}

int text_width(const std::string& s, double scale, int thickness) {
  int baseline = 0;
  return s.empty() ? 0 : cv::getTextSize(s, kFont, scale, thickness, &baseline).width;
}
int text_height(double scale, int thickness) {
  int baseline = 0;
  return cv::getTextSize("Ag", kFont, scale, thickness, &baseline).height;
}

// Shortens `s` with "..." until it fits `max_width` at `scale`.
std::string fit(const std::string& s, double scale, int thickness, int max_width) {
  std::string t = ascii(s);
  if (text_width(t, scale, thickness) <= max_width) return t;
  while (!t.empty() && text_width(t + "...", scale, thickness) > max_width) t.pop_back();
  return t.empty() ? std::string() : t + "...";
}

enum class Align { kLeft, kCenter, kRight };

// Draws `s` with its baseline at y; x is the left edge, the centre or the right edge.
void put(cv::Mat& img, const std::string& s, int x, int y, double scale, const cv::Scalar& color, int thickness = 1,
         Align align = Align::kLeft) {
  if (s.empty()) return;
  const int w = text_width(s, scale, thickness);
  if (align == Align::kCenter) x = std::clamp(x - w / 2, 2, std::max(2, img.cols - w - 2));  // keep edge ticks inside
  if (align == Align::kRight) x -= w;
  cv::putText(img, s, {x, y}, kFont, scale, color, thickness, cv::LINE_AA);
}

// Draws `s` turned 90 degrees counter-clockwise (read bottom to top). cv::putText cannot rotate,
// so the text is drawn as a mask, the mask rotated and the colour blended through it (keeps the
// anti-aliasing over any background). (cx, y): the text's horizontal centre line is at cx; it
// starts at y and goes up (kLeft), is centred on y (kCenter) or ends at y (kRight).
void put_vertical(cv::Mat& img, const std::string& s, int cx, int y, double scale, const cv::Scalar& color,
                  int thickness = 1, Align align = Align::kCenter) {
  if (s.empty()) return;
  int baseline = 0;
  const cv::Size size = cv::getTextSize(s, kFont, scale, thickness, &baseline);
  cv::Mat mask = cv::Mat::zeros(size.height + baseline + 2, size.width + 2, CV_8UC1);
  cv::putText(mask, s, {1, size.height + 1}, kFont, scale, cv::Scalar(255), thickness, cv::LINE_AA);
  cv::rotate(mask, mask, cv::ROTATE_90_COUNTERCLOCKWISE);  // now (text width) tall
  const int left = cx - mask.cols / 2;
  int top = y - mask.rows / 2;
  if (align == Align::kLeft) top = y - mask.rows;
  if (align == Align::kRight) top = y;
  const cv::Rect dst = cv::Rect(left, top, mask.cols, mask.rows) & cv::Rect(0, 0, img.cols, img.rows);
  for (int r = dst.y; r < dst.y + dst.height; ++r) {
    auto* px = img.ptr<cv::Vec3b>(r);
    const uint8_t* m = mask.ptr<uint8_t>(r - top);
    for (int c = dst.x; c < dst.x + dst.width; ++c) {
      const double a = m[c - left] / 255.0;
      for (int k = 0; k < 3; ++k) px[c][k] = cv::saturate_cast<uint8_t>(px[c][k] * (1 - a) + color[k] * a);
    }
  }
}

// ---- axis ticks ----

struct Axis {
  double lo = 0, hi = 1;  // the drawn range
  std::vector<double> ticks;
  std::vector<std::string> labels;
};

// The smallest 1-2-5 step (times a power of ten) that cuts `span` into at most `target` parts.
double nice_step(double span, int target) {
  const double raw = span / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  return (f <= 1.0 + 1e-9 ? 1.0 : f <= 2.0 + 1e-9 ? 2.0 : f <= 5.0 + 1e-9 ? 5.0 : 10.0) * mag;
}

std::string format_tick(double v, double step, double max_abs) {
  char buf[64];
  if (max_abs >= 1e6 || step < 1e-4) {
    // Scientific: enough significant digits to tell neighbouring ticks apart.
    const int digits =
        std::clamp(static_cast<int>(std::floor(std::log10(max_abs)) - std::floor(std::log10(step))) + 1, 1, 15);
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  } else {
    const int decimals = std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 10);
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  }
  return buf;
}

// Data range [dmin, dmax] (dmin > dmax: no data) -> drawn range with a 4 % margin, as matplotlib's
// default, and the 1-2-5 ticks inside it.
Axis make_axis(double dmin, double dmax, int target_ticks) {
  Axis a;
  if (dmin > dmax) dmin = 0, dmax = 1;
  double span = dmax - dmin;
  // A constant series (or one whose spread is below double resolution) gets a range around it.
  if (span <= std::max(std::abs(dmin), std::abs(dmax)) * 1e-12) {
    const double pad = dmax == 0 ? 1.0 : std::abs(dmax) * 0.1;
    dmin -= pad, dmax += pad;
    span = dmax - dmin;
  }
  a.lo = dmin - 0.04 * span;
  a.hi = dmax + 0.04 * span;
  const double max_abs = std::max(std::abs(a.lo), std::abs(a.hi));
  // A range that falls between two multiples of the step gets a finer step: at least two ticks.
  for (int attempt = 0; attempt < 4 && a.ticks.size() < 2; ++attempt, target_ticks *= 2) {
    a.ticks.clear();
    a.labels.clear();
    const double step = nice_step(a.hi - a.lo, target_ticks);
    for (double k = std::ceil(a.lo / step); k <= std::floor(a.hi / step) && a.ticks.size() < 50; k += 1) {
      double t = k * step;
      if (std::abs(t) < step * 1e-9) t = 0;  // no "-0.00"
      a.ticks.push_back(t);
      a.labels.push_back(format_tick(t, step, max_abs));
    }
  }
  return a;
}

// libpng rather than cv::imencode: OpenCV's codec library (Debian's, built with GDAL and friends)
// maps ~140 libraries, which added 47 MB to the resident size of a fine-tuning run at its first
// figure, more than anything the run itself allocates at that point.
void encode_and_write(const std::string& path, const cv::Mat& bgr) {
  // The most common mistake (an output folder not created yet) gets a message that says so.
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  ARK_CHECK(parent.empty() || fs::is_directory(parent, ec), "cannot write PNG '", path, "': the folder '",
            parent.string(), "' does not exist or is not a folder");
  ARK_CHECK(bgr.type() == CV_8UC3 && bgr.cols > 0 && bgr.rows > 0, "cannot write PNG '", path,
            "': expected a non-empty 8-bit BGR image");
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(bgr.cols);
  image.height = static_cast<png_uint_32>(bgr.rows);
  image.format = PNG_FORMAT_BGR;
  const auto stride = static_cast<png_int_32>(bgr.step[0]);
  png_alloc_size_t size = 0;
  bool ok = png_image_write_to_memory(&image, nullptr, &size, 0, bgr.data, stride, nullptr) != 0;
  std::vector<uint8_t> png(size);
  ok = ok && png_image_write_to_memory(&image, png.data(), &size, 0, bgr.data, stride, nullptr) != 0;
  const std::string why = image.message;
  png_image_free(&image);
  ARK_CHECK(ok, "cannot write PNG '", path, "': libpng: ", why);
  io::write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(png.data()), size));
}

// Maps data to pixels inside a plot rectangle.
struct Frame {
  cv::Rect area;
  Axis x, y;
  cv::Point2d to_px(double vx, double vy) const {
    return {area.x + (vx - x.lo) / (x.hi - x.lo) * area.width,
            area.y + area.height - (vy - y.lo) / (y.hi - y.lo) * area.height};
  }
};

cv::Point fixed_point(const cv::Point2d& p) {
  return {static_cast<int>(std::lround(p.x * (1 << kShift))), static_cast<int>(std::lround(p.y * (1 << kShift)))};
}

}  // namespace

void plot_lines(const std::string& path, const std::vector<Series>& series, const std::string& title,
                const std::string& x_label, const std::string& y_label, int width, int height) {
  ARK_CHECK(width >= 200 && height >= 150 && width <= 8192 && height <= 8192, "cannot plot '", path,
            "': the size must be between 200x150 and 8192x8192 pixels, got ", width, "x", height);
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const Series& s : series) {
    ARK_CHECK(s.x.size() == s.y.size(), "cannot plot '", path, "': series '", s.name, "' has ", s.x.size(),
              " x values and ", s.y.size(), " y values");
    for (size_t i = 0; i < s.x.size(); ++i)
      if (usable(s.x[i]) && usable(s.y[i])) {
        xmin = std::min(xmin, s.x[i]), xmax = std::max(xmax, s.x[i]);
        ymin = std::min(ymin, s.y[i]), ymax = std::max(ymax, s.y[i]);
      }
  }
  const bool has_data = xmin <= xmax;

  cv::Mat img(height, width, CV_8UC3, kWhite);
  const double tick_scale = 0.45, label_scale = 0.55, title_scale = 0.7;
  const int th_tick = text_height(tick_scale, 1), th_label = text_height(label_scale, 1);
  const int th_title = text_height(title_scale, 2);
  const int top = title.empty() ? 20 : th_title + 28;
  const int bottom = th_tick + 14 + (x_label.empty() ? 0 : th_label + 16) + 6;
  const int right = 24;
  // The y tick labels decide the left margin, and the plot height decides the y ticks.
  const int plot_h_est = height - top - bottom;
  Axis ya = has_data ? make_axis(ymin, ymax, std::max(2, plot_h_est / 45)) : make_axis(1, 0, 5);
  int ytick_w = 0;
  for (const std::string& l : ya.labels) ytick_w = std::max(ytick_w, text_width(l, tick_scale, 1));
  const int left = 12 + (y_label.empty() ? 0 : th_label + 14) + ytick_w + 10;
  Frame f;
  f.area = cv::Rect(left, top, width - left - right, height - top - bottom);
  ARK_CHECK(f.area.width >= 40 && f.area.height >= 40, "cannot plot '", path, "': ", width, "x", height,
            " pixels leave no room for the plot beside its labels");
  f.y = ya;
  f.x = has_data ? make_axis(xmin, xmax, std::max(2, f.area.width / 90)) : make_axis(1, 0, 5);

  // Title, axis labels.
  if (!title.empty())
    put(img, fit(title, title_scale, 2, width - 20), width / 2, 12 + th_title, title_scale, kText, 2, Align::kCenter);
  if (!x_label.empty())
    put(img, fit(x_label, label_scale, 1, f.area.width), f.area.x + f.area.width / 2, height - 12, label_scale, kText,
        1, Align::kCenter);
  if (!y_label.empty())
    put_vertical(img, fit(y_label, label_scale, 1, f.area.height), 12 + th_label / 2 + 2, f.area.y + f.area.height / 2,
                 label_scale, kText, 1, Align::kCenter);

  // Grid, ticks, tick labels.
  const int x0 = f.area.x, x1 = f.area.x + f.area.width, y0 = f.area.y, y1 = f.area.y + f.area.height;
  for (size_t i = 0; i < f.x.ticks.size(); ++i) {
    const int px = static_cast<int>(std::lround(f.to_px(f.x.ticks[i], f.y.lo).x));
    cv::line(img, {px, y0}, {px, y1}, kGrid, 1);
    cv::line(img, {px, y1}, {px, y1 + 5}, kAxis, 1);
    put(img, f.x.labels[i], px, y1 + 8 + th_tick, tick_scale, kText, 1, Align::kCenter);
  }
  for (size_t i = 0; i < f.y.ticks.size(); ++i) {
    const int py = static_cast<int>(std::lround(f.to_px(f.x.lo, f.y.ticks[i]).y));
    cv::line(img, {x0, py}, {x1, py}, kGrid, 1);
    cv::line(img, {x0 - 5, py}, {x0, py}, kAxis, 1);
    put(img, f.y.labels[i], x0 - 8, py + th_tick / 2, tick_scale, kText, 1, Align::kRight);
  }
  cv::rectangle(img, f.area, kAxis, 1);
  if (!has_data)
    put(img, "no data", f.area.x + f.area.width / 2, f.area.y + f.area.height / 2, label_scale, kAxis, 1,
        Align::kCenter);

  // The series: a non-finite point ends a stretch of line; isolated points get a dot.
  std::vector<cv::Point2d> drawn;  // points and samples along the lines, for the legend's placement
  for (size_t si = 0; si < series.size(); ++si) {
    const Series& s = series[si];
    const cv::Scalar color = kPalette[si % std::size(kPalette)];
    size_t finite = 0;
    for (size_t i = 0; i < s.x.size(); ++i) finite += usable(s.x[i]) && usable(s.y[i]);
    const bool markers = finite <= 40;
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!(usable(s.x[i]) && usable(s.y[i]))) continue;
      const cv::Point2d p = f.to_px(s.x[i], s.y[i]);
      drawn.push_back(p);
      const bool next = i + 1 < s.x.size() && usable(s.x[i + 1]) && usable(s.y[i + 1]);
      const bool prev = i > 0 && usable(s.x[i - 1]) && usable(s.y[i - 1]);
      if (next) {
        const cv::Point2d q = f.to_px(s.x[i + 1], s.y[i + 1]);
        cv::line(img, fixed_point(p), fixed_point(q), color, 2, cv::LINE_AA, kShift);
        const int samples = std::min(200, static_cast<int>(cv::norm(q - p) / 4));
        for (int k = 1; k < samples; ++k) drawn.push_back(p + (q - p) * (static_cast<double>(k) / samples));
      }
      if (markers || (!next && !prev))
        cv::circle(img, fixed_point(p), 3 << kShift, color, cv::FILLED, cv::LINE_AA, kShift);
    }
  }

  // Legend: the named series, in the corner of the plot covering the fewest drawn points
  // (matplotlib's loc="best", upper right first on ties).
  std::vector<size_t> named;
  for (size_t i = 0; i < series.size(); ++i)
    if (!series[i].name.empty()) named.push_back(i);
  if (!named.empty()) {
    const int row_h = th_tick + 10, swatch = 24;
    const int max_name_w = std::max(40, f.area.width / 2 - swatch - 24);
    int name_w = 0;
    std::vector<std::string> names;
    for (size_t i : named) {
      names.push_back(fit(series[i].name, tick_scale, 1, max_name_w));
      name_w = std::max(name_w, text_width(names.back(), tick_scale, 1));
    }
    const int box_w = std::min(f.area.width - 12, swatch + name_w + 24);
    const int box_h = std::min(f.area.height - 12, static_cast<int>(named.size()) * row_h + 10);
    const cv::Rect corners[] = {{x1 - box_w - 8, y0 + 8, box_w, box_h},
                                {x0 + 8, y0 + 8, box_w, box_h},
                                {x1 - box_w - 8, y1 - box_h - 8, box_w, box_h},
                                {x0 + 8, y1 - box_h - 8, box_w, box_h}};
    cv::Rect box = corners[0];
    size_t best = SIZE_MAX;
    for (const cv::Rect& c : corners) {
      size_t covered = 0;
      for (const cv::Point2d& p : drawn) covered += c.contains(cv::Point(static_cast<int>(p.x), static_cast<int>(p.y)));
      if (covered < best) best = covered, box = c;
    }
    cv::rectangle(img, box, kWhite, cv::FILLED);
    cv::rectangle(img, box, cv::Scalar(190, 190, 190), 1);
    for (size_t k = 0; k < named.size(); ++k) {
      const int cy = box.y + 5 + static_cast<int>(k) * row_h + row_h / 2;
      if (cy > box.y + box.height) break;  // more names than fit
      const cv::Scalar color = kPalette[named[k] % std::size(kPalette)];
      cv::line(img, {box.x + 8, cy}, {box.x + 8 + swatch, cy}, color, 2, cv::LINE_AA);
      put(img, names[k], box.x + 16 + swatch, cy + th_tick / 2, tick_scale, kText);
    }
  }
  encode_and_write(path, img);
}

void plot_confusion(const std::string& path, const std::vector<std::vector<int64_t>>& confusion,
                    const std::vector<std::string>& classes, const std::string& title) {
  const int n = static_cast<int>(confusion.size());
  ARK_CHECK(n >= 1, "cannot plot '", path, "': the confusion matrix is empty");
  ARK_CHECK(confusion.size() <= 100000, "cannot plot '", path, "': ", confusion.size(), " classes is too many");
  ARK_CHECK(classes.empty() || static_cast<int>(classes.size()) == n, "cannot plot '", path, "': ", classes.size(),
            " class names for a ", n, "x", n, " confusion matrix");
  std::vector<int64_t> row_sum(static_cast<size_t>(n), 0);
  for (int t = 0; t < n; ++t) {
    ARK_CHECK(static_cast<int>(confusion[t].size()) == n, "cannot plot '", path,
              "': the confusion matrix is not square (row ", t, " has ", confusion[t].size(), " entries, expected ", n,
              ")");
    for (int p = 0; p < n; ++p) {
      ARK_CHECK(confusion[t][p] >= 0, "cannot plot '", path, "': negative count ", confusion[t][p], " at [", t, "][", p,
                "]");
      row_sum[t] += confusion[t][p];
    }
  }
  const bool show_numbers = n <= 30, show_names = n <= 60;
  auto name_of = [&](int i) { return classes.empty() ? std::to_string(i) : classes[static_cast<size_t>(i)]; };

  // Cell size: large enough for a count up to 20-30 classes, one pixel per class up to 1000.
  const int cell = n <= 10 ? 60 : std::clamp(900 / n, 1, 60);
  const int grid = n <= 1000 ? n * cell : 1000;
  const double pitch = static_cast<double>(grid) / n;  // pixels per class
  const double name_scale = std::clamp(pitch / 40.0 * 0.5, 0.3, 0.5);
  const int name_h = text_height(name_scale, 1);
  const int max_name_w = 170;

  std::vector<std::string> names;
  int names_w = 0;
  if (show_names)
    for (int i = 0; i < n; ++i) {
      names.push_back(fit(name_of(i), name_scale, 1, max_name_w));
      names_w = std::max(names_w, text_width(names.back(), name_scale, 1));
    }
  // Beyond 60 classes: class indices at 1-2-5 steps instead of names.
  std::vector<int> index_ticks;
  if (!show_names) {
    const int step = static_cast<int>(nice_step(n, 10));
    for (int i = 0; i < n; i += std::max(1, step)) index_ticks.push_back(i);
    names_w = text_width(std::to_string(n - 1), 0.4, 1);
  }
  const double label_scale = 0.55, title_scale = 0.7;
  const int th_label = text_height(label_scale, 1), th_title = text_height(title_scale, 2);
  const int left = 12 + th_label + 14 + names_w + 8;
  const int top = title.empty() ? 16 : th_title + 28;
  const int bottom = 8 + names_w + 12 + th_label + 14;
  const int bar_w = 16, bar_labels_w = text_width("1.00", 0.4, 1);
  const int right = 22 + bar_w + 6 + bar_labels_w + 12;
  const int width = std::max(left + grid + right, 320), height = top + grid + bottom;
  cv::Mat img(height, width, CV_8UC3, kWhite);

  // Row-normalised fractions -> viridis. Over 1000 classes each pixel averages the cells falling
  // in it (binned directly: an n x n float image would be gigabytes at tens of thousands).
  auto fraction = [&](int t, int p) {
    return row_sum[t] > 0 ? static_cast<double>(confusion[t][p]) / static_cast<double>(row_sum[t]) : 0.0;
  };
  cv::Mat frac_px;
  if (n <= 1000) {
    cv::Mat frac(n, n, CV_32F);
    for (int t = 0; t < n; ++t)
      for (int p = 0; p < n; ++p) frac.at<float>(t, p) = static_cast<float>(fraction(t, p));
    cv::resize(frac, frac_px, {grid, grid}, 0, 0, cv::INTER_NEAREST);
  } else {
    cv::Mat sum = cv::Mat::zeros(grid, grid, CV_64F), cells = cv::Mat::zeros(grid, grid, CV_64F);
    for (int t = 0; t < n; ++t) {
      const int r = static_cast<int>(static_cast<int64_t>(t) * grid / n);
      for (int p = 0; p < n; ++p) {
        const int c = static_cast<int>(static_cast<int64_t>(p) * grid / n);
        sum.at<double>(r, c) += fraction(t, p);
        cells.at<double>(r, c) += 1;
      }
    }
    cv::divide(sum, cells, sum);
    sum.convertTo(frac_px, CV_32F);
  }
  cv::Mat level, colored;
  frac_px.convertTo(level, CV_8U, 255.0);  // rounds and saturates
  cv::applyColorMap(level, colored, cv::COLORMAP_VIRIDIS);
  colored.copyTo(img(cv::Rect(left, top, grid, grid)));

  if (!title.empty())
    put(img, fit(title, title_scale, 2, width - 20), left + grid / 2, 12 + th_title, title_scale, kText, 2,
        Align::kCenter);

  // Counts, in black or white by the cell's brightness.
  if (show_numbers) {
    const double num_scale = std::clamp(pitch / 60.0 * 0.5, 0.3, 0.5);
    const int num_h = text_height(num_scale, 1);
    for (int t = 0; t < n; ++t)
      for (int p = 0; p < n; ++p) {
        std::string s = std::to_string(confusion[t][p]);
        if (text_width(s, num_scale, 1) > pitch - 4) {  // compact form for big counts
          const double v = static_cast<double>(confusion[t][p]);
          char buf[32];
          std::snprintf(buf, sizeof buf, v >= 1e6 ? "%.3gM" : "%.3gk", v >= 1e6 ? v / 1e6 : v / 1e3);
          s = buf;
          if (text_width(s, num_scale, 1) > pitch - 4) continue;
        }
        const int cx = left + static_cast<int>((p + 0.5) * pitch), cy = top + static_cast<int>((t + 0.5) * pitch);
        const cv::Vec3b c =
            img.at<cv::Vec3b>(top + static_cast<int>(t * pitch) + 1, left + static_cast<int>(p * pitch) + 1);
        const double luma = 0.114 * c[0] + 0.587 * c[1] + 0.299 * c[2];
        put(img, s, cx, cy + num_h / 2, num_scale, luma < 128 ? kWhite : cv::Scalar(0, 0, 0), 1, Align::kCenter);
      }
  }

  // Class names (or indices) on both axes: predicted along the bottom (vertical), true on the left.
  const int y_axis_x = left - 8, x_axis_y = top + grid + 8;
  if (show_names) {
    for (int i = 0; i < n; ++i) {
      const int c = static_cast<int>((i + 0.5) * pitch);
      put(img, names[i], y_axis_x, top + c + name_h / 2, name_scale, kText, 1, Align::kRight);
      put_vertical(img, names[i], left + c, x_axis_y, name_scale, kText, 1, Align::kRight);
    }
  } else {
    for (int i : index_ticks) {
      const int c = static_cast<int>((i + 0.5) * pitch);
      const std::string s = std::to_string(i);
      cv::line(img, {left - 4, top + c}, {left - 1, top + c}, kAxis, 1);
      cv::line(img, {left + c, top + grid}, {left + c, top + grid + 3}, kAxis, 1);
      put(img, s, y_axis_x, top + c + text_height(0.4, 1) / 2, 0.4, kText, 1, Align::kRight);
      put_vertical(img, s, left + c, x_axis_y, 0.4, kText, 1, Align::kRight);
    }
  }
  put(img, "Predicted label", left + grid / 2, height - 12, label_scale, kText, 1, Align::kCenter);
  put_vertical(img, "True label", 12 + th_label / 2 + 2, top + grid / 2, label_scale, kText, 1, Align::kCenter);

  // Colour bar: the row fraction from 0 (bottom) to 1 (top).
  const int bx = left + grid + 22;
  cv::Mat ramp(grid, 1, CV_8U);
  for (int r = 0; r < grid; ++r)
    ramp.at<uint8_t>(r) = cv::saturate_cast<uint8_t>(255.0 * (grid - 1 - r) / std::max(1, grid - 1));
  cv::Mat ramp_c;
  cv::applyColorMap(ramp, ramp_c, cv::COLORMAP_VIRIDIS);
  cv::resize(ramp_c, ramp_c, {bar_w, grid}, 0, 0, cv::INTER_NEAREST);
  ramp_c.copyTo(img(cv::Rect(bx, top, bar_w, grid)));
  cv::rectangle(img, cv::Rect(bx, top, bar_w, grid), kAxis, 1);
  for (double v : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    if (grid < 60 && v != 0.0 && v != 1.0) continue;
    const int y = top + static_cast<int>(std::lround((1 - v) * (grid - 1)));
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    cv::line(img, {bx + bar_w, y}, {bx + bar_w + 3, y}, kAxis, 1);
    put(img, buf, bx + bar_w + 6, y + text_height(0.4, 1) / 2, 0.4, kText);
  }
  encode_and_write(path, img);
}

Tensor overlay_heatmap(const Tensor& image, const Tensor& heatmap, double alpha) {
  ARK_CHECK(image.defined() && image.dim() == 3 && image.size(2) == 3 && image.dtype() == kByte,
            "overlay_heatmap: expected a uint8 (H, W, 3) RGB image, got ",
            image.defined() ? dtype_name(image.dtype()) : "undefined", " ",
            image.defined() ? image.sizes() : IntArrayRef{});
  ARK_CHECK(image.size(0) > 0 && image.size(1) > 0, "overlay_heatmap: the image is empty: ", image.sizes());
  ARK_CHECK(heatmap.defined() && (heatmap.dim() == 2 || (heatmap.dim() == 3 && heatmap.size(0) == 1)),
            "overlay_heatmap: expected an (H, W) heatmap, got ", heatmap.defined() ? heatmap.sizes() : IntArrayRef{});
  ARK_CHECK(heatmap.is_floating_point(), "overlay_heatmap: expected a floating-point heatmap, got ",
            dtype_name(heatmap.dtype()));
  ARK_CHECK(heatmap.size(-1) > 0 && heatmap.size(-2) > 0, "overlay_heatmap: the heatmap is empty: ", heatmap.sizes());
  ARK_CHECK(std::isfinite(alpha) && alpha >= 0 && alpha <= 1, "overlay_heatmap: alpha must be in [0, 1], got ", alpha);
  const int H = static_cast<int>(image.size(0)), W = static_cast<int>(image.size(1));
  const int h = static_cast<int>(heatmap.size(-2)), w = static_cast<int>(heatmap.size(-1));

  const Tensor hm = heatmap.detach().reshape({h, w}).cpu().to(kFloat).contiguous();
  cv::Mat small(h, w, CV_32F);
  const float* hp = hm.data_ptr<float>();
  for (int i = 0; i < h * w; ++i) small.at<float>(i) = std::isnan(hp[i]) ? 0.f : std::clamp(hp[i], 0.f, 1.f);
  cv::Mat big, level, jet;
  cv::resize(small, big, {W, H}, 0, 0, cv::INTER_LINEAR);
  big.convertTo(level, CV_8U, 255.0);
  cv::applyColorMap(level, jet, cv::COLORMAP_JET);  // BGR
  cv::cvtColor(jet, jet, cv::COLOR_BGR2RGB);        // the tensors are RGB

  const Tensor img = image.cpu().contiguous();
  const cv::Mat src(H, W, CV_8UC3, img.data_ptr());
  Tensor out = empty({H, W, 3}, kByte);
  cv::Mat dst(H, W, CV_8UC3, out.data_ptr());
  cv::addWeighted(src, 1.0 - alpha, jet, alpha, 0.0, dst);  // writes into out's storage
  return out;
}

void write_png(const std::string& path, const Tensor& image) {
  ARK_CHECK(image.defined() && image.dim() == 3 && image.size(2) == 3 && image.dtype() == kByte, "cannot write PNG '",
            path, "': expected a uint8 (H, W, 3) RGB image, got ",
            image.defined() ? dtype_name(image.dtype()) : "undefined", " ",
            image.defined() ? image.sizes() : IntArrayRef{});
  ARK_CHECK(image.size(0) > 0 && image.size(1) > 0 && image.size(0) <= 65535 && image.size(1) <= 65535,
            "cannot write PNG '", path, "': unsupported size ", image.sizes());
  const Tensor img = image.cpu().contiguous();
  const cv::Mat rgb(static_cast<int>(image.size(0)), static_cast<int>(image.size(1)), CV_8UC3, img.data_ptr());
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  encode_and_write(path, bgr);
}

}  // namespace ark::datasets
