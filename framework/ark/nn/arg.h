// ARK_ARG (libtorch's TORCH_ARG): declares an option field with a chainable setter and a getter,
// so options read as `LinearOptions(4, 5).bias(false)`. ExpandingArray<D> (torch::ExpandingArray):
// D sizes given as one number (`3` means {3, 3}) or as a list, for kernel sizes, strides, paddings.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <utility>
#include <vector>

#include "ark/core/array_ref.h"
#include "ark/core/error.h"

/// Declares `T name_` with a setter `name(value)` returning *this and a getter `name()`.
/// Follow it with `= default_value;`. T must not contain a bare comma: use an alias.
#define ARK_ARG(T, name)                                        \
 public:                                                        \
  inline auto name(const T& new_##name)->decltype(*this) {      \
    this->name##_ = new_##name;                                 \
    return *this;                                               \
  }                                                             \
  inline auto name(T&& new_##name)->decltype(*this) {           \
    this->name##_ = std::move(new_##name);                      \
    return *this;                                               \
  }                                                             \
  inline const T& name() const noexcept { return this->name##_; } \
  inline T& name() noexcept { return this->name##_; }           \
                                                                \
 private:                                                       \
  T name##_

namespace ark {

template <size_t D, class T = int64_t>
class ExpandingArray {
 public:
  ExpandingArray(std::initializer_list<T> list) : ExpandingArray(ArrayRef<T>(list)) {}  // NOLINT
  ExpandingArray(std::vector<T> list) : ExpandingArray(ArrayRef<T>(list)) {}  // NOLINT
  ExpandingArray(ArrayRef<T> values) {  // NOLINT
    ARK_CHECK(values.size() == D, "expected ", D, " values, but instead got ", values.size());
    for (size_t i = 0; i < D; ++i) values_[i] = values[i];
  }
  ExpandingArray(T single) { values_.fill(single); }  // NOLINT
  ExpandingArray(const std::array<T, D>& values) : values_(values) {}  // NOLINT

  std::array<T, D>& operator*() { return values_; }
  const std::array<T, D>& operator*() const { return values_; }
  std::array<T, D>* operator->() { return &values_; }
  const std::array<T, D>* operator->() const { return &values_; }
  /// A view of the values; valid while this array lives.
  operator ArrayRef<T>() const { return ArrayRef<T>(values_.data(), D); }  // NOLINT
  T operator[](size_t i) const { return values_[i]; }
  static constexpr size_t size() { return D; }
  std::vector<T> vec() const { return std::vector<T>(values_.begin(), values_.end()); }
  bool operator==(const ExpandingArray& o) const { return values_ == o.values_; }
  /// True when every value equals `v` (repr prints only non-default options).
  bool all_equal(T v) const {
    for (const T& x : values_)
      if (!(x == v)) return false;
    return true;
  }

 private:
  std::array<T, D> values_{};
};

/// ExpandingArray whose entries may be empty (std::nullopt = "keep the input's size"), for
/// adaptive pooling's output_size as in libtorch.
template <size_t D, class T = int64_t>
class ExpandingArrayWithOptionalElem {
 public:
  ExpandingArrayWithOptionalElem(std::initializer_list<std::optional<T>> list) {  // NOLINT
    ARK_CHECK(list.size() == D, "expected ", D, " values, but instead got ", list.size());
    size_t i = 0;
    for (const auto& v : list) values_[i++] = v;
  }
  ExpandingArrayWithOptionalElem(T single) { values_.fill(single); }  // NOLINT
  ExpandingArrayWithOptionalElem(std::optional<T> single) { values_.fill(single); }  // NOLINT
  ExpandingArrayWithOptionalElem(const ExpandingArray<D, T>& a) {  // NOLINT
    for (size_t i = 0; i < D; ++i) values_[i] = a[i];
  }
  const std::array<std::optional<T>, D>& operator*() const { return values_; }
  const std::optional<T>& operator[](size_t i) const { return values_[i]; }
  static constexpr size_t size() { return D; }

 private:
  std::array<std::optional<T>, D> values_{};
};

template <size_t D, class T>
std::ostream& operator<<(std::ostream& os, const ExpandingArray<D, T>& a) {
  return os << ArrayRef<T>(a);
}

}  // namespace ark
