// RMSprop. ref: torch/optim/rmsprop.py (1.13), _single_tensor_rmsprop (differentiable=False).
#include "ark/optim/rmsprop.h"

#include "ark/autograd/grad_mode.h"
#include "ark/ops/ops.h"

namespace ark::optim {

std::vector<std::pair<const char*, OptimizerOptions::FieldRef>> RMSpropOptions::fields() {
  return {{"lr", &lr_},
          {"alpha", &alpha_},
          {"eps", &eps_},
          {"weight_decay", &weight_decay_},
          {"momentum", &momentum_},
          {"centered", &centered_},
          {"maximize", &maximize_}};
}

RMSprop::RMSprop(const std::vector<OptimizerParamGroup>& param_groups, const RMSpropOptions& defaults)
    : Optimizer(defaults.clone()) {
  init(param_groups);
}

void RMSprop::check_options(const OptimizerOptions& options) const {
  const auto& o = options_as<RMSpropOptions>(options, "RMSprop", "RMSpropOptions");
  ARK_CHECK(o.lr() >= 0, "RMSprop: invalid learning rate: ", o.lr());
  ARK_CHECK(o.eps() >= 0, "RMSprop: invalid epsilon value: ", o.eps());
  ARK_CHECK(o.momentum() >= 0, "RMSprop: invalid momentum value: ", o.momentum());
  ARK_CHECK(o.weight_decay() >= 0, "RMSprop: invalid weight_decay value: ", o.weight_decay());
  ARK_CHECK(o.alpha() >= 0, "RMSprop: invalid alpha value: ", o.alpha());
}

std::unique_ptr<OptimizerParamState> RMSprop::make_state(const Tensor& param, const OptimizerOptions& group) const {
  const auto& o = static_cast<const RMSpropOptions&>(group);
  auto state = std::make_unique<RMSpropParamState>();
  state->square_avg(zeros_like(param));
  if (o.momentum() > 0) state->momentum_buffer(zeros_like(param));
  if (o.centered()) state->grad_avg(zeros_like(param));
  return state;
}

Tensor RMSprop::step(LossClosure closure) {
  NoGradGuard no_grad;
  const Tensor loss = evaluate(closure);
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const RMSpropOptions&>(group.options());
    for (auto& param : group.params()) {
      if (!param.grad().defined()) continue;
      auto& state = static_cast<RMSpropParamState&>(param_state(param, o));
      state.step() += 1;
      Tensor grad = o.maximize() ? -param.grad() : param.grad();
      if (o.weight_decay() != 0) grad = grad.add(param, o.weight_decay());

      Tensor& square_avg = state.square_avg();
      square_avg.mul_(o.alpha()).addcmul_(grad, grad, 1 - o.alpha());
      Tensor avg;
      if (o.centered()) {
        Tensor& grad_avg = state.grad_avg();
        if (!grad_avg.defined()) grad_avg = zeros_like(param);  // centered switched on after the first step
        grad_avg.mul_(o.alpha()).add_(grad, 1 - o.alpha());
        avg = ark::addcmul(square_avg, grad_avg, grad_avg, -1).sqrt_();
      } else {
        avg = square_avg.sqrt();
      }
      avg.add_(o.eps());
      if (o.momentum() > 0) {
        Tensor& buf = state.momentum_buffer();
        if (!buf.defined()) buf = zeros_like(param);
        buf.mul_(o.momentum()).addcdiv_(grad, avg);
        param.add_(buf, -o.lr());
      } else {
        param.addcdiv_(grad, avg, -o.lr());
      }
    }
  }
  return loss;
}

}  // namespace ark::optim
