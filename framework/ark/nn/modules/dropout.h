// Dropout, Dropout2d (torch.nn.Dropout/Dropout2d): active in training mode only.
#pragma once
#include "ark/nn/module.h"
#include "ark/nn/options/dropout.h"

namespace ark::nn {

/// Zeroes elements with probability p and scales the rest by 1/(1-p).
class DropoutImpl : public Module {
 public:
  explicit DropoutImpl(const DropoutOptions& options = {});
  Tensor forward(Tensor input);
  std::string extra_repr() const override;

  DropoutOptions options;
};
ARK_MODULE(Dropout);

/// Zeroes whole channels of (N, C, H, W) or (C, H, W) input.
class Dropout2dImpl : public Module {
 public:
  explicit Dropout2dImpl(const Dropout2dOptions& options = {});
  Tensor forward(Tensor input);
  std::string extra_repr() const override;

  Dropout2dOptions options;
};
ARK_MODULE(Dropout2d);

}  // namespace ark::nn
