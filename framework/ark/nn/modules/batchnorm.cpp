// BatchNorm1d, BatchNorm2d. ref: torch/nn/modules/batchnorm.py _BatchNorm.forward (PyTorch 1.13).
#include "ark/nn/modules/batchnorm.h"

#include "ark/autograd/grad_mode.h"
#include "ark/nn/functional.h"
#include "ark/nn/init.h"
#include "ark/ops/ops.h"

namespace ark::nn {

BatchNormImplBase::BatchNormImplBase(const BatchNormOptions& options_) : options(options_) {
  const int64_t c = options.num_features();
  ARK_CHECK(c > 0, "BatchNorm: num_features must be positive, got ", c);
  // Registration order is PyTorch's, so state_dict() lists keys as torchvision checkpoints do.
  weight = register_parameter("weight", options.affine() ? ark::empty({c}) : Tensor(), options.affine());
  bias = register_parameter("bias", options.affine() ? ark::empty({c}) : Tensor(), options.affine());
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", ark::zeros({c}));
    running_var = register_buffer("running_var", ark::ones({c}, kFloat));
    num_batches_tracked = register_buffer("num_batches_tracked", ark::zeros({}, kLong));
  }
  reset_parameters();
}

void BatchNormImplBase::reset_running_stats() {
  if (!options.track_running_stats()) return;
  NoGradGuard no_grad;
  running_mean.zero_();
  running_var.fill_(1);
  num_batches_tracked.zero_();
}

void BatchNormImplBase::reset_parameters() {
  reset_running_stats();
  if (options.affine()) {
    init::ones_(weight);
    init::zeros_(bias);
  }
}

Tensor BatchNormImplBase::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) {
    check_input_dim(x);
    ARK_CHECK(x.size(1) == options.num_features(), name(), ": expected input with ", options.num_features(),
              " channels (num_features), got ", x.size(1), " channels (input shape ", x.sizes(), ")");
    double factor = options.momentum().value_or(0.0);
    if (is_training() && options.track_running_stats()) {
      NoGradGuard no_grad;
      num_batches_tracked.add_(1);
      // momentum=None: the running stats are the plain average of every batch seen so far.
      if (!options.momentum()) factor = 1.0 / static_cast<double>(num_batches_tracked.item<int64_t>());
    }
    // Batch statistics in training, or in eval when there are no running stats to use.
    const bool bn_training = is_training() || (!running_mean.defined() && !running_var.defined());
    const bool use_running = !is_training() || options.track_running_stats();
    return ark::batch_norm(x, weight, bias, use_running ? running_mean : Tensor(), use_running ? running_var : Tensor(),
                           bn_training, factor, options.eps());
  });
}

std::string BatchNormImplBase::extra_repr() const {
  return ark::detail::str_cat(options.num_features(), ", eps=", detail::repr_double(options.eps()), ", momentum=",
                              options.momentum() ? detail::repr_double(*options.momentum()) : "None",
                              ", affine=", detail::repr_bool(options.affine()),
                              ", track_running_stats=", detail::repr_bool(options.track_running_stats()));
}

void BatchNorm1dImpl::check_input_dim(const Tensor& input) const {
  ARK_CHECK(input.dim() == 2 || input.dim() == 3, "BatchNorm1d: expected 2D or 3D input (got ", input.dim(),
            "D input of shape ", input.sizes(), ")");
}

void BatchNorm2dImpl::check_input_dim(const Tensor& input) const {
  ARK_CHECK(input.dim() == 4, "BatchNorm2d: expected 4D input (got ", input.dim(), "D input of shape ", input.sizes(), ")");
}

}  // namespace ark::nn
