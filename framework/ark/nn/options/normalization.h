// Options of the normalisation layers and functions: BatchNorm, LayerNorm, GroupNorm, RMSNorm,
// F::normalize (libtorch's nn/options/batchnorm.h and normalization.h).
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "ark/core/tensor.h"
#include "ark/nn/arg.h"

namespace ark::nn {

struct BatchNormOptions {
  /* implicit */ BatchNormOptions(int64_t num_features) : num_features_(num_features) {}  // NOLINT
  ARK_ARG(int64_t, num_features);
  ARK_ARG(double, eps) = 1e-5;
  /// std::nullopt: a cumulative moving average (PyTorch's momentum=None).
  ARK_ARG(std::optional<double>, momentum) = 0.1;
  ARK_ARG(bool, affine) = true;
  ARK_ARG(bool, track_running_stats) = true;
};
using BatchNorm1dOptions = BatchNormOptions;
using BatchNorm2dOptions = BatchNormOptions;

struct LayerNormOptions {
  /* implicit */ LayerNormOptions(std::vector<int64_t> normalized_shape)  // NOLINT
      : normalized_shape_(std::move(normalized_shape)) {}
  ARK_ARG(std::vector<int64_t>, normalized_shape);
  ARK_ARG(double, eps) = 1e-5;
  ARK_ARG(bool, elementwise_affine) = true;
};

struct GroupNormOptions {
  GroupNormOptions(int64_t num_groups, int64_t num_channels) : num_groups_(num_groups), num_channels_(num_channels) {}
  ARK_ARG(int64_t, num_groups);
  ARK_ARG(int64_t, num_channels);
  ARK_ARG(double, eps) = 1e-5;
  ARK_ARG(bool, affine) = true;
};

/// torch.nn.RMSNorm (PyTorch 2.4): eps std::nullopt means the input dtype's machine epsilon.
struct RMSNormOptions {
  /* implicit */ RMSNormOptions(std::vector<int64_t> normalized_shape)  // NOLINT
      : normalized_shape_(std::move(normalized_shape)) {}
  ARK_ARG(std::vector<int64_t>, normalized_shape);
  ARK_ARG(std::optional<double>, eps) = std::nullopt;
  ARK_ARG(bool, elementwise_affine) = true;
};

namespace functional {

struct BatchNormFuncOptions {
  ARK_ARG(Tensor, weight);
  ARK_ARG(Tensor, bias);
  ARK_ARG(bool, training) = false;
  ARK_ARG(std::optional<double>, momentum) = 0.1;
  ARK_ARG(double, eps) = 1e-5;
};

struct LayerNormFuncOptions {
  /* implicit */ LayerNormFuncOptions(std::vector<int64_t> normalized_shape)  // NOLINT
      : normalized_shape_(std::move(normalized_shape)) {}
  ARK_ARG(std::vector<int64_t>, normalized_shape);
  ARK_ARG(Tensor, weight);
  ARK_ARG(Tensor, bias);
  ARK_ARG(double, eps) = 1e-5;
};

struct GroupNormFuncOptions {
  /* implicit */ GroupNormFuncOptions(int64_t num_groups) : num_groups_(num_groups) {}  // NOLINT
  ARK_ARG(int64_t, num_groups);
  ARK_ARG(Tensor, weight);
  ARK_ARG(Tensor, bias);
  ARK_ARG(double, eps) = 1e-5;
};

struct RMSNormFuncOptions {
  /* implicit */ RMSNormFuncOptions(std::vector<int64_t> normalized_shape)  // NOLINT
      : normalized_shape_(std::move(normalized_shape)) {}
  ARK_ARG(std::vector<int64_t>, normalized_shape);
  ARK_ARG(Tensor, weight);
  ARK_ARG(std::optional<double>, eps) = std::nullopt;
};

struct NormalizeFuncOptions {
  ARK_ARG(double, p) = 2.0;
  ARK_ARG(int64_t, dim) = 1;
  ARK_ARG(double, eps) = 1e-12;
};

}  // namespace functional
}  // namespace ark::nn
