// SequentialLR. ref: torch/optim/lr_scheduler.py (1.13), SequentialLR.
#include "ark/optim/schedulers/sequential_lr.h"

#include <algorithm>

#include "ark/ops/ops.h"

namespace ark::optim {

SequentialLR::SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
                           std::vector<int64_t> milestones)
    : LRScheduler(optimizer), schedulers_(std::move(schedulers)), milestones_(std::move(milestones)) {
  ARK_CHECK(!schedulers_.empty(), "SequentialLR: expects at least one scheduler");
  for (size_t i = 0; i < schedulers_.size(); ++i) {
    ARK_CHECK(schedulers_[i] != nullptr, "SequentialLR: scheduler ", i, " is null");
    ARK_CHECK(&schedulers_[i]->optimizer_ == &optimizer, "SequentialLR: Sequential Schedulers expects all "
              "schedulers to belong to the same optimizer, but got scheduler at index ", i,
              " to be different than the optimizer passed in.");
  }
  ARK_CHECK(milestones_.size() == schedulers_.size() - 1, "SequentialLR: Sequential Schedulers expects number of "
            "schedulers provided to be one more than the number of milestone points, but got number of schedulers ",
            schedulers_.size(), " and the number of milestones to be equal to ", milestones_.size());
  last_epoch_ = 0;  // last_epoch + 1 with the default last_epoch = -1
  for (auto& group : optimizer.param_groups()) group.options().set_lr(*group.initial_lr());
  for (auto& s : schedulers_) s->last_epoch_ -= 1;
  schedulers_[0]->initial_step();
  last_lr_ = schedulers_[0]->get_last_lr();
}

void SequentialLR::step() {
  ++last_epoch_;
  const size_t idx = std::upper_bound(milestones_.begin(), milestones_.end(), last_epoch_) - milestones_.begin();
  auto& scheduler = *schedulers_[idx];
  if (idx > 0 && milestones_[idx - 1] == last_epoch_) scheduler.step_to(0);
  else scheduler.step();
  last_lr_ = scheduler.get_last_lr();
}

StateDict SequentialLR::state_dict() const {
  StateDict sd("scheduler state key");
  sd.insert("last_epoch", scalar_tensor(last_epoch_, kLong));
  sd.insert("_last_lr", tensor(last_lr_, kDouble));
  for (size_t i = 0; i < schedulers_.size(); ++i)
    for (const auto& item : schedulers_[i]->state_dict())
      sd.insert("_schedulers." + std::to_string(i) + "." + item.key(), item.value());
  return sd;
}

void SequentialLR::load_state_dict(const StateDict& sd) {
  std::vector<std::string> used;
  const Tensor* last_epoch = sd.find("last_epoch");
  const Tensor* last_lr = sd.find("_last_lr");
  ARK_CHECK(last_epoch && last_lr, "SequentialLR::load_state_dict: missing key 'last_epoch' or '_last_lr'");
  used = {"last_epoch", "_last_lr"};
  std::vector<StateDict> children(schedulers_.size());
  for (const auto& item : sd) {
    const std::string& key = item.key();
    if (key.rfind("_schedulers.", 0) != 0) continue;
    const size_t dot = key.find('.', 12);
    size_t i = 0;
    try {
      i = std::stoul(key.substr(12, dot - 12));
    } catch (const std::exception&) {
      continue;  // reported as unexpected
    }
    if (dot == std::string::npos || i >= children.size()) continue;
    children[i].insert(key.substr(dot + 1), item.value());
    used.push_back(key);
  }
  detail::check_all_used("SequentialLR", sd, used);
  for (size_t i = 0; i < schedulers_.size(); ++i) schedulers_[i]->load_state_dict(children[i]);
  last_epoch_ = last_epoch->to(kLong).item<int64_t>();
  Tensor lr = last_lr->to(kDouble).contiguous();
  last_lr_.assign(lr.data_ptr<double>(), lr.data_ptr<double>() + lr.numel());
}

}  // namespace ark::optim
