// Activation layers (torch.nn.ReLU & co.): stateless modules over nn::functional, each with
// PyTorch's options and repr.
#pragma once
#include "ark/nn/module.h"
#include "ark/nn/options/activation.h"

namespace ark::nn {

class ReLUImpl : public Module {
 public:
  explicit ReLUImpl(const ReLUOptions& options = {}) : options(options) {}
  Tensor forward(Tensor input);
  std::string extra_repr() const override;
  ReLUOptions options;
};
ARK_MODULE(ReLU);

/// min(max(x, 0), 6).
class ReLU6Impl : public Module {
 public:
  explicit ReLU6Impl(const ReLU6Options& options = {}) : options(options) {}
  Tensor forward(Tensor input);
  std::string extra_repr() const override;
  ReLU6Options options;
};
ARK_MODULE(ReLU6);

class LeakyReLUImpl : public Module {
 public:
  explicit LeakyReLUImpl(const LeakyReLUOptions& options = {}) : options(options) {}
  Tensor forward(Tensor input);
  std::string extra_repr() const override;
  LeakyReLUOptions options;
};
ARK_MODULE(LeakyReLU);

class ELUImpl : public Module {
 public:
  explicit ELUImpl(const ELUOptions& options = {}) : options(options) {}
  Tensor forward(Tensor input);
  std::string extra_repr() const override;
  ELUOptions options;
};
ARK_MODULE(ELU);

/// approximate "none" (erf) or "tanh".
class GELUImpl : public Module {
 public:
  explicit GELUImpl(const GELUOptions& options = {});
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override;
  GELUOptions options;
};
ARK_MODULE(GELU);

/// x * sigmoid(x) (swish).
class SiLUImpl : public Module {
 public:
  explicit SiLUImpl(const SiLUOptions& options = {}) : options(options) {}
  Tensor forward(Tensor input);
  std::string extra_repr() const override;
  SiLUOptions options;
};
ARK_MODULE(SiLU);

class HardswishImpl : public Module {
 public:
  explicit HardswishImpl(const HardswishOptions& options = {}) : options(options) {}
  Tensor forward(Tensor input);
  HardswishOptions options;
};
ARK_MODULE(Hardswish);

class HardsigmoidImpl : public Module {
 public:
  explicit HardsigmoidImpl(const HardsigmoidOptions& options = {}) : options(options) {}
  Tensor forward(Tensor input);
  HardsigmoidOptions options;
};
ARK_MODULE(Hardsigmoid);

class SigmoidImpl : public Module {
 public:
  Tensor forward(const Tensor& input);
};
ARK_MODULE(Sigmoid);

class TanhImpl : public Module {
 public:
  Tensor forward(const Tensor& input);
};
ARK_MODULE(Tanh);

/// log(1 + exp(beta x)) / beta, linear above threshold.
class SoftplusImpl : public Module {
 public:
  explicit SoftplusImpl(const SoftplusOptions& options = {}) : options(options) {}
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override;
  SoftplusOptions options;
};
ARK_MODULE(Softplus);

class SoftmaxImpl : public Module {
 public:
  explicit SoftmaxImpl(int64_t dim) : options(dim) {}
  explicit SoftmaxImpl(const SoftmaxOptions& options) : options(options) {}
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override;
  SoftmaxOptions options;
};
ARK_MODULE(Softmax);

class LogSoftmaxImpl : public Module {
 public:
  explicit LogSoftmaxImpl(int64_t dim) : options(dim) {}
  explicit LogSoftmaxImpl(const LogSoftmaxOptions& options) : options(options) {}
  Tensor forward(const Tensor& input);
  std::string extra_repr() const override;
  LogSoftmaxOptions options;
};
ARK_MODULE(LogSoftmax);

}  // namespace ark::nn
