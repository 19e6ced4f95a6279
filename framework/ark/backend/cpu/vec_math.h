// Vectorised float32 math for the CPU kernels (AVX2 + FMA, 8 lanes), with a scalar fallback for
// builds without AVX2. Polynomials follow Cephes (as do Sleef's and Eigen's float versions);
// error against float64 (tests/framework/test_vec_math.cpp): exp, log, tanh, sigmoid, silu within
// 3e-7 relative (2e-7 absolute near zero), subnormal and overflow ranges included; erf and gelu
// within 5e-7 absolute (Abramowitz & Stegun 7.1.26, as PyTorch's vectorised erf). Float64 never
// comes here: it uses the C library.
#pragma once
#include <cstdint>

namespace ark::cpu::vec {

void exp(const float* x, float* y, int64_t n);
void log(const float* x, float* y, int64_t n);
void tanh(const float* x, float* y, int64_t n);
void sigmoid(const float* x, float* y, int64_t n);
void erf(const float* x, float* y, int64_t n);
void gelu(const float* x, float* y, int64_t n);
void gelu_tanh(const float* x, float* y, int64_t n);
void silu(const float* x, float* y, int64_t n);
/// dy = g * gelu'(x)
void gelu_backward(const float* g, const float* x, float* dx, int64_t n);
void silu_backward(const float* g, const float* x, float* dx, int64_t n);
/// Sum of n floats: 8-lane float accumulators over blocks, blocks combined in double.
double sum(const float* x, int64_t n);
/// Sum of (x - mean)^2 over n floats (the second pass of a variance).
double sum_sq_dev(const float* x, int64_t n, float mean);
/// Max of n floats; NaN if any is NaN.
float max(const float* x, int64_t n);
float min(const float* x, int64_t n);

}  // namespace ark::cpu::vec
