// LayerNorm, GroupNorm, RMSNorm.
#include "ark/nn/modules/normalization.h"

#include "ark/nn/functional.h"
#include "ark/nn/init.h"
#include "ark/ops/ops.h"

namespace ark::nn {

namespace {
// The trailing dims of `x` must equal `shape` (PyTorch's layer_norm check, with the layer's name).
void check_trailing(const char* name, const Tensor& x, const std::vector<int64_t>& shape) {
  const auto n = static_cast<int64_t>(shape.size());
  bool ok = x.dim() >= n;
  for (int64_t i = 0; ok && i < n; ++i) ok = x.size(x.dim() - n + i) == shape[static_cast<size_t>(i)];
  ARK_CHECK(ok, name, ": expected input with trailing dimensions ", IntArrayRef(shape), " (normalized_shape), got input "
            "of shape ", x.sizes());
}
}  // namespace

// ---- LayerNorm ----
LayerNormImpl::LayerNormImpl(const LayerNormOptions& options_) : options(options_) {
  const bool affine = options.elementwise_affine();
  weight = register_parameter("weight", affine ? ark::empty(options.normalized_shape()) : Tensor(), affine);
  bias = register_parameter("bias", affine ? ark::empty(options.normalized_shape()) : Tensor(), affine);
  reset_parameters();
}

void LayerNormImpl::reset_parameters() {
  if (!options.elementwise_affine()) return;
  init::ones_(weight);
  init::zeros_(bias);
}

Tensor LayerNormImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) {
    check_trailing("LayerNorm", x, options.normalized_shape());
    return F::layer_norm(x, F::LayerNormFuncOptions(options.normalized_shape()).weight(weight).bias(bias).eps(options.eps()));
  });
}

std::string LayerNormImpl::extra_repr() const {
  return ark::detail::str_cat(detail::repr_tuple(options.normalized_shape()), ", eps=", detail::repr_double(options.eps()),
                              ", elementwise_affine=", detail::repr_bool(options.elementwise_affine()));
}

// ---- GroupNorm ----
GroupNormImpl::GroupNormImpl(const GroupNormOptions& options_) : options(options_) {
  ARK_CHECK(options.num_groups() > 0 && options.num_channels() % options.num_groups() == 0,
            "GroupNorm: num_channels (", options.num_channels(), ") must be divisible by num_groups (",
            options.num_groups(), ")");
  const int64_t c = options.num_channels();
  weight = register_parameter("weight", options.affine() ? ark::empty({c}) : Tensor(), options.affine());
  bias = register_parameter("bias", options.affine() ? ark::empty({c}) : Tensor(), options.affine());
  reset_parameters();
}

void GroupNormImpl::reset_parameters() {
  if (!options.affine()) return;
  init::ones_(weight);
  init::zeros_(bias);
}

Tensor GroupNormImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) {
    ARK_CHECK(x.dim() >= 2, "GroupNorm: expected input of shape (N, C, *), got ", x.dim(), "-D input of shape ", x.sizes());
    ARK_CHECK(x.size(1) == options.num_channels(), "GroupNorm: expected input with ", options.num_channels(),
              " channels (num_channels), got ", x.size(1), " channels (input shape ", x.sizes(), ")");
    return F::group_norm(x, F::GroupNormFuncOptions(options.num_groups()).weight(weight).bias(bias).eps(options.eps()));
  });
}

std::string GroupNormImpl::extra_repr() const {
  return ark::detail::str_cat(options.num_groups(), ", ", options.num_channels(), ", eps=", detail::repr_double(options.eps()),
                              ", affine=", detail::repr_bool(options.affine()));
}

// ---- RMSNorm ----
RMSNormImpl::RMSNormImpl(const RMSNormOptions& options_) : options(options_) {
  const bool affine = options.elementwise_affine();
  weight = register_parameter("weight", affine ? ark::empty(options.normalized_shape()) : Tensor(), affine);
  reset_parameters();
}

void RMSNormImpl::reset_parameters() {
  if (options.elementwise_affine()) init::ones_(weight);
}

Tensor RMSNormImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) {
    check_trailing("RMSNorm", x, options.normalized_shape());
    return F::rms_norm(x, F::RMSNormFuncOptions(options.normalized_shape()).weight(weight).eps(options.eps()));
  });
}

std::string RMSNormImpl::extra_repr() const {
  return ark::detail::str_cat(detail::repr_tuple(options.normalized_shape()), ", eps=",
                              options.eps() ? detail::repr_double(*options.eps()) : "None",
                              ", elementwise_affine=", detail::repr_bool(options.elementwise_affine()));
}

}  // namespace ark::nn
