// Scalar math for the CPU kernels, written so GCC vectorises the contiguous loops that call it.
// exp/log/tanh use the C library (accurate to < 1 ulp); vectorised approximations live in
// vec_math.h and are used only where their error is measured and stated.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace ark::cpu {

template <class T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}
template <class T>
inline T gelu(T x) {
  return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
}
template <class T>
inline T gelu_tanh(T x) {
  const T k = T(0.79788456080286535588);  // sqrt(2/pi)
  return T(0.5) * x * (T(1) + std::tanh(k * (x + T(0.044715) * x * x * x)));
}
template <class T>
inline T gelu_backward(T g, T x) {
  const T cdf = T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440)));
  const T pdf = std::exp(T(-0.5) * x * x) * T(0.39894228040143267794);  // 1/sqrt(2 pi)
  return g * (cdf + x * pdf);
}
template <class T>
inline T gelu_tanh_backward(T g, T x) {
  const T k = T(0.79788456080286535588), c = T(0.044715);
  const T inner = k * (x + c * x * x * x);
  const T th = std::tanh(inner);
  const T dinner = k * (T(1) + T(3) * c * x * x);
  return g * (T(0.5) * (T(1) + th) + T(0.5) * x * (T(1) - th * th) * dinner);
}
template <class T>
inline T hardsigmoid(T x) {
  return std::min(std::max(x + T(3), T(0)), T(6)) / T(6);
}
template <class T>
inline T softplus(T x, T beta, T threshold) {
  return x * beta > threshold ? x : std::log1p(std::exp(x * beta)) / beta;
}
template <class T>
inline T propagate_nan_max(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (a != a) return a;
    if (b != b) return b;
  }
  return a > b ? a : b;
}
template <class T>
inline T propagate_nan_min(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (a != a) return a;
    if (b != b) return b;
  }
  return a < b ? a : b;
}
template <class T>
inline T int_pow(T base, T exp) {
  if (exp < 0) return base == 1 ? T(1) : (base == T(-1) ? ((exp & 1) ? T(-1) : T(1)) : T(0));
  T result = 1;
  while (exp) {
    if (exp & 1) result *= base;
    base *= base;
    exp >>= 1;
  }
  return result;
}

}  // namespace ark::cpu
