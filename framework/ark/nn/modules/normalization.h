// LayerNorm, GroupNorm, RMSNorm (torch.nn.LayerNorm/GroupNorm of PyTorch 1.13, torch.nn.RMSNorm
// of PyTorch 2.4). Affine weights start at 1, biases at 0.
#pragma once
#include <cstdint>
#include <vector>

#include "ark/nn/module.h"
#include "ark/nn/options/normalization.h"

namespace ark::nn {

/// Normalises over the trailing dims `normalized_shape`.
class LayerNormImpl : public Module {
 public:
  LayerNormImpl(std::vector<int64_t> normalized_shape) : LayerNormImpl(LayerNormOptions(std::move(normalized_shape))) {}  // NOLINT
  explicit LayerNormImpl(const LayerNormOptions& options);
  void reset_parameters();
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override;

  LayerNormOptions options;
  Tensor weight, bias;  // normalized_shape, when elementwise_affine
};
ARK_MODULE(LayerNorm);

/// Normalises (N, C, *) over groups of C / num_groups channels; per-channel affine.
class GroupNormImpl : public Module {
 public:
  GroupNormImpl(int64_t num_groups, int64_t num_channels) : GroupNormImpl(GroupNormOptions(num_groups, num_channels)) {}
  explicit GroupNormImpl(const GroupNormOptions& options);
  void reset_parameters();
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override;

  GroupNormOptions options;
  Tensor weight, bias;  // (C,), when affine
};
ARK_MODULE(GroupNorm);

/// y = x / sqrt(mean(x^2 over normalized_shape) + eps) * weight; eps std::nullopt is the input
/// dtype's machine epsilon (torch.finfo(x.dtype).eps).
class RMSNormImpl : public Module {
 public:
  RMSNormImpl(std::vector<int64_t> normalized_shape) : RMSNormImpl(RMSNormOptions(std::move(normalized_shape))) {}  // NOLINT
  explicit RMSNormImpl(const RMSNormOptions& options);
  void reset_parameters();
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override;

  RMSNormOptions options;
  Tensor weight;  // normalized_shape, when elementwise_affine
};
ARK_MODULE(RMSNorm);

}  // namespace ark::nn
