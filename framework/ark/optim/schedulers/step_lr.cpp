// StepLR, MultiStepLR, ExponentialLR, ConstantLR, LinearLR. ref: torch/optim/lr_scheduler.py (1.13).
// Expressions keep Python's evaluation order (and no FMA contraction) so the lrs match bit for bit.
#include "ark/optim/schedulers/step_lr.h"

#include <algorithm>
#include <cmath>

#include "ark/optim/fp_exact.h"
#ifdef __clang__
#pragma clang fp contract(off)
#endif

namespace ark::optim {

namespace {
std::vector<double> scaled(const std::vector<double>& lrs, double factor) {
  std::vector<double> r = lrs;
  for (auto& lr : r) lr *= factor;
  return r;
}
}  // namespace

// ---- StepLR ----
StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  ARK_CHECK(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
  initial_step();
}

std::vector<double> StepLR::get_lrs() {
  if (last_epoch_ == 0 || detail::py_mod(last_epoch_, step_size_) != 0) return get_current_lrs();
  return scaled(get_current_lrs(), gamma_);
}

std::optional<std::vector<double>> StepLR::get_closed_form_lrs() const {
  const int64_t n = last_epoch_ >= 0 ? last_epoch_ / step_size_ : -((-last_epoch_ + step_size_ - 1) / step_size_);
  return scaled(base_lrs_, std::pow(gamma_, static_cast<double>(n)));
}

// ---- MultiStepLR ----
MultiStepLR::MultiStepLR(Optimizer& optimizer, const std::vector<int64_t>& milestones, double gamma)
    : LRScheduler(optimizer), sorted_milestones_(milestones), gamma_(gamma) {
  for (int64_t m : milestones) ++milestones_[m];
  std::sort(sorted_milestones_.begin(), sorted_milestones_.end());
  initial_step();
}

std::vector<double> MultiStepLR::get_lrs() {
  auto it = milestones_.find(last_epoch_);
  if (it == milestones_.end()) return get_current_lrs();
  return scaled(get_current_lrs(), std::pow(gamma_, static_cast<double>(it->second)));
}

std::optional<std::vector<double>> MultiStepLR::get_closed_form_lrs() const {
  const auto passed = std::upper_bound(sorted_milestones_.begin(), sorted_milestones_.end(), last_epoch_) -
                      sorted_milestones_.begin();  // bisect_right
  return scaled(base_lrs_, std::pow(gamma_, static_cast<double>(passed)));
}

// ---- ExponentialLR ----
ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma) : LRScheduler(optimizer), gamma_(gamma) {
  initial_step();
}

std::vector<double> ExponentialLR::get_lrs() {
  if (last_epoch_ == 0) return get_current_lrs();
  return scaled(get_current_lrs(), gamma_);
}

std::optional<std::vector<double>> ExponentialLR::get_closed_form_lrs() const {
  return scaled(base_lrs_, std::pow(gamma_, static_cast<double>(last_epoch_)));
}

// ---- ConstantLR ----
ConstantLR::ConstantLR(Optimizer& optimizer, double factor, int64_t total_iters)
    : LRScheduler(optimizer), factor_(factor), total_iters_(total_iters) {
  ARK_CHECK(factor >= 0 && factor <= 1, "ConstantLR: constant multiplicative factor expected to be between 0 and 1, "
            "got ", factor);
  initial_step();
}

std::vector<double> ConstantLR::get_lrs() {
  if (last_epoch_ == 0) return scaled(get_current_lrs(), factor_);
  if (last_epoch_ != total_iters_) return get_current_lrs();
  return scaled(get_current_lrs(), 1.0 / factor_);
}

std::optional<std::vector<double>> ConstantLR::get_closed_form_lrs() const {
  // factor + (last_epoch >= total_iters) * (1 - factor), where the bool multiplies exactly
  return scaled(base_lrs_, last_epoch_ >= total_iters_ ? factor_ + (1 - factor_) : factor_);
}

// ---- LinearLR ----
LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor, int64_t total_iters)
    : LRScheduler(optimizer), start_factor_(start_factor), end_factor_(end_factor), total_iters_(total_iters) {
  ARK_CHECK(start_factor >= 0 && start_factor <= 1, "LinearLR: starting multiplicative factor expected to be "
            "between 0 and 1, got ", start_factor);
  ARK_CHECK(end_factor >= 0 && end_factor <= 1, "LinearLR: ending multiplicative factor expected to be between 0 "
            "and 1, got ", end_factor);
  initial_step();
}

namespace {
ARK_NO_FP_CONTRACT double linear_factor(double start, double end, int64_t total_iters, int64_t last_epoch) {
  const double d = end - start;
  return 1. + d / (static_cast<double>(total_iters) * start + static_cast<double>(last_epoch - 1) * d);
}
ARK_NO_FP_CONTRACT double linear_closed_factor(double start, double end, int64_t total_iters, int64_t last_epoch) {
  return start + (end - start) * static_cast<double>(std::min(total_iters, last_epoch)) /
                     static_cast<double>(total_iters);
}
}  // namespace

std::vector<double> LinearLR::get_lrs() {
  if (last_epoch_ == 0) return scaled(get_current_lrs(), start_factor_);
  if (last_epoch_ > total_iters_) return get_current_lrs();
  return scaled(get_current_lrs(), linear_factor(start_factor_, end_factor_, total_iters_, last_epoch_));
}

std::optional<std::vector<double>> LinearLR::get_closed_form_lrs() const {
  return scaled(base_lrs_, linear_closed_factor(start_factor_, end_factor_, total_iters_, last_epoch_));
}

}  // namespace ark::optim
