// torchvision 0.14 / PyTorch 1.13 image transforms; see transforms.h for what and why.
//
// Resampling is separable: an AxisPlan lists, for each output index, its input taps and float32
// weights, computed with the exact arithmetic of ATen's UpSampleKernel.cpp (including its
// float/double mix) so the weights match bit for bit. The image is then resampled along the width
// (first, as ATen does) and the height, each output a sequential float sum over its taps in tap
// order, as ATen sums. That keeps us within float rounding (FMA contraction) of PyTorch.
//
// Vectorisation: the width pass works on a tile of 8 input rows stored transposed ([x][8 rows]),
// so one output column of 8 rows is an 8-wide multiply-add per tap; the height pass multiplies and
// adds whole contiguous rows. Both run on the OpenMP pool (ark::parallel_for).
#include "ark/datasets/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "ark/core/error.h"
#include "ark/core/parallel.h"
#include "ark/ops/ops.h"

namespace ark::datasets {

namespace {

constexpr int kTile = 8;  // rows per width-pass tile: one AVX register of float32
// Output sides up to 2^20 and inputs up to 2^32 keep torchvision's int(size * long / short) exact
// in double (products below 2^53), as Python computes it.
constexpr int64_t kMaxSide = int64_t{1} << 20;
constexpr int64_t kMaxImageSide = int64_t{1} << 32;

// torchvision's ToTensor: img.float().div(255), correctly rounded float division.
const float* u8_to_unit() {
  static const auto table = [] {
    std::array<float, 256> t{};
    for (int v = 0; v < 256; ++v) t[v] = static_cast<float>(v) / 255.0f;
    return t;
  }();
  return table.data();
}

// ---- weights (ATen UpSampleKernel.cpp / UpSample.h, scalar_t = opmath_t = float) ----

struct AxisPlan {
  int64_t begin = 0, end = 0;  // the output indices computed
  int64_t taps = 0;            // stride of index/weight per output
  std::vector<int32_t> count;  // taps used by each output
  std::vector<int64_t> index;  // input index of each tap
  std::vector<float> weight;
  int64_t in_lo = 0, in_hi = 0;  // input indices touched: [in_lo, in_hi)

  int64_t size() const { return end - begin; }
  void init(int64_t b, int64_t e, int64_t t) {
    begin = b;
    end = e;
    taps = t;
    count.assign(static_cast<size_t>(e - b), 0);
    index.assign(static_cast<size_t>((e - b) * t), 0);
    weight.assign(static_cast<size_t>((e - b) * t), 0.0f);
  }
  void finish() {
    in_lo = INT64_MAX;
    in_hi = 0;
    for (int64_t o = 0; o < size(); ++o)
      for (int32_t j = 0; j < count[o]; ++j) {
        in_lo = std::min(in_lo, index[o * taps + j]);
        in_hi = std::max(in_hi, index[o * taps + j] + 1);
      }
    if (in_lo > in_hi) in_lo = in_hi = 0;
  }
};

// HelperInterpLinear::aa_filter / HelperInterpCubic::aa_filter (Pillow's filters; a = -0.5).
float aa_filter_linear(float x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return static_cast<float>(1.0 - x);
  return 0.0f;
}
float aa_filter_cubic(float x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return static_cast<float>(((a + 2.0) * x - (a + 3.0)) * x * x + 1);
  if (x < 2.0) return static_cast<float>((((x - 5) * x + 8) * x - 4) * a);
  return 0.0f;
}

// HelperInterpBase::_compute_indices_weights_aa + _compute_weights_aa.
void plan_aa(AxisPlan& p, int64_t in, int64_t out, int64_t b, int64_t e, bool cubic) {
  const float scale = static_cast<float>(in) / out;  // area_pixel_compute_scale, align_corners=False
  const int interp = cubic ? 4 : 2;
  const float support = scale >= 1.0 ? (interp * 0.5) * scale : interp * 0.5;
  const int64_t taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  p.init(b, e, taps);
  const float invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
  for (int64_t i = b; i < e; ++i) {
    const float center = scale * (i + 0.5);
    const int64_t xmin = std::max(static_cast<int64_t>(center - support + 0.5), int64_t{0});
    const int64_t xsize = std::min(static_cast<int64_t>(center + support + 0.5), in) - xmin;
    float* w = &p.weight[(i - b) * taps];
    int64_t* ix = &p.index[(i - b) * taps];
    float total = 0.0f;
    const int64_t n = std::clamp<int64_t>(xsize, 0, taps);
    for (int64_t j = 0; j < n; ++j) {
      const float arg = static_cast<float>((j + xmin - center + 0.5) * invscale);
      w[j] = cubic ? aa_filter_cubic(arg) : aa_filter_linear(arg);
      ix[j] = j + xmin;
      total += w[j];
    }
    if (total != 0.0f)
      for (int64_t j = 0; j < n; ++j) w[j] /= total;
    // ATen would read input[xmin] with an empty tap list; cannot happen for in, out >= 1.
    ARK_ASSERT(n >= 1);
    p.count[i - b] = static_cast<int32_t>(n);
  }
  p.finish();
}

// upsample_bilinear2d / upsample_bicubic2d (align_corners=False) without antialias. PyTorch 1.13
// takes the scale in float (area_pixel_compute_scale<float>) but computes the source index and
// lambda in double (the CPU accumulate type), then stores float weights; probing its weights with
// delta images confirms exactly this mix.
void plan_interp(AxisPlan& p, int64_t in, int64_t out, int64_t b, int64_t e, bool cubic) {
  const double scale = static_cast<float>(in) / out;
  p.init(b, e, cubic ? 4 : 2);
  for (int64_t i = b; i < e; ++i) {
    float* w = &p.weight[(i - b) * p.taps];
    int64_t* ix = &p.index[(i - b) * p.taps];
    double real = scale * (i + 0.5) - 0.5;
    if (!cubic) {
      if (real < 0) real = 0;
      const int64_t i0 = std::min(static_cast<int64_t>(real), in - 1);
      const float lambda1 = static_cast<float>(std::min(std::max(real - i0, 0.0), 1.0));
      ix[0] = i0;
      ix[1] = i0 + (i0 < in - 1 ? 1 : 0);
      w[0] = 1.0f - lambda1;
      w[1] = lambda1;
      p.count[i - b] = 2;
    } else {
      const int64_t i0 = std::min(static_cast<int64_t>(std::floor(real)), in - 1);
      const double t = std::min(std::max(real - i0, 0.0), 1.0);
      // get_cubic_upsample_coefficients, A = -0.75 (cubic_convolution1 / cubic_convolution2).
      constexpr double A = -0.75;
      auto conv1 = [](double x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
      auto conv2 = [](double x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
      w[0] = static_cast<float>(conv2(t + 1.0));
      w[1] = static_cast<float>(conv1(t));
      w[2] = static_cast<float>(conv1(1.0 - t));
      w[3] = static_cast<float>(conv2(2.0 - t));
      for (int j = 0; j < 4; ++j) ix[j] = std::clamp<int64_t>(i0 - 1 + j, 0, in - 1);
      p.count[i - b] = 4;
    }
  }
  p.finish();
}

// PyTorch's legacy "nearest": floor(dst * (float)in / out), clamped.
void plan_nearest(AxisPlan& p, int64_t in, int64_t out, int64_t b, int64_t e) {
  const float scale = static_cast<float>(in) / out;
  p.init(b, e, 1);
  for (int64_t i = b; i < e; ++i) {
    p.index[i - b] = std::min(static_cast<int64_t>(std::floor(i * scale)), in - 1);
    p.weight[i - b] = 1.0f;
    p.count[i - b] = 1;
  }
  p.finish();
}

// ATen skips an axis whose size does not change (and the aa weights would be exactly 0/1 anyway).
void plan_identity(AxisPlan& p, int64_t b, int64_t e) {
  p.init(b, e, 1);
  for (int64_t i = b; i < e; ++i) {
    p.index[i - b] = i;
    p.weight[i - b] = 1.0f;
    p.count[i - b] = 1;
  }
  p.finish();
}

AxisPlan make_plan(int64_t in, int64_t out, int64_t b, int64_t e, InterpolationMode mode, bool antialias) {
  AxisPlan p;
  if (in == out) plan_identity(p, b, e);
  else if (mode == InterpolationMode::kNearest) plan_nearest(p, in, out, b, e);
  else if (antialias) plan_aa(p, in, out, b, e, mode == InterpolationMode::kBicubic);
  else plan_interp(p, in, out, b, e, mode == InterpolationMode::kBicubic);
  return p;
}

// ---- the two passes ----

// Where the resampled pixels go: out(c, y, x) = base[c * plane + y * row + x] for the plan's
// outputs (y - py.begin, x - px.begin), optionally normalised as (v - mean[c]) / std[c].
struct Target {
  float* base;
  int64_t plane, row;
  const float* mean = nullptr;  // float32 mean/std per channel, or null
  const float* std = nullptr;
};

// Fill(y0, nrows, x0, x1, tiles): tiles[(c * (x1 - x0) + x - x0) * kTile + r] = pixel (c, y0 + r, x)
// as float32, rows r >= nrows zero.
template <class Fill>
void resample(const Fill& fill, int64_t channels, const AxisPlan& py, const AxisPlan& px, const Target& t) {
  const int64_t rows = py.in_hi - py.in_lo, cols = px.size();
  const int64_t x0 = px.in_lo, x1 = px.in_hi, span = x1 - x0;
  // Width pass: (C, rows, cols) rows of the input resampled to the output columns.
  std::vector<float> tmp(static_cast<size_t>(channels * rows * cols));
  const int64_t blocks = (rows + kTile - 1) / kTile;
  const int64_t work_per_block = std::max<int64_t>(1, channels * kTile * (span + cols * px.taps));
  parallel_for(blocks, std::max<int64_t>(1, (1 << 16) / work_per_block), [&](int64_t bb, int64_t be) {
    std::vector<float> tiles(static_cast<size_t>(channels * span * kTile));
    for (int64_t blk = bb; blk < be; ++blk) {
      const int64_t y0 = py.in_lo + blk * kTile, nr = std::min<int64_t>(kTile, py.in_hi - y0);
      fill(y0, nr, x0, x1, tiles.data());
      for (int64_t c = 0; c < channels; ++c) {
        const float* tile = tiles.data() + c * span * kTile;
        float* dst = tmp.data() + (c * rows + (y0 - py.in_lo)) * cols;
        for (int64_t o = 0; o < cols; ++o) {
          const float* w = &px.weight[o * px.taps];
          const int64_t* ix = &px.index[o * px.taps];
          const int32_t n = px.count[o];
          float acc[kTile];
          const float* s = tile + (ix[0] - x0) * kTile;
          for (int r = 0; r < kTile; ++r) acc[r] = s[r] * w[0];
          for (int32_t j = 1; j < n; ++j) {
            s = tile + (ix[j] - x0) * kTile;
            const float wj = w[j];
            for (int r = 0; r < kTile; ++r) acc[r] += s[r] * wj;
          }
          for (int64_t r = 0; r < nr; ++r) dst[r * cols + o] = acc[r];
        }
      }
    }
  });
  // Height pass: each output row is a weighted sum of whole intermediate rows.
  const int64_t out_rows = py.size();
  parallel_for(channels * out_rows, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, cols * py.taps)),
               [&](int64_t b, int64_t e) {
                 for (int64_t k = b; k < e; ++k) {
                   const int64_t c = k / out_rows, o = k % out_rows;
                   const float* w = &py.weight[o * py.taps];
                   const int64_t* iy = &py.index[o * py.taps];
                   const int32_t n = py.count[o];
                   const float* src = tmp.data() + c * rows * cols;
                   float* d = t.base + c * t.plane + o * t.row;
                   const float* s0 = src + (iy[0] - py.in_lo) * cols;
                   const float w0 = w[0];
                   for (int64_t x = 0; x < cols; ++x) d[x] = s0[x] * w0;
                   for (int32_t j = 1; j < n; ++j) {
                     const float* s = src + (iy[j] - py.in_lo) * cols;
                     const float wj = w[j];
                     for (int64_t x = 0; x < cols; ++x) d[x] += s[x] * wj;
                   }
                   if (t.mean) {
                     const float m = t.mean[c], sd = t.std[c];
                     for (int64_t x = 0; x < cols; ++x) d[x] = (d[x] - m) / sd;
                   }
                 }
               });
}

#if defined(__AVX2__) && defined(__FMA__)
// Eight rows of eight floats -> eight columns (r[k] = element k of every row).
inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// float(v) / 255 for the 8 bytes in the low half, without a division: q = v * (1/255) refined by
// one Newton step (e = v - 255 q exactly, by FMA). Equal to the division for all 256 values; the
// first call checks that against u8_to_unit() and falls back to the table if it ever were not.
inline __m256 bytes_to_unit(__m128i b) {
  const __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
  const __m256 r = _mm256_set1_ps(1.0f / 255.0f);
  const __m256 q = _mm256_mul_ps(v, r);
  return _mm256_fmadd_ps(_mm256_fnmadd_ps(q, _mm256_set1_ps(255.0f), v), r, q);
}
bool bytes_to_unit_exact() {
  static const bool exact = [] {
    const float* unit = u8_to_unit();
    alignas(32) float out[8];
    for (int v = 0; v < 256; v += 8) {
      const __m128i b = _mm_setr_epi8(char(v), char(v + 1), char(v + 2), char(v + 3), char(v + 4), char(v + 5),
                                      char(v + 6), char(v + 7), 0, 0, 0, 0, 0, 0, 0, 0);
      _mm256_store_ps(out, bytes_to_unit(b));
      for (int k = 0; k < 8; ++k)
        if (out[k] != unit[v + k]) return false;
    }
    return true;
  }();
  return exact;
}
#endif

// Decoded uint8 (H, W, C) with C = 3 (or 1: grey, the same value for every channel).
struct FillU8 {
  const uint8_t* data;
  int64_t width, channels;

  void scalar(int64_t y0, int64_t nr, int64_t x0, int64_t xb, int64_t x1, float* tiles) const {
    const float* unit = u8_to_unit();
    const int64_t span = x1 - x0, cn = channels;
    for (int64_t c = 0; c < 3; ++c) {
      float* tile = tiles + c * span * kTile;
      const int64_t cs = cn == 1 ? 0 : c;
      for (int64_t r = 0; r < kTile; ++r) {
        float* d = tile + (xb - x0) * kTile + r;
        if (r >= nr) {
          for (int64_t x = xb; x < x1; ++x, d += kTile) *d = 0.0f;
          continue;
        }
        const uint8_t* s = data + ((y0 + r) * width + xb) * cn + cs;
        for (int64_t x = xb; x < x1; ++x, s += cn, d += kTile) *d = unit[*s];
      }
    }
  }

  void operator()(int64_t y0, int64_t nr, int64_t x0, int64_t x1, float* tiles) const {
    int64_t x = x0;
#if defined(__AVX2__) && defined(__FMA__)
    // 8 pixels x 8 rows at a time: split each row's 24 bytes into R, G, B, convert, transpose.
    if (channels == 3 && bytes_to_unit_exact()) {
      const int64_t span = x1 - x0;
      const __m128i r_lo = _mm_setr_epi8(0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
      const __m128i r_hi = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1);
      const __m128i g_lo = _mm_setr_epi8(1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
      const __m128i g_hi = _mm_setr_epi8(-1, -1, -1, -1, -1, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1);
      const __m128i b_lo = _mm_setr_epi8(2, 5, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
      const __m128i b_hi = _mm_setr_epi8(-1, -1, -1, -1, -1, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1);
      for (; x + 8 <= x1; x += 8) {
        __m256 rv[kTile], gv[kTile], bv[kTile];
        for (int64_t r = 0; r < kTile; ++r) {
          if (r >= nr) {
            rv[r] = gv[r] = bv[r] = _mm256_setzero_ps();
            continue;
          }
          const uint8_t* p = data + ((y0 + r) * width + x) * 3;  // bytes [0, 24) of 8 pixels
          const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
          const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8));
          rv[r] = bytes_to_unit(_mm_or_si128(_mm_shuffle_epi8(lo, r_lo), _mm_shuffle_epi8(hi, r_hi)));
          gv[r] = bytes_to_unit(_mm_or_si128(_mm_shuffle_epi8(lo, g_lo), _mm_shuffle_epi8(hi, g_hi)));
          bv[r] = bytes_to_unit(_mm_or_si128(_mm_shuffle_epi8(lo, b_lo), _mm_shuffle_epi8(hi, b_hi)));
        }
        transpose8(rv);
        transpose8(gv);
        transpose8(bv);
        float* d = tiles + (x - x0) * kTile;
        for (int k = 0; k < 8; ++k) {
          _mm256_storeu_ps(d + k * kTile, rv[k]);
          _mm256_storeu_ps(d + span * kTile + k * kTile, gv[k]);
          _mm256_storeu_ps(d + 2 * span * kTile + k * kTile, bv[k]);
        }
      }
    }
#endif
    if (x < x1) scalar(y0, nr, x0, x, x1, tiles);
  }
};

// float32 planes (C, H, W), contiguous.
struct FillPlanar {
  const float* data;
  int64_t channels, height, width;
  void operator()(int64_t y0, int64_t nr, int64_t x0, int64_t x1, float* tiles) const {
    const int64_t span = x1 - x0;
    for (int64_t c = 0; c < channels; ++c) {
      float* tile = tiles + c * span * kTile;
      int64_t x = x0;
#if defined(__AVX2__) && defined(__FMA__)
      for (; x + 8 <= x1; x += 8) {
        __m256 v[kTile];
        for (int64_t r = 0; r < kTile; ++r)
          v[r] = r < nr ? _mm256_loadu_ps(data + (c * height + y0 + r) * width + x) : _mm256_setzero_ps();
        transpose8(v);
        for (int k = 0; k < 8; ++k) _mm256_storeu_ps(tile + (x - x0 + k) * kTile, v[k]);
      }
#endif
      for (int64_t r = 0; r < kTile; ++r) {
        float* d = tile + (x - x0) * kTile + r;
        if (r >= nr) {
          for (int64_t xx = x; xx < x1; ++xx, d += kTile) *d = 0.0f;
          continue;
        }
        const float* s = data + (c * height + y0 + r) * width;
        for (int64_t xx = x; xx < x1; ++xx, d += kTile) *d = s[xx];
      }
    }
  }
};

// Python's round() of d / 2 for d >= 0: halves go to the even neighbour.
int64_t round_half_even_div2(int64_t d) {
  const int64_t k = d / 2;
  return (d % 2 == 0 || k % 2 == 0) ? k : k + 1;
}

// torchvision center_crop along one axis of length n: the zero padding before the image and the
// crop offset in the padded image, so output index o reads resized index o + offset - pad.
struct CropAxis {
  int64_t pad = 0, offset = 0;
  int64_t first(int64_t crop) const { return std::clamp<int64_t>(pad - offset, 0, crop); }
  int64_t last(int64_t n, int64_t crop) const { return std::clamp<int64_t>(pad - offset + n, 0, crop); }
};
CropAxis crop_axis(int64_t n, int64_t crop) {
  CropAxis a;
  a.pad = crop > n ? (crop - n) / 2 : 0;
  const int64_t padded = std::max(n, crop);
  a.offset = round_half_even_div2(padded - crop);
  return a;
}

std::array<float, 3> as_float3(ArrayRef<double> v) { return {float(v[0]), float(v[1]), float(v[2])}; }

void check_config(const PreprocessConfig& cfg) {
  ARK_CHECK(cfg.input_size[0] == 3, "preprocess: input_size must have 3 channels, got (", cfg.input_size[0], ", ",
            cfg.input_size[1], ", ", cfg.input_size[2], ")");
  ARK_CHECK(cfg.input_size[1] > 0 && cfg.input_size[2] > 0 && cfg.input_size[1] <= kMaxSide &&
                cfg.input_size[2] <= kMaxSide,
            "preprocess: input_size must be in [1, ", kMaxSide, "], got (", cfg.input_size[0], ", ", cfg.input_size[1],
            ", ", cfg.input_size[2], ")");
  ARK_CHECK(cfg.crop_pct > 0 && std::isfinite(cfg.crop_pct) &&
                static_cast<double>(std::max(cfg.input_size[1], cfg.input_size[2])) / cfg.crop_pct <= kMaxSide,
            "preprocess: crop_pct must be positive and leave a resize size of at most ", kMaxSide, ", got ",
            cfg.crop_pct);
  for (double s : cfg.std) ARK_CHECK(s != 0, "preprocess: std must be non-zero");
}

// One image into out (3, H, W): resize (only what the crop keeps), crop, normalise.
void preprocess_into(const Tensor& image, const PreprocessConfig& cfg, float* out) {
  ARK_CHECK(image.defined() && image.scalar_type() == kUInt8 && image.dim() == 3 &&
                (image.size(2) == 3 || image.size(2) == 1),
            "preprocess: expected a uint8 (H, W, 3) image from decode_image/load_image, got ",
            image.defined() ? dtype_name(image.scalar_type()) : "undefined", " ",
            image.defined() ? image.sizes() : IntArrayRef{});
  const Tensor img = image.contiguous();
  const int64_t h = img.size(0), w = img.size(1), ch = cfg.input_size[1], cw = cfg.input_size[2];
  ARK_CHECK(h > 0 && w > 0, "preprocess: empty image ", img.sizes());
  const std::vector<int64_t> rs = resize_size(cfg);
  const auto [rh, rw] = resized_output_size(h, w, rs);
  const CropAxis ay = crop_axis(rh, ch), ax = crop_axis(rw, cw);
  const std::array<float, 3> mean = as_float3(cfg.mean), sd = as_float3(cfg.std);
  const int64_t oy0 = ay.first(ch), oy1 = ay.last(rh, ch), ox0 = ax.first(cw), ox1 = ax.last(rw, cw);
  if (oy0 > 0 || oy1 < ch || ox0 > 0 || ox1 < cw) {  // padding: zeros, normalised
    for (int64_t c = 0; c < 3; ++c) std::fill(out + c * ch * cw, out + (c + 1) * ch * cw, (0.0f - mean[c]) / sd[c]);
  }
  if (oy0 >= oy1 || ox0 >= ox1) return;
  // Resized indices kept by the crop.
  const int64_t ry0 = oy0 + ay.offset - ay.pad, ry1 = oy1 + ay.offset - ay.pad;
  const int64_t rx0 = ox0 + ax.offset - ax.pad, rx1 = ox1 + ax.offset - ax.pad;
  const AxisPlan py = make_plan(h, rh, ry0, ry1, cfg.interpolation, cfg.antialias);
  const AxisPlan px = make_plan(w, rw, rx0, rx1, cfg.interpolation, cfg.antialias);
  const Target t{out + oy0 * cw + ox0, ch * cw, cw, mean.data(), sd.data()};
  resample(FillU8{img.data_ptr<uint8_t>(), w, img.size(2)}, 3, py, px, t);
}

}  // namespace

InterpolationMode interpolation_mode(const std::string& name) {
  if (name == "bilinear") return InterpolationMode::kBilinear;
  if (name == "bicubic") return InterpolationMode::kBicubic;
  if (name == "nearest") return InterpolationMode::kNearest;
  ARK_ERROR("interpolation_mode: expected \"nearest\", \"bilinear\" or \"bicubic\", got \"", name, "\"");
}

const char* interpolation_name(InterpolationMode mode) {
  switch (mode) {
    case InterpolationMode::kNearest: return "nearest";
    case InterpolationMode::kBilinear: return "bilinear";
    case InterpolationMode::kBicubic: return "bicubic";
  }
  return "?";
}

Tensor to_tensor(const Tensor& image) {
  ARK_CHECK(image.defined() && image.scalar_type() == kUInt8 && image.dim() == 3,
            "to_tensor: expected a uint8 (H, W, C) image, got ", image.defined() ? dtype_name(image.scalar_type()) : "undefined",
            " ", image.defined() ? image.sizes() : IntArrayRef{});
  const Tensor img = image.contiguous();
  const int64_t h = img.size(0), w = img.size(1), c = img.size(2);
  Tensor out = empty({c, h, w}, kFloat);
  const uint8_t* s = img.data_ptr<uint8_t>();
  float* d = out.data_ptr<float>();
  const float* unit = u8_to_unit();
  parallel_for(h, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, w * c)), [&](int64_t y0, int64_t y1) {
    for (int64_t y = y0; y < y1; ++y)
      for (int64_t k = 0; k < c; ++k) {
        const uint8_t* sp = s + y * w * c + k;
        float* dp = d + (k * h + y) * w;
        for (int64_t x = 0; x < w; ++x) dp[x] = unit[sp[x * c]];
      }
  });
  return out;
}

std::array<int64_t, 2> resized_output_size(int64_t height, int64_t width, IntArrayRef size, std::optional<int64_t> max_size) {
  ARK_CHECK(size.size() == 1 || size.size() == 2, "resize: size must be {s} or {h, w}, got ", size.size(), " values");
  ARK_CHECK(height > 0 && width > 0, "resize: empty image (", height, " x ", width, ")");
  for (int64_t s : size) ARK_CHECK(s > 0 && s <= kMaxSide, "resize: size must be in [1, ", kMaxSide, "], got ", s);
  ARK_CHECK(height <= kMaxImageSide && width <= kMaxImageSide, "resize: image too large (", height, " x ", width, ")");
  if (max_size) ARK_CHECK(*max_size <= kMaxSide, "resize: max_size must be at most ", kMaxSide, ", got ", *max_size);
  if (size.size() == 2) {
    ARK_CHECK(!max_size, "resize: max_size is only allowed when size is a single int (torchvision)");
    return {size[0], size[1]};
  }
  const bool w_short = width <= height;
  const int64_t shorter = w_short ? width : height, longer = w_short ? height : width;
  int64_t new_short = size[0];
  // Python: int(requested * long / short), a true (double) division truncated.
  int64_t new_long = static_cast<int64_t>(static_cast<double>(new_short * longer) / static_cast<double>(shorter));
  if (max_size) {
    ARK_CHECK(*max_size > new_short, "resize: max_size = ", *max_size, " must be strictly greater than the requested size ",
              new_short);
    if (new_long > *max_size) {
      new_short = static_cast<int64_t>(static_cast<double>(*max_size * new_short) / static_cast<double>(new_long));
      new_long = *max_size;
    }
  }
  ARK_CHECK(new_short > 0 && new_long > 0, "resize: ", height, " x ", width, " to shorter side ", size[0],
            " gives an empty image");
  return w_short ? std::array<int64_t, 2>{new_long, new_short} : std::array<int64_t, 2>{new_short, new_long};
}

Tensor resize(const Tensor& image, IntArrayRef size, InterpolationMode interpolation, std::optional<int64_t> max_size,
              bool antialias) {
  ARK_CHECK(image.defined() && image.scalar_type() == kFloat && (image.dim() == 3 || image.dim() == 4),
            "resize: expected a float32 (C, H, W) or (N, C, H, W) tensor (use to_tensor on decoded images), got ",
            image.defined() ? dtype_name(image.scalar_type()) : "undefined", " ", image.defined() ? image.sizes() : IntArrayRef{});
  const bool batched = image.dim() == 4;
  const Tensor img = batched ? image.contiguous() : image.contiguous().unsqueeze(0);
  const int64_t n = img.size(0), c = img.size(1), h = img.size(2), w = img.size(3);
  const auto [oh, ow] = resized_output_size(h, w, size, max_size);
  if (oh == h && ow == w) return image.contiguous().clone();  // torchvision returns the input as is
  // torchvision refuses antialias for nearest; nearest ignores it here instead of failing.
  const bool aa = antialias && interpolation != InterpolationMode::kNearest;
  Tensor out = empty({n, c, oh, ow}, kFloat);
  if (out.numel() > 0) {
    const AxisPlan py = make_plan(h, oh, 0, oh, interpolation, aa);
    const AxisPlan px = make_plan(w, ow, 0, ow, interpolation, aa);
    for (int64_t i = 0; i < n; ++i) {
      const float* src = img.data_ptr<float>() + i * c * h * w;
      const Target t{out.data_ptr<float>() + i * c * oh * ow, oh * ow, ow};
      resample(FillPlanar{src, c, h, w}, c, py, px, t);
    }
  }
  return batched ? out : out.squeeze(0);
}

Tensor center_crop(const Tensor& image, IntArrayRef size) {
  ARK_CHECK(image.defined() && image.dim() >= 2, "center_crop: expected a (..., H, W) tensor");
  ARK_CHECK(size.size() == 1 || size.size() == 2, "center_crop: size must be {s} or {h, w}");
  const int64_t ch = size[0], cw = size.size() == 2 ? size[1] : size[0];
  ARK_CHECK(ch > 0 && cw > 0, "center_crop: size must be positive, got ", ch, " x ", cw);
  const int64_t d = image.dim(), h = image.size(d - 2), w = image.size(d - 1);
  const CropAxis ay = crop_axis(h, ch), ax = crop_axis(w, cw);
  std::vector<int64_t> shape(image.sizes().begin(), image.sizes().end());
  shape[d - 2] = ch;
  shape[d - 1] = cw;
  Tensor out = zeros(shape, image.scalar_type());
  const int64_t oy0 = ay.first(ch), oy1 = ay.last(h, ch), ox0 = ax.first(cw), ox1 = ax.last(w, cw);
  if (oy0 < oy1 && ox0 < ox1) {
    Tensor dst = out.narrow(d - 2, oy0, oy1 - oy0).narrow(d - 1, ox0, ox1 - ox0);
    const Tensor src = image.narrow(d - 2, oy0 + ay.offset - ay.pad, oy1 - oy0).narrow(d - 1, ox0 + ax.offset - ax.pad, ox1 - ox0);
    copy_(dst, src);
  }
  return out;
}

Tensor normalize(const Tensor& image, ArrayRef<double> mean, ArrayRef<double> std) {
  ARK_CHECK(image.defined() && image.scalar_type() == kFloat && image.dim() >= 3,
            "normalize: expected a float32 (..., C, H, W) tensor");
  const int64_t d = image.dim(), c = image.size(d - 3), hw = image.size(d - 2) * image.size(d - 1);
  ARK_CHECK(static_cast<int64_t>(mean.size()) == c && static_cast<int64_t>(std.size()) == c, "normalize: expected ", c,
            " mean and std values, got ", mean.size(), " and ", std.size());
  Tensor out = image.contiguous().clone();
  float* p = out.data_ptr<float>();
  const int64_t planes = out.numel() / hw;
  for (int64_t k = 0; k < planes; ++k) {
    const float m = static_cast<float>(mean[k % c]), s = static_cast<float>(std[k % c]);
    ARK_CHECK(s != 0.0f, "normalize: std evaluated to zero");
    float* q = p + k * hw;
    for (int64_t i = 0; i < hw; ++i) q[i] = (q[i] - m) / s;
  }
  return out;
}

std::vector<int64_t> resize_size(const PreprocessConfig& cfg) {
  check_config(cfg);
  const int64_t h = cfg.input_size[1], w = cfg.input_size[2];
  if (h == w) return {static_cast<int64_t>(std::floor(static_cast<double>(h) / cfg.crop_pct))};
  return {static_cast<int64_t>(static_cast<double>(h) / cfg.crop_pct), static_cast<int64_t>(static_cast<double>(w) / cfg.crop_pct)};
}

Tensor preprocess(const Tensor& image, const PreprocessConfig& cfg) {
  check_config(cfg);
  Tensor out = empty({1, 3, cfg.input_size[1], cfg.input_size[2]}, kFloat);
  preprocess_into(image, cfg, out.data_ptr<float>());
  return out;
}

Tensor preprocess(const std::vector<Tensor>& images, const PreprocessConfig& cfg) {
  check_config(cfg);
  const int64_t plane = 3 * cfg.input_size[1] * cfg.input_size[2];
  Tensor out = empty({static_cast<int64_t>(images.size()), 3, cfg.input_size[1], cfg.input_size[2]}, kFloat);
  for (size_t i = 0; i < images.size(); ++i) preprocess_into(images[i], cfg, out.data_ptr<float>() + i * plane);
  return out;
}

}  // namespace ark::datasets
