// CPU elementwise kernels: copy with dtype conversion, fill, unary and binary maps, where.
#include <immintrin.h>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "ark/backend/cpu/cpu_backend.h"
#include "ark/backend/cpu/loops.h"
#include "ark/backend/cpu/math.h"
#include "ark/backend/cpu/vec_math.h"

namespace ark::cpu {
namespace {

template <class D, class S>
inline D convert(S v) {
  if constexpr (std::is_same_v<D, S>) return v;
  else if constexpr (std::is_same_v<D, bool>) return static_cast<float>(v) != 0.0f || (std::is_integral_v<S> && v != S(0));
  else if constexpr (std::is_same_v<S, Half> || std::is_same_v<S, BFloat16>) return static_cast<D>(static_cast<float>(v));
  else if constexpr (std::is_same_v<D, Half> || std::is_same_v<D, BFloat16>) return D(static_cast<float>(v));
  else return static_cast<D>(v);
}

#ifdef __AVX2__
// dst[i][j] = src[j][i] for an 8x8 block of 32-bit values (rows src_stride / dst_stride apart).
template <class T>
inline void transpose8x8(const T* src, int64_t src_stride, T* dst, int64_t dst_stride) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(reinterpret_cast<const float*>(src + i * src_stride));
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  // r[k] (k < 4) holds column k of rows 0-3 in its low lane and column k+4 in its high lane; r[k+4]
  // the same for rows 4-7. Joining the lanes gives whole columns: t[k] = column k.
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
    t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
  }
  for (int i = 0; i < 8; ++i) _mm256_storeu_ps(reinterpret_cast<float*>(dst + i * dst_stride), t[i]);
}
#endif

// dst[r * d_row + c] = src[r + c * s_col] for r < rows, c < cols: a block of a transposed view made
// row-major. 8x8 blocks are transposed in registers (eight contiguous source reads and eight
// contiguous writes, instead of a scalar walk whose strided source lines all alias in L1).
template <class T>
inline void transpose_block(const T* src, int64_t s_col, int64_t rows, int64_t cols, T* dst, int64_t d_row) {
  int64_t r = 0;
#ifdef __AVX2__
  if constexpr (sizeof(T) == 4) {
    for (; r + 8 <= rows; r += 8) {
      int64_t c = 0;
      for (; c + 8 <= cols; c += 8) transpose8x8(src + r + c * s_col, s_col, dst + r * d_row + c, d_row);
      for (; c < cols; ++c)
        for (int64_t i = 0; i < 8; ++i) dst[(r + i) * d_row + c] = src[r + i + c * s_col];
    }
  }
#endif
  for (; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[r * d_row + c] = src[r + c * s_col];
}

// Walks the two innermost dims of a loop in square tiles, the outer dims and the tile rows split
// across the thread pool: tile(ptrs, r0, r1, c0, c1) gets each operand's base for that outer index.
constexpr int64_t kTile = 32;
template <int N, class F>
void for_each_tile(const Loop<N>& loop, const F& tile) {
  const int nd = loop.ndim;
  const int64_t rows = loop.sizes[nd - 2], cols = loop.sizes[nd - 1];
  int64_t outer = 1;
  for (int d = 0; d < nd - 2; ++d) outer *= loop.sizes[d];
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  parallel_for(outer * row_tiles, std::max<int64_t>(1, kGrain / (kTile * cols)), [&](int64_t b, int64_t e) {
    for (int64_t job = b; job < e; ++job) {
      int64_t rem = job / row_tiles;
      const int64_t r0 = (job % row_tiles) * kTile, r1 = std::min(rows, r0 + kTile);
      char* p[N];
      for (int k = 0; k < N; ++k) p[k] = loop.base[k];
      for (int d = nd - 3; d >= 0; --d) {
        const int64_t i = rem % loop.sizes[d];
        rem /= loop.sizes[d];
        for (int k = 0; k < N; ++k) p[k] += i * loop.strides[k][d];
      }
      for (int64_t c0 = 0; c0 < cols; c0 += kTile) tile(p, r0, r1, c0, std::min(cols, c0 + kTile));
    }
  });
}

// Maps a unary function over one run; the contiguous case is a plain loop GCC vectorises.
template <class TI, class TO, class F>
inline void map_run(char** p, const int64_t* s, int64_t n, const F& f) {
  TO* out = reinterpret_cast<TO*>(p[0]);
  const TI* in = reinterpret_cast<const TI*>(p[1]);
  if (s[0] == sizeof(TO) && s[1] == sizeof(TI)) {
    for (int64_t i = 0; i < n; ++i) out[i] = f(in[i]);
  } else if (s[0] == sizeof(TO) && s[1] == 0) {
    const TO v = f(*in);
    for (int64_t i = 0; i < n; ++i) out[i] = v;
  } else {
    for (int64_t i = 0; i < n; ++i)
      *reinterpret_cast<TO*>(p[0] + i * s[0]) = f(*reinterpret_cast<const TI*>(p[1] + i * s[1]));
  }
}

template <class TI, class TO, class F>
void unary_loop(const Tensor& in, const Tensor& out, const F& f) {
  Loop<2> loop({&out, &in});
  loop.run([&](char** p, const int64_t* s, int64_t n) { map_run<TI, TO>(p, s, n, f); });
}

// out = f(x, y) where one input is read across the output's rows (x + y.t()) and the other along
// them: in tiles, the transposed input's tile first made row-major in a buffer, so its strided
// reads stay in cache and the contiguous loop runs on the tile's rows (the row-by-row walk reads
// one element per cache line). Returns false for other layouts.
template <class TI, class TO, class F>
bool binary_tiled(const Loop<3>& loop, const F& f) {
  const int nd = loop.ndim;
  constexpr int64_t so = sizeof(TO), si = sizeof(TI);
  if (nd < 2 || loop.strides[0][nd - 1] != so) return false;
  auto along = [&](int k) { return loop.strides[k][nd - 1] == si; };
  auto across = [&](int k) { return loop.strides[k][nd - 1] > si && loop.strides[k][nd - 2] == si; };
  const int t = across(1) && along(2) ? 1 : across(2) && along(1) ? 2 : 0;  // the transposed input
  if (t == 0) return false;
  const int c = 3 - t;  // the row-major input
  const int64_t o_row = loop.strides[0][nd - 2] / so, c_row = loop.strides[c][nd - 2] / si;
  const int64_t t_col = loop.strides[t][nd - 1] / si;
  for_each_tile(loop, [&](char** p, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    alignas(64) TI buf[kTile * kTile];
    transpose_block(reinterpret_cast<const TI*>(p[t]) + r0 + c0 * t_col, t_col, r1 - r0, c1 - c0, buf, kTile);
    for (int64_t r = r0; r < r1; ++r) {
      TO* o = reinterpret_cast<TO*>(p[0]) + r * o_row + c0;
      const TI* x = reinterpret_cast<const TI*>(p[c]) + r * c_row + c0;
      const TI* y = buf + (r - r0) * kTile;
      if (t == 2) {
        for (int64_t i = 0; i < c1 - c0; ++i) o[i] = f(x[i], y[i]);
      } else {
        for (int64_t i = 0; i < c1 - c0; ++i) o[i] = f(y[i], x[i]);
      }
    }
  });
  return true;
}

template <class TI, class TO, class F>
void binary_loop(const Tensor& a, const Tensor& b, const Tensor& out, const F& f) {
  Loop<3> loop({&out, &a, &b});
  if (binary_tiled<TI, TO>(loop, f)) return;
  loop.run([&](char** p, const int64_t* s, int64_t n) {
    TO* o = reinterpret_cast<TO*>(p[0]);
    const TI* x = reinterpret_cast<const TI*>(p[1]);
    const TI* y = reinterpret_cast<const TI*>(p[2]);
    constexpr int64_t so = sizeof(TO), si = sizeof(TI);
    if (s[0] == so && s[1] == si && s[2] == si) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
    } else if (s[0] == so && s[1] == si && s[2] == 0) {
      const TI yv = *y;
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
    } else if (s[0] == so && s[1] == 0 && s[2] == si) {
      const TI xv = *x;
      for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<TO*>(p[0] + i * s[0]) =
            f(*reinterpret_cast<const TI*>(p[1] + i * s[1]), *reinterpret_cast<const TI*>(p[2] + i * s[2]));
    }
  });
}

// A float32 map through a vectorised array function. Strided runs go through a small buffer so
// every element gets the same approximation whatever the layout.
template <class VecFn>
void unary_vec(const Tensor& in, const Tensor& out, VecFn f) {
  Loop<2> loop({&out, &in});
  loop.run([&](char** p, const int64_t* s, int64_t n) {
    float* o = reinterpret_cast<float*>(p[0]);
    const float* x = reinterpret_cast<const float*>(p[1]);
    if (s[0] == 4 && s[1] == 4) return f(x, o, n);
    float buf[256];
    for (int64_t b = 0; b < n; b += 256) {
      const int64_t m = std::min<int64_t>(256, n - b);
      for (int64_t i = 0; i < m; ++i) buf[i] = *reinterpret_cast<const float*>(p[1] + (b + i) * s[1]);
      f(buf, buf, m);
      for (int64_t i = 0; i < m; ++i) *reinterpret_cast<float*>(p[0] + (b + i) * s[0]) = buf[i];
    }
  });
}

template <class VecFn>
void binary_vec(const Tensor& a, const Tensor& b, const Tensor& out, VecFn f) {
  Loop<3> loop({&out, &a, &b});
  loop.run([&](char** p, const int64_t* s, int64_t n) {
    if (s[0] == 4 && s[1] == 4 && s[2] == 4)
      return f(reinterpret_cast<const float*>(p[1]), reinterpret_cast<const float*>(p[2]), reinterpret_cast<float*>(p[0]), n);
    float ba[256], bb[256];
    for (int64_t k = 0; k < n; k += 256) {
      const int64_t m = std::min<int64_t>(256, n - k);
      for (int64_t i = 0; i < m; ++i) {
        ba[i] = *reinterpret_cast<const float*>(p[1] + (k + i) * s[1]);
        bb[i] = *reinterpret_cast<const float*>(p[2] + (k + i) * s[2]);
      }
      f(ba, bb, ba, m);
      for (int64_t i = 0; i < m; ++i) *reinterpret_cast<float*>(p[0] + (k + i) * s[0]) = ba[i];
    }
  });
}

template <class T>
void unary_float(UnaryOp op, const Tensor& in, const Tensor& out, const OpParams& p) {
  if constexpr (std::is_same_v<T, float>) {
    switch (op) {
      case UnaryOp::Exp: return unary_vec(in, out, vec::exp);
      case UnaryOp::Log: return unary_vec(in, out, vec::log);
      case UnaryOp::Tanh: return unary_vec(in, out, vec::tanh);
      case UnaryOp::Sigmoid: return unary_vec(in, out, vec::sigmoid);
      case UnaryOp::Erf: return unary_vec(in, out, vec::erf);
      case UnaryOp::Gelu: return unary_vec(in, out, vec::gelu);
      case UnaryOp::GeluTanh: return unary_vec(in, out, vec::gelu_tanh);
      case UnaryOp::Silu: return unary_vec(in, out, vec::silu);
      default: break;
    }
  }
  const T a = static_cast<T>(p.a), b = static_cast<T>(p.b), c = static_cast<T>(p.c);
  switch (op) {
    case UnaryOp::Exp: return unary_loop<T, T>(in, out, [](T x) { return std::exp(x); });
    case UnaryOp::Log: return unary_loop<T, T>(in, out, [](T x) { return std::log(x); });
    case UnaryOp::Log1p: return unary_loop<T, T>(in, out, [](T x) { return std::log1p(x); });
    case UnaryOp::Sqrt: return unary_loop<T, T>(in, out, [](T x) { return std::sqrt(x); });
    case UnaryOp::Rsqrt: return unary_loop<T, T>(in, out, [](T x) { return T(1) / std::sqrt(x); });
    case UnaryOp::Sin: return unary_loop<T, T>(in, out, [](T x) { return std::sin(x); });
    case UnaryOp::Cos: return unary_loop<T, T>(in, out, [](T x) { return std::cos(x); });
    case UnaryOp::Tanh: return unary_loop<T, T>(in, out, [](T x) { return std::tanh(x); });
    case UnaryOp::Sigmoid: return unary_loop<T, T>(in, out, [](T x) { return sigmoid(x); });
    case UnaryOp::Reciprocal: return unary_loop<T, T>(in, out, [](T x) { return T(1) / x; });
    case UnaryOp::Floor: return unary_loop<T, T>(in, out, [](T x) { return std::floor(x); });
    case UnaryOp::Ceil: return unary_loop<T, T>(in, out, [](T x) { return std::ceil(x); });
    case UnaryOp::Round: return unary_loop<T, T>(in, out, [](T x) { return std::nearbyint(x); });
    case UnaryOp::Erf: return unary_loop<T, T>(in, out, [](T x) { return std::erf(x); });
    case UnaryOp::Gelu: return unary_loop<T, T>(in, out, [](T x) { return gelu(x); });
    case UnaryOp::GeluTanh: return unary_loop<T, T>(in, out, [](T x) { return gelu_tanh(x); });
    case UnaryOp::Silu: return unary_loop<T, T>(in, out, [](T x) { return x * sigmoid(x); });
    case UnaryOp::Hardswish: return unary_loop<T, T>(in, out, [](T x) { return x * hardsigmoid(x); });
    case UnaryOp::Hardsigmoid: return unary_loop<T, T>(in, out, [](T x) { return hardsigmoid(x); });
    case UnaryOp::LeakyRelu: return unary_loop<T, T>(in, out, [a](T x) { return x > T(0) ? x : x * a; });
    case UnaryOp::Elu:
      return unary_loop<T, T>(in, out, [a, b, c](T x) { return x > T(0) ? b * x : b * a * (std::exp(x * c) - T(1)); });
    case UnaryOp::Softplus: return unary_loop<T, T>(in, out, [a, b](T x) { return softplus(x, a, b); });
    case UnaryOp::PowScalar:
      if (p.a == 2.0) return unary_loop<T, T>(in, out, [](T x) { return x * x; });
      if (p.a == 0.5) return unary_loop<T, T>(in, out, [](T x) { return std::sqrt(x); });
      return unary_loop<T, T>(in, out, [a](T x) { return std::pow(x, a); });
    case UnaryOp::RPowScalar: return unary_loop<T, T>(in, out, [a](T x) { return std::pow(a, x); });
    case UnaryOp::IsNan: return unary_loop<T, bool>(in, out, [](T x) { return x != x; });
    case UnaryOp::IsInf: return unary_loop<T, bool>(in, out, [](T x) { return std::isinf(x); });
    case UnaryOp::IsFinite: return unary_loop<T, bool>(in, out, [](T x) { return std::isfinite(x); });
    default: break;
  }
  ARK_ERROR("unary kernel: op ", static_cast<int>(op), " is not defined for ", dtype_name(in.dtype()));
}

template <class T>
void unary_any(UnaryOp op, const Tensor& in, const Tensor& out, const OpParams& p) {
  switch (op) {
    case UnaryOp::Neg: return unary_loop<T, T>(in, out, [](T x) { return static_cast<T>(-x); });
    case UnaryOp::Abs:
      return unary_loop<T, T>(in, out, [](T x) {
        if constexpr (std::is_unsigned_v<T>) return x;
        else return static_cast<T>(x < T(0) ? -x : x);
      });
    case UnaryOp::Sign:
      return unary_loop<T, T>(in, out, [](T x) { return static_cast<T>((T(0) < x) - (x < T(0))); });
    case UnaryOp::Relu:
      return unary_loop<T, T>(in, out, [](T x) { return (x > T(0) || x != x) ? x : T(0); });
    case UnaryOp::Square: return unary_loop<T, T>(in, out, [](T x) { return static_cast<T>(x * x); });
    case UnaryOp::Clamp: {
      if constexpr (std::is_floating_point_v<T>) {
        const T lo = static_cast<T>(p.a), hi = static_cast<T>(p.b);
        return unary_loop<T, T>(in, out, [lo, hi](T x) { return std::min(std::max(x, lo), hi); });
      } else {
        // Integer clamp with bounds outside the type's range saturates instead of wrapping.
        const double lo = p.a, hi = p.b;
        return unary_loop<T, T>(in, out, [lo, hi](T x) {
          const double v = std::min(std::max(static_cast<double>(x), lo), hi);
          return static_cast<T>(v);
        });
      }
    }
    case UnaryOp::AddScalar: {
      const T a = static_cast<T>(p.a);
      return unary_loop<T, T>(in, out, [a](T x) { return static_cast<T>(x + a); });
    }
    case UnaryOp::MulScalar: {
      const T a = static_cast<T>(p.a);
      return unary_loop<T, T>(in, out, [a](T x) { return static_cast<T>(x * a); });
    }
    case UnaryOp::LogicalNot: return unary_loop<T, bool>(in, out, [](T x) { return !static_cast<bool>(x); });
    case UnaryOp::BitwiseNot:
      if constexpr (std::is_same_v<T, bool>) return unary_loop<T, T>(in, out, [](T x) { return !x; });
      else if constexpr (std::is_integral_v<T>) return unary_loop<T, T>(in, out, [](T x) { return static_cast<T>(~x); });
      break;
    case UnaryOp::IsNan: case UnaryOp::IsInf:
      if constexpr (std::is_integral_v<T>) return unary_loop<T, bool>(in, out, [](T) { return false; });
      else return unary_float<T>(op, in, out, p);
    case UnaryOp::IsFinite:
      if constexpr (std::is_integral_v<T>) return unary_loop<T, bool>(in, out, [](T) { return true; });
      else return unary_float<T>(op, in, out, p);
    case UnaryOp::PowScalar:
      if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        const T e = static_cast<T>(p.a);
        return unary_loop<T, T>(in, out, [e](T x) { return int_pow(x, e); });
      } else if constexpr (std::is_floating_point_v<T>) {
        return unary_float<T>(op, in, out, p);
      }
      break;
    default:
      if constexpr (std::is_floating_point_v<T>) return unary_float<T>(op, in, out, p);
      break;
  }
  ARK_ERROR("unary kernel: op ", static_cast<int>(op), " is not defined for ", dtype_name(in.dtype()));
}

template <class T>
void binary_typed(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, const OpParams& p) {
  using B = bool;
  constexpr bool is_float = std::is_floating_point_v<T>;
  constexpr bool is_int = std::is_integral_v<T> && !std::is_same_v<T, bool>;
  switch (op) {
    case BinaryOp::Add: {
      if (p.a == 1.0) return binary_loop<T, T>(a, b, out, [](T x, T y) { return static_cast<T>(x + y); });
      const T al = static_cast<T>(p.a);
      return binary_loop<T, T>(a, b, out, [al](T x, T y) { return static_cast<T>(x + al * y); });
    }
    case BinaryOp::Sub: {
      if (p.a == 1.0) return binary_loop<T, T>(a, b, out, [](T x, T y) { return static_cast<T>(x - y); });
      const T al = static_cast<T>(p.a);
      return binary_loop<T, T>(a, b, out, [al](T x, T y) { return static_cast<T>(x - al * y); });
    }
    case BinaryOp::Mul: return binary_loop<T, T>(a, b, out, [](T x, T y) { return static_cast<T>(x * y); });
    case BinaryOp::Div:
      if constexpr (is_float) return binary_loop<T, T>(a, b, out, [](T x, T y) { return x / y; });
      break;
    case BinaryOp::DivTrunc:
      if constexpr (is_float) return binary_loop<T, T>(a, b, out, [](T x, T y) { return std::trunc(x / y); });
      if constexpr (is_int) return binary_loop<T, T>(a, b, out, [](T x, T y) { return static_cast<T>(x / y); });
      break;
    case BinaryOp::DivFloor:
      if constexpr (is_float)
        return binary_loop<T, T>(a, b, out, [](T x, T y) {
          // Python's floor division: floor of the true quotient, computed via fmod as PyTorch does.
          if (y == T(0)) return x / y;
          T mod = std::fmod(x, y);
          T div = (x - mod) / y;
          if (mod != T(0) && ((y < T(0)) != (mod < T(0)))) div -= T(1);
          T fl = std::floor(div);
          if (div - fl > T(0.5)) fl += T(1);
          return div == T(0) ? std::copysign(T(0), x / y) : fl;
        });
      if constexpr (is_int)
        return binary_loop<T, T>(a, b, out, [](T x, T y) {
          T q = static_cast<T>(x / y);
          if constexpr (std::is_signed_v<T>)
            if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
          return q;
        });
      break;
    case BinaryOp::Remainder:
      if constexpr (is_float)
        return binary_loop<T, T>(a, b, out, [](T x, T y) {
          T m = std::fmod(x, y);
          if (m != T(0) && ((y < T(0)) != (m < T(0)))) m += y;
          return m;
        });
      if constexpr (is_int)
        return binary_loop<T, T>(a, b, out, [](T x, T y) {
          T m = static_cast<T>(x % y);
          if constexpr (std::is_signed_v<T>)
            if (m != 0 && ((y < 0) != (m < 0))) m = static_cast<T>(m + y);
          return m;
        });
      break;
    case BinaryOp::Pow:
      if constexpr (is_float) return binary_loop<T, T>(a, b, out, [](T x, T y) { return std::pow(x, y); });
      if constexpr (is_int) return binary_loop<T, T>(a, b, out, [](T x, T y) { return int_pow(x, y); });
      break;
    case BinaryOp::Maximum: return binary_loop<T, T>(a, b, out, [](T x, T y) { return propagate_nan_max(x, y); });
    case BinaryOp::Minimum: return binary_loop<T, T>(a, b, out, [](T x, T y) { return propagate_nan_min(x, y); });
    case BinaryOp::BitwiseAnd:
      if constexpr (!is_float) return binary_loop<T, T>(a, b, out, [](T x, T y) { return static_cast<T>(x & y); });
      break;
    case BinaryOp::BitwiseOr:
      if constexpr (!is_float) return binary_loop<T, T>(a, b, out, [](T x, T y) { return static_cast<T>(x | y); });
      break;
    case BinaryOp::BitwiseXor:
      if constexpr (!is_float) return binary_loop<T, T>(a, b, out, [](T x, T y) { return static_cast<T>(x ^ y); });
      break;
    case BinaryOp::Eq: return binary_loop<T, B>(a, b, out, [](T x, T y) { return x == y; });
    case BinaryOp::Ne: return binary_loop<T, B>(a, b, out, [](T x, T y) { return x != y; });
    case BinaryOp::Lt: return binary_loop<T, B>(a, b, out, [](T x, T y) { return x < y; });
    case BinaryOp::Le: return binary_loop<T, B>(a, b, out, [](T x, T y) { return x <= y; });
    case BinaryOp::Gt: return binary_loop<T, B>(a, b, out, [](T x, T y) { return x > y; });
    case BinaryOp::Ge: return binary_loop<T, B>(a, b, out, [](T x, T y) { return x >= y; });
    case BinaryOp::LogicalAnd:
      return binary_loop<T, B>(a, b, out, [](T x, T y) { return static_cast<bool>(x) && static_cast<bool>(y); });
    case BinaryOp::LogicalOr:
      return binary_loop<T, B>(a, b, out, [](T x, T y) { return static_cast<bool>(x) || static_cast<bool>(y); });
    case BinaryOp::LogicalXor:
      return binary_loop<T, B>(a, b, out, [](T x, T y) { return static_cast<bool>(x) != static_cast<bool>(y); });
    case BinaryOp::ReluBackward:
      return binary_loop<T, T>(a, b, out, [](T g, T y) { return y > T(0) ? g : T(0); });
    default: break;
  }
  if constexpr (std::is_same_v<T, float>) {
    if (op == BinaryOp::GeluBackward) return binary_vec(a, b, out, vec::gelu_backward);
    if (op == BinaryOp::SiluBackward) return binary_vec(a, b, out, vec::silu_backward);
  }
  if constexpr (is_float) {
    const T pa = static_cast<T>(p.a), pb = static_cast<T>(p.b), pc = static_cast<T>(p.c);
    switch (op) {
      case BinaryOp::SigmoidBackward:
        return binary_loop<T, T>(a, b, out, [](T g, T y) { return g * (T(1) - y) * y; });
      case BinaryOp::TanhBackward: return binary_loop<T, T>(a, b, out, [](T g, T y) { return g * (T(1) - y * y); });
      case BinaryOp::GeluBackward: return binary_loop<T, T>(a, b, out, [](T g, T x) { return gelu_backward(g, x); });
      case BinaryOp::GeluTanhBackward:
        return binary_loop<T, T>(a, b, out, [](T g, T x) { return gelu_tanh_backward(g, x); });
      case BinaryOp::SiluBackward:
        return binary_loop<T, T>(a, b, out, [](T g, T x) {
          const T s = sigmoid(x);
          return g * s * (T(1) + x * (T(1) - s));
        });
      case BinaryOp::HardswishBackward:
        return binary_loop<T, T>(a, b, out, [](T g, T x) {
          if (x < T(-3)) return T(0);
          if (x <= T(3)) return g * (x / T(3) + T(0.5));
          return g;
        });
      case BinaryOp::HardsigmoidBackward:
        return binary_loop<T, T>(a, b, out, [](T g, T x) { return (x > T(-3) && x < T(3)) ? g / T(6) : T(0); });
      case BinaryOp::LeakyReluBackward:
        return binary_loop<T, T>(a, b, out, [pa](T g, T x) { return x > T(0) ? g : g * pa; });
      case BinaryOp::EluBackward:
        return binary_loop<T, T>(a, b, out, [pa, pb, pc](T g, T x) {
          return x > T(0) ? g * pb : g * pb * pa * pc * std::exp(x * pc);
        });
      case BinaryOp::SoftplusBackward:
        return binary_loop<T, T>(a, b, out, [pa, pb](T g, T x) {
          const T z = std::exp(x * pa);
          return x * pa > pb ? g : g * z / (z + T(1));
        });
      case BinaryOp::ClampBackward:
        return binary_loop<T, T>(a, b, out, [pa, pb](T g, T x) { return (x >= pa && x <= pb) ? g : T(0); });
      default: break;
    }
  }
  ARK_ERROR("binary kernel: op ", static_cast<int>(op), " is not defined for ", dtype_name(a.dtype()));
}

}  // namespace

namespace {

// A same-dtype copy whose source runs along the other of the two inner dims (a transpose):
// copied in square tiles so both sides stay in cache. Returns false for other layouts.
template <class T>
bool tiled_transpose_copy(const Tensor& dst, const Tensor& src) {
  Loop<2> loop({&dst, &src});
  const int nd = loop.ndim;
  constexpr int64_t es = sizeof(T);
  if (nd < 2 || loop.strides[0][nd - 1] != es || loop.strides[1][nd - 1] == es || loop.strides[1][nd - 2] != es)
    return false;
  const int64_t d_row = loop.strides[0][nd - 2] / es, s_col = loop.strides[1][nd - 1] / es;
  for_each_tile(loop, [&](char** p, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    const T* sp = reinterpret_cast<const T*>(p[1]);
    transpose_block(sp + r0 + c0 * s_col, s_col, r1 - r0, c1 - c0, reinterpret_cast<T*>(p[0]) + r0 * d_row + c0, d_row);
  });
  return true;
}
}  // namespace

void CpuBackend::copy(const Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  if (dst.dtype() == src.dtype() && src.sizes() == dst.sizes()) {
    const bool done = dst.element_size() == 4   ? tiled_transpose_copy<uint32_t>(dst, src)
                      : dst.element_size() == 8 ? tiled_transpose_copy<uint64_t>(dst, src)
                      : dst.element_size() == 2 ? tiled_transpose_copy<uint16_t>(dst, src)
                                                : tiled_transpose_copy<uint8_t>(dst, src);
    if (done) return;
  }
  // Same dtype and both contiguous: one memcpy split across threads.
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous() && src.numel() == dst.numel()) {
    char* d = static_cast<char*>(dst.data_ptr());
    const char* s = static_cast<const char*>(src.data_ptr());
    const int64_t nbytes = static_cast<int64_t>(dst.nbytes());
    parallel_for(nbytes, 1 << 20, [&](int64_t b, int64_t e) { std::memcpy(d + b, s + b, static_cast<size_t>(e - b)); });
    return;
  }
  dispatch_all(dst.dtype(), [&]<class D>() {
    dispatch_all(src.dtype(), [&]<class S>() { unary_loop<S, D>(src, dst, [](S v) { return convert<D>(v); }); });
  });
}

void CpuBackend::fill(const Tensor& dst, const Scalar& value) {
  dispatch_all(dst.dtype(), [&]<class T>() {
    const T v = value.to<T>();
    Loop<1> loop({&dst});
    loop.run([v](char** p, const int64_t* s, int64_t n) {
      if (s[0] == sizeof(T)) {
        T* o = reinterpret_cast<T*>(p[0]);
        for (int64_t i = 0; i < n; ++i) o[i] = v;
      } else {
        for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(p[0] + i * s[0]) = v;
      }
    });
  });
}

void CpuBackend::unary(UnaryOp op, const Tensor& in, const Tensor& out, const OpParams& p) {
  dispatch_compute(in.dtype(), [&]<class T>() { unary_any<T>(op, in, out, p); });
}

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, const OpParams& p) {
  dispatch_compute(a.dtype(), [&]<class T>() { binary_typed<T>(op, a, b, out, p); });
}

void CpuBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_all(out.dtype(), [&]<class T>() {
    Loop<4> loop({&out, &cond, &a, &b});
    loop.run([](char** p, const int64_t* s, int64_t n) {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(p[0] + i * s[0]) = *reinterpret_cast<const bool*>(p[1] + i * s[1])
                                                     ? *reinterpret_cast<const T*>(p[2] + i * s[2])
                                                     : *reinterpret_cast<const T*>(p[3] + i * s[3]);
    });
  });
}

}  // namespace ark::cpu
