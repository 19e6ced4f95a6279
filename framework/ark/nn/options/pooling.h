// Options of MaxPool2d, AvgPool2d, AdaptiveAvgPool2d and their functions (libtorch's
// nn/options/pooling.h). stride defaults to kernel_size, as in PyTorch.
#pragma once
#include <cstdint>
#include <optional>

#include "ark/nn/arg.h"

namespace ark::nn {

template <size_t D>
struct MaxPoolOptions {
  /* implicit */ MaxPoolOptions(ExpandingArray<D> kernel_size)  // NOLINT
      : kernel_size_(kernel_size), stride_(kernel_size) {}
  ARK_ARG(ExpandingArray<D>, kernel_size);
  ARK_ARG(ExpandingArray<D>, stride);
  ARK_ARG(ExpandingArray<D>, padding) = 0;
  ARK_ARG(ExpandingArray<D>, dilation) = 1;
  ARK_ARG(bool, ceil_mode) = false;
};
using MaxPool2dOptions = MaxPoolOptions<2>;

template <size_t D>
struct AvgPoolOptions {
  /* implicit */ AvgPoolOptions(ExpandingArray<D> kernel_size)  // NOLINT
      : kernel_size_(kernel_size), stride_(kernel_size) {}
  ARK_ARG(ExpandingArray<D>, kernel_size);
  ARK_ARG(ExpandingArray<D>, stride);
  ARK_ARG(ExpandingArray<D>, padding) = 0;
  ARK_ARG(bool, ceil_mode) = false;
  ARK_ARG(bool, count_include_pad) = true;
  ARK_ARG(std::optional<int64_t>, divisor_override) = std::nullopt;
};
using AvgPool2dOptions = AvgPoolOptions<2>;

template <size_t D>
struct AdaptiveAvgPoolOptions {
  /// An empty entry keeps that input size: AdaptiveAvgPool2dOptions({7, std::nullopt}).
  /* implicit */ AdaptiveAvgPoolOptions(ExpandingArrayWithOptionalElem<D> output_size)  // NOLINT
      : output_size_(output_size) {}
  AdaptiveAvgPoolOptions(int64_t output_size) : output_size_(output_size) {}  // NOLINT
  ARK_ARG(ExpandingArrayWithOptionalElem<D>, output_size);
};
using AdaptiveAvgPool2dOptions = AdaptiveAvgPoolOptions<2>;

namespace functional {
using MaxPool2dFuncOptions = MaxPool2dOptions;
using AvgPool2dFuncOptions = AvgPool2dOptions;
using AdaptiveAvgPool2dFuncOptions = AdaptiveAvgPool2dOptions;
}  // namespace functional

}  // namespace ark::nn
