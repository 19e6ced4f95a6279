// Pooling and resampling over NCHW planes: max (with flat per-plane indices, as PyTorch),
// average, adaptive average, nearest and bilinear upsampling; forward and backward. Planes
// (N * C of them) run in parallel.
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "ark/backend/cpu/cpu_backend.h"
#include "ark/core/parallel.h"

namespace ark::cpu {
namespace {
int64_t planes(const Tensor& t) { return t.size(0) * t.size(1); }
int64_t plane_grain(int64_t plane_elems) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(plane_elems, 1)); }
}  // namespace

namespace {
// The selection rule of PyTorch's CPU kernel (aten/src/ATen/native/cpu/MaxPoolKernel.cpp): the
// window is scanned row-major and a value replaces the best when `v > best || isnan(v)`. So ties
// keep the first index, a NaN wins, and of several NaNs the LAST one's index is reported (a later
// NaN replaces an earlier one; nothing else replaces a NaN). The first tap is always taken (the
// same as starting from -inf at the window's first real pixel). All paths below follow it.

// The common 2x2 window, stride 2, no padding: branch-free selects GCC vectorises.
template <class T>
void max_pool_2x2(const T* x, T* y, int64_t* ix, int64_t planes, int64_t H, int64_t W, int64_t Ho, int64_t Wo) {
  parallel_for(planes, plane_grain(Ho * Wo * 4), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl)
      for (int64_t oi = 0; oi < Ho; ++oi) {
        const T* r0 = x + pl * H * W + 2 * oi * W;
        const T* r1 = r0 + W;
        T* yo = y + pl * Ho * Wo + oi * Wo;
        int64_t* io = ix + pl * Ho * Wo + oi * Wo;
        const int64_t base = 2 * oi * W;
        for (int64_t oj = 0; oj < Wo; ++oj) {
          T best = r0[2 * oj];
          int64_t at = base + 2 * oj;
          const T cand[3] = {r0[2 * oj + 1], r1[2 * oj], r1[2 * oj + 1]};
          const int64_t pos[3] = {base + 2 * oj + 1, base + W + 2 * oj, base + W + 2 * oj + 1};
          for (int k = 0; k < 3; ++k) {
            const bool take = (cand[k] > best) | (cand[k] != cand[k]);
            best = take ? cand[k] : best;
            at = take ? pos[k] : at;
          }
          yo[oj] = best;
          io[oj] = at;
        }
      }
  });
}

// The resnet stem's pool: 3x3 window, stride 2, padding 1, dilation 1. Output (oi, oj) sees input
// rows 2oi-1..2oi+1 and columns 2oj-1..2oj+1, clipped to the image. The rule above, applied to a
// row-major scan, reduces contiguous runs of the scan independently: combining the result A of an
// earlier run with the result B of a later one as "B if B.v > A.v or B.v is NaN, else A" gives the
// scan's result (ties stay with A's first index, a NaN in B is B's last NaN, a NaN only in A
// stays). So each window row is reduced over its 3 columns first, then the rows in order; a
// column-first order would not be a run of the scan and could change the index on ties.
//
// One output, with bounds checks: the borders, and rows too narrow for the vector loop.
template <class T>
inline void max_pool_3x3s2p1_one(const T* xp, int64_t H, int64_t W, int64_t oi, int64_t oj, T* y, int64_t* ix) {
  const int64_t i0 = std::max<int64_t>(2 * oi - 1, 0), i1 = std::min<int64_t>(2 * oi + 2, H);
  const int64_t j0 = std::max<int64_t>(2 * oj - 1, 0), j1 = std::min<int64_t>(2 * oj + 2, W);
  T best = xp[i0 * W + j0];
  int64_t at = i0 * W + j0;
  for (int64_t i = i0; i < i1; ++i)
    for (int64_t j = i == i0 ? j0 + 1 : j0; j < j1; ++j) {
      const T v = xp[i * W + j];
      if ((v > best) | (v != v)) {
        best = v;
        at = i * W + j;
      }
    }
  *y = best;
  *ix = at;
}

#if defined(__AVX2__)
// (b, bi) <- (v, vi) where v > b or v is NaN: the rule above, 8 outputs at a time.
inline void max_step(__m256& b, __m256i& bi, __m256 v, __m256i vi) {
  const __m256 take = _mm256_or_ps(_mm256_cmp_ps(v, b, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  b = _mm256_blendv_ps(b, v, take);
  bi = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(bi), _mm256_castsi256_ps(vi), take));
}

// The even and odd elements of the 16 floats a:b, in order.
inline __m256 even_of(__m256 a, __m256 b) {
  const __m256 t = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));  // a0 a2 b0 b2 | a4 a6 b4 b6
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}
inline __m256 odd_of(__m256 a, __m256 b) {
  const __m256 t = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}

// Row r's 3-column maxima for outputs oj0..oj0+7, all of whose columns are inside the row:
// columns 2oj-1, 2oj, 2oj+1 in that order. Indices are flat in the plane (int32).
inline void row_max8(const float* xp, int64_t r, int64_t W, int64_t oj0, __m256& b, __m256i& bi) {
  const float* p = xp + r * W + 2 * oj0 - 1;
  const __m256 a0 = _mm256_loadu_ps(p), a1 = _mm256_loadu_ps(p + 8);
  const __m256 c0 = _mm256_loadu_ps(p + 1), c1 = _mm256_loadu_ps(p + 9);
  const __m256i mid = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(r * W + 2 * oj0)),
                                       _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14));
  const __m256i one = _mm256_set1_epi32(1);
  b = even_of(a0, a1);  // column 2oj - 1
  bi = _mm256_sub_epi32(mid, one);
  max_step(b, bi, odd_of(a0, a1), mid);                          // column 2oj
  max_step(b, bi, odd_of(c0, c1), _mm256_add_epi32(mid, one));  // column 2oj + 1
}

void max_pool_3x3s2p1_f32(const float* x, float* y, int64_t* ix, int64_t planes, int64_t H, int64_t W, int64_t Ho,
                          int64_t Wo) {
  // Outputs 1..jhi have all three columns inside the row; the vector loop covers them 8 at a
  // time, its last block shifted back to end at jhi (overlapping outputs are written twice,
  // with the same values). Narrower rows go the scalar way.
  const int64_t jhi = W >= 2 ? std::min<int64_t>(Wo - 1, (W - 2) / 2) : 0;
  const bool vec = jhi >= 8;
  parallel_for(planes, plane_grain(Ho * Wo * 4), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      const float* xp = x + pl * H * W;
      for (int64_t oi = 0; oi < Ho; ++oi) {
        float* yo = y + pl * Ho * Wo + oi * Wo;
        int64_t* io = ix + pl * Ho * Wo + oi * Wo;
        int64_t oj = 0;
        if (vec) {
          max_pool_3x3s2p1_one(xp, H, W, oi, 0, yo, io);
          const int64_t r0 = std::max<int64_t>(2 * oi - 1, 0), r1 = std::min<int64_t>(2 * oi + 1, H - 1);
          for (int64_t j = 1;; j += 8) {
            j = std::min(j, jhi - 7);
            __m256 m;
            __m256i mi;
            row_max8(xp, r0, W, j, m, mi);
            for (int64_t r = r0 + 1; r <= r1; ++r) {
              __m256 v;
              __m256i vi;
              row_max8(xp, r, W, j, v, vi);
              max_step(m, mi, v, vi);
            }
            _mm256_storeu_ps(yo + j, m);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(io + j), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(mi)));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(io + j + 4),
                                _mm256_cvtepi32_epi64(_mm256_extracti128_si256(mi, 1)));
            if (j + 8 > jhi) break;
          }
          oj = jhi + 1;
        }
        for (; oj < Wo; ++oj) max_pool_3x3s2p1_one(xp, H, W, oi, oj, yo + oj, io + oj);
      }
    }
  });
}
#endif
}  // namespace

void CpuBackend::max_pool2d(const Tensor& in, const Tensor& out, const Tensor& indices, const PoolParams& p) {
  dispatch_float(in.dtype(), "max_pool2d", [&]<class T>() {
    const int64_t H = in.size(2), W = in.size(3), Ho = out.size(2), Wo = out.size(3);
    const T* x = in.data_ptr<T>();
    T* y = out.data_ptr<T>();
    int64_t* ix = indices.data_ptr<int64_t>();
    if (p.kernel[0] == 2 && p.kernel[1] == 2 && p.stride[0] == 2 && p.stride[1] == 2 && p.padding[0] == 0 &&
        p.padding[1] == 0 && p.dilation[0] == 1 && p.dilation[1] == 1 && 2 * Ho <= H && 2 * Wo <= W)
      return max_pool_2x2(x, y, ix, planes(in), H, W, Ho, Wo);
#if defined(__AVX2__)
    if constexpr (std::is_same_v<T, float>)
      if (p.kernel[0] == 3 && p.kernel[1] == 3 && p.stride[0] == 2 && p.stride[1] == 2 && p.padding[0] == 1 &&
          p.padding[1] == 1 && p.dilation[0] == 1 && p.dilation[1] == 1 && H * W <= std::numeric_limits<int32_t>::max() &&
          2 * Ho - 3 < H && 2 * Wo - 3 < W)  // every window holds a real pixel (PyTorch's output-size rule)
        return max_pool_3x3s2p1_f32(x, y, ix, planes(in), H, W, Ho, Wo);
#endif
    // General windows, one output row at a time: for each kernel tap (ki, kj) sweep the outputs
    // whose tap falls inside the image (bounds worked out once per tap, not per element), keeping
    // a running max per output with branch-free selects. The taps are visited in PyTorch's order
    // and a later value must be strictly greater, so ties keep the first index; a NaN wins and
    // stays unless a later NaN replaces it (the rule above).
    const int64_t sh = p.stride[0], sw = p.stride[1], ph = p.padding[0], pw = p.padding[1];
    const int64_t dh = p.dilation[0], dw = p.dilation[1], kh = p.kernel[0], kw = p.kernel[1];
    parallel_for(planes(in), plane_grain(Ho * Wo * kh * kw), [&](int64_t b, int64_t e) {
      std::vector<T> best(static_cast<size_t>(Wo));
      std::vector<int64_t> best_i(static_cast<size_t>(Wo));
      for (int64_t pl = b; pl < e; ++pl) {
        const T* xp = x + pl * H * W;
        for (int64_t oi = 0; oi < Ho; ++oi) {
          std::fill(best.begin(), best.end(), -std::numeric_limits<T>::infinity());
          std::fill(best_i.begin(), best_i.end(), int64_t{-1});
          T* bp = best.data();
          int64_t* bi = best_i.data();
          for (int64_t ki = 0; ki < kh; ++ki) {
            const int64_t ii = oi * sh - ph + ki * dh;
            if (ii < 0 || ii >= H) continue;
            const T* row = xp + ii * W;
            for (int64_t kj = 0; kj < kw; ++kj) {
              // Outputs oj with 0 <= oj * sw - pw + kj * dw < W.
              const int64_t off = kj * dw - pw;
              const int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
              const int64_t hi = std::min(Wo, W - off <= 0 ? int64_t{0} : (W - off + sw - 1) / sw);
              for (int64_t oj = lo; oj < hi; ++oj) {
                const int64_t jj = oj * sw + off;
                const T v = row[jj];
                const T cur = bp[oj];
                const bool take = (bi[oj] < 0) | (v > cur) | (v != v);
                bp[oj] = take ? v : cur;
                bi[oj] = take ? ii * W + jj : bi[oj];
              }
            }
          }
          std::copy(best.begin(), best.end(), y + pl * Ho * Wo + oi * Wo);
          std::copy(best_i.begin(), best_i.end(), ix + pl * Ho * Wo + oi * Wo);
        }
      }
    });
  });
}

void CpuBackend::max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_in) {
  dispatch_float(grad_out.dtype(), "max_pool2d_backward", [&]<class T>() {
    const int64_t HW = grad_in.size(2) * grad_in.size(3), HoWo = grad_out.size(2) * grad_out.size(3);
    const T* gy = grad_out.data_ptr<T>();
    const int64_t* ix = indices.data_ptr<int64_t>();
    T* gx = grad_in.data_ptr<T>();
    parallel_for(planes(grad_in), plane_grain(HW), [&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; ++pl) {
        T* gp = gx + pl * HW;
        std::memset(gp, 0, sizeof(T) * static_cast<size_t>(HW));
        for (int64_t i = 0; i < HoWo; ++i) {
          const int64_t k = ix[pl * HoWo + i];
          if (k >= 0) gp[k] += gy[pl * HoWo + i];
        }
      }
    });
  });
}

namespace {
// The window of output (oi, oj) for average pooling and its divisor.
struct AvgWindow {
  int64_t i0, i1, j0, j1, divisor;
};
AvgWindow avg_window(int64_t oi, int64_t oj, int64_t H, int64_t W, const Backend::PoolParams& p) {
  int64_t i0 = oi * p.stride[0] - p.padding[0], j0 = oj * p.stride[1] - p.padding[1];
  int64_t i1 = std::min(i0 + p.kernel[0], H + p.padding[0]), j1 = std::min(j0 + p.kernel[1], W + p.padding[1]);
  const int64_t pool_size = (i1 - i0) * (j1 - j0);
  i0 = std::max<int64_t>(i0, 0);
  j0 = std::max<int64_t>(j0, 0);
  i1 = std::min(i1, H);
  j1 = std::min(j1, W);
  int64_t divisor = p.divisor_override ? p.divisor_override
                    : p.count_include_pad ? pool_size
                                          : (i1 - i0) * (j1 - j0);
  return {i0, i1, j0, j1, divisor};
}
}  // namespace

void CpuBackend::avg_pool2d(const Tensor& in, const Tensor& out, const PoolParams& p) {
  dispatch_float(in.dtype(), "avg_pool2d", [&]<class T>() {
    const int64_t H = in.size(2), W = in.size(3), Ho = out.size(2), Wo = out.size(3);
    const T* x = in.data_ptr<T>();
    T* y = out.data_ptr<T>();
    parallel_for(planes(in), plane_grain(Ho * Wo * p.kernel[0] * p.kernel[1]), [&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; ++pl)
        for (int64_t oi = 0; oi < Ho; ++oi)
          for (int64_t oj = 0; oj < Wo; ++oj) {
            const AvgWindow w = avg_window(oi, oj, H, W, p);
            T acc = 0;
            for (int64_t i = w.i0; i < w.i1; ++i)
              for (int64_t j = w.j0; j < w.j1; ++j) acc += x[pl * H * W + i * W + j];
            y[pl * Ho * Wo + oi * Wo + oj] = w.divisor ? acc / static_cast<T>(w.divisor) : T(0);
          }
    });
  });
}

void CpuBackend::avg_pool2d_backward(const Tensor& grad_out, const Tensor& grad_in, const PoolParams& p) {
  dispatch_float(grad_out.dtype(), "avg_pool2d_backward", [&]<class T>() {
    const int64_t H = grad_in.size(2), W = grad_in.size(3), Ho = grad_out.size(2), Wo = grad_out.size(3);
    const T* gy = grad_out.data_ptr<T>();
    T* gx = grad_in.data_ptr<T>();
    parallel_for(planes(grad_in), plane_grain(H * W), [&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; ++pl) {
        T* gp = gx + pl * H * W;
        std::memset(gp, 0, sizeof(T) * static_cast<size_t>(H * W));
        for (int64_t oi = 0; oi < Ho; ++oi)
          for (int64_t oj = 0; oj < Wo; ++oj) {
            const AvgWindow w = avg_window(oi, oj, H, W, p);
            if (!w.divisor) continue;
            const T g = gy[pl * Ho * Wo + oi * Wo + oj] / static_cast<T>(w.divisor);
            for (int64_t i = w.i0; i < w.i1; ++i)
              for (int64_t j = w.j0; j < w.j1; ++j) gp[i * W + j] += g;
          }
      }
    });
  });
}

namespace {
inline int64_t start_index(int64_t o, int64_t out, int64_t in) { return (o * in) / out; }
inline int64_t end_index(int64_t o, int64_t out, int64_t in) { return ((o + 1) * in + out - 1) / out; }
}  // namespace

void CpuBackend::adaptive_avg_pool2d(const Tensor& in, const Tensor& out) {
  dispatch_float(in.dtype(), "adaptive_avg_pool2d", [&]<class T>() {
    const int64_t H = in.size(2), W = in.size(3), Ho = out.size(2), Wo = out.size(3);
    const T* x = in.data_ptr<T>();
    T* y = out.data_ptr<T>();
    parallel_for(planes(in), plane_grain(H * W), [&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; ++pl)
        for (int64_t oi = 0; oi < Ho; ++oi) {
          const int64_t i0 = start_index(oi, Ho, H), i1 = end_index(oi, Ho, H);
          for (int64_t oj = 0; oj < Wo; ++oj) {
            const int64_t j0 = start_index(oj, Wo, W), j1 = end_index(oj, Wo, W);
            T acc = 0;
            for (int64_t i = i0; i < i1; ++i)
              for (int64_t j = j0; j < j1; ++j) acc += x[pl * H * W + i * W + j];
            y[pl * Ho * Wo + oi * Wo + oj] = acc / static_cast<T>((i1 - i0) * (j1 - j0));
          }
        }
    });
  });
}

void CpuBackend::adaptive_avg_pool2d_backward(const Tensor& grad_out, const Tensor& grad_in) {
  dispatch_float(grad_out.dtype(), "adaptive_avg_pool2d_backward", [&]<class T>() {
    const int64_t H = grad_in.size(2), W = grad_in.size(3), Ho = grad_out.size(2), Wo = grad_out.size(3);
    const T* gy = grad_out.data_ptr<T>();
    T* gx = grad_in.data_ptr<T>();
    parallel_for(planes(grad_in), plane_grain(H * W), [&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; ++pl) {
        T* gp = gx + pl * H * W;
        std::memset(gp, 0, sizeof(T) * static_cast<size_t>(H * W));
        for (int64_t oi = 0; oi < Ho; ++oi) {
          const int64_t i0 = start_index(oi, Ho, H), i1 = end_index(oi, Ho, H);
          for (int64_t oj = 0; oj < Wo; ++oj) {
            const int64_t j0 = start_index(oj, Wo, W), j1 = end_index(oj, Wo, W);
            const T g = gy[pl * Ho * Wo + oi * Wo + oj] / static_cast<T>((i1 - i0) * (j1 - j0));
            for (int64_t i = i0; i < i1; ++i)
              for (int64_t j = j0; j < j1; ++j) gp[i * W + j] += g;
          }
        }
      }
    });
  });
}

void CpuBackend::upsample_nearest2d(const Tensor& in, const Tensor& out, bool backward) {
  // Forward: out <- in. Backward: `in` is the output gradient, `out` the input gradient.
  dispatch_float(in.dtype(), "upsample_nearest2d", [&]<class T>() {
    const Tensor& small = backward ? out : in;
    const Tensor& big = backward ? in : out;
    const int64_t H = small.size(2), W = small.size(3), Ho = big.size(2), Wo = big.size(3);
    const float sh = static_cast<float>(H) / static_cast<float>(Ho), sw = static_cast<float>(W) / static_cast<float>(Wo);
    const T* src = in.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    parallel_for(planes(in), plane_grain(Ho * Wo), [&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; ++pl) {
        if (backward) std::memset(dst + pl * H * W, 0, sizeof(T) * static_cast<size_t>(H * W));
        for (int64_t oi = 0; oi < Ho; ++oi) {
          const int64_t ii = std::min<int64_t>(static_cast<int64_t>(std::floor(static_cast<float>(oi) * sh)), H - 1);
          for (int64_t oj = 0; oj < Wo; ++oj) {
            const int64_t jj = std::min<int64_t>(static_cast<int64_t>(std::floor(static_cast<float>(oj) * sw)), W - 1);
            if (backward) dst[pl * H * W + ii * W + jj] += src[pl * Ho * Wo + oi * Wo + oj];
            else dst[pl * Ho * Wo + oi * Wo + oj] = src[pl * H * W + ii * W + jj];
          }
        }
      }
    });
  });
}

void CpuBackend::upsample_bilinear2d(const Tensor& in, const Tensor& out, bool align_corners, bool backward) {
  dispatch_float(in.dtype(), "upsample_bilinear2d", [&]<class T>() {
    const Tensor& small = backward ? out : in;
    const Tensor& big = backward ? in : out;
    const int64_t H = small.size(2), W = small.size(3), Ho = big.size(2), Wo = big.size(3);
    auto scale = [&](int64_t i, int64_t o) -> T {
      if (align_corners) return o > 1 ? static_cast<T>(i - 1) / static_cast<T>(o - 1) : T(0);
      return static_cast<T>(i) / static_cast<T>(o);
    };
    const T rh = scale(H, Ho), rw = scale(W, Wo);
    auto src_index = [&](T r, int64_t dst) -> T {
      if (align_corners) return r * static_cast<T>(dst);
      const T s = r * (static_cast<T>(dst) + T(0.5)) - T(0.5);
      return s < 0 ? T(0) : s;
    };
    const T* src = in.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    parallel_for(planes(in), plane_grain(Ho * Wo), [&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; ++pl) {
        if (backward) std::memset(dst + pl * H * W, 0, sizeof(T) * static_cast<size_t>(H * W));
        for (int64_t oi = 0; oi < Ho; ++oi) {
          const T hr = src_index(rh, oi);
          const int64_t h0 = static_cast<int64_t>(hr), h1 = h0 + (h0 < H - 1 ? 1 : 0);
          const T l1 = hr - static_cast<T>(h0), l0 = T(1) - l1;
          for (int64_t oj = 0; oj < Wo; ++oj) {
            const T wr = src_index(rw, oj);
            const int64_t w0 = static_cast<int64_t>(wr), w1 = w0 + (w0 < W - 1 ? 1 : 0);
            const T m1 = wr - static_cast<T>(w0), m0 = T(1) - m1;
            if (backward) {
              const T g = src[pl * Ho * Wo + oi * Wo + oj];
              T* d = dst + pl * H * W;
              d[h0 * W + w0] += l0 * m0 * g;
              d[h0 * W + w1] += l0 * m1 * g;
              d[h1 * W + w0] += l1 * m0 * g;
              d[h1 * W + w1] += l1 * m1 * g;
            } else {
              const T* s = src + pl * H * W;
              dst[pl * Ho * Wo + oi * Wo + oj] =
                  l0 * (m0 * s[h0 * W + w0] + m1 * s[h0 * W + w1]) + l1 * (m0 * s[h1 * W + w0] + m1 * s[h1 * W + w1]);
            }
          }
        }
      }
    });
  });
}

}  // namespace ark::cpu
