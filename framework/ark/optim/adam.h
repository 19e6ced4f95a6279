// Adam (with AMSGrad, L2 weight decay and maximize), as torch.optim.Adam: PyTorch 1.13's
// single-tensor path (_single_tensor_adam, capturable=False) in its operation order.
#pragma once
#include <tuple>

#include "ark/optim/optimizer.h"

namespace ark::optim {

struct AdamOptions : public OptimizerCloneableOptions<AdamOptions> {
  AdamOptions(double lr = 1e-3) : OptimizerCloneableOptions(lr) {}  // NOLINT
  using OptimizerOptions::lr;
  AdamOptions& lr(double lr) {
    lr_ = lr;
    return *this;
  }
  typedef std::tuple<double, double> betas_t;
  ARK_OPTIM_ARG(betas_t, betas) = std::make_tuple(0.9, 0.999);
  ARK_OPTIM_ARG(double, eps) = 1e-8;
  ARK_OPTIM_ARG(double, weight_decay) = 0;
  ARK_OPTIM_ARG(bool, amsgrad) = false;
  ARK_OPTIM_ARG(bool, maximize) = false;

 public:
  std::vector<std::pair<const char*, FieldRef>> fields() override;
  using OptimizerOptions::fields;
};

/// Adam's and AdamW's per-param state. step counts this param's updates (PyTorch keeps it as a
/// float tensor; the value is the same).
struct AdamParamState : public OptimizerCloneableParamState<AdamParamState> {
  ARK_OPTIM_ARG(int64_t, step) = 0;
  ARK_OPTIM_ARG(Tensor, exp_avg);
  ARK_OPTIM_ARG(Tensor, exp_avg_sq);
  ARK_OPTIM_ARG(Tensor, max_exp_avg_sq);

 public:
  std::vector<std::pair<const char*, FieldRef>> fields() override {
    return {{"step", &step_}, {"exp_avg", &exp_avg_}, {"exp_avg_sq", &exp_avg_sq_}, {"max_exp_avg_sq", &max_exp_avg_sq_}};
  }
  using OptimizerParamState::fields;
};

class Adam : public Optimizer {
 public:
  Adam(const std::vector<OptimizerParamGroup>& param_groups, const AdamOptions& defaults = {});
  Adam(const std::vector<Tensor>& params, const AdamOptions& defaults = {})
      : Adam(std::vector<OptimizerParamGroup>{OptimizerParamGroup(params)}, defaults) {}

  Tensor step(LossClosure closure = nullptr) override;
  const char* name() const override { return "Adam"; }

 protected:
  std::unique_ptr<OptimizerParamState> make_state(const Tensor& param, const OptimizerOptions& group) const override;
  void check_options(const OptimizerOptions& options) const override;
};

namespace detail {
/// The moment update and parameter step Adam and AdamW share, after AdamW's decoupled decay
/// `param *= decay` (1: none). Contiguous float32 tensors take the backend's fused one-pass
/// kernel (bit-identical); `fused = false` forces the tensor-op sequence (tests compare the two).
void adam_update(Tensor& param, const Tensor& grad, AdamParamState& state, double lr, double beta1, double beta2,
                 double eps, bool amsgrad, double decay = 1.0, bool fused = true);
std::unique_ptr<OptimizerParamState> adam_make_state(const Tensor& param, bool amsgrad);
void adam_check_options(const char* name, double lr, double beta1, double beta2, double eps, double weight_decay);
}  // namespace detail

}  // namespace ark::optim
