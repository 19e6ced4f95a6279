// LR schedulers with PyTorch 1.13's semantics (torch/optim/lr_scheduler.py), not libtorch's older
// ones: the constructor performs the initial step (last_epoch -1 -> 0, lr set for epoch 0), get_lrs
// is the recursive "chainable" form applied to the groups' current lrs, and the closed form is used
// only when SequentialLR restarts a scheduler at a milestone (PyTorch's step(epoch)). The lr a
// scheduler starts from is kept in the group (OptimizerParamGroup::initial_lr, PyTorch's
// group['initial_lr']), so schedulers built one after another share it, as in PyTorch.
// This file: the base class and LambdaLR. Not here: resuming through a last_epoch constructor
// argument (use load_state_dict), verbose printing, ReduceLROnPlateau, CyclicLR.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "ark/optim/optimizer.h"

namespace ark::optim {

class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& optimizer);
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  /// Advances one epoch (or iteration) and writes the new lrs into the optimizer's groups.
  virtual void step();
  /// The lrs the last step set, one per param group.
  const std::vector<double>& get_last_lr() const noexcept { return last_lr_; }
  int64_t last_epoch() const noexcept { return last_epoch_; }
  const std::vector<double>& base_lrs() const noexcept { return base_lrs_; }
  Optimizer& optimizer() noexcept { return optimizer_; }

  /// last_epoch, _step_count, base_lrs and _last_lr (PyTorch's keys); subclasses add theirs.
  virtual StateDict state_dict() const;
  /// Restores state_dict(); every key must be present and none unknown, else ark::Error.
  virtual void load_state_dict(const StateDict& state_dict);

 protected:
  /// The chainable form (PyTorch's get_lr): new lrs from get_current_lrs() and last_epoch_.
  virtual std::vector<double> get_lrs() = 0;
  /// The closed form, used by step_to; nullopt where PyTorch has none (then get_lrs is used).
  virtual std::optional<std::vector<double>> get_closed_form_lrs() const { return std::nullopt; }
  /// PyTorch's _initial_step: resets the step count and steps once. Every concrete constructor ends with it.
  void initial_step();
  /// PyTorch's step(epoch): jumps to `epoch` (SequentialLR restarts schedulers at 0 this way).
  void step_to(int64_t epoch);
  std::vector<double> get_current_lrs() const;
  void set_optimizer_lrs(const std::vector<double>& lrs);
  /// Reads the keys of this class from `sd`, recording them as used (strict loading).
  void load_base(const StateDict& sd, std::vector<std::string>& used);

  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  int64_t last_epoch_ = -1;
  int64_t step_count_ = 0;
  std::vector<double> last_lr_;

  friend class SequentialLR;
};

/// lr = initial_lr * lr_lambda(epoch), one function for all groups or one per group.
class LambdaLR : public LRScheduler {
 public:
  using LrLambda = std::function<double(int64_t)>;
  LambdaLR(Optimizer& optimizer, LrLambda lr_lambda);
  LambdaLR(Optimizer& optimizer, std::vector<LrLambda> lr_lambdas);

 protected:
  std::vector<double> get_lrs() override;

 private:
  std::vector<LrLambda> lr_lambdas_;
};

namespace detail {
/// Python's a % b for b > 0 (the result has b's sign), which schedulers test on negative values.
inline int64_t py_mod(int64_t a, int64_t b) { return ((a % b) + b) % b; }
/// Checks a scheduler state_dict for unknown keys once every class has taken its own.
void check_all_used(const char* name, const StateDict& sd, const std::vector<std::string>& used);
}  // namespace detail

}  // namespace ark::optim
