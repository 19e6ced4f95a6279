// OneCycleLR (Smith & Topin, "Super-Convergence"), as PyTorch 1.13's: lr warms up from
// max_lr / div_factor to max_lr over pct_start of the steps, then anneals to
// initial_lr / final_div_factor (three_phase: back to initial_lr first). With cycle_momentum the
// momentum (SGD, RMSprop) or beta1 (Adam, AdamW) moves inversely between max_momentum and base_momentum.
// Stepped once per batch; stepping past total_steps throws, as PyTorch.
#pragma once
#include <string>

#include "ark/optim/schedulers/lr_scheduler.h"

namespace ark::optim {

struct OneCycleLROptions {
  /// One max_lr for all groups, or one per group.
  OneCycleLROptions(double max_lr) : max_lr_({max_lr}) {}  // NOLINT
  OneCycleLROptions(std::vector<double> max_lr) : max_lr_(std::move(max_lr)) {}  // NOLINT
  /// The cycle length: total_steps, or epochs * steps_per_epoch.
  ARK_OPTIM_ARG(std::optional<int64_t>, total_steps);
  ARK_OPTIM_ARG(std::optional<int64_t>, epochs);
  ARK_OPTIM_ARG(std::optional<int64_t>, steps_per_epoch);
  ARK_OPTIM_ARG(double, pct_start) = 0.3;
  /// "cos" or "linear".
  ARK_OPTIM_ARG(std::string, anneal_strategy) = "cos";
  ARK_OPTIM_ARG(bool, cycle_momentum) = true;
  ARK_OPTIM_ARG(double, div_factor) = 25.;
  ARK_OPTIM_ARG(double, final_div_factor) = 1e4;
  ARK_OPTIM_ARG(bool, three_phase) = false;

 public:
  const std::vector<double>& max_lr() const { return max_lr_; }
  /// One value for all groups, or one per group.
  OneCycleLROptions& base_momentum(std::vector<double> v) { base_momentum_ = std::move(v); return *this; }
  OneCycleLROptions& base_momentum(double v) { return base_momentum(std::vector<double>{v}); }
  const std::vector<double>& base_momentum() const { return base_momentum_; }
  OneCycleLROptions& max_momentum(std::vector<double> v) { max_momentum_ = std::move(v); return *this; }
  OneCycleLROptions& max_momentum(double v) { return max_momentum(std::vector<double>{v}); }
  const std::vector<double>& max_momentum() const { return max_momentum_; }

 private:
  std::vector<double> max_lr_;
  std::vector<double> base_momentum_ = {0.85};
  std::vector<double> max_momentum_ = {0.95};
};

class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& optimizer, const OneCycleLROptions& options);
  OneCycleLR(Optimizer& optimizer, double max_lr, int64_t total_steps)
      : OneCycleLR(optimizer, OneCycleLROptions(max_lr).total_steps(total_steps)) {}
  int64_t total_steps() const noexcept { return total_steps_; }

 protected:
  std::vector<double> get_lrs() override;

 private:
  enum Value { kInitialLr, kMaxLr, kMinLr, kMaxMomentum, kBaseMomentum };
  struct Phase {
    double end_step;
    Value start_lr, end_lr, start_momentum, end_momentum;
  };
  double value(size_t group, Value v) const;

  int64_t total_steps_;
  std::vector<Phase> phases_;
  bool linear_;
  bool cycle_momentum_;
  bool use_beta1_ = false;
  std::vector<double> max_lrs_, min_lrs_, max_momentums_, base_momentums_;
};

}  // namespace ark::optim
