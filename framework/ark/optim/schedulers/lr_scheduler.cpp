// LRScheduler base and LambdaLR. ref: torch/optim/lr_scheduler.py (1.13), _LRScheduler, LambdaLR.
#include "ark/optim/schedulers/lr_scheduler.h"

#include <algorithm>

#include "ark/ops/ops.h"

namespace ark::optim {

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(optimizer) {
  for (auto& group : optimizer_.param_groups()) {
    if (!group.initial_lr()) group.initial_lr() = group.options().lr();  // group.setdefault('initial_lr', lr)
    base_lrs_.push_back(*group.initial_lr());
  }
}

void LRScheduler::initial_step() {
  step_count_ = 0;
  step();
}

void LRScheduler::step() {
  ++step_count_;
  ++last_epoch_;
  set_optimizer_lrs(get_lrs());
}

void LRScheduler::step_to(int64_t epoch) {
  ++step_count_;
  last_epoch_ = epoch;
  auto closed = get_closed_form_lrs();
  set_optimizer_lrs(closed ? *closed : get_lrs());
}

std::vector<double> LRScheduler::get_current_lrs() const {
  std::vector<double> lrs;
  for (const auto& group : optimizer_.param_groups()) lrs.push_back(group.options().lr());
  return lrs;
}

void LRScheduler::set_optimizer_lrs(const std::vector<double>& lrs) {
  auto& groups = optimizer_.param_groups();
  ARK_CHECK(lrs.size() == groups.size(), "LR scheduler computed ", lrs.size(), " learning rates for ", groups.size(),
            " param groups");
  for (size_t i = 0; i < groups.size(); ++i) groups[i].options().set_lr(lrs[i]);
  last_lr_ = get_current_lrs();
}

// ---- state ----
namespace {
std::vector<double> values(const Tensor& t) {
  Tensor d = t.to(kDouble).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}
}  // namespace

StateDict LRScheduler::state_dict() const {
  StateDict sd("scheduler state key");
  sd.insert("last_epoch", scalar_tensor(last_epoch_, kLong));
  sd.insert("_step_count", scalar_tensor(step_count_, kLong));
  sd.insert("base_lrs", tensor(base_lrs_, kDouble));
  sd.insert("_last_lr", tensor(last_lr_, kDouble));
  return sd;
}

void LRScheduler::load_base(const StateDict& sd, std::vector<std::string>& used) {
  const size_t n = optimizer_.param_groups().size();
  auto get = [&](const char* key) -> std::vector<double> {
    const Tensor* t = sd.find(key);
    ARK_CHECK(t != nullptr, "LR scheduler load_state_dict: missing key '", key, "'");
    used.emplace_back(key);
    return values(*t);
  };
  const auto last_epoch = get("last_epoch"), step_count = get("_step_count");
  const auto base_lrs = get("base_lrs"), last_lr = get("_last_lr");
  ARK_CHECK(last_epoch.size() == 1 && step_count.size() == 1, "LR scheduler load_state_dict: last_epoch and "
            "_step_count must be scalars");
  ARK_CHECK(base_lrs.size() == n && last_lr.size() == n, "LR scheduler load_state_dict: the state has ",
            base_lrs.size(), " param groups, the optimizer has ", n);
  last_epoch_ = static_cast<int64_t>(last_epoch[0]);
  step_count_ = static_cast<int64_t>(step_count[0]);
  base_lrs_ = base_lrs;
  last_lr_ = last_lr;
}

void LRScheduler::load_state_dict(const StateDict& sd) {
  std::vector<std::string> used;
  load_base(sd, used);
  detail::check_all_used("LRScheduler", sd, used);
}

void detail::check_all_used(const char* name, const StateDict& sd, const std::vector<std::string>& used) {
  std::vector<std::string> unexpected;
  for (const auto& item : sd)
    if (std::find(used.begin(), used.end(), item.key()) == used.end()) unexpected.push_back(item.key());
  if (unexpected.empty()) return;
  std::string list;
  for (const auto& k : unexpected) list += (list.empty() ? "" : ", ") + k;
  ARK_ERROR(name, "::load_state_dict: unexpected keys: [", list, "]");
}

// ---- LambdaLR ----
LambdaLR::LambdaLR(Optimizer& optimizer, LrLambda lr_lambda)
    : LambdaLR(optimizer, std::vector<LrLambda>(optimizer.param_groups().size(), lr_lambda)) {}

LambdaLR::LambdaLR(Optimizer& optimizer, std::vector<LrLambda> lr_lambdas)
    : LRScheduler(optimizer), lr_lambdas_(std::move(lr_lambdas)) {
  ARK_CHECK(lr_lambdas_.size() == optimizer.param_groups().size(), "LambdaLR: expected ",
            optimizer.param_groups().size(), " lr_lambdas, but got ", lr_lambdas_.size());
  for (const auto& f : lr_lambdas_) ARK_CHECK(f != nullptr, "LambdaLR: lr_lambda is empty");
  initial_step();
}

std::vector<double> LambdaLR::get_lrs() {
  std::vector<double> lrs;
  for (size_t i = 0; i < base_lrs_.size(); ++i) lrs.push_back(base_lrs_[i] * lr_lambdas_[i](last_epoch_));
  return lrs;
}

}  // namespace ark::optim
