// SGD. ref: torch/optim/sgd.py (1.13), _single_tensor_sgd.
#include "ark/optim/sgd.h"

#include "ark/autograd/grad_mode.h"
#include "ark/ops/ops.h"

namespace ark::optim {

std::vector<std::pair<const char*, OptimizerOptions::FieldRef>> SGDOptions::fields() {
  return {{"lr", &lr_},
          {"momentum", &momentum_},
          {"dampening", &dampening_},
          {"weight_decay", &weight_decay_},
          {"nesterov", &nesterov_},
          {"maximize", &maximize_}};
}

SGD::SGD(const std::vector<OptimizerParamGroup>& param_groups, const SGDOptions& defaults)
    : Optimizer(defaults.clone()) {
  init(param_groups);
}

void SGD::check_options(const OptimizerOptions& options) const {
  const auto& o = options_as<SGDOptions>(options, "SGD", "SGDOptions");
  ARK_CHECK(o.lr() >= 0, "SGD: invalid learning rate: ", o.lr());
  ARK_CHECK(o.momentum() >= 0, "SGD: invalid momentum value: ", o.momentum());
  ARK_CHECK(o.weight_decay() >= 0, "SGD: invalid weight_decay value: ", o.weight_decay());
  ARK_CHECK(!o.nesterov() || (o.momentum() > 0 && o.dampening() == 0),
            "SGD: Nesterov momentum requires a momentum and zero dampening");
}

std::unique_ptr<OptimizerParamState> SGD::make_state(const Tensor&, const OptimizerOptions&) const {
  // The buffer starts as a copy of the first update, not zeros, so it is created in step().
  return std::make_unique<SGDParamState>();
}

Tensor SGD::step(LossClosure closure) {
  NoGradGuard no_grad;
  const Tensor loss = evaluate(closure);
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const SGDOptions&>(group.options());
    for (auto& param : group.params()) {
      if (!param.grad().defined()) continue;
      Tensor d_p = o.maximize() ? -param.grad() : param.grad();
      if (o.weight_decay() != 0) d_p = d_p.add(param, o.weight_decay());
      if (o.momentum() != 0) {
        auto& state = static_cast<SGDParamState&>(param_state(param, o));
        Tensor& buf = state.momentum_buffer();
        if (!buf.defined()) {
          buf = ark::clone(d_p).detach();
        } else {
          buf.mul_(o.momentum()).add_(d_p, 1 - o.dampening());
        }
        if (o.nesterov()) d_p = d_p.add(buf, o.momentum());
        else d_p = buf;
      }
      param.add_(d_p, -o.lr());
    }
  }
  return loss;
}

}  // namespace ark::optim
