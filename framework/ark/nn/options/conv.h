// Options of Conv1d, Conv2d and ConvTranspose2d and of F::conv1d/conv2d/conv_transpose2d
// (libtorch's nn/options/conv.h). padding is a number, a list, or ark::kSame / ark::kValid.
#pragma once
#include <cstdint>
#include <variant>

#include "ark/core/tensor.h"
#include "ark/nn/arg.h"
#include "ark/nn/enum.h"

namespace ark::nn {

namespace detail {
template <size_t D>
using conv_padding_t = std::variant<ExpandingArray<D>, enumtype::kValid, enumtype::kSame>;
using conv_padding_mode_t = std::variant<enumtype::kZeros, enumtype::kReflect, enumtype::kReplicate, enumtype::kCircular>;
}  // namespace detail

// padding(3), padding({1, 2}) and padding(ark::kSame) all work: one setter per form, since a
// variant cannot be brace-initialised from a list.
#define ARK_CONV_PADDING_ARG(Self, D)                                                       \
 public:                                                                                    \
  using padding_t = detail::conv_padding_t<D>;                                              \
  Self& padding(int64_t p) {                                                                \
    padding_ = ExpandingArray<D>(p);                                                        \
    return *this;                                                                           \
  }                                                                                         \
  Self& padding(const ExpandingArray<D>& p) {                                               \
    padding_ = p;                                                                           \
    return *this;                                                                           \
  }                                                                                         \
  Self& padding(const padding_t& p) {                                                       \
    padding_ = p;                                                                           \
    return *this;                                                                           \
  }                                                                                         \
  const padding_t& padding() const noexcept { return padding_; }                            \
  padding_t& padding() noexcept { return padding_; }                                        \
                                                                                            \
 private:                                                                                   \
  padding_t padding_ = ExpandingArray<D>(0)

template <size_t D>
struct ConvOptions {
  using padding_mode_t = detail::conv_padding_mode_t;
  ConvOptions(int64_t in_channels, int64_t out_channels, ExpandingArray<D> kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  ARK_ARG(int64_t, in_channels);
  ARK_ARG(int64_t, out_channels);
  ARK_ARG(ExpandingArray<D>, kernel_size);
  ARK_ARG(ExpandingArray<D>, stride) = 1;
  ARK_CONV_PADDING_ARG(ConvOptions, D);
  ARK_ARG(ExpandingArray<D>, dilation) = 1;
  ARK_ARG(int64_t, groups) = 1;
  ARK_ARG(bool, bias) = true;
  /// Only kZeros is implemented; the others are accepted here and rejected by the layer.
  ARK_ARG(padding_mode_t, padding_mode) = enumtype::kZeros{};
};
using Conv1dOptions = ConvOptions<1>;
using Conv2dOptions = ConvOptions<2>;

template <size_t D>
struct ConvTransposeOptions {
  using padding_mode_t = detail::conv_padding_mode_t;
  ConvTransposeOptions(int64_t in_channels, int64_t out_channels, ExpandingArray<D> kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  ARK_ARG(int64_t, in_channels);
  ARK_ARG(int64_t, out_channels);
  ARK_ARG(ExpandingArray<D>, kernel_size);
  ARK_ARG(ExpandingArray<D>, stride) = 1;
  ARK_ARG(ExpandingArray<D>, padding) = 0;
  ARK_ARG(ExpandingArray<D>, output_padding) = 0;
  ARK_ARG(int64_t, groups) = 1;
  ARK_ARG(bool, bias) = true;
  ARK_ARG(ExpandingArray<D>, dilation) = 1;
  ARK_ARG(padding_mode_t, padding_mode) = enumtype::kZeros{};
};
using ConvTranspose2dOptions = ConvTransposeOptions<2>;

namespace functional {

template <size_t D>
struct ConvFuncOptions {
  ARK_ARG(Tensor, bias);
  ARK_ARG(ExpandingArray<D>, stride) = 1;
  ARK_CONV_PADDING_ARG(ConvFuncOptions, D);
  ARK_ARG(ExpandingArray<D>, dilation) = 1;
  ARK_ARG(int64_t, groups) = 1;
};
using Conv1dFuncOptions = ConvFuncOptions<1>;
using Conv2dFuncOptions = ConvFuncOptions<2>;

template <size_t D>
struct ConvTransposeFuncOptions {
  ARK_ARG(Tensor, bias);
  ARK_ARG(ExpandingArray<D>, stride) = 1;
  ARK_ARG(ExpandingArray<D>, padding) = 0;
  ARK_ARG(ExpandingArray<D>, output_padding) = 0;
  ARK_ARG(int64_t, groups) = 1;
  ARK_ARG(ExpandingArray<D>, dilation) = 1;
};
using ConvTranspose2dFuncOptions = ConvTransposeFuncOptions<2>;

}  // namespace functional
}  // namespace ark::nn
