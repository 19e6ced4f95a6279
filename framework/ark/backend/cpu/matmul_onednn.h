// float32 / bfloat16 batched GEMM on oneDNN (matmul_onednn.cpp), used by CpuBackend::bmm where it pays.
#pragma once
#include <cstdint>

#include "ark/core/tensor.h"

namespace ark::cpu::onednn {

/// Whether oneDNN's matmul is the better kernel for `batch` products of (m, k) x (k, n).
bool matmul_pays(int64_t batch, int64_t m, int64_t n, int64_t k);

/// c(B, m, n) = alpha * a(B, m, k) @ b(B, k, n) + beta * c for strided operands all float32 or all
/// bfloat16 (beta == 0 never reads c). False, with nothing written, when oneDNN cannot take the
/// operands' dtype or layout.
bool matmul(const Tensor& a, const Tensor& b, const Tensor& c, float alpha, float beta);

}  // namespace ark::cpu::onednn
