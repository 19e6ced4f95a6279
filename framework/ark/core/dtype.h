// Scalar types: the eight dtypes ark supports, their C++ storage types, promotion rules and the
// dispatch helper that turns a runtime dtype into a template argument.
// Half and BFloat16 are storage types: arithmetic on them happens in float (as PyTorch's CPU
// kernels do), so their only job is exact, round-to-nearest-even conversion.
#pragma once
#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>
#include <type_traits>

#include "ark/core/error.h"

namespace ark {

struct Half {
  uint16_t x = 0;
  Half() = default;
  Half(float f) : x(from_float(f)) {}  // NOLINT: implicit like c10::Half
  operator float() const { return to_float(x); }  // NOLINT
  static constexpr Half from_bits(uint16_t b) { Half h; h.x = b; return h; }

  static uint16_t from_float(float f) {
    uint32_t u; std::memcpy(&u, &f, 4);
    const uint32_t sign = (u >> 16) & 0x8000u;
    u &= 0x7fffffffu;
    if (u >= 0x7f800000u) return static_cast<uint16_t>(sign | (u > 0x7f800000u ? 0x7e00u : 0x7c00u));
    if (u >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
    if (u < 0x38800000u) {                                                 // subnormal or zero
      float a; std::memcpy(&a, &u, 4);
      // Adding 0.5 moves the half subnormal bits into the low mantissa with RNE rounding.
      a += 0.5f;
      uint32_t b; std::memcpy(&b, &a, 4);
      return static_cast<uint16_t>(sign | (b - 0x3f000000u));
    }
    const uint32_t mant_odd = (u >> 13) & 1u;
    u += 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round to nearest even
    return static_cast<uint16_t>(sign | (u >> 13));
  }
  static float to_float(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, u;
    if (exp == 0x1f) u = sign | 0x7f800000u | (mant << 13);
    else if (exp == 0) {
      if (mant == 0) u = sign;
      else {  // normalise the subnormal
        float f = static_cast<float>(mant) * 5.9604644775390625e-8f;  // 2^-24
        std::memcpy(&u, &f, 4);
        u |= sign;
      }
    } else u = sign | ((exp + 112) << 23) | (mant << 13);
    float f; std::memcpy(&f, &u, 4);
    return f;
  }
};

struct BFloat16 {
  uint16_t x = 0;
  BFloat16() = default;
  BFloat16(float f) : x(from_float(f)) {}  // NOLINT
  operator float() const { return to_float(x); }  // NOLINT
  static constexpr BFloat16 from_bits(uint16_t b) { BFloat16 h; h.x = b; return h; }
  static uint16_t from_float(float f) {
    uint32_t u; std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;  // NaN
    u += 0x7fffu + ((u >> 16) & 1u);                     // round to nearest even
    return static_cast<uint16_t>(u >> 16);
  }
  static float to_float(uint16_t h) {
    uint32_t u = static_cast<uint32_t>(h) << 16;
    float f; std::memcpy(&f, &u, 4);
    return f;
  }
};

// Values match c10::ScalarType so serialized dtype codes mean the same thing.
enum class ScalarType : int8_t {
  Byte = 0, Int = 3, Long = 4, Half = 5, Float = 6, Double = 7, Bool = 11, BFloat16 = 15, Undefined = -1
};
using Dtype = ScalarType;

constexpr ScalarType kUInt8 = ScalarType::Byte, kByte = ScalarType::Byte;
constexpr ScalarType kInt32 = ScalarType::Int, kInt = ScalarType::Int;
constexpr ScalarType kInt64 = ScalarType::Long, kLong = ScalarType::Long;
constexpr ScalarType kFloat16 = ScalarType::Half, kHalf = ScalarType::Half;
constexpr ScalarType kFloat32 = ScalarType::Float, kFloat = ScalarType::Float;
constexpr ScalarType kFloat64 = ScalarType::Double, kDouble = ScalarType::Double;
constexpr ScalarType kBool = ScalarType::Bool;
constexpr ScalarType kBFloat16 = ScalarType::BFloat16;

inline size_t element_size(ScalarType t) {
  switch (t) {
    case kByte: case kBool: return 1;
    case kHalf: case kBFloat16: return 2;
    case kInt: case kFloat: return 4;
    case kLong: case kDouble: return 8;
    default: ARK_ERROR("element_size: undefined dtype");
  }
}
inline size_t elementSize(ScalarType t) { return element_size(t); }

/// PyTorch's Python name ("float32"), used in every message.
inline const char* dtype_name(ScalarType t) {
  switch (t) {
    case kByte: return "uint8"; case kInt: return "int32"; case kLong: return "int64";
    case kHalf: return "float16"; case kFloat: return "float32"; case kDouble: return "float64";
    case kBool: return "bool"; case kBFloat16: return "bfloat16"; default: return "undefined";
  }
}
/// c10::toString's name ("Float"), as libtorch prints it.
inline const char* toString(ScalarType t) {
  switch (t) {
    case kByte: return "Byte"; case kInt: return "Int"; case kLong: return "Long";
    case kHalf: return "Half"; case kFloat: return "Float"; case kDouble: return "Double";
    case kBool: return "Bool"; case kBFloat16: return "BFloat16"; default: return "Undefined";
  }
}
inline std::ostream& operator<<(std::ostream& os, ScalarType t) { return os << dtype_name(t); }

inline bool is_floating_point(ScalarType t) { return t == kFloat || t == kDouble || t == kHalf || t == kBFloat16; }
inline bool isFloatingType(ScalarType t) { return is_floating_point(t); }
inline bool is_integral(ScalarType t, bool include_bool) {
  return t == kByte || t == kInt || t == kLong || (include_bool && t == kBool);
}
inline bool isIntegralType(ScalarType t, bool include_bool) { return is_integral(t, include_bool); }
inline bool is_reduced_float(ScalarType t) { return t == kHalf || t == kBFloat16; }

/// torch.promote_types for the supported dtypes.
ScalarType promote_types(ScalarType a, ScalarType b);
inline ScalarType promoteTypes(ScalarType a, ScalarType b) { return promote_types(a, b); }

template <class T> struct CppToDtype;
template <> struct CppToDtype<uint8_t> { static constexpr ScalarType value = kByte; };
template <> struct CppToDtype<int32_t> { static constexpr ScalarType value = kInt; };
template <> struct CppToDtype<int64_t> { static constexpr ScalarType value = kLong; };
template <> struct CppToDtype<Half> { static constexpr ScalarType value = kHalf; };
template <> struct CppToDtype<float> { static constexpr ScalarType value = kFloat; };
template <> struct CppToDtype<double> { static constexpr ScalarType value = kDouble; };
template <> struct CppToDtype<bool> { static constexpr ScalarType value = kBool; };
template <> struct CppToDtype<BFloat16> { static constexpr ScalarType value = kBFloat16; };
template <class T> constexpr ScalarType dtype_of = CppToDtype<std::remove_cv_t<T>>::value;

/// Calls f.template operator()<T>() with T the C++ type of `t`. Every dtype.
template <class F>
decltype(auto) dispatch_all(ScalarType t, F&& f) {
  switch (t) {
    case kFloat: return f.template operator()<float>();
    case kDouble: return f.template operator()<double>();
    case kLong: return f.template operator()<int64_t>();
    case kInt: return f.template operator()<int32_t>();
    case kByte: return f.template operator()<uint8_t>();
    case kBool: return f.template operator()<bool>();
    case kHalf: return f.template operator()<Half>();
    case kBFloat16: return f.template operator()<BFloat16>();
    default: ARK_ERROR("dispatch: undefined dtype");
  }
}
/// Dtypes that kernels compute in: float, double, int64, int32, uint8, bool (half/bf16 are upcast).
template <class F>
decltype(auto) dispatch_compute(ScalarType t, F&& f) {
  switch (t) {
    case kFloat: return f.template operator()<float>();
    case kDouble: return f.template operator()<double>();
    case kLong: return f.template operator()<int64_t>();
    case kInt: return f.template operator()<int32_t>();
    case kByte: return f.template operator()<uint8_t>();
    case kBool: return f.template operator()<bool>();
    default: ARK_ERROR("kernel: no kernel for dtype ", dtype_name(t));
  }
}
template <class F>
decltype(auto) dispatch_float(ScalarType t, const char* op, F&& f) {
  switch (t) {
    case kFloat: return f.template operator()<float>();
    case kDouble: return f.template operator()<double>();
    default: ARK_ERROR(op, ": expected a float32 or float64 tensor, got ", dtype_name(t));
  }
}

}  // namespace ark
