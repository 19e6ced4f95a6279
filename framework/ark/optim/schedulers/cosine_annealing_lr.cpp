// CosineAnnealingLR. ref: torch/optim/lr_scheduler.py (1.13). Python's evaluation order is kept
// (and FMA contraction is off) so the lrs match PyTorch's bit for bit.
#include "ark/optim/schedulers/cosine_annealing_lr.h"

#include <cmath>
#include <numbers>

#include "ark/optim/fp_exact.h"
#ifdef __clang__
#pragma clang fp contract(off)
#endif

namespace ark::optim {

namespace {
constexpr double kPi = std::numbers::pi;  // == Python's math.pi

// eta_min + (base_lr - eta_min) * (1 + cos(epoch * pi / T_max)) / 2
ARK_NO_FP_CONTRACT double closed_form(double base_lr, double eta_min, int64_t epoch, int64_t T_max) {
  return eta_min + (base_lr - eta_min) * (1 + std::cos(static_cast<double>(epoch) * kPi / static_cast<double>(T_max))) / 2;
}

// The step that crosses a minimum: lr + (base_lr - eta_min) * (1 - cos(pi / T_max)) / 2
ARK_NO_FP_CONTRACT double restart_step(double lr, double base_lr, double eta_min, int64_t T_max) {
  return lr + (base_lr - eta_min) * (1 - std::cos(kPi / static_cast<double>(T_max))) / 2;
}

// (1 + cos(pi * e / T)) / (1 + cos(pi * (e - 1) / T)) * (lr - eta_min) + eta_min
ARK_NO_FP_CONTRACT double recursive_step(double lr, double eta_min, int64_t epoch, int64_t T_max) {
  const double T = static_cast<double>(T_max);
  return (1 + std::cos(kPi * static_cast<double>(epoch) / T)) / (1 + std::cos(kPi * static_cast<double>(epoch - 1) / T)) *
             (lr - eta_min) +
         eta_min;
}
}  // namespace

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min)
    : LRScheduler(optimizer), T_max_(T_max), eta_min_(eta_min) {
  ARK_CHECK(T_max > 0, "CosineAnnealingLR: T_max must be positive, got ", T_max);
  initial_step();
}

std::vector<double> CosineAnnealingLR::get_lrs() {
  std::vector<double> lrs = get_current_lrs();
  if (last_epoch_ == 0) return lrs;
  if (step_count_ == 1 && last_epoch_ > 0) {
    for (size_t i = 0; i < lrs.size(); ++i) lrs[i] = closed_form(base_lrs_[i], eta_min_, last_epoch_, T_max_);
  } else if (detail::py_mod(last_epoch_ - 1 - T_max_, 2 * T_max_) == 0) {
    for (size_t i = 0; i < lrs.size(); ++i) lrs[i] = restart_step(lrs[i], base_lrs_[i], eta_min_, T_max_);
  } else {
    for (auto& lr : lrs) lr = recursive_step(lr, eta_min_, last_epoch_, T_max_);
  }
  return lrs;
}

std::optional<std::vector<double>> CosineAnnealingLR::get_closed_form_lrs() const {
  std::vector<double> lrs;
  for (double base_lr : base_lrs_) lrs.push_back(closed_form(base_lr, eta_min_, last_epoch_, T_max_));
  return lrs;
}

}  // namespace ark::optim
