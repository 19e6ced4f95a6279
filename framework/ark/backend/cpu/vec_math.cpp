#include "ark/backend/cpu/vec_math.h"

#include <cmath>
#include <limits>

#include "ark/backend/cpu/math.h"

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace ark::cpu::vec {

#ifdef __AVX2__
namespace {
using V = __m256;
inline V set1(float v) { return _mm256_set1_ps(v); }

// exp(x) = 2^n * exp(r), r = x - n ln2 in [-ln2/2, ln2/2], degree-6 polynomial (Cephes expf).
// The 2^n scale is applied in two halves so results near FLT_MAX and in the subnormal range are
// right (one scale would overflow or flush them).
inline V exp8(V x) {
  const V hi = set1(88.72283935546875f), lo = set1(-103.97208404541016f);
  V xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  V fx = _mm256_round_ps(_mm256_mul_ps(xc, set1(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  V r = _mm256_fnmadd_ps(fx, set1(0.693359375f), xc);
  r = _mm256_fnmadd_ps(fx, set1(-2.12194440e-4f), r);
  V z = _mm256_mul_ps(r, r);
  V p = set1(1.9875691500E-4f);
  p = _mm256_fmadd_ps(p, r, set1(1.3981999507E-3f));
  p = _mm256_fmadd_ps(p, r, set1(8.3334519073E-3f));
  p = _mm256_fmadd_ps(p, r, set1(4.1665795894E-2f));
  p = _mm256_fmadd_ps(p, r, set1(1.6666665459E-1f));
  p = _mm256_fmadd_ps(p, r, set1(5.0000001201E-1f));
  p = _mm256_fmadd_ps(p, z, r);
  p = _mm256_add_ps(p, set1(1.0f));
  __m256i n = _mm256_cvtps_epi32(fx);
  __m256i n1 = _mm256_srai_epi32(n, 1), n2 = _mm256_sub_epi32(n, n1);
  auto pow2 = [](__m256i e) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23)); };
  V res = _mm256_mul_ps(_mm256_mul_ps(p, pow2(n1)), pow2(n2));
  // Saturate like expf: +inf above the range, 0 below it; keep NaN.
  res = _mm256_blendv_ps(res, set1(std::numeric_limits<float>::infinity()), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
  res = _mm256_blendv_ps(res, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
  return _mm256_blendv_ps(res, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

// log(x): x = m * 2^e with m in [sqrt(1/2), sqrt(2)), degree-8 polynomial (Cephes logf).
inline V log8(V x) {
  const V one = set1(1.0f);
  V invalid = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
  V zero = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_EQ_OQ);
  V isinf = _mm256_cmp_ps(x, set1(std::numeric_limits<float>::infinity()), _CMP_EQ_OQ);
  // Subnormals: scale by 2^23 into the normal range and take 23 off the exponent.
  V sub = _mm256_cmp_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x00800000)), _CMP_LT_OQ);
  V xs = _mm256_blendv_ps(x, _mm256_mul_ps(x, set1(8388608.0f)), sub);
  __m256i xi = _mm256_castps_si256(xs);
  __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(xi, 23), _mm256_set1_epi32(126));
  e = _mm256_sub_epi32(e, _mm256_and_si256(_mm256_castps_si256(sub), _mm256_set1_epi32(23)));
  V m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(xi, _mm256_set1_epi32(0x007fffff)),
                                            _mm256_set1_epi32(0x3f000000)));  // in [0.5, 1)
  V fe = _mm256_cvtepi32_ps(e);
  V small = _mm256_cmp_ps(m, set1(0.707106781186547524f), _CMP_LT_OQ);
  V t = _mm256_and_ps(m, small);
  m = _mm256_sub_ps(m, one);
  fe = _mm256_sub_ps(fe, _mm256_and_ps(one, small));
  m = _mm256_add_ps(m, t);
  V z = _mm256_mul_ps(m, m);
  V y = set1(7.0376836292E-2f);
  y = _mm256_fmadd_ps(y, m, set1(-1.1514610310E-1f));
  y = _mm256_fmadd_ps(y, m, set1(1.1676998740E-1f));
  y = _mm256_fmadd_ps(y, m, set1(-1.2420140846E-1f));
  y = _mm256_fmadd_ps(y, m, set1(1.4249322787E-1f));
  y = _mm256_fmadd_ps(y, m, set1(-1.6668057665E-1f));
  y = _mm256_fmadd_ps(y, m, set1(2.0000714765E-1f));
  y = _mm256_fmadd_ps(y, m, set1(-2.4999993993E-1f));
  y = _mm256_fmadd_ps(y, m, set1(3.3333331174E-1f));
  y = _mm256_mul_ps(_mm256_mul_ps(y, m), z);
  y = _mm256_fmadd_ps(fe, set1(-2.12194440e-4f), y);
  y = _mm256_fnmadd_ps(z, set1(0.5f), y);
  V res = _mm256_add_ps(m, y);
  res = _mm256_fmadd_ps(fe, set1(0.693359375f), res);
  res = _mm256_blendv_ps(res, set1(-std::numeric_limits<float>::infinity()), zero);
  res = _mm256_blendv_ps(res, x, isinf);
  res = _mm256_blendv_ps(res, set1(std::numeric_limits<float>::quiet_NaN()), invalid);
  return _mm256_blendv_ps(res, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

inline V sigmoid8(V x) {
  const V one = set1(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

// tanh: odd polynomial for |x| < 0.625 (Cephes tanhf), else 1 - 2 / (exp(2|x|) + 1).
inline V tanh8(V x) {
  const V sign_mask = set1(-0.0f);
  V ax = _mm256_andnot_ps(sign_mask, x);
  V z = _mm256_mul_ps(x, x);
  V p = set1(-5.70498872745E-3f);
  p = _mm256_fmadd_ps(p, z, set1(2.06390887954E-2f));
  p = _mm256_fmadd_ps(p, z, set1(-5.37397155531E-2f));
  p = _mm256_fmadd_ps(p, z, set1(1.33314422036E-1f));
  p = _mm256_fmadd_ps(p, z, set1(-3.33332819422E-1f));
  V small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
  V e = exp8(_mm256_add_ps(ax, ax));
  V big = _mm256_sub_ps(set1(1.0f), _mm256_div_ps(set1(2.0f), _mm256_add_ps(e, set1(1.0f))));
  big = _mm256_or_ps(big, _mm256_and_ps(x, sign_mask));
  V r = _mm256_blendv_ps(big, small, _mm256_cmp_ps(ax, set1(0.625f), _CMP_LT_OQ));
  return _mm256_blendv_ps(r, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

// erf: Abramowitz & Stegun 7.1.26, 1 - t * P(t) * exp(-x^2) with t = 1 / (1 + p|x|)
// (max abs error 1.5e-7 in exact arithmetic, as PyTorch's vectorised erf).
inline V erf8(V x) {
  const V sign_mask = set1(-0.0f);
  V ax = _mm256_andnot_ps(sign_mask, x);
  V t = _mm256_div_ps(set1(1.0f), _mm256_fmadd_ps(set1(0.3275911f), ax, set1(1.0f)));
  V p = set1(1.061405429f);
  p = _mm256_fmadd_ps(p, t, set1(-1.453152027f));
  p = _mm256_fmadd_ps(p, t, set1(1.421413741f));
  p = _mm256_fmadd_ps(p, t, set1(-0.284496736f));
  p = _mm256_fmadd_ps(p, t, set1(0.254829592f));
  p = _mm256_mul_ps(p, t);
  V e = exp8(_mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), ax), ax));
  V r = _mm256_fnmadd_ps(p, e, set1(1.0f));
  r = _mm256_or_ps(r, _mm256_and_ps(x, sign_mask));
  return _mm256_blendv_ps(r, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

template <class F8, class F1>
inline void map(const float* x, float* y, int64_t n, F8 f8, F1 f1) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, f8(_mm256_loadu_ps(x + i)));
  if (i < n) {
    // Tail through the vector path too, so every element gets the same approximation.
    alignas(32) float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t k = i; k < n; ++k) buf[k - i] = x[k];
    _mm256_store_ps(buf, f8(_mm256_load_ps(buf)));
    for (int64_t k = i; k < n; ++k) y[k] = buf[k - i];
  }
  (void)f1;
}

template <class F8>
inline void map2(const float* a, const float* b, float* y, int64_t n, F8 f8) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, f8(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  if (i < n) {
    alignas(32) float ba[8] = {0}, bb[8] = {0};
    for (int64_t k = i; k < n; ++k) {
      ba[k - i] = a[k];
      bb[k - i] = b[k];
    }
    _mm256_store_ps(ba, f8(_mm256_load_ps(ba), _mm256_load_ps(bb)));
    for (int64_t k = i; k < n; ++k) y[k] = ba[k - i];
  }
}

inline V gelu8(V x) {
  return _mm256_mul_ps(_mm256_mul_ps(set1(0.5f), x),
                       _mm256_add_ps(set1(1.0f), erf8(_mm256_mul_ps(x, set1(0.70710678118654752440f)))));
}
inline V gelu_tanh8(V x) {
  V inner = _mm256_mul_ps(set1(0.79788456080286535588f),
                          _mm256_fmadd_ps(_mm256_mul_ps(set1(0.044715f), x), _mm256_mul_ps(x, x), x));
  return _mm256_mul_ps(_mm256_mul_ps(set1(0.5f), x), _mm256_add_ps(set1(1.0f), tanh8(inner)));
}
}  // namespace

void exp(const float* x, float* y, int64_t n) { map(x, y, n, exp8, 0); }
void log(const float* x, float* y, int64_t n) { map(x, y, n, log8, 0); }
void tanh(const float* x, float* y, int64_t n) { map(x, y, n, tanh8, 0); }
void sigmoid(const float* x, float* y, int64_t n) { map(x, y, n, sigmoid8, 0); }
void erf(const float* x, float* y, int64_t n) { map(x, y, n, erf8, 0); }
void gelu(const float* x, float* y, int64_t n) { map(x, y, n, gelu8, 0); }
void gelu_tanh(const float* x, float* y, int64_t n) { map(x, y, n, gelu_tanh8, 0); }
void silu(const float* x, float* y, int64_t n) {
  map(x, y, n, [](V v) { return _mm256_mul_ps(v, sigmoid8(v)); }, 0);
}
void gelu_backward(const float* g, const float* x, float* dx, int64_t n) {
  map2(g, x, dx, n, [](V gv, V xv) {
    V cdf = _mm256_mul_ps(set1(0.5f), _mm256_add_ps(set1(1.0f), erf8(_mm256_mul_ps(xv, set1(0.70710678118654752440f)))));
    V pdf = _mm256_mul_ps(exp8(_mm256_mul_ps(set1(-0.5f), _mm256_mul_ps(xv, xv))), set1(0.39894228040143267794f));
    return _mm256_mul_ps(gv, _mm256_fmadd_ps(xv, pdf, cdf));
  });
}
void silu_backward(const float* g, const float* x, float* dx, int64_t n) {
  map2(g, x, dx, n, [](V gv, V xv) {
    V s = sigmoid8(xv);
    V t = _mm256_fmadd_ps(xv, _mm256_sub_ps(set1(1.0f), s), set1(1.0f));
    return _mm256_mul_ps(_mm256_mul_ps(gv, s), t);
  });
}

double sum(const float* x, int64_t n) {
  double total = 0;
  int64_t i = 0;
  constexpr int64_t kBlock = 4096;  // float partials stay accurate; blocks add up in double
  while (i + 32 <= n) {
    const int64_t end = std::min(n, i + kBlock) & ~int64_t{31};
    V a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (; i < end; i += 32) {
      a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
      a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
      a2 = _mm256_add_ps(a2, _mm256_loadu_ps(x + i + 16));
      a3 = _mm256_add_ps(a3, _mm256_loadu_ps(x + i + 24));
    }
    V s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, s);
    for (float l : lanes) total += l;
  }
  for (; i < n; ++i) total += x[i];
  return total;
}

double sum_sq_dev(const float* x, int64_t n, float mean) {
  double total = 0;
  int64_t i = 0;
  const V m = set1(mean);
  constexpr int64_t kBlock = 4096;
  while (i + 16 <= n) {
    const int64_t end = std::min(n, i + kBlock) & ~int64_t{15};
    V a0 = _mm256_setzero_ps(), a1 = a0;
    for (; i < end; i += 16) {
      V d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), m), d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), m);
      a0 = _mm256_fmadd_ps(d0, d0, a0);
      a1 = _mm256_fmadd_ps(d1, d1, a1);
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, _mm256_add_ps(a0, a1));
    for (float l : lanes) total += l;
  }
  for (; i < n; ++i) total += static_cast<double>(x[i] - mean) * (x[i] - mean);
  return total;
}

namespace {
template <bool kMax>
float extreme(const float* x, int64_t n) {
  if (n == 0) return kMax ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
  V acc = set1(x[0]);
  V nan = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    V v = _mm256_loadu_ps(x + i);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    acc = kMax ? _mm256_max_ps(acc, v) : _mm256_min_ps(acc, v);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  float r = lanes[0];
  for (float l : lanes) r = kMax ? std::max(r, l) : std::min(r, l);
  bool any_nan = _mm256_movemask_ps(nan) != 0;
  for (; i < n; ++i) {
    any_nan = any_nan || x[i] != x[i];
    r = kMax ? std::max(r, x[i]) : std::min(r, x[i]);
  }
  return any_nan ? std::numeric_limits<float>::quiet_NaN() : r;
}
}  // namespace
float max(const float* x, int64_t n) { return extreme<true>(x, n); }
float min(const float* x, int64_t n) { return extreme<false>(x, n); }

#else  // scalar fallback

void exp(const float* x, float* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]); }
void log(const float* x, float* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = std::log(x[i]); }
void tanh(const float* x, float* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]); }
void sigmoid(const float* x, float* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = cpu::sigmoid(x[i]); }
void erf(const float* x, float* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = std::erf(x[i]); }
void gelu(const float* x, float* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = cpu::gelu(x[i]); }
void gelu_tanh(const float* x, float* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = cpu::gelu_tanh(x[i]); }
void silu(const float* x, float* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = x[i] * cpu::sigmoid(x[i]); }
void gelu_backward(const float* g, const float* x, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = cpu::gelu_backward(g[i], x[i]);
}
void silu_backward(const float* g, const float* x, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float s = cpu::sigmoid(x[i]);
    dx[i] = g[i] * s * (1 + x[i] * (1 - s));
  }
}
double sum(const float* x, int64_t n) {
  double t = 0;
  for (int64_t i = 0; i < n; ++i) t += x[i];
  return t;
}
double sum_sq_dev(const float* x, int64_t n, float mean) {
  double t = 0;
  for (int64_t i = 0; i < n; ++i) t += static_cast<double>(x[i] - mean) * (x[i] - mean);
  return t;
}
float max(const float* x, int64_t n) {
  float r = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) r = propagate_nan_max(r, x[i]);
  return r;
}
float min(const float* x, int64_t n) {
  float r = std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) r = propagate_nan_min(r, x[i]);
  return r;
}
#endif

}  // namespace ark::cpu::vec
