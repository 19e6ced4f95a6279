// Adam and AdamW. ref: torch/optim/adam.py and adamw.py (1.13), _single_tensor_adam(w) with
// capturable=False: the bias corrections are host doubles, as `beta ** step.item()` there.
#include <cmath>

#include "ark/autograd/grad_mode.h"
#include "ark/backend/backend.h"
#include "ark/ops/ops.h"
#include "ark/optim/adam.h"
#include "ark/optim/adamw.h"
#include "ark/optim/fp_exact.h"
#ifdef __clang__
#pragma clang fp contract(off)
#endif

namespace ark::optim {

namespace {
// Python's `1 - lr * weight_decay`: the product rounded before the subtraction.
ARK_NO_FP_CONTRACT double decay_factor(double lr, double weight_decay) { return 1 - lr * weight_decay; }
}  // namespace

namespace detail {
void adam_update(Tensor& param, const Tensor& grad, AdamParamState& state, double lr, double beta1, double beta2,
                 double eps, bool amsgrad, double decay, bool fused) {
  Tensor& exp_avg = state.exp_avg();
  Tensor& exp_avg_sq = state.exp_avg_sq();
  const double step = static_cast<double>(state.step());
  const double bias_correction1 = 1 - std::pow(beta1, step);
  const double bias_correction2 = 1 - std::pow(beta2, step);
  const double step_size = lr / bias_correction1;
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);
  const auto plain = [&](const Tensor& t) {
    return t.dtype() == kFloat && t.is_contiguous() && t.device() == param.device() && t.numel() == param.numel();
  };
  if (fused && !amsgrad && plain(param) && plain(grad) && plain(exp_avg) && plain(exp_avg_sq)) {
    Backend::AdamStep s;
    s.decay = decay;
    s.beta1 = beta1;
    s.one_minus_beta1 = 1 - beta1;
    s.beta2 = beta2;
    s.one_minus_beta2 = 1 - beta2;
    s.bias_correction2_sqrt = bias_correction2_sqrt;
    s.eps = eps;
    s.neg_step_size = -step_size;
    backend_for(param).adam_step(param, grad, exp_avg, exp_avg_sq, s);
    return;
  }
  if (decay != 1.0) param.mul_(decay);
  exp_avg.mul_(beta1).add_(grad, 1 - beta1);
  exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);

  Tensor denom;
  if (amsgrad) {
    Tensor& max_exp_avg_sq = state.max_exp_avg_sq();
    if (!max_exp_avg_sq.defined()) max_exp_avg_sq = zeros_like(param);  // amsgrad switched on after the first step
    max_exp_avg_sq.copy_(ark::maximum(max_exp_avg_sq, exp_avg_sq));
    denom = max_exp_avg_sq.sqrt();
  } else {
    denom = exp_avg_sq.sqrt();
  }
  denom.div_(bias_correction2_sqrt).add_(eps);
  param.addcdiv_(exp_avg, denom, -step_size);
}

std::unique_ptr<OptimizerParamState> adam_make_state(const Tensor& param, bool amsgrad) {
  auto state = std::make_unique<AdamParamState>();
  state->exp_avg(zeros_like(param));
  state->exp_avg_sq(zeros_like(param));
  if (amsgrad) state->max_exp_avg_sq(zeros_like(param));
  return state;
}

void adam_check_options(const char* name, double lr, double beta1, double beta2, double eps, double weight_decay) {
  ARK_CHECK(lr >= 0, name, ": invalid learning rate: ", lr);
  ARK_CHECK(eps >= 0, name, ": invalid epsilon value: ", eps);
  ARK_CHECK(beta1 >= 0 && beta1 < 1, name, ": invalid beta parameter at index 0: ", beta1);
  ARK_CHECK(beta2 >= 0 && beta2 < 1, name, ": invalid beta parameter at index 1: ", beta2);
  ARK_CHECK(weight_decay >= 0, name, ": invalid weight_decay value: ", weight_decay);
}
}  // namespace detail

// ---- Adam ----
std::vector<std::pair<const char*, OptimizerOptions::FieldRef>> AdamOptions::fields() {
  return {{"lr", &lr_},
          {"betas", &betas_},
          {"eps", &eps_},
          {"weight_decay", &weight_decay_},
          {"amsgrad", &amsgrad_},
          {"maximize", &maximize_}};
}

Adam::Adam(const std::vector<OptimizerParamGroup>& param_groups, const AdamOptions& defaults)
    : Optimizer(defaults.clone()) {
  init(param_groups);
}

void Adam::check_options(const OptimizerOptions& options) const {
  const auto& o = options_as<AdamOptions>(options, "Adam", "AdamOptions");
  detail::adam_check_options("Adam", o.lr(), std::get<0>(o.betas()), std::get<1>(o.betas()), o.eps(), o.weight_decay());
}

std::unique_ptr<OptimizerParamState> Adam::make_state(const Tensor& param, const OptimizerOptions& group) const {
  return detail::adam_make_state(param, static_cast<const AdamOptions&>(group).amsgrad());
}

Tensor Adam::step(LossClosure closure) {
  NoGradGuard no_grad;
  const Tensor loss = evaluate(closure);
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const AdamOptions&>(group.options());
    const auto [beta1, beta2] = o.betas();
    for (auto& param : group.params()) {
      if (!param.grad().defined()) continue;
      Tensor grad = o.maximize() ? -param.grad() : param.grad();
      auto& state = static_cast<AdamParamState&>(param_state(param, o));
      state.step() += 1;
      if (o.weight_decay() != 0) grad = grad.add(param, o.weight_decay());
      detail::adam_update(param, grad, state, o.lr(), beta1, beta2, o.eps(), o.amsgrad());
    }
  }
  return loss;
}

// ---- AdamW ----
std::vector<std::pair<const char*, OptimizerOptions::FieldRef>> AdamWOptions::fields() {
  return {{"lr", &lr_},
          {"betas", &betas_},
          {"eps", &eps_},
          {"weight_decay", &weight_decay_},
          {"amsgrad", &amsgrad_},
          {"maximize", &maximize_}};
}

AdamW::AdamW(const std::vector<OptimizerParamGroup>& param_groups, const AdamWOptions& defaults)
    : Optimizer(defaults.clone()) {
  init(param_groups);
}

void AdamW::check_options(const OptimizerOptions& options) const {
  const auto& o = options_as<AdamWOptions>(options, "AdamW", "AdamWOptions");
  detail::adam_check_options("AdamW", o.lr(), std::get<0>(o.betas()), std::get<1>(o.betas()), o.eps(), o.weight_decay());
}

std::unique_ptr<OptimizerParamState> AdamW::make_state(const Tensor& param, const OptimizerOptions& group) const {
  return detail::adam_make_state(param, static_cast<const AdamWOptions&>(group).amsgrad());
}

Tensor AdamW::step(LossClosure closure) {
  NoGradGuard no_grad;
  const Tensor loss = evaluate(closure);
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const AdamWOptions&>(group.options());
    const auto [beta1, beta2] = o.betas();
    for (auto& param : group.params()) {
      if (!param.grad().defined()) continue;
      const Tensor grad = o.maximize() ? -param.grad() : param.grad();
      auto& state = static_cast<AdamParamState&>(param_state(param, o));
      state.step() += 1;
      // Decoupled weight decay, as PyTorch applies it (a factor of exactly 1 changes nothing).
      detail::adam_update(param, grad, state, o.lr(), beta1, beta2, o.eps(), o.amsgrad(),
                          decay_factor(o.lr(), o.weight_decay()));
    }
  }
  return loss;
}

}  // namespace ark::optim
