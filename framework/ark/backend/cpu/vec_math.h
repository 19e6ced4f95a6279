// Vectorised float32 math for the CPU kernels (AVX2 + FMA, 8 lanes; erf, gelu and gelu_backward
// also have AVX-512 versions, picked at run time), with a scalar fallback for builds without AVX2.
// exp/log/tanh polynomials follow Cephes (as do Sleef's and Eigen's float versions); erf is a
// piecewise polynomial from a table (no exp, no divide; vec_math.cpp). Error against float64
// (tests/framework/test_vec_math.cpp): exp, log, tanh, sigmoid, silu within 3e-7 relative
// (2e-7 absolute near zero), subnormal and overflow ranges included; erf within 1e-7 absolute
// (9e-8 AVX2, 6e-8 AVX-512, every float checked), gelu and gelu_backward within 2e-7 absolute
// plus 3e-7 relative. Float64 never comes here: it uses the C library.
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

/// The vector width in bits the kernels above run at: 512 (erf, gelu and gelu_backward on a CPU
/// with AVX-512F), 256 (AVX2) or 0 (scalar build).
int simd_bits();
/// Caps simd_bits() at `bits` (256 turns the AVX-512 versions off: tests check both paths on one
/// machine); returns the previous cap. Process-wide; not meant to change while kernels run.
int set_max_simd_bits(int bits);

}  // namespace ark::cpu::vec
