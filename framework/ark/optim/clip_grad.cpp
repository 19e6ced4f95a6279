// Gradient clipping. ref: torch/nn/utils/clip_grad.py (1.13).
#include "ark/optim/clip_grad.h"

#include <cmath>

#include "ark/autograd/grad_mode.h"
#include "ark/ops/ops.h"

namespace ark::nn::utils {

double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const auto& p : parameters)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;

  std::vector<Tensor> norms;
  norms.reserve(grads.size());
  Tensor total;
  if (std::isinf(norm_type) && norm_type > 0) {
    for (const auto& g : grads) norms.push_back(g.abs().max());
    total = norms.size() == 1 ? norms[0] : ark::max(ark::stack(norms));
  } else {
    for (const auto& g : grads) norms.push_back(ark::norm(g, norm_type));
    total = ark::norm(ark::stack(norms), norm_type);
  }
  const double total_norm = total.item<double>();
  ARK_CHECK(!error_if_nonfinite || std::isfinite(total_norm), "The total norm of order ", norm_type,
            " for gradients from `parameters` is non-finite, so it cannot be clipped. To disable this error and "
            "scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=false`");
  // PyTorch evaluates `max_norm / t` as t.reciprocal() * max_norm; kept so the coefficient rounds the same.
  Tensor coef = (total + 1e-6).reciprocal() * max_norm;
  coef = coef.clamp_max(1.0);
  for (auto& g : grads) {
    Tensor grad = g;
    grad.mul_(coef);
  }
  return total_norm;
}

double clip_grad_norm_(std::initializer_list<Tensor> parameters, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  return clip_grad_norm_(std::vector<Tensor>(parameters), max_norm, norm_type, error_if_nonfinite);
}

double clip_grad_norm_(const Tensor& parameter, double max_norm, double norm_type, bool error_if_nonfinite) {
  return clip_grad_norm_(std::vector<Tensor>{parameter}, max_norm, norm_type, error_if_nonfinite);
}

void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value) {
  NoGradGuard no_grad;
  for (const auto& p : parameters) {
    if (!p.grad().defined()) continue;
    Tensor grad = p.grad();
    grad.clamp_(-clip_value, clip_value);
  }
}

void clip_grad_value_(std::initializer_list<Tensor> parameters, double clip_value) {
  clip_grad_value_(std::vector<Tensor>(parameters), clip_value);
}

void clip_grad_value_(const Tensor& parameter, double clip_value) {
  clip_grad_value_(std::vector<Tensor>{parameter}, clip_value);
}

}  // namespace ark::nn::utils
