// RMSprop (centered, momentum, weight decay, maximize), as torch.optim.RMSprop: PyTorch 1.13's
// single-tensor path (_single_tensor_rmsprop) in its operation order.
#pragma once
#include "ark/optim/optimizer.h"

namespace ark::optim {

struct RMSpropOptions : public OptimizerCloneableOptions<RMSpropOptions> {
  RMSpropOptions(double lr = 1e-2) : OptimizerCloneableOptions(lr) {}  // NOLINT
  using OptimizerOptions::lr;
  RMSpropOptions& lr(double lr) {
    lr_ = lr;
    return *this;
  }
  ARK_OPTIM_ARG(double, alpha) = 0.99;
  ARK_OPTIM_ARG(double, eps) = 1e-8;
  ARK_OPTIM_ARG(double, weight_decay) = 0;
  ARK_OPTIM_ARG(double, momentum) = 0;
  ARK_OPTIM_ARG(bool, centered) = false;
  ARK_OPTIM_ARG(bool, maximize) = false;

 public:
  std::vector<std::pair<const char*, FieldRef>> fields() override;
  using OptimizerOptions::fields;
};

struct RMSpropParamState : public OptimizerCloneableParamState<RMSpropParamState> {
  ARK_OPTIM_ARG(int64_t, step) = 0;
  ARK_OPTIM_ARG(Tensor, square_avg);
  ARK_OPTIM_ARG(Tensor, momentum_buffer);
  ARK_OPTIM_ARG(Tensor, grad_avg);

 public:
  std::vector<std::pair<const char*, FieldRef>> fields() override {
    return {{"step", &step_}, {"square_avg", &square_avg_}, {"momentum_buffer", &momentum_buffer_}, {"grad_avg", &grad_avg_}};
  }
  using OptimizerParamState::fields;
};

class RMSprop : public Optimizer {
 public:
  RMSprop(const std::vector<OptimizerParamGroup>& param_groups, const RMSpropOptions& defaults = {});
  RMSprop(const std::vector<Tensor>& params, const RMSpropOptions& defaults = {})
      : RMSprop(std::vector<OptimizerParamGroup>{OptimizerParamGroup(params)}, defaults) {}

  Tensor step(LossClosure closure = nullptr) override;
  const char* name() const override { return "RMSprop"; }

 protected:
  std::unique_ptr<OptimizerParamState> make_state(const Tensor& param, const OptimizerOptions& group) const override;
  void check_options(const OptimizerOptions& options) const override;
};

}  // namespace ark::optim
