// Activation layers.
#include "ark/nn/modules/activation.h"

#include "ark/nn/functional.h"
#include "ark/ops/ops.h"

namespace ark::nn {

namespace {
Tensor inplace_or(Tensor& input, const Tensor& out, bool inplace) {
  if (!inplace) return out;
  input.copy_(out);
  return input;
}
const char* inplace_repr(bool inplace) { return inplace ? "inplace=True" : ""; }
}  // namespace

Tensor ReLUImpl::forward(Tensor input) {
  return with_hooks(input, [&](const Tensor& x) { return F::relu(x, F::ReLUFuncOptions(options.inplace())); });
}
std::string ReLUImpl::extra_repr() const { return inplace_repr(options.inplace()); }

Tensor ReLU6Impl::forward(Tensor input) {
  return with_hooks(input, [&](const Tensor& x) { return F::relu6(x, F::ReLU6FuncOptions(options.inplace())); });
}
std::string ReLU6Impl::extra_repr() const { return inplace_repr(options.inplace()); }

Tensor LeakyReLUImpl::forward(Tensor input) {
  return with_hooks(input, [&](const Tensor& x) { return F::leaky_relu(x, options); });
}
std::string LeakyReLUImpl::extra_repr() const {
  return "negative_slope=" + detail::repr_double(options.negative_slope()) + (options.inplace() ? ", inplace=True" : "");
}

Tensor ELUImpl::forward(Tensor input) {
  return with_hooks(input, [&](const Tensor& x) { return F::elu(x, options); });
}
std::string ELUImpl::extra_repr() const {
  return "alpha=" + detail::repr_double(options.alpha()) + (options.inplace() ? ", inplace=True" : "");
}

GELUImpl::GELUImpl(const GELUOptions& options_) : options(options_) {
  ARK_CHECK(options.approximate() == "none" || options.approximate() == "tanh",
            "GELU: approximate must be 'none' or 'tanh', got '", options.approximate(), "'");
}
Tensor GELUImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) { return F::gelu(x, options); });
}
std::string GELUImpl::extra_repr() const { return "approximate='" + options.approximate() + "'"; }

Tensor SiLUImpl::forward(Tensor input) {
  return with_hooks(input, [&](const Tensor& x) {
    Tensor in = x;
    return inplace_or(in, F::silu(x), options.inplace());
  });
}
std::string SiLUImpl::extra_repr() const { return inplace_repr(options.inplace()); }

Tensor HardswishImpl::forward(Tensor input) {
  return with_hooks(input, [&](const Tensor& x) {
    Tensor in = x;
    return inplace_or(in, F::hardswish(x), options.inplace());
  });
}

Tensor HardsigmoidImpl::forward(Tensor input) {
  return with_hooks(input, [&](const Tensor& x) {
    Tensor in = x;
    return inplace_or(in, F::hardsigmoid(x), options.inplace());
  });
}

Tensor SigmoidImpl::forward(const Tensor& input) {
  return with_hooks(input, [](const Tensor& x) { return ark::sigmoid(x); });
}

Tensor TanhImpl::forward(const Tensor& input) {
  return with_hooks(input, [](const Tensor& x) { return ark::tanh(x); });
}

Tensor SoftplusImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) { return F::softplus(x, options); });
}
std::string SoftplusImpl::extra_repr() const {
  // PyTorch's defaults are the ints 1 and 20, printed without ".0".
  auto num = [](double v) { return v == static_cast<double>(static_cast<int64_t>(v)) ? std::to_string(static_cast<int64_t>(v)) : detail::repr_double(v); };
  return "beta=" + num(options.beta()) + ", threshold=" + num(options.threshold());
}

Tensor SoftmaxImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) { return F::softmax(x, F::SoftmaxFuncOptions(options.dim())); });
}
std::string SoftmaxImpl::extra_repr() const { return "dim=" + std::to_string(options.dim()); }

Tensor LogSoftmaxImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) { return F::log_softmax(x, F::LogSoftmaxFuncOptions(options.dim())); });
}
std::string LogSoftmaxImpl::extra_repr() const { return "dim=" + std::to_string(options.dim()); }

}  // namespace ark::nn
