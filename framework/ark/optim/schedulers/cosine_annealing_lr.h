// CosineAnnealingLR: SGDR's cosine schedule without restarts, in PyTorch 1.13's recursive form
// (each lr derived from the previous one, so outside changes to lr carry through) and past T_max
// the cosine keeps going up and down with period 2 * T_max, as PyTorch's does.
#pragma once
#include "ark/optim/schedulers/lr_scheduler.h"

namespace ark::optim {

class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0);

 protected:
  std::vector<double> get_lrs() override;
  std::optional<std::vector<double>> get_closed_form_lrs() const override;

 private:
  int64_t T_max_;
  double eta_min_;
};

}  // namespace ark::optim
