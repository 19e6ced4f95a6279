// PNG figures: each is decoded back (our own decoder) and checked for size, content and colours
// where the layout puts them (training curves in their series' colours, a diagonal confusion matrix
// bright on the diagonal, a heatmap overlay red where the heatmap is 1); edge cases (one point,
// NaN/inf, constant series, hundreds of classes); bad input and unwritable paths (ark::Error naming
// the path, no temp file left behind).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "ark/core/error.h"
#include "ark/datasets/image.h"
#include "ark/datasets/plot.h"
#include "ark/io/file.h"
#include "ark/ops/ops.h"

namespace ark {
namespace {

namespace fs = std::filesystem;
using datasets::Series;

class Plot : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ark_test_plot_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // Names of the files in the test folder (to see that no temp file was left).
  std::vector<std::string> listing() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  fs::path dir_;
};

struct Rgb {
  int r, g, b;
};

Rgb pixel(const Tensor& img, int64_t y, int64_t x) {
  const uint8_t* p = img.data_ptr<uint8_t>() + (y * img.size(1) + x) * 3;
  return {p[0], p[1], p[2]};
}

// Pixels within `tol` (per channel) of a colour.
int64_t count_near(const Tensor& img, Rgb c, int tol = 40) {
  int64_t n = 0;
  for (int64_t y = 0; y < img.size(0); ++y)
    for (int64_t x = 0; x < img.size(1); ++x) {
      const Rgb p = pixel(img, y, x);
      n += std::abs(p.r - c.r) <= tol && std::abs(p.g - c.g) <= tol && std::abs(p.b - c.b) <= tol;
    }
  return n;
}

double non_white_fraction(const Tensor& img) {
  int64_t n = 0;
  for (int64_t y = 0; y < img.size(0); ++y)
    for (int64_t x = 0; x < img.size(1); ++x) {
      const Rgb p = pixel(img, y, x);
      n += p.r < 240 || p.g < 240 || p.b < 240;
    }
  return static_cast<double>(n) / static_cast<double>(img.size(0) * img.size(1));
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    for (const std::string& needle : needles)
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "'" << needle << "' not in: " << e.what();
  }
}

constexpr Rgb kBlue{31, 119, 180}, kOrange{255, 127, 14};  // matplotlib's first two colours

TEST_F(Plot, TrainingCurves) {
  Series train{"train loss", {}, {}}, val{"val loss", {}, {}};
  for (int e = 1; e <= 20; ++e) {
    train.x.push_back(e);
    train.y.push_back(2.3 * std::exp(-0.15 * e) + 0.05);
    val.x.push_back(e);
    val.y.push_back(2.4 * std::exp(-0.12 * e) + 0.15);
  }
  val.y[4] = NAN;  // a diverged evaluation: a gap in the line
  val.y[8] = INFINITY;
  datasets::plot_lines(path("loss.png"), {train, val}, "Loss", "epoch", "loss");
  const Tensor img = datasets::load_image(path("loss.png"));
  EXPECT_EQ(img.sizes(), (std::vector<int64_t>{500, 800, 3}));
  const double ink = non_white_fraction(img);
  EXPECT_GT(ink, 0.02);
  EXPECT_LT(ink, 0.5);
  EXPECT_GT(count_near(img, kBlue), 300);
  EXPECT_GT(count_near(img, kOrange), 300);
  EXPECT_EQ(listing(), std::vector<std::string>{"loss.png"});

  Series acc{"train accuracy", {1, 2, 3}, {0.5, 0.8, 1.0}}, vacc{"val accuracy", {1, 2, 3}, {0.45, 0.7, 0.75}};
  datasets::plot_lines(path("acc.png"), {acc, vacc}, "Accuracy", "epoch", "accuracy", 640, 400);
  const Tensor img2 = datasets::load_image(path("acc.png"));
  EXPECT_EQ(img2.sizes(), (std::vector<int64_t>{400, 640, 3}));
  EXPECT_GT(count_near(img2, kOrange), 100);
}

TEST_F(Plot, LinesEdgeCases) {
  const Series one{"one point", {3}, {0.25}};
  const Series constant{"constant", {0, 1, 2, 3}, {7, 7, 7, 7}};
  const Series nothing{"all NaN", {NAN, 1, 2}, {1, NAN, INFINITY}};
  const Series huge{"huge", {0, 1, 2}, {1e308, -1e308, 1.0}};  // left out but the 1.0
  const Series tiny{"tiny spread", {0, 1, 2}, {1.0, 1.0 + 1e-13, 1.0 - 1e-13}};
  const Series big{"", {1e9, 2e9, 3e9}, {-1e-7, 3e-7, 2e-7}};
  const std::vector<std::vector<Series>> cases = {{one},       {constant}, {nothing}, {},
                                                  {huge, one}, {tiny},     {big},     {one, constant, nothing}};
  int i = 0;
  for (const auto& series : cases) {
    SCOPED_TRACE(i);
    const std::string p = path("edge" + std::to_string(i++) + ".png");
    ASSERT_NO_THROW(datasets::plot_lines(p, series, "", "", "", 300, 200));
    const Tensor img = datasets::load_image(p);
    EXPECT_EQ(img.sizes(), (std::vector<int64_t>{200, 300, 3}));
    EXPECT_GT(non_white_fraction(img), 0.005);  // at least the axes
  }
  // A single point is drawn (a dot) in its colour; so is a constant line.
  EXPECT_GT(count_near(datasets::load_image(path("edge0.png")), kBlue), 15);
  EXPECT_GT(count_near(datasets::load_image(path("edge1.png")), kBlue), 100);
  // Long titles and labels are shortened, non-ASCII text drawn as '?'.
  EXPECT_NO_THROW(datasets::plot_lines(path("long.png"), {constant}, std::string(300, 'T'), "\xc3\xa9poque",
                                       std::string(200, 'y'), 200, 150));
}

TEST_F(Plot, LinesBadInput) {
  const std::string p = path("bad.png");
  expect_error(
      [&] {
        datasets::plot_lines(p, {Series{"val", {1, 2}, {1}}}, "t", "x", "y");
      },
      {p, "'val'", "2 x values and 1 y values"});
  expect_error([&] { datasets::plot_lines(p, {}, "t", "x", "y", 100, 100); }, {p, "100x100"});
  expect_error([&] { datasets::plot_lines(path("missing/dir/loss.png"), {}, "t", "x", "y"); },
               {path("missing/dir/loss.png")});
  EXPECT_TRUE(listing().empty());
}

// 4-connected components of the pixels for which `in` holds: (area, bounding box) each.
struct Blob {
  int64_t area = 0, x0 = 1 << 30, y0 = 1 << 30, x1 = -1, y1 = -1;
  double cx() const { return (x0 + x1) / 2.0; }
  double cy() const { return (y0 + y1) / 2.0; }
};
std::vector<Blob> blobs(const Tensor& img, const std::function<bool(Rgb)>& in) {
  const int64_t H = img.size(0), W = img.size(1);
  std::vector<uint8_t> seen(static_cast<size_t>(H * W), 0);
  std::vector<Blob> out;
  std::vector<int64_t> stack;
  for (int64_t s = 0; s < H * W; ++s) {
    if (seen[s] || !in(pixel(img, s / W, s % W))) continue;
    Blob b;
    stack = {s};
    seen[s] = 1;
    while (!stack.empty()) {
      const int64_t q = stack.back();
      stack.pop_back();
      const int64_t y = q / W, x = q % W;
      ++b.area;
      b.x0 = std::min(b.x0, x), b.x1 = std::max(b.x1, x), b.y0 = std::min(b.y0, y), b.y1 = std::max(b.y1, y);
      const int64_t nb[4][2] = {{y - 1, x}, {y + 1, x}, {y, x - 1}, {y, x + 1}};
      for (const auto& n : nb)
        if (n[0] >= 0 && n[0] < H && n[1] >= 0 && n[1] < W && !seen[n[0] * W + n[1]] && in(pixel(img, n[0], n[1]))) {
          seen[n[0] * W + n[1]] = 1;
          stack.push_back(n[0] * W + n[1]);
        }
    }
    out.push_back(b);
  }
  return out;
}

TEST_F(Plot, ConfusionDiagonalIsHot) {
  const int n = 5;
  std::vector<std::vector<int64_t>> m(n, std::vector<int64_t>(n, 0));
  for (int i = 0; i < n; ++i) m[i][i] = 10 * (i + 1);
  datasets::plot_confusion(path("cm.png"), m, {"cat", "dog", "bird", "fish", "a long class name"});
  const Tensor img = datasets::load_image(path("cm.png"));
  ASSERT_EQ(img.dim(), 3);
  EXPECT_GE(img.size(1), n * 40);
  EXPECT_GE(img.size(0), n * 40);
  // viridis(1) is yellow (253, 231, 37), viridis(0) dark purple (68, 1, 84).
  auto yellow = [](Rgb p) { return p.r > 200 && p.g > 180 && p.b < 100; };
  auto purple = [](Rgb p) { return p.r < 110 && p.g < 60 && p.b > 50 && p.b < 130; };
  std::vector<Blob> cells;
  for (const Blob& b : blobs(img, yellow)) {
    const int64_t w = b.x1 - b.x0 + 1, h = b.y1 - b.y0 + 1;
    if (w >= 30 && std::abs(w - h) <= 2) cells.push_back(b);  // the colour bar's top is narrow
  }
  ASSERT_EQ(static_cast<int>(cells.size()), n) << "expected one bright square per diagonal cell";
  std::sort(cells.begin(), cells.end(), [](const Blob& a, const Blob& b) { return a.cx() < b.cx(); });
  const double pitch = cells[1].cx() - cells[0].cx();
  for (int i = 1; i < n; ++i) {
    EXPECT_NEAR(cells[i].cx() - cells[i - 1].cx(), pitch, 1.5);
    EXPECT_NEAR(cells[i].cy() - cells[i - 1].cy(), pitch, 1.5);  // on the diagonal, rows top-down
  }
  // Every off-diagonal cell is dark (sampled away from its centre, where the count is written).
  for (int t = 0; t < n; ++t)
    for (int p = 0; p < n; ++p) {
      if (t == p) continue;
      const auto x = static_cast<int64_t>(cells[p].cx() + 0.35 * pitch),
                 y = static_cast<int64_t>(cells[t].cy() + 0.35 * pitch);
      EXPECT_TRUE(purple(pixel(img, y, x))) << "cell [" << t << "][" << p << "]";
    }
  // The counts and names are drawn: dark text inside the bright cells, and left of the matrix.
  int64_t text_in_cell = 0;
  for (int64_t y = cells[4].y0; y <= cells[4].y1; ++y)
    for (int64_t x = cells[4].x0; x <= cells[4].x1; ++x) text_in_cell += pixel(img, y, x).r < 100;
  EXPECT_GT(text_in_cell, 10);
  int64_t text_left = 0;
  for (int64_t y = cells[0].y0; y <= cells[0].y1; ++y)
    for (int64_t x = 0; x < cells[0].x0; ++x) text_left += pixel(img, y, x).r < 128;
  EXPECT_GT(text_left, 10);
}

TEST_F(Plot, ConfusionLargeMatricesDegrade) {
  std::mt19937 rng(0);
  for (int n : {1, 20, 45, 100, 1200}) {
    SCOPED_TRACE(n);
    std::vector<std::vector<int64_t>> m(n, std::vector<int64_t>(n, 0));
    std::vector<std::string> names;
    for (int i = 0; i < n; ++i) {
      names.push_back("class number " + std::to_string(i) + (i % 7 == 0 ? " with a very long descriptive name" : ""));
      m[i][i] = 1000000 + i;  // counts wider than a cell: compact form or left out
      m[i][rng() % n] += static_cast<int64_t>(rng() % 5);
    }
    const std::string p = path("cm" + std::to_string(n) + ".png");
    ASSERT_NO_THROW(datasets::plot_confusion(p, m, n == 45 ? std::vector<std::string>{} : names));
    const Tensor img = datasets::load_image(p);
    EXPECT_LE(img.size(0), 1500);
    EXPECT_LE(img.size(1), 1600);
    EXPECT_GT(non_white_fraction(img), n == 1 ? 0.05 : 0.2);
  }
}

TEST_F(Plot, ConfusionCountsUpToThirtyClasses) {
  // An identity matrix: the zeros are written in white on the dark off-diagonal cells up to 30
  // classes, and left out beyond.
  for (int n : {20, 30, 31, 45}) {
    SCOPED_TRACE(n);
    std::vector<std::vector<int64_t>> m(n, std::vector<int64_t>(n, 0));
    for (int i = 0; i < n; ++i) m[i][i] = 3;
    const std::string p = path("id" + std::to_string(n) + ".png");
    datasets::plot_confusion(p, m, {});
    const Tensor img = datasets::load_image(p);
    auto dark = [](Rgb c) { return c.r < 110 && c.g < 60 && c.b > 50 && c.b < 130; };
    std::vector<Blob> regions = blobs(img, dark);
    ASSERT_FALSE(regions.empty());
    const Blob& lower = *std::max_element(regions.begin(), regions.end(),
                                          [](const Blob& a, const Blob& b) { return a.area < b.area; });
    int64_t white = 0;
    for (int64_t y = lower.y0; y <= lower.y1; ++y)
      for (int64_t x = lower.x0; x <= lower.x1; ++x) {
        const Rgb c = pixel(img, y, x);
        white += c.r > 200 && c.g > 200 && c.b > 200;
      }
    if (n <= 30)
      EXPECT_GT(white, n);
    else
      EXPECT_EQ(white, 0);
  }
}

TEST_F(Plot, ConfusionBadInput) {
  const std::string p = path("cm.png");
  expect_error([&] { datasets::plot_confusion(p, {{1, 2}, {3}}, {"a", "b"}); }, {p, "not square"});
  expect_error([&] { datasets::plot_confusion(p, {{1, 2}, {3, 4}}, {"a"}); }, {p, "1 class names"});
  expect_error([&] { datasets::plot_confusion(p, {{1, -2}, {3, 4}}, {}); }, {p, "negative count -2 at [0][1]"});
  expect_error([&] { datasets::plot_confusion(p, {}, {}); }, {p, "empty"});
  EXPECT_TRUE(listing().empty());
}

TEST_F(Plot, OverlayHeatmapLeftHot) {
  const Tensor image = full({64, 96, 3}, 128, kByte);
  Tensor heat = zeros({4, 4});
  heat.narrow(1, 0, 2).fill_(1.0);
  const Tensor out = datasets::overlay_heatmap(image, heat, 0.5);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{64, 96, 3}));
  ASSERT_EQ(out.dtype(), kByte);
  for (int64_t y : {2, 32, 61}) {
    const Rgb l = pixel(out, y, 4), r = pixel(out, y, 92);
    EXPECT_GT(l.r, l.b + 40) << "left is red-ish: " << l.r << " " << l.g << " " << l.b;
    EXPECT_GT(r.b, r.r + 40) << "right is blue-ish: " << r.r << " " << r.g << " " << r.b;
  }
  // The blend is linear in alpha: alpha 0 is the image, alpha 1 the colour map alone.
  EXPECT_TRUE(equal(datasets::overlay_heatmap(image, heat, 0.0), image));
  const Tensor jet = datasets::overlay_heatmap(image, heat, 1.0);
  const Rgb jl = pixel(jet, 32, 4), jr = pixel(jet, 32, 92);
  EXPECT_EQ(jl.g, 0);
  EXPECT_EQ(jl.b, 0);
  EXPECT_GT(jl.r, 100);  // jet(1): dark red
  EXPECT_EQ(jr.r, 0);
  EXPECT_EQ(jr.g, 0);
  EXPECT_GT(jr.b, 100);  // jet(0): dark blue
  const Rgb half = pixel(out, 32, 4);
  EXPECT_NEAR(half.r, (128 + jl.r) / 2.0, 1.0);
  EXPECT_NEAR(half.b, 64, 1.0);
  // Bilinear: the columns in between go through the colour map's middle (green).
  bool green = false;
  for (int64_t x = 0; x < 96; ++x) green = green || pixel(jet, 32, x).g > 200;
  EXPECT_TRUE(green);
  // A (1, H, W) map, NaN and out-of-range values are accepted (NaN -> 0, clamped).
  Tensor odd = full({1, 2, 2}, NAN);
  odd.data_ptr<float>()[1] = 7.0f;
  EXPECT_NO_THROW(datasets::overlay_heatmap(image, odd));
}

TEST_F(Plot, OverlayResizesWithHalfPixelCentres) {
  // A 1x2 heatmap [0, 1] stretched to 4 columns samples the source at x = (i + 0.5) / 2 - 0.5 =
  // -0.25, 0.25, 0.75, 1.25, clamped: the values 0, 0.25, 0.75, 1 (F.interpolate, align_corners=False).
  const Tensor image = zeros({3, 4, 3}, kByte);
  const Tensor ramp = datasets::overlay_heatmap(image, tensor({0.0f, 1.0f}).reshape({1, 2}), 1.0);
  const double expected[] = {0.0, 0.25, 0.75, 1.0};
  for (int64_t x = 0; x < 4; ++x) {
    const Tensor flat = datasets::overlay_heatmap(image, full({1, 1}, expected[x]), 1.0);
    for (int64_t y = 0; y < 3; ++y) {
      const Rgb a = pixel(ramp, y, x), b = pixel(flat, y, x);
      EXPECT_TRUE(a.r == b.r && a.g == b.g && a.b == b.b) << "column " << x << ": " << a.r << "," << a.g << "," << a.b
                                                          << " vs " << b.r << "," << b.g << "," << b.b;
    }
  }
}

TEST_F(Plot, OverlayBadInput) {
  const Tensor image = zeros({8, 8, 3}, kByte);
  expect_error([&] { datasets::overlay_heatmap(zeros({8, 8, 3}), zeros({2, 2})); }, {"uint8 (H, W, 3)"});
  expect_error([&] { datasets::overlay_heatmap(zeros({8, 8}, kByte), zeros({2, 2})); }, {"uint8 (H, W, 3)"});
  expect_error([&] { datasets::overlay_heatmap(image, zeros({2, 2, 2})); }, {"(H, W) heatmap"});
  expect_error([&] { datasets::overlay_heatmap(image, zeros({2, 2}, kLong)); }, {"floating-point heatmap"});
  expect_error([&] { datasets::overlay_heatmap(image, zeros({0, 2})); }, {"empty"});
  expect_error([&] { datasets::overlay_heatmap(image, zeros({2, 2}), 1.5); }, {"alpha"});
}

TEST_F(Plot, WritePngRoundTripAndAtomicity) {
  const Tensor img = randint(0, 256, {17, 23, 3}, kLong).to(kByte);
  datasets::write_png(path("img.png"), img);
  EXPECT_TRUE(equal(datasets::load_image(path("img.png")), img));  // lossless, RGB order kept
  // Overwriting replaces the file whole.
  const Tensor other = zeros({5, 6, 3}, kByte);
  datasets::write_png(path("img.png"), other);
  EXPECT_TRUE(equal(datasets::load_image(path("img.png")), other));
  // A non-contiguous view is fine.
  datasets::write_png(path("view.png"), img.narrow(1, 3, 10));
  EXPECT_TRUE(equal(datasets::load_image(path("view.png")), img.narrow(1, 3, 10).contiguous()));
  EXPECT_EQ(listing(), (std::vector<std::string>{"img.png", "view.png"}));
}

TEST_F(Plot, UnwritablePathsNameThePathAndLeaveNoTemp) {
  const Tensor img = zeros({4, 4, 3}, kByte);
  const std::string missing = path("no_such_folder/out.png");
  expect_error([&] { datasets::write_png(missing, img); }, {missing, "does not exist"});
  // The target is a folder: the temp file is written, the rename fails, and the temp is removed.
  fs::create_directories(path("taken"));
  expect_error([&] { datasets::write_png(path("taken"), img); }, {path("taken")});
  expect_error([&] { datasets::plot_confusion(path("taken"), {{1}}, {"a"}); }, {path("taken")});
  expect_error([&] { datasets::plot_lines(path("taken"), {}, "", "", ""); }, {path("taken")});
  EXPECT_EQ(listing(), std::vector<std::string>{"taken"});
  expect_error([&] { datasets::write_png(path("x.png"), zeros({4, 4, 3})); }, {path("x.png"), "uint8"});
  expect_error([&] { datasets::write_png(path("x.png"), zeros({0, 4, 3}, kByte)); }, {path("x.png"), "size"});
  EXPECT_EQ(listing(), std::vector<std::string>{"taken"});
}

}  // namespace
}  // namespace ark
