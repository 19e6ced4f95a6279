// Linear, Identity, Flatten, Unflatten (torch.nn.Linear & co., libtorch's nn/modules/linear.h).
#pragma once
#include <cstdint>

#include "ark/nn/module.h"
#include "ark/nn/options/linear.h"

namespace ark::nn {

/// y = x W^T + b over the last dim. weight (out_features, in_features) and bias (out_features)
/// start as PyTorch's: kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)), for both.
class LinearImpl : public Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features) : LinearImpl(LinearOptions(in_features, out_features)) {}
  explicit LinearImpl(const LinearOptions& options);
  /// Re-draws weight and bias from the default distributions.
  void reset_parameters();
  /// (*, in_features) -> (*, out_features).
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override;

  LinearOptions options;
  Tensor weight;
  Tensor bias;  // undefined when options.bias() is false
};
ARK_MODULE(Linear);

/// Returns its input. Accepts and ignores constructor arguments, as torch.nn.Identity.
class IdentityImpl : public Module {
 public:
  template <class... Args>
  explicit IdentityImpl(Args&&...) {}
  Tensor forward(const Tensor& input);
};
ARK_MODULE(Identity);

/// Flattens dims start_dim..end_dim (default: all but the batch dim).
class FlattenImpl : public Module {
 public:
  explicit FlattenImpl(const FlattenOptions& options = {});
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override;

  FlattenOptions options;
};
ARK_MODULE(Flatten);

/// Splits dim `dim` into `sizes`.
class UnflattenImpl : public Module {
 public:
  UnflattenImpl(int64_t dim, std::vector<int64_t> sizes) : UnflattenImpl(UnflattenOptions(dim, std::move(sizes))) {}
  explicit UnflattenImpl(const UnflattenOptions& options);
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override;

  UnflattenOptions options;
};
ARK_MODULE(Unflatten);

}  // namespace ark::nn
