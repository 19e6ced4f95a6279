// MaxPool2d, AvgPool2d, AdaptiveAvgPool2d.
#include "ark/nn/modules/pooling.h"

#include "ark/nn/functional.h"

namespace ark::nn {

namespace {
void check_pool_input(const char* name, const Tensor& x) {
  ARK_CHECK(x.dim() == 3 || x.dim() == 4, name, ": expected 3-D (C, H, W) or 4-D (N, C, H, W) input, got ", x.dim(),
            "-D input of shape ", x.sizes());
}
}  // namespace

Tensor MaxPool2dImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) {
    check_pool_input("MaxPool2d", x);
    return F::max_pool2d(x, options);
  });
}

std::string MaxPool2dImpl::extra_repr() const {
  return ark::detail::str_cat("kernel_size=", detail::repr_int_or_tuple(options.kernel_size()),
                              ", stride=", detail::repr_int_or_tuple(options.stride()),
                              ", padding=", detail::repr_int_or_tuple(options.padding()),
                              ", dilation=", detail::repr_int_or_tuple(options.dilation()),
                              ", ceil_mode=", detail::repr_bool(options.ceil_mode()));
}

Tensor AvgPool2dImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) {
    check_pool_input("AvgPool2d", x);
    return F::avg_pool2d(x, options);
  });
}

std::string AvgPool2dImpl::extra_repr() const {
  return ark::detail::str_cat("kernel_size=", detail::repr_int_or_tuple(options.kernel_size()),
                              ", stride=", detail::repr_int_or_tuple(options.stride()),
                              ", padding=", detail::repr_int_or_tuple(options.padding()));
}

Tensor AdaptiveAvgPool2dImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) {
    check_pool_input("AdaptiveAvgPool2d", x);
    return F::adaptive_avg_pool2d(x, options);
  });
}

std::string AdaptiveAvgPool2dImpl::extra_repr() const {
  const auto& o = *options.output_size();
  auto one = [](const std::optional<int64_t>& v) { return v ? std::to_string(*v) : std::string("None"); };
  if (o[0] == o[1]) return "output_size=" + one(o[0]);
  return "output_size=(" + one(o[0]) + ", " + one(o[1]) + ")";
}

}  // namespace ark::nn
