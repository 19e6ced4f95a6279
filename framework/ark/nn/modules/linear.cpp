// Linear, Identity, Flatten, Unflatten.
#include "ark/nn/modules/linear.h"

#include <cmath>

#include "ark/nn/functional.h"
#include "ark/nn/init.h"
#include "ark/ops/ops.h"

namespace ark::nn {

LinearImpl::LinearImpl(const LinearOptions& options_) : options(options_) {
  ARK_CHECK(options.in_features() >= 0 && options.out_features() >= 0, "Linear: in_features and out_features must be "
            "non-negative, got ", options.in_features(), " and ", options.out_features());
  weight = register_parameter("weight", ark::empty({options.out_features(), options.in_features()}));
  bias = register_parameter("bias", options.bias() ? ark::empty({options.out_features()}) : Tensor(), options.bias());
  reset_parameters();
}

void LinearImpl::reset_parameters() {
  // ref: torch/nn/modules/linear.py reset_parameters (PyTorch 1.13).
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    auto [fan_in, fan_out] = init::_calculate_fan_in_and_fan_out(weight);
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

Tensor LinearImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) {
    ARK_CHECK(x.dim() >= 1 && x.size(-1) == options.in_features(), "Linear: expected input with last dimension ",
              options.in_features(), " (in_features), got input of shape ", x.sizes());
    return F::linear(x, weight, bias);
  });
}

std::string LinearImpl::extra_repr() const {
  return ark::detail::str_cat("in_features=", options.in_features(), ", out_features=", options.out_features(),
                              ", bias=", detail::repr_bool(bias.defined()));
}

Tensor IdentityImpl::forward(const Tensor& input) {
  return with_hooks(input, [](const Tensor& x) { return x; });
}

FlattenImpl::FlattenImpl(const FlattenOptions& options_) : options(options_) {}

Tensor FlattenImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) { return x.flatten(options.start_dim(), options.end_dim()); });
}

std::string FlattenImpl::extra_repr() const {
  return ark::detail::str_cat("start_dim=", options.start_dim(), ", end_dim=", options.end_dim());
}

UnflattenImpl::UnflattenImpl(const UnflattenOptions& options_) : options(options_) {}

Tensor UnflattenImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) { return x.unflatten(options.dim(), options.sizes()); });
}

std::string UnflattenImpl::extra_repr() const {
  return ark::detail::str_cat("dim=", options.dim(), ", unflattened_size=", detail::repr_tuple(options.sizes()));
}

}  // namespace ark::nn
