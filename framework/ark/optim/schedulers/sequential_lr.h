// SequentialLR: runs schedulers one after another, switching at milestones, as PyTorch 1.13's
// (e.g. LinearLR warmup then CosineAnnealingLR). Construction resets lr to initial_lr, undoes the
// children's initial steps and re-runs the first one's; at a milestone the next child restarts at
// epoch 0 through its closed form, exactly as PyTorch's step(0).
#pragma once
#include <memory>

#include "ark/optim/schedulers/lr_scheduler.h"

namespace ark::optim {

class SequentialLR : public LRScheduler {
 public:
  /// Every scheduler must drive `optimizer`; milestones.size() == schedulers.size() - 1.
  SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
               std::vector<int64_t> milestones);

  void step() override;
  const std::vector<std::shared_ptr<LRScheduler>>& schedulers() const noexcept { return schedulers_; }

  /// last_epoch, _last_lr and each child's state under "_schedulers.<i>.".
  StateDict state_dict() const override;
  void load_state_dict(const StateDict& state_dict) override;

 protected:
  std::vector<double> get_lrs() override { return get_current_lrs(); }  // never used: step() delegates

 private:
  std::vector<std::shared_ptr<LRScheduler>> schedulers_;
  std::vector<int64_t> milestones_;
};

}  // namespace ark::optim
