// Scalar: a number of unknown type (bool, integer or floating), as c10::Scalar. Ops that take a
// Scalar treat it as a "wrapped number" in type promotion: it never widens a tensor's dtype
// within the same category.
#pragma once
#include <cstdint>
#include <ostream>
#include <type_traits>

#include "ark/core/dtype.h"

namespace ark {

class Scalar {
 public:
  enum class Tag : uint8_t { Double, Long, Bool };
  Scalar() : Scalar(int64_t(0)) {}
  template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Scalar(T v) : tag_(Tag::Long), i_(static_cast<int64_t>(v)) {}  // NOLINT
  template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  Scalar(T v) : tag_(Tag::Double), d_(static_cast<double>(v)) {}  // NOLINT
  Scalar(bool v) : tag_(Tag::Bool), i_(v) {}  // NOLINT
  Scalar(Half v) : Scalar(static_cast<float>(v)) {}  // NOLINT
  Scalar(BFloat16 v) : Scalar(static_cast<float>(v)) {}  // NOLINT

  template <class T>
  T to() const {
    if constexpr (std::is_same_v<T, bool>) return tag_ == Tag::Double ? d_ != 0 : i_ != 0;
    else if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) return T(to<float>());
    else return tag_ == Tag::Double ? static_cast<T>(d_) : static_cast<T>(i_);
  }
  double toDouble() const { return to<double>(); }
  float toFloat() const { return to<float>(); }
  int64_t toLong() const { return to<int64_t>(); }
  int toInt() const { return static_cast<int>(to<int64_t>()); }
  bool toBool() const { return to<bool>(); }
  bool isFloatingPoint() const { return tag_ == Tag::Double; }
  bool isIntegral(bool include_bool) const { return tag_ == Tag::Long || (include_bool && tag_ == Tag::Bool); }
  bool isBoolean() const { return tag_ == Tag::Bool; }
  /// The dtype a 0-dim tensor made from this scalar gets (double/int64/bool, as torch.tensor does).
  ScalarType type() const { return tag_ == Tag::Double ? kDouble : tag_ == Tag::Long ? kLong : kBool; }
  Scalar operator-() const {
    if (tag_ == Tag::Double) return Scalar(-d_);
    return Scalar(-i_);
  }

 private:
  Tag tag_;
  union {
    double d_;
    int64_t i_;
  };
};

inline std::ostream& operator<<(std::ostream& os, const Scalar& s) {
  if (s.isFloatingPoint()) return os << s.toDouble();
  if (s.isBoolean()) return os << (s.toBool() ? "True" : "False");
  return os << s.toLong();
}

}  // namespace ark
