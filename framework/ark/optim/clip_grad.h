// Gradient clipping, as torch::nn::utils::clip_grad_norm_ / clip_grad_value_. They live in
// ark::nn::utils like libtorch's, but in optim/ because they act on .grad() as optimizers do.
// Numerics follow torch/nn/utils/clip_grad.py (1.13): per-grad norms in the grads' dtype, the norm of
// their stack, coefficient reciprocal(total + 1e-6) * max_norm clamped to 1, then grad *= coefficient.
#pragma once
#include <initializer_list>
#include <vector>

#include "ark/core/tensor.h"

namespace ark::nn::utils {

/// Scales the grads of `parameters` in place so that their joint norm (as if concatenated) is at
/// most max_norm; params without a grad are ignored. norm_type may be infinity. Returns the norm
/// before clipping. With error_if_nonfinite, a nan/inf norm throws ark::Error and nothing changes.
double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
double clip_grad_norm_(std::initializer_list<Tensor> parameters, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
double clip_grad_norm_(const Tensor& parameter, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

/// Clamps every grad of `parameters` to [-clip_value, clip_value] in place.
void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value);
void clip_grad_value_(std::initializer_list<Tensor> parameters, double clip_value);
void clip_grad_value_(const Tensor& parameter, double clip_value);

}  // namespace ark::nn::utils
