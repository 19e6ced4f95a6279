// AdamW (decoupled weight decay), as torch.optim.AdamW: PyTorch 1.13's single-tensor path
// (_single_tensor_adamw, capturable=False) in its operation order.
#pragma once
#include "ark/optim/adam.h"

namespace ark::optim {

struct AdamWOptions : public OptimizerCloneableOptions<AdamWOptions> {
  AdamWOptions(double lr = 1e-3) : OptimizerCloneableOptions(lr) {}  // NOLINT
  using OptimizerOptions::lr;
  AdamWOptions& lr(double lr) {
    lr_ = lr;
    return *this;
  }
  typedef std::tuple<double, double> betas_t;
  ARK_OPTIM_ARG(betas_t, betas) = std::make_tuple(0.9, 0.999);
  ARK_OPTIM_ARG(double, eps) = 1e-8;
  ARK_OPTIM_ARG(double, weight_decay) = 1e-2;
  ARK_OPTIM_ARG(bool, amsgrad) = false;
  ARK_OPTIM_ARG(bool, maximize) = false;

 public:
  std::vector<std::pair<const char*, FieldRef>> fields() override;
  using OptimizerOptions::fields;
};

using AdamWParamState = AdamParamState;

class AdamW : public Optimizer {
 public:
  AdamW(const std::vector<OptimizerParamGroup>& param_groups, const AdamWOptions& defaults = {});
  AdamW(const std::vector<Tensor>& params, const AdamWOptions& defaults = {})
      : AdamW(std::vector<OptimizerParamGroup>{OptimizerParamGroup(params)}, defaults) {}

  Tensor step(LossClosure closure = nullptr) override;
  const char* name() const override { return "AdamW"; }

 protected:
  std::unique_ptr<OptimizerParamState> make_state(const Tensor& param, const OptimizerOptions& group) const override;
  void check_options(const OptimizerOptions& options) const override;
};

}  // namespace ark::optim
