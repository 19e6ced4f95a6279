// OneCycleLR. ref: torch/optim/lr_scheduler.py (1.13), OneCycleLR. The group values PyTorch keeps
// in the param group dict (max_lr, min_lr, max/base_momentum) are kept here; initial_lr is the
// group's, as there. Python's evaluation order is kept and FMA contraction is off.
#include "ark/optim/schedulers/one_cycle_lr.h"

#include <cmath>
#include <numbers>

#include "ark/optim/fp_exact.h"
#ifdef __clang__
#pragma clang fp contract(off)
#endif

namespace ark::optim {

namespace {
std::vector<double> per_group(const char* name, const std::vector<double>& v, size_t n) {
  if (v.size() == 1) return std::vector<double>(n, v[0]);
  ARK_CHECK(v.size() == n, "OneCycleLR: expected ", n, " values for ", name, ", got ", v.size());
  return v;
}

ARK_NO_FP_CONTRACT double anneal_cos(double start, double end, double pct) {
  const double cos_out = std::cos(std::numbers::pi * pct) + 1;
  return end + (start - end) / 2.0 * cos_out;
}

ARK_NO_FP_CONTRACT double anneal_linear(double start, double end, double pct) { return (end - start) * pct + start; }

// a * b - c with the product rounded first, as Python's `float(pct_start * total_steps) - 1`.
ARK_NO_FP_CONTRACT double mul_sub(double a, double b, double c) { return a * b - c; }
}  // namespace

OneCycleLR::OneCycleLR(Optimizer& optimizer, const OneCycleLROptions& o)
    : LRScheduler(optimizer), linear_(o.anneal_strategy() == "linear"), cycle_momentum_(o.cycle_momentum()) {
  if (o.total_steps()) {
    ARK_CHECK(*o.total_steps() > 0, "OneCycleLR: expected positive integer total_steps, but got ", *o.total_steps());
    total_steps_ = *o.total_steps();
  } else {
    ARK_CHECK(o.epochs() && o.steps_per_epoch(), "OneCycleLR: you must define either total_steps OR (epochs AND "
              "steps_per_epoch)");
    ARK_CHECK(*o.epochs() > 0, "OneCycleLR: expected positive integer epochs, but got ", *o.epochs());
    ARK_CHECK(*o.steps_per_epoch() > 0, "OneCycleLR: expected positive integer steps_per_epoch, but got ",
              *o.steps_per_epoch());
    total_steps_ = *o.epochs() * *o.steps_per_epoch();
  }
  const double pct = o.pct_start(), total = static_cast<double>(total_steps_);
  ARK_CHECK(pct >= 0 && pct <= 1, "OneCycleLR: expected float between 0 and 1 pct_start, but got ", pct);
  ARK_CHECK(o.anneal_strategy() == "cos" || o.anneal_strategy() == "linear",
            "OneCycleLR: anneal_strategy must by one of 'cos' or 'linear', instead got ", o.anneal_strategy());
  if (o.three_phase()) {
    phases_ = {{mul_sub(pct, total, 1), kInitialLr, kMaxLr, kMaxMomentum, kBaseMomentum},
               {mul_sub(2 * pct, total, 2), kMaxLr, kInitialLr, kBaseMomentum, kMaxMomentum},
               {total - 1, kInitialLr, kMinLr, kMaxMomentum, kMaxMomentum}};
  } else {
    phases_ = {{mul_sub(pct, total, 1), kInitialLr, kMaxLr, kMaxMomentum, kBaseMomentum},
               {total - 1, kMaxLr, kMinLr, kBaseMomentum, kMaxMomentum}};
  }

  auto& groups = optimizer.param_groups();
  const size_t n = groups.size();
  max_lrs_ = per_group("max_lr", o.max_lr(), n);
  base_lrs_.clear();
  for (size_t i = 0; i < n; ++i) {
    const double initial_lr = max_lrs_[i] / o.div_factor();
    groups[i].initial_lr() = initial_lr;  // overwritten, not defaulted: the cycle defines its start
    base_lrs_.push_back(initial_lr);
    min_lrs_.push_back(initial_lr / o.final_div_factor());
  }
  if (cycle_momentum_) {
    const auto& defaults = optimizer.defaults();
    ARK_CHECK(defaults.has_hyperparameter("momentum") || defaults.has_hyperparameter("betas"),
              "OneCycleLR: optimizer must support momentum with `cycle_momentum` option enabled");
    use_beta1_ = defaults.has_hyperparameter("betas");
    max_momentums_ = per_group("max_momentum", o.max_momentum(), n);
    base_momentums_ = per_group("base_momentum", o.base_momentum(), n);
    for (size_t i = 0; i < n; ++i) {
      auto& opts = groups[i].options();
      if (use_beta1_) {
        auto betas = opts.hyperparameter("betas");
        betas[0] = max_momentums_[i];
        opts.set_hyperparameter("betas", betas);
      } else {
        opts.set_hyperparameter("momentum", {max_momentums_[i]});
      }
    }
  }
  initial_step();
}

double OneCycleLR::value(size_t group, Value v) const {
  switch (v) {
    case kInitialLr: return *optimizer_.param_groups()[group].initial_lr();
    case kMaxLr: return max_lrs_[group];
    case kMinLr: return min_lrs_[group];
    case kMaxMomentum: return max_momentums_[group];
    case kBaseMomentum: return base_momentums_[group];
  }
  ARK_ERROR("OneCycleLR: internal error: unknown phase value");
}

std::vector<double> OneCycleLR::get_lrs() {
  const int64_t step_num = last_epoch_;
  ARK_CHECK(step_num <= total_steps_, "OneCycleLR: tried to step ", step_num + 1,
            " times. The specified number of total steps is ", total_steps_);
  auto anneal = linear_ ? anneal_linear : anneal_cos;
  auto& groups = optimizer_.param_groups();
  std::vector<double> lrs;
  for (size_t g = 0; g < groups.size(); ++g) {
    double start_step = 0, lr = 0, momentum = 0;
    for (size_t i = 0; i < phases_.size(); ++i) {
      const Phase& phase = phases_[i];
      if (static_cast<double>(step_num) <= phase.end_step || i == phases_.size() - 1) {
        const double pct = (static_cast<double>(step_num) - start_step) / (phase.end_step - start_step);
        lr = anneal(value(g, phase.start_lr), value(g, phase.end_lr), pct);
        if (cycle_momentum_) momentum = anneal(value(g, phase.start_momentum), value(g, phase.end_momentum), pct);
        break;
      }
      start_step = phase.end_step;
    }
    lrs.push_back(lr);
    if (cycle_momentum_) {
      auto& opts = groups[g].options();
      if (use_beta1_) {
        auto betas = opts.hyperparameter("betas");
        betas[0] = momentum;
        opts.set_hyperparameter("betas", betas);
      } else {
        opts.set_hyperparameter("momentum", {momentum});
      }
    }
  }
  return lrs;
}

}  // namespace ark::optim
