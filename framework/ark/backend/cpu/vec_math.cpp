#include "ark/backend/cpu/vec_math.h"

#include <atomic>
#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>

#include "ark/backend/cpu/math.h"

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace ark::cpu::vec {

namespace {
std::atomic<int> g_max_simd_bits{512};
}  // namespace

int set_max_simd_bits(int bits) { return g_max_simd_bits.exchange(bits); }

#ifdef __AVX2__
namespace {
using V = __m256;
inline V set1(float v) { return _mm256_set1_ps(v); }

// exp(x) = 2^n * exp(r), r = x - n ln2 in [-ln2/2, ln2/2], degree-6 polynomial (Cephes expf).
// The 2^n scale is applied in two halves so results near FLT_MAX and in the subnormal range are
// right (one scale would overflow or flush them).
// The constants of exp8 and (AVX-512) exp16: the input range, log2(e), ln 2 split in a part exact
// in float and the rest, and the polynomial's coefficients from the highest degree down.
constexpr float kExpHi = 88.72283935546875f, kExpLo = -103.97208404541016f, kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
constexpr float kExpPoly[6] = {1.9875691500E-4f, 1.3981999507E-3f, 8.3334519073E-3f,
                               4.1665795894E-2f, 1.6666665459E-1f, 5.0000001201E-1f};

inline V exp8(V x) {
  const V hi = set1(kExpHi), lo = set1(kExpLo);
  V xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  V fx = _mm256_round_ps(_mm256_mul_ps(xc, set1(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  V r = _mm256_fnmadd_ps(fx, set1(kLn2Hi), xc);
  r = _mm256_fnmadd_ps(fx, set1(kLn2Lo), r);
  V p = set1(kExpPoly[0]);
  for (int k = 1; k < 6; ++k) p = _mm256_fmadd_ps(p, r, set1(kExpPoly[k]));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
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

// erf(x) = sign(x) * E(|x|) with E piecewise polynomial: |x| in [0, 4) is cut into intervals of
// equal width h starting at a = i h, and E = sum_k c[k][i] t^k with t = |x| - a (exact). The
// coefficients are per-interval minimax fits (linear programming on a dense grid, in float64),
// with c[0][i] fixed to erf(a) rounded to float (0 for the first interval, whose fit is relative,
// so tiny |x| keeps full relative accuracy). Where erf is within a few ulp of 1 the fit is
// degenerate, hence the irregular small high-order coefficients of the last intervals. |x| is
// clamped just under 4 (float erf is 1 from 3.92 on; the result is exactly 1 from 4 on). No exp,
// no divide: each coefficient is a table lookup (vpermps). Max abs error against float64 erf,
// every float in [0, 4.5] checked: 8.9e-8 (this AVX2 version: h = 1/2, degree 7) and 5.9e-8 (the
// AVX-512 version below: h = 1/8, degree 4); the Abramowitz & Stegun 7.1.26 form used before
// had 5.6e-7.
alignas(64) const float kErf8[8][8] = {
    {0.0f, 0.520499885f, 0.842700779f, 0.966105163f, 0.995322287f, 0.999593019f, 0.999977887f, 0.999999285f},
    {1.12837923f, 0.878781199f, 0.415107489f, 0.118927039f, 0.0206626747f, 0.00217828783f, 0.000139256153f,
     3.15452712e-06f},
    {-1.65115546e-06f, -0.439348727f, -0.415107459f, -0.178291529f, -0.0411965474f, -0.0054458864f, -0.000417910895f,
     8.99747477e-07f},
    {-0.376075894f, -0.146950275f, 0.138366237f, 0.137507141f, 0.0465812348f, 0.00835282821f, 0.000791511498f,
     0.000196636072f},
    {-0.000577034545f, 0.185647696f, 0.0692754984f, -0.0374928489f, -0.0251223128f, -0.00863668974f, -0.00105692702f,
     -0.00250033708f},
    {0.115924381f, 0.000920251652f, -0.0701196566f, -0.0357278809f, -0.0139754592f, 0.00611760421f, 0.00101064867f,
     0.0105655007f},
    {-0.00808713585f, -0.0445276238f, 0.00873455405f, 0.0499439836f, 0.0389850475f, -0.00264459429f,
     -0.000542662281f, -0.0190613531f},
    {-0.0179231148f, 0.0102746068f, 0.00726551516f, -0.0233623534f, -0.0238565765f, 0.000387255801f, 2.71833451e-05f,
     0.0125796832f},
};

inline V erf8(V x) {
  const V sign_mask = set1(-0.0f);
  V ax = _mm256_min_ps(set1(3.99999976f), _mm256_andnot_ps(sign_mask, x));  // min keeps NaN
  __m256i i = _mm256_cvttps_epi32(_mm256_add_ps(ax, ax));  // NaN gives 0x80000000: index 0
  V t = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(i), set1(0.5f), ax);
  V p = _mm256_permutevar8x32_ps(_mm256_load_ps(kErf8[7]), i);
  for (int k = 6; k >= 0; --k) p = _mm256_fmadd_ps(p, t, _mm256_permutevar8x32_ps(_mm256_load_ps(kErf8[k]), i));
  return _mm256_or_ps(p, _mm256_and_ps(x, sign_mask));
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

// AVX-512 versions of erf, gelu and gelu_backward, picked at run time (the build targets AVX2).
// Lambdas do not inherit a target attribute, so these are plain functions. GCC 12's
// avx512fintrin.h trips -Wmaybe-uninitialized (_mm512_undefined_ps; GCC bug 105593).
#pragma GCC diagnostic push
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define ARK_AVX512 __attribute__((target("avx512f")))
using W = __m512;
ARK_AVX512 inline W set16(float v) { return _mm512_set1_ps(v); }

// erf with h = 1/8, degree 4 (see erf8): 32 intervals, looked up with vpermt2ps.
alignas(64) const float kErf32[5][32] = {
    {0.0f, 0.140316203f, 0.276326388f, 0.404116899f, 0.520499885f, 0.623240888f, 0.711155653f, 0.784075081f,
     0.842700779f, 0.888388216f, 0.92290014f, 0.948170066f, 0.966105163f, 0.978443742f, 0.986671686f, 0.99199003f,
     0.995322287f, 0.997345984f, 0.998537302f, 0.999217033f, 0.999593019f, 0.999794602f, 0.999899387f, 0.999952137f,
     0.999977887f, 0.999990106f, 0.999995708f, 0.999998212f, 0.999999285f, 0.999999702f, 0.999999881f, 0.99999994f},
    {1.12837899f, 1.11088383f, 1.06001329f, 0.980352819f, 0.878780842f, 0.763498902f, 0.64292717f, 0.524741113f,
     0.415107578f, 0.318273962f, 0.236518756f, 0.170359805f, 0.118926175f, 0.0804700404f, 0.0527710356f,
     0.0335459113f, 0.0206611436f, 0.012337232f, 0.00713741127f, 0.00400657393f, 0.00217839866f, 0.00114796008f,
     0.000583866728f, 0.000290327385f, 0.000139248834f, 6.41467632e-05f, 2.63066104e-05f, 5.80145115e-06f,
     -2.99372402e-08f, 2.21525306e-06f, 8.81041217e-07f, 3.3971213e-07f},
    {5.47075906e-05f, -0.138740361f, -0.264924198f, -0.3675825f, -0.43932721f, -0.477190197f, -0.482088208f,
     -0.459045887f, -0.415123522f, -0.358056456f, -0.29558742f, -0.23424384f, -0.17823793f, -0.130677357f,
     -0.0921912864f, -0.0628102347f, -0.0410907939f, -0.0260720663f, -0.0158667862f, -0.00945132598f, -0.0053839325f,
     -0.0029661099f, -0.00151415367f, -0.000820024929f, -0.000367039145f, -0.000177558206f, 2.06124587e-05f,
     0.000235067128f, 0.00014796773f, -2.17798082e-08f, 1.39852193e-06f, 0.0f},
    {-0.378313094f, -0.361747473f, -0.311253369f, -0.236246228f, -0.147212297f, -0.0550480857f, 0.0263247341f,
     0.0926718041f, 0.139455274f, 0.163097531f, 0.167388812f, 0.15821521f, 0.136903048f, 0.113670759f, 0.0879094377f,
     0.065569371f, 0.0449012332f, 0.0308978539f, 0.0189616308f, 0.0125516392f, 0.00723699806f, 0.00404980546f,
     0.00146643014f, 0.00122606277f, -6.06250142e-05f, 7.47515151e-05f, -0.00128641084f, -0.00346927438f,
     -0.00164740917f, -0.000131395325f, -4.51337473e-05f, 0.0f},
    {0.028047638f, 0.0985273793f, 0.148326367f, 0.179326177f, 0.186000109f, 0.167954579f, 0.142300814f, 0.10111957f,
     0.0530503877f, 0.0154189439f, -0.0134275537f, -0.0362187661f, -0.039347861f, -0.0450408496f, -0.0376915298f,
     -0.0312562846f, -0.0188062955f, -0.0156160155f, -0.00620114058f, -0.00685326802f, -0.00300651486f,
     -0.00125026307f, 0.00236860546f, -0.000443398341f, 0.00262912619f, 0.000835409737f, 0.00569189712f,
     0.0141312182f, 0.00555950357f, 0.000685032108f, 0.000157070041f, 0.0f},
};

ARK_AVX512 inline W erf16(W x) {
  W ax = _mm512_min_ps(set16(3.99999976f), _mm512_abs_ps(x));  // min keeps NaN
  __m512i i = _mm512_cvttps_epi32(_mm512_mul_ps(ax, set16(8.0f)));  // NaN gives 0x80000000: index 0
  W t = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(i), set16(0.125f), ax);
  W p = _mm512_permutex2var_ps(_mm512_load_ps(kErf32[4]), i, _mm512_load_ps(kErf32[4] + 16));
  for (int k = 3; k >= 0; --k)
    p = _mm512_fmadd_ps(p, t, _mm512_permutex2var_ps(_mm512_load_ps(kErf32[k]), i, _mm512_load_ps(kErf32[k] + 16)));
  // p | (x & sign bit)
  return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(p), _mm512_castps_si512(x),
                                                       _mm512_set1_epi32(INT32_MIN), 0xf8));
}

// exp8 with 16 lanes; vscalefps applies 2^n with the overflow and subnormal ranges right.
ARK_AVX512 inline W exp16(W x) {
  const W hi = set16(kExpHi), lo = set16(kExpLo);
  W xc = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
  W fx = _mm512_roundscale_ps(_mm512_mul_ps(xc, set16(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  W r = _mm512_fnmadd_ps(fx, set16(kLn2Hi), xc);
  r = _mm512_fnmadd_ps(fx, set16(kLn2Lo), r);
  W p = set16(kExpPoly[0]);
  for (int k = 1; k < 6; ++k) p = _mm512_fmadd_ps(p, r, set16(kExpPoly[k]));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
  p = _mm512_add_ps(p, set16(1.0f));
  W res = _mm512_scalef_ps(p, fx);
  const W inf = set16(std::numeric_limits<float>::infinity());
  res = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ), res, inf);
  res = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), res, _mm512_setzero_ps());
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), res, x);
}

ARK_AVX512 inline W gelu16(W x) {
  return _mm512_mul_ps(_mm512_mul_ps(set16(0.5f), x),
                       _mm512_add_ps(set16(1.0f), erf16(_mm512_mul_ps(x, set16(0.70710678118654752440f)))));
}
ARK_AVX512 inline W gelu_backward16(W g, W x) {
  W e = erf16(_mm512_mul_ps(x, set16(0.70710678118654752440f)));
  W cdf = _mm512_mul_ps(set16(0.5f), _mm512_add_ps(set16(1.0f), e));
  W pdf = _mm512_mul_ps(exp16(_mm512_mul_ps(set16(-0.5f), _mm512_mul_ps(x, x))), set16(0.39894228040143267794f));
  return _mm512_mul_ps(g, _mm512_fmadd_ps(x, pdf, cdf));
}

// The tail goes through masked loads and stores, so every element gets the same approximation.
template <W (*F)(W)>
ARK_AVX512 void map16(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, F(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(y + i, m, F(_mm512_maskz_loadu_ps(m, x + i)));
  }
}
ARK_AVX512 void gelu_backward_avx512(const float* g, const float* x, float* dx, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(dx + i, gelu_backward16(_mm512_loadu_ps(g + i), _mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(dx + i, m, gelu_backward16(_mm512_maskz_loadu_ps(m, g + i), _mm512_maskz_loadu_ps(m, x + i)));
  }
}
#undef ARK_AVX512
#pragma GCC diagnostic pop

bool use_avx512() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;  // checks that the OS saves the zmm state too
  }();
  return supported && g_max_simd_bits.load(std::memory_order_relaxed) >= 512;
}
}  // namespace

void exp(const float* x, float* y, int64_t n) { map(x, y, n, exp8, 0); }
void log(const float* x, float* y, int64_t n) { map(x, y, n, log8, 0); }
void tanh(const float* x, float* y, int64_t n) { map(x, y, n, tanh8, 0); }
void sigmoid(const float* x, float* y, int64_t n) { map(x, y, n, sigmoid8, 0); }
void erf(const float* x, float* y, int64_t n) {
  if (use_avx512()) return map16<erf16>(x, y, n);
  map(x, y, n, erf8, 0);
}
void gelu(const float* x, float* y, int64_t n) {
  if (use_avx512()) return map16<gelu16>(x, y, n);
  map(x, y, n, gelu8, 0);
}
void gelu_tanh(const float* x, float* y, int64_t n) { map(x, y, n, gelu_tanh8, 0); }
void silu(const float* x, float* y, int64_t n) {
  map(x, y, n, [](V v) { return _mm256_mul_ps(v, sigmoid8(v)); }, 0);
}
void gelu_backward(const float* g, const float* x, float* dx, int64_t n) {
  if (use_avx512()) return gelu_backward_avx512(g, x, dx, n);
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
int simd_bits() { return use_avx512() ? 512 : 256; }

#else  // scalar fallback

int simd_bits() { return 0; }

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
