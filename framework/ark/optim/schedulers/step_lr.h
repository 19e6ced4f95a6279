// Multiplicative-factor schedules with PyTorch 1.13's chainable and closed forms: StepLR,
// MultiStepLR, ExponentialLR, ConstantLR, LinearLR.
#pragma once
#include <map>

#include "ark/optim/schedulers/lr_scheduler.h"

namespace ark::optim {

/// lr *= gamma every step_size epochs.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 protected:
  std::vector<double> get_lrs() override;
  std::optional<std::vector<double>> get_closed_form_lrs() const override;

 private:
  int64_t step_size_;
  double gamma_;
};

/// lr *= gamma at each milestone (a milestone listed twice multiplies by gamma^2, as PyTorch's Counter).
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, const std::vector<int64_t>& milestones, double gamma = 0.1);

 protected:
  std::vector<double> get_lrs() override;
  std::optional<std::vector<double>> get_closed_form_lrs() const override;

 private:
  std::map<int64_t, int64_t> milestones_;  // epoch -> count
  std::vector<int64_t> sorted_milestones_;
  double gamma_;
};

/// lr *= gamma every epoch.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);

 protected:
  std::vector<double> get_lrs() override;
  std::optional<std::vector<double>> get_closed_form_lrs() const override;

 private:
  double gamma_;
};

/// lr = initial_lr * factor until total_iters, then initial_lr.
class ConstantLR : public LRScheduler {
 public:
  ConstantLR(Optimizer& optimizer, double factor = 1.0 / 3, int64_t total_iters = 5);

 protected:
  std::vector<double> get_lrs() override;
  std::optional<std::vector<double>> get_closed_form_lrs() const override;

 private:
  double factor_;
  int64_t total_iters_;
};

/// The factor goes linearly from start_factor to end_factor over total_iters epochs (warmup).
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0, int64_t total_iters = 5);

 protected:
  std::vector<double> get_lrs() override;
  std::optional<std::vector<double>> get_closed_form_lrs() const override;

 private:
  double start_factor_;
  double end_factor_;
  int64_t total_iters_;
};

}  // namespace ark::optim
