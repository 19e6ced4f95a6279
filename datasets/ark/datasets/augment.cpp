// Seeded training augmentation; see augment.h for the streams and the transforms.
//
// The colour operations mirror torchvision 0.14's functional_tensor on float32 images in [0, 1]
// op by op, in float32, in the same order of operations (a python scalar times a float tensor is
// a float32 multiply in ATen), so the results agree to float rounding. They run on raw planes
// rather than through tensor ops: a worker thread transforms one image at a time and the
// elementwise work is too small to be worth the op dispatch or a parallel team.
#include "ark/datasets/augment.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ark/core/error.h"
#include "ark/ops/ops.h"

namespace ark::datasets {

namespace {

SplitMix64 stream(uint64_t seed, uint64_t a, uint64_t b) {
  const uint64_t k1 = SplitMix64{seed}.next();
  const uint64_t k2 = SplitMix64{k1 ^ (a * 0xD1B54A32D192ED03ULL)}.next();
  return SplitMix64{k2 ^ (b * 0xABC98388FB8FAC03ULL)};
}

// An integer in [0, n) (n >= 1) as next() % n: the modulo bias is below n / 2^64, far under
// anything a crop offset or a permutation could show, and the reference is one line.
uint64_t below(SplitMix64& rng, uint64_t n) { return rng.next() % n; }

// A float32 (3, H, W) image as three contiguous planes.
struct Planes {
  float* r;
  float* g;
  float* b;
  int64_t n;  // pixels per plane
};

Planes planes_of(Tensor& image) {
  float* p = image.data_ptr<float>();
  const int64_t n = image.size(1) * image.size(2);
  return {p, p + n, p + 2 * n, n};
}

// torchvision rgb_to_grayscale for float: (0.2989 * r + 0.587 * g + 0.114 * b), float32 ops.
inline float grey(float r, float g, float b) { return (0.2989f * r + 0.587f * g) + 0.114f * b; }

inline float clamp01(float v) { return std::min(std::max(v, 0.0f), 1.0f); }

// _blend(img, other, ratio) = (ratio * img + (1 - ratio) * other).clamp(0, 1); the python floats
// ratio and 1 - ratio (computed in double) become float32 scalars.
void blend_brightness(const Planes& p, double factor) {
  const float f = static_cast<float>(factor), o = static_cast<float>(1.0 - factor);
  for (float* c : {p.r, p.g, p.b})
    for (int64_t i = 0; i < p.n; ++i) c[i] = clamp01(f * c[i] + o * 0.0f);
}

void blend_contrast(const Planes& p, double factor) {
  // torch.mean of the grey image over all pixels: float32 result of a (pairwise) float sum; a
  // double sum rounded once is within an ulp of it.
  double sum = 0;
  for (int64_t i = 0; i < p.n; ++i) sum += grey(p.r[i], p.g[i], p.b[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(p.n));
  const float f = static_cast<float>(factor), o = static_cast<float>(1.0 - factor);
  const float other = o * mean;
  for (float* c : {p.r, p.g, p.b})
    for (int64_t i = 0; i < p.n; ++i) c[i] = clamp01(f * c[i] + other);
}

void blend_saturation(const Planes& p, double factor) {
  const float f = static_cast<float>(factor), o = static_cast<float>(1.0 - factor);
  for (int64_t i = 0; i < p.n; ++i) {
    const float l = o * grey(p.r[i], p.g[i], p.b[i]);
    p.r[i] = clamp01(f * p.r[i] + l);
    p.g[i] = clamp01(f * p.g[i] + l);
    p.b[i] = clamp01(f * p.b[i] + l);
  }
}

// adjust_hue: _rgb2hsv, h = (h + factor) % 1.0, _hsv2rgb, per pixel with torchvision's formulas.
// The masks multiply as torchvision's do; no libm call (fmod) in the loop. About 25 ns a pixel:
// GCC does not vectorise it (with -ftrapping-math it keeps the selects as branches).
void shift_hue(const Planes& p, double factor) {
  const float hf = static_cast<float>(factor);
  float* __restrict pr = p.r;
  float* __restrict pg = p.g;
  float* __restrict pb = p.b;
  for (int64_t i = 0; i < p.n; ++i) {
    const float r = pr[i], g = pg[i], b = pb[i];
    // _rgb2hsv (Pillow's algorithm with the divisions guarded where max == min).
    const float mx = r > g ? r : g, mn = r < g ? r : g;
    const float maxc = mx > b ? mx : b, minc = mn < b ? mn : b;
    const bool eqc = maxc == minc;
    const float cr = maxc - minc;
    const float s = cr / (eqc ? 1.0f : maxc);
    const float crd = eqc ? 1.0f : cr;
    const float rc = (maxc - r) / crd, gc = (maxc - g) / crd, bc = (maxc - b) / crd;
    // torchvision multiplies by the boolean masks; so do we.
    const float is_r = maxc == r ? 1.0f : 0.0f;
    const float is_g = ((maxc == g) & (maxc != r)) ? 1.0f : 0.0f;
    const float is_b = ((maxc != g) & (maxc != r)) ? 1.0f : 0.0f;
    const float hr = is_r * (bc - gc), hg = is_g * ((2.0f + rc) - bc), hb = is_b * ((4.0f + gc) - rc);
    // fmod(x, 1) for x in [0, 2) (h / 6 + 1 here) is x or x - 1, both exact.
    const float h0 = ((hr + hg) + hb) / 6.0f + 1.0f, h0m = h0 - 1.0f;
    float h = h0 >= 1.0f ? h0m : h0;
    const float v = maxc;
    // (h + factor) % 1.0 for h + factor in [-0.5, 1.5): torch.remainder's fmod, then + 1 when
    // negative (the result takes the divisor's sign).
    h += hf;
    const float hm = h - 1.0f, hp = h + 1.0f;
    h = h >= 1.0f ? hm : (h < 0.0f ? hp : h);
    // _hsv2rgb; the sector floor(h * 6) % 6 kept as a float (it is 0..6 before the modulo).
    const float i6 = std::floor(h * 6.0f);
    const float f = h * 6.0f - i6;
    const float i6m = i6 - 6.0f;
    const float sector = i6 >= 6.0f ? i6m : i6;
    const float pp = clamp01(v * (1.0f - s));
    const float q = clamp01(v * (1.0f - s * f));
    const float t = clamp01(v * (1.0f - s * (1.0f - f)));
    // torchvision's einsum of the sector masks with r = (v, q, p, p, t, v), g = (t, v, v, q, p, p),
    // b = (p, p, t, v, v, q): one term is the value, the others exact zeros.
    const float m0 = sector == 0.0f ? 1.0f : 0.0f, m1 = sector == 1.0f ? 1.0f : 0.0f;
    const float m2 = sector == 2.0f ? 1.0f : 0.0f, m3 = sector == 3.0f ? 1.0f : 0.0f;
    const float m4 = sector == 4.0f ? 1.0f : 0.0f, m5 = sector == 5.0f ? 1.0f : 0.0f;
    pr[i] = m0 * v + m1 * q + m2 * pp + m3 * pp + m4 * t + m5 * v;
    pg[i] = m0 * t + m1 * v + m2 * v + m3 * q + m4 * pp + m5 * pp;
    pb[i] = m0 * pp + m1 * pp + m2 * t + m3 * v + m4 * v + m5 * q;
  }
}

void flip_width(Tensor& image) {
  float* p = image.data_ptr<float>();
  const int64_t rows = image.size(0) * image.size(1), w = image.size(2);
  for (int64_t y = 0; y < rows; ++y) std::reverse(p + y * w, p + (y + 1) * w);
}

// A float32 (3, H, W) tensor in [0, 1], as the jitter pieces take it; returned as a contiguous copy.
Tensor checked_rgb_copy(const Tensor& image, const char* what) {
  ARK_CHECK(image.defined() && image.scalar_type() == kFloat && image.dim() == 3 && image.size(0) == 3,
            what, ": expected a float32 (3, H, W) image, got ", image.defined() ? dtype_name(image.scalar_type()) : "undefined",
            " ", image.defined() ? image.sizes() : IntArrayRef{});
  return image.contiguous().clone();
}

void check_image(const Tensor& image, const char* what) {
  ARK_CHECK(image.defined() && image.scalar_type() == kUInt8 && image.dim() == 3 &&
                (image.size(2) == 3 || image.size(2) == 1),
            what, ": expected a uint8 (H, W, 3) image from decode_image/load_image, got ",
            image.defined() ? dtype_name(image.scalar_type()) : "undefined", " ",
            image.defined() ? image.sizes() : IntArrayRef{});
  ARK_CHECK(image.size(0) > 0 && image.size(1) > 0, what, ": empty image ", image.sizes());
}

void check_transform(const TrainTransform& t) {
  ARK_CHECK(t.scale_min > 0 && t.scale_min <= t.scale_max && std::isfinite(t.scale_max),
            "train_transform: scale must satisfy 0 < min <= max, got (", t.scale_min, ", ", t.scale_max, ")");
  ARK_CHECK(t.ratio_min > 0 && t.ratio_min <= t.ratio_max && std::isfinite(t.ratio_max),
            "train_transform: ratio must satisfy 0 < min <= max, got (", t.ratio_min, ", ", t.ratio_max, ")");
  ARK_CHECK(t.hflip >= 0 && t.hflip <= 1, "train_transform: hflip probability must be in [0, 1], got ", t.hflip);
  ARK_CHECK(t.brightness >= 0 && t.contrast >= 0 && t.saturation >= 0 && std::isfinite(t.brightness) &&
                std::isfinite(t.contrast) && std::isfinite(t.saturation),
            "train_transform: brightness, contrast and saturation must be non-negative, got ", t.brightness, ", ",
            t.contrast, ", ", t.saturation);
  ARK_CHECK(t.hue >= 0 && t.hue <= 0.5, "train_transform: hue must be in [0, 0.5], got ", t.hue);
  for (double s : t.preprocess.std) ARK_CHECK(s != 0, "train_transform: std must be non-zero");
  ARK_CHECK(t.preprocess.input_size[0] == 3 && t.preprocess.input_size[1] > 0 && t.preprocess.input_size[2] > 0,
            "train_transform: input_size must be (3, H, W) with H, W > 0, got (", t.preprocess.input_size[0], ", ",
            t.preprocess.input_size[1], ", ", t.preprocess.input_size[2], ")");
}

}  // namespace

SplitMix64 sample_rng(uint64_t seed, uint64_t epoch, uint64_t index) { return stream(seed, epoch, index); }

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  ARK_CHECK(n >= 0, "epoch_permutation: expected a non-negative number of samples, got ", n);
  ARK_CHECK(epoch >= 0, "epoch_permutation: expected a non-negative epoch, got ", epoch);
  SplitMix64 g = stream(seed, static_cast<uint64_t>(epoch), ~uint64_t{0});
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = i;
  for (int64_t i = n - 1; i >= 1; --i) {
    const auto j = static_cast<int64_t>(below(g, static_cast<uint64_t>(i) + 1));
    std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(j)]);
  }
  return p;
}

std::array<int64_t, 4> random_resized_crop_params(int64_t height, int64_t width, double scale_min, double scale_max,
                                                  double ratio_min, double ratio_max, SplitMix64& rng) {
  ARK_CHECK(height > 0 && width > 0, "random_resized_crop_params: empty image (", height, " x ", width, ")");
  ARK_CHECK(scale_min > 0 && scale_min <= scale_max && ratio_min > 0 && ratio_min <= ratio_max,
            "random_resized_crop_params: expected 0 < scale_min <= scale_max and 0 < ratio_min <= ratio_max, got scale (",
            scale_min, ", ", scale_max, "), ratio (", ratio_min, ", ", ratio_max, ")");
  const double area = static_cast<double>(height) * static_cast<double>(width);
  const double log_lo = std::log(ratio_min), log_hi = std::log(ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * rng.uniform(scale_min, scale_max);
    const double aspect = std::exp(rng.uniform(log_lo, log_hi));
    // int(round(x)): Python rounds halves to even, as nearbyint does in the default rounding mode.
    const double wd = std::nearbyint(std::sqrt(target_area * aspect));
    const double hd = std::nearbyint(std::sqrt(target_area / aspect));
    if (wd > 0 && wd <= static_cast<double>(width) && hd > 0 && hd <= static_cast<double>(height)) {
      const auto w = static_cast<int64_t>(wd), h = static_cast<int64_t>(hd);
      const auto top = static_cast<int64_t>(below(rng, static_cast<uint64_t>(height - h + 1)));
      const auto left = static_cast<int64_t>(below(rng, static_cast<uint64_t>(width - w + 1)));
      return {top, left, h, w};
    }
  }
  // Fallback: the centre crop of the whole image clamped to the ratio range.
  const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
  int64_t w = width, h = height;
  if (in_ratio < ratio_min) {
    h = static_cast<int64_t>(std::nearbyint(static_cast<double>(w) / ratio_min));
  } else if (in_ratio > ratio_max) {
    w = static_cast<int64_t>(std::nearbyint(static_cast<double>(h) * ratio_max));
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

Tensor hflip(const Tensor& image) {
  Tensor out = checked_rgb_copy(image, "hflip");
  flip_width(out);
  return out;
}

Tensor adjust_brightness(const Tensor& image, double factor) {
  ARK_CHECK(factor >= 0, "adjust_brightness: factor must be non-negative, got ", factor);
  Tensor out = checked_rgb_copy(image, "adjust_brightness");
  blend_brightness(planes_of(out), factor);
  return out;
}

Tensor adjust_contrast(const Tensor& image, double factor) {
  ARK_CHECK(factor >= 0, "adjust_contrast: factor must be non-negative, got ", factor);
  Tensor out = checked_rgb_copy(image, "adjust_contrast");
  blend_contrast(planes_of(out), factor);
  return out;
}

Tensor adjust_saturation(const Tensor& image, double factor) {
  ARK_CHECK(factor >= 0, "adjust_saturation: factor must be non-negative, got ", factor);
  Tensor out = checked_rgb_copy(image, "adjust_saturation");
  blend_saturation(planes_of(out), factor);
  return out;
}

Tensor adjust_hue(const Tensor& image, double factor) {
  ARK_CHECK(factor >= -0.5 && factor <= 0.5, "adjust_hue: factor must be in [-0.5, 0.5], got ", factor);
  Tensor out = checked_rgb_copy(image, "adjust_hue");
  shift_hue(planes_of(out), factor);
  return out;
}

AugmentDraws draw_augment(int64_t height, int64_t width, const TrainTransform& t, SplitMix64& rng) {
  AugmentDraws d;
  d.crop = random_resized_crop_params(height, width, t.scale_min, t.scale_max, t.ratio_min, t.ratio_max, rng);
  // torchvision draws torch.rand(1) whatever p is; so do we, so the stream's layout is fixed.
  d.flip = rng.uniform() < t.hflip;
  const bool jitter = t.brightness > 0 || t.contrast > 0 || t.saturation > 0 || t.hue > 0;
  if (jitter) {
    // torch.randperm(4), here a Fisher-Yates shuffle as epoch_permutation's.
    for (int i = 0; i < 4; ++i) d.order[static_cast<size_t>(i)] = i;
    for (int i = 3; i >= 1; --i) std::swap(d.order[static_cast<size_t>(i)], d.order[below(rng, static_cast<uint64_t>(i) + 1)]);
    // Then the factors, each only when its strength is non-zero (torchvision's None).
    if (t.brightness > 0) d.brightness = rng.uniform(std::max(0.0, 1.0 - t.brightness), 1.0 + t.brightness);
    if (t.contrast > 0) d.contrast = rng.uniform(std::max(0.0, 1.0 - t.contrast), 1.0 + t.contrast);
    if (t.saturation > 0) d.saturation = rng.uniform(std::max(0.0, 1.0 - t.saturation), 1.0 + t.saturation);
    if (t.hue > 0) d.hue = rng.uniform(-t.hue, t.hue);
  }
  return d;
}

Tensor apply_augment(const Tensor& image, const TrainTransform& t, const AugmentDraws& d) {
  check_image(image, "train_transform");
  check_transform(t);
  const int64_t ih = image.size(0), iw = image.size(1);
  const auto [top, left, h, w] = d.crop;
  ARK_CHECK(top >= 0 && left >= 0 && h > 0 && w > 0 && top + h <= ih && left + w <= iw, "train_transform: crop (top ",
            top, ", left ", left, ", height ", h, ", width ", w, ") is outside the ", ih, " x ", iw, " image");
  // Crop the decoded bytes, then ToTensor and Resize(antialias) on floats as torchvision's tensor path.
  Tensor crop = image.narrow(0, top, h).narrow(1, left, w);
  if (crop.size(2) == 1) crop = crop.expand({h, w, 3});  // grey: the same value in every channel
  Tensor x = resize(to_tensor(crop), {t.preprocess.input_size[1], t.preprocess.input_size[2]}, t.preprocess.interpolation,
                    std::nullopt, t.preprocess.antialias);
  if (!x.is_contiguous()) x = x.contiguous();
  if (d.flip) flip_width(x);
  const Planes p = planes_of(x);
  for (int fn : d.order) {
    if (fn == 0 && d.brightness) blend_brightness(p, *d.brightness);
    if (fn == 1 && d.contrast) blend_contrast(p, *d.contrast);
    if (fn == 2 && d.saturation) blend_saturation(p, *d.saturation);
    if (fn == 3 && d.hue) shift_hue(p, *d.hue);
  }
  // Normalize: (x - mean) / std with float32 mean and std.
  float* c[3] = {p.r, p.g, p.b};
  for (int k = 0; k < 3; ++k) {
    const float m = static_cast<float>(t.preprocess.mean[static_cast<size_t>(k)]);
    const float s = static_cast<float>(t.preprocess.std[static_cast<size_t>(k)]);
    for (int64_t i = 0; i < p.n; ++i) c[k][i] = (c[k][i] - m) / s;
  }
  return x;
}

Tensor train_transform(const Tensor& image, const TrainTransform& t, SplitMix64& rng) {
  if (!t.augment) return eval_transform(image, t.preprocess);
  check_image(image, "train_transform");
  check_transform(t);
  const AugmentDraws d = draw_augment(image.size(0), image.size(1), t, rng);
  return apply_augment(image, t, d);
}

Tensor eval_transform(const Tensor& image, const PreprocessConfig& cfg) { return preprocess(image, cfg).squeeze(0); }

}  // namespace ark::datasets
