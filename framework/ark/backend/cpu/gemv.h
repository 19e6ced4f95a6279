// Skinny GEMM: C(m, n) = alpha * A(m, k) · B(k, n) + beta * C for a handful of rows m, the shape
// of token-by-token decoding (m = batch) and of attention over a KV cache. Such products are
// bound by reading B once from memory; BLAS sgemm instead packs all of B for every call (OpenBLAS
// 0.3.21 has no m == 1 forward to gemv) and runs 5-50x slower. B may be stored in float32,
// bfloat16 or float16 (weights kept in their checkpoint dtype are widened in registers, halving
// the bytes read per token).
#pragma once
#include <cstdint>

namespace ark::cpu {

enum class GemvType : int8_t { F32, BF16, F16 };

/// Whether the skinny kernel beats BLAS for this product.
bool skinny_gemm_pays(int64_t m, int64_t n, int64_t k);

/// A: float rows of length k with leading dim lda; C: float rows with leading dim ldc (beta == 0
/// never reads C). B element (p, j) is at b[j * ldb + p] when b_trans (B is the transpose of an
/// (n, k) row-major matrix, i.e. nn.Linear's weight) and at b[p * ldb + j] otherwise.
void skinny_gemm(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const void* b,
                 GemvType b_type, bool b_trans, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace ark::cpu
