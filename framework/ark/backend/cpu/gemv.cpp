// Skinny GEMM kernels (see gemv.h): AVX2 FMA, B streamed once, widened from bf16/f16 in registers.
#include "ark/backend/cpu/gemv.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "ark/core/parallel.h"

namespace ark::cpu {
namespace {

// Eight consecutive B values as floats.
template <GemvType T>
inline __m256 load8(const void* base, int64_t i) {
  if constexpr (T == GemvType::F32) {
    return _mm256_loadu_ps(static_cast<const float*>(base) + i);
  } else if constexpr (T == GemvType::BF16) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  } else {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + i)));
  }
}

template <GemvType T>
inline float load1(const void* base, int64_t i) {
  if constexpr (T == GemvType::F32) {
    return static_cast<const float*>(base)[i];
  } else if constexpr (T == GemvType::BF16) {
    const uint32_t bits = static_cast<uint32_t>(static_cast<const uint16_t*>(base)[i]) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  } else {
    return _cvtsh_ss(static_cast<const uint16_t*>(base)[i]);
  }
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline void store(float* c, float acc, float alpha, float beta) { *c = beta == 0.f ? alpha * acc : alpha * acc + beta * *c; }

// B transposed (rows of length k, one per output column): dot products, 4 B rows x 2 A rows at a time
// so each B element loaded from memory feeds two FMAs and 8 accumulators hide the FMA latency.
template <GemvType T>
void dots(int64_t m, int64_t j0, int64_t j1, int64_t k, float alpha, const float* a, int64_t lda, const void* b,
          int64_t ldb, float beta, float* c, int64_t ldc) {
  const int64_t k8 = k & ~int64_t{7};
  int64_t j = j0;
  for (; j + 4 <= j1; j += 4) {
    const int64_t r0 = j * ldb, r1 = r0 + ldb, r2 = r1 + ldb, r3 = r2 + ldb;
    int64_t i = 0;
    for (; i + 2 <= m; i += 2) {
      const float* x0 = a + i * lda;
      const float* x1 = x0 + lda;
      __m256 s00 = _mm256_setzero_ps(), s01 = s00, s02 = s00, s03 = s00, s10 = s00, s11 = s00, s12 = s00, s13 = s00;
      for (int64_t p = 0; p < k8; p += 8) {
        const __m256 u = _mm256_loadu_ps(x0 + p), v = _mm256_loadu_ps(x1 + p);
        const __m256 w0 = load8<T>(b, r0 + p), w1 = load8<T>(b, r1 + p);
        s00 = _mm256_fmadd_ps(u, w0, s00), s10 = _mm256_fmadd_ps(v, w0, s10);
        s01 = _mm256_fmadd_ps(u, w1, s01), s11 = _mm256_fmadd_ps(v, w1, s11);
        const __m256 w2 = load8<T>(b, r2 + p), w3 = load8<T>(b, r3 + p);
        s02 = _mm256_fmadd_ps(u, w2, s02), s12 = _mm256_fmadd_ps(v, w2, s12);
        s03 = _mm256_fmadd_ps(u, w3, s03), s13 = _mm256_fmadd_ps(v, w3, s13);
      }
      float t[8] = {hsum(s00), hsum(s01), hsum(s02), hsum(s03), hsum(s10), hsum(s11), hsum(s12), hsum(s13)};
      for (int64_t p = k8; p < k; ++p) {
        const float w[4] = {load1<T>(b, r0 + p), load1<T>(b, r1 + p), load1<T>(b, r2 + p), load1<T>(b, r3 + p)};
        for (int q = 0; q < 4; ++q) t[q] += x0[p] * w[q], t[4 + q] += x1[p] * w[q];
      }
      for (int q = 0; q < 4; ++q) {
        store(c + i * ldc + j + q, t[q], alpha, beta);
        store(c + (i + 1) * ldc + j + q, t[4 + q], alpha, beta);
      }
    }
    if (i < m) {  // the odd last row: 4 B rows, two partial sums each
      const float* x0 = a + i * lda;
      __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
      for (int64_t p = 0; p < k8; p += 8) {
        const __m256 u = _mm256_loadu_ps(x0 + p);
        s0 = _mm256_fmadd_ps(u, load8<T>(b, r0 + p), s0);
        s1 = _mm256_fmadd_ps(u, load8<T>(b, r1 + p), s1);
        s2 = _mm256_fmadd_ps(u, load8<T>(b, r2 + p), s2);
        s3 = _mm256_fmadd_ps(u, load8<T>(b, r3 + p), s3);
      }
      float t[4] = {hsum(s0), hsum(s1), hsum(s2), hsum(s3)};
      for (int64_t p = k8; p < k; ++p) {
        t[0] += x0[p] * load1<T>(b, r0 + p), t[1] += x0[p] * load1<T>(b, r1 + p);
        t[2] += x0[p] * load1<T>(b, r2 + p), t[3] += x0[p] * load1<T>(b, r3 + p);
      }
      for (int q = 0; q < 4; ++q) store(c + i * ldc + j + q, t[q], alpha, beta);
    }
  }
  for (; j < j1; ++j) {  // the last 1-3 output columns
    for (int64_t i = 0; i < m; ++i) {
      const float* x0 = a + i * lda;
      __m256 s = _mm256_setzero_ps();
      for (int64_t p = 0; p < k8; p += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + p), load8<T>(b, j * ldb + p), s);
      float t = hsum(s);
      for (int64_t p = k8; p < k; ++p) t += x0[p] * load1<T>(b, j * ldb + p);
      store(c + i * ldc + j, t, alpha, beta);
    }
  }
}

// B row-major (k rows of n): C's rows accumulate B's rows scaled by A's entries. B is streamed row
// by row over a tile of columns (contiguous runs, friendly to the prefetcher and the TLB), the
// tile's accumulators staying in L1; a column-block-major walk would touch a new page per row.
template <GemvType T>
void axpys(int64_t m, int64_t j0, int64_t j1, int64_t p0, int64_t p1, float alpha, const float* a, int64_t lda,
           const void* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  constexpr int64_t kTileFloats = 4096;  // 16 KB of accumulators in all
  const int64_t tile = std::max<int64_t>(64, (kTileFloats / m) & ~int64_t{7});
  alignas(64) float acc[kTileFloats + 8 * 64];
  for (int64_t jt = j0; jt < j1; jt += tile) {
    const int64_t w = std::min(tile, j1 - jt), w8 = w & ~int64_t{7};
    std::fill(acc, acc + m * w, 0.f);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t row = p * ldb + jt;
      for (int64_t i = 0; i < m; ++i) {
        const float x = a[i * lda + p];
        const __m256 u = _mm256_set1_ps(x);
        float* out = acc + i * w;
        int64_t q = 0;
        for (; q + 32 <= w8; q += 32) {
          _mm256_storeu_ps(out + q, _mm256_fmadd_ps(u, load8<T>(b, row + q), _mm256_loadu_ps(out + q)));
          _mm256_storeu_ps(out + q + 8, _mm256_fmadd_ps(u, load8<T>(b, row + q + 8), _mm256_loadu_ps(out + q + 8)));
          _mm256_storeu_ps(out + q + 16, _mm256_fmadd_ps(u, load8<T>(b, row + q + 16), _mm256_loadu_ps(out + q + 16)));
          _mm256_storeu_ps(out + q + 24, _mm256_fmadd_ps(u, load8<T>(b, row + q + 24), _mm256_loadu_ps(out + q + 24)));
        }
        for (; q < w8; q += 8)
          _mm256_storeu_ps(out + q, _mm256_fmadd_ps(u, load8<T>(b, row + q), _mm256_loadu_ps(out + q)));
        for (; q < w; ++q) out[q] += x * load1<T>(b, row + q);
      }
    }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t q = 0; q < w; ++q) store(c + i * ldc + jt + q, acc[i * w + q], alpha, beta);
  }
}

template <GemvType T>
void run(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const void* b, bool b_trans,
         int64_t ldb, float beta, float* c, int64_t ldc) {
  // Row-major B with a short output (a GPT-2 Conv1D weight, [in, out]): split B's rows, so each
  // thread streams one contiguous stretch of memory into its own partial sums, then add those up.
  // Splitting the columns instead gives each thread a short run per row, a fresh prefetch stream
  // every few KB, and about half the bandwidth.
  const int64_t threads = get_num_threads();
  if (!b_trans && threads > 1 && m * n <= 16384 && k >= 128 && !in_parallel_region()) {
    const int64_t chunks = std::min<int64_t>(threads, k / 64);
    std::vector<float> partial(static_cast<size_t>(chunks * m * n));
    parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t ch = c0; ch < c1; ++ch)
        axpys<T>(m, 0, n, k * ch / chunks, k * (ch + 1) / chunks, 1.f, a, lda, b, ldb, 0.f,
                 partial.data() + ch * m * n, n);
    });
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        float t = 0.f;
        for (int64_t ch = 0; ch < chunks; ++ch) t += partial[static_cast<size_t>((ch * m + i) * n + j)];
        store(c + i * ldc + j, t, alpha, beta);
      }
    return;
  }
  // Otherwise split the output columns so each thread streams its own slice of B: at least ~64 KB
  // of B per chunk, whole kernel blocks (4 columns for dots, 64 for axpys).
  const int64_t block = b_trans ? 4 : 64;
  const int64_t blocks = (n + block - 1) / block;
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(k * block, 1));
  parallel_for(blocks, grain, [&](int64_t b0, int64_t b1) {
    const int64_t j0 = b0 * block, j1 = std::min(n, b1 * block);
    if (b_trans) dots<T>(m, j0, j1, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else axpys<T>(m, j0, j1, 0, k, alpha, a, lda, b, ldb, beta, c, ldc);
  });
}

}  // namespace

bool skinny_gemm_pays(int64_t m, int64_t n, int64_t k) { return m <= 8 && n >= 8 && k >= 8; }

void skinny_gemm(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const void* b,
                 GemvType b_type, bool b_trans, int64_t ldb, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; i += 8) {  // the kernels' accumulators are sized for 8 rows
    const int64_t rows = std::min<int64_t>(8, m - i);
    const float* ai = a + i * lda;
    float* ci = c + i * ldc;
    switch (b_type) {
      case GemvType::F32: run<GemvType::F32>(rows, n, k, alpha, ai, lda, b, b_trans, ldb, beta, ci, ldc); break;
      case GemvType::BF16: run<GemvType::BF16>(rows, n, k, alpha, ai, lda, b, b_trans, ldb, beta, ci, ldc); break;
      case GemvType::F16: run<GemvType::F16>(rows, n, k, alpha, ai, lda, b, b_trans, ldb, beta, ci, ldc); break;
    }
  }
}

}  // namespace ark::cpu
