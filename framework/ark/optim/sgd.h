// SGD with momentum, dampening, Nesterov momentum, weight decay and maximize, as torch.optim.SGD
// (PyTorch 1.13's single-tensor path, _single_tensor_sgd, in its operation order).
#pragma once
#include "ark/optim/optimizer.h"

namespace ark::optim {

struct SGDOptions : public OptimizerCloneableOptions<SGDOptions> {
  SGDOptions(double lr) : OptimizerCloneableOptions(lr) {}  // NOLINT (as libtorch: SGDOptions(0.1))
  using OptimizerOptions::lr;
  SGDOptions& lr(double lr) {
    lr_ = lr;
    return *this;
  }
  ARK_OPTIM_ARG(double, momentum) = 0;
  ARK_OPTIM_ARG(double, dampening) = 0;
  ARK_OPTIM_ARG(double, weight_decay) = 0;
  ARK_OPTIM_ARG(bool, nesterov) = false;
  ARK_OPTIM_ARG(bool, maximize) = false;

 public:
  std::vector<std::pair<const char*, FieldRef>> fields() override;
  using OptimizerOptions::fields;
};

struct SGDParamState : public OptimizerCloneableParamState<SGDParamState> {
  ARK_OPTIM_ARG(Tensor, momentum_buffer);

 public:
  std::vector<std::pair<const char*, FieldRef>> fields() override { return {{"momentum_buffer", &momentum_buffer_}}; }
  using OptimizerParamState::fields;
};

class SGD : public Optimizer {
 public:
  SGD(const std::vector<OptimizerParamGroup>& param_groups, const SGDOptions& defaults);
  SGD(const std::vector<Tensor>& params, const SGDOptions& defaults)
      : SGD(std::vector<OptimizerParamGroup>{OptimizerParamGroup(params)}, defaults) {}

  Tensor step(LossClosure closure = nullptr) override;
  const char* name() const override { return "SGD"; }

 protected:
  std::unique_ptr<OptimizerParamState> make_state(const Tensor& param, const OptimizerOptions& group) const override;
  void check_options(const OptimizerOptions& options) const override;
};

}  // namespace ark::optim
