// Conv1d, Conv2d, ConvTranspose2d (torch.nn.Conv*d, libtorch's nn/modules/conv.h), with PyTorch's
// parameter shapes, default initialisation and padding modes (zeros, reflect, replicate,
// circular; padding may be ark::kSame / ark::kValid for the forward convolutions).
#pragma once
#include <cstdint>
#include <optional>

#include "ark/nn/module.h"
#include "ark/nn/options/conv.h"

namespace ark::nn {

/// The shared part of Conv1d and Conv2d. weight (out, in/groups, *kernel_size); both weight and
/// bias start as U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform_ with a=sqrt(5)).
template <size_t D>
class ConvNdImpl : public Module {
 public:
  explicit ConvNdImpl(const ConvOptions<D>& options);
  void reset_parameters();
  std::string extra_repr() const override;

  ConvOptions<D> options;
  Tensor weight;
  Tensor bias;  // undefined when options.bias() is false

 protected:
  /// Checks the input's rank and channels, applies non-zero padding modes, convolves.
  Tensor conv_forward(const Tensor& input);
};

/// (N, C_in, L) or (C_in, L) -> (N, C_out, L_out).
class Conv1dImpl : public ConvNdImpl<1> {
 public:
  Conv1dImpl(int64_t in_channels, int64_t out_channels, ExpandingArray<1> kernel_size)
      : Conv1dImpl(Conv1dOptions(in_channels, out_channels, kernel_size)) {}
  explicit Conv1dImpl(const Conv1dOptions& options) : ConvNdImpl<1>(options) {}
  Tensor forward(const Tensor& input);
};
ARK_MODULE(Conv1d);

/// (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out).
class Conv2dImpl : public ConvNdImpl<2> {
 public:
  Conv2dImpl(int64_t in_channels, int64_t out_channels, ExpandingArray<2> kernel_size)
      : Conv2dImpl(Conv2dOptions(in_channels, out_channels, kernel_size)) {}
  explicit Conv2dImpl(const Conv2dOptions& options) : ConvNdImpl<2>(options) {}
  Tensor forward(const Tensor& input);
};
ARK_MODULE(Conv2d);

/// The gradient of Conv2d with respect to its input. weight (in, out/groups, kH, kW); PyTorch
/// computes its default init's fan_in from that layout, i.e. from out/groups * kH * kW.
class ConvTranspose2dImpl : public Module {
 public:
  ConvTranspose2dImpl(int64_t in_channels, int64_t out_channels, ExpandingArray<2> kernel_size)
      : ConvTranspose2dImpl(ConvTranspose2dOptions(in_channels, out_channels, kernel_size)) {}
  explicit ConvTranspose2dImpl(const ConvTranspose2dOptions& options);
  void reset_parameters();
  /// output_size (H, W) or (N, C, H, W) picks the output_padding that reaches it, as PyTorch.
  Tensor forward(const Tensor& input, const std::optional<IntArrayRef>& output_size = std::nullopt);
  std::string extra_repr() const override;

  ConvTranspose2dOptions options;
  Tensor weight;
  Tensor bias;
};
ARK_MODULE(ConvTranspose2d);

extern template class ConvNdImpl<1>;
extern template class ConvNdImpl<2>;

}  // namespace ark::nn
