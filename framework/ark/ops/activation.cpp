// Activation functions. Forward is one fused kernel; backward is a fused kernel too, except under
// create_graph, where the composite formula runs so higher-order gradients flow.
#include <cmath>

#include "ark/ops/util.h"

namespace ark {

using autograd::needs_grad;
using autograd::record;
using autograd::save;
using autograd::save_output;
using autograd::variable_list;
using detail::binary_kernel;
using detail::compute_dtype;

namespace {
// Records an activation whose backward is `fused(g, saved)` (saved = input or output).
template <class Composite>
Tensor activation(UnaryOp op, const Tensor& x, const OpParams& p, const char* name, BinaryOp fused, bool save_out,
                  Composite composite) {
  ARK_CHECK(x.is_floating_point() || op == UnaryOp::Relu, name, ": expected a floating point tensor, got ",
            dtype_name(x.dtype()));
  Tensor out = detail::unary_kernel(op, x, compute_dtype(x.dtype()), x.dtype(), p);
  if (needs_grad(x)) {
    auto s = save_out ? save_output(out) : save(x);
    record(name, {x}, out, [s, p, fused, composite](const variable_list& g) -> variable_list {
      Tensor v = s.get();
      if (GradMode::is_enabled()) return {composite(g[0], v)};
      return {binary_kernel(fused, g[0], v, compute_dtype(g[0].dtype()), g[0].dtype(), p)};
    });
  }
  return out;
}
}  // namespace

Tensor relu(const Tensor& x) {
  return activation(UnaryOp::Relu, x, {}, "ReluBackward0", BinaryOp::ReluBackward, true,
                    [](const Tensor& g, const Tensor& y) { return g * (y > 0); });
}

Tensor relu6(const Tensor& x) { return hardtanh(x, 0, 6); }


Tensor leaky_relu(const Tensor& x, const Scalar& negative_slope) {
  const double s = negative_slope.toDouble();
  return activation(UnaryOp::LeakyRelu, x, {s}, "LeakyReluBackward0", BinaryOp::LeakyReluBackward, false,
                    [s](const Tensor& g, const Tensor& a) { return where(a > 0, g, g * s); });
}

Tensor elu(const Tensor& x, const Scalar& alpha, const Scalar& scale, const Scalar& input_scale) {
  const double a = alpha.toDouble(), sc = scale.toDouble(), is = input_scale.toDouble();
  return activation(UnaryOp::Elu, x, {a, sc, is}, "EluBackward0", BinaryOp::EluBackward, false,
                    [a, sc, is](const Tensor& g, const Tensor& v) {
                      return where(v > 0, g * sc, g * (v * is).exp() * (sc * a * is));
                    });
}

Tensor gelu(const Tensor& x, const std::string& approximate) {
  ARK_CHECK(approximate == "none" || approximate == "tanh", "gelu: approximate must be 'none' or 'tanh', got '",
            approximate, "'");
  if (approximate == "tanh") {
    return activation(UnaryOp::GeluTanh, x, {}, "GeluBackward0", BinaryOp::GeluTanhBackward, false,
                      [](const Tensor& g, const Tensor& v) {
                        const double k = 0.79788456080286535588, c = 0.044715;
                        Tensor th = ((v + v.pow(3) * c) * k).tanh();
                        Tensor d = (v * v * (3 * c) + 1) * k;
                        return g * ((th + 1) * 0.5 + v * (1 - th * th) * d * 0.5);
                      });
  }
  return activation(UnaryOp::Gelu, x, {}, "GeluBackward0", BinaryOp::GeluBackward, false,
                    [](const Tensor& g, const Tensor& v) {
                      Tensor cdf = ((v * 0.70710678118654752440).erf() + 1) * 0.5;
                      Tensor pdf = (v * v * -0.5).exp() * 0.39894228040143267794;
                      return g * (cdf + v * pdf);
                    });
}

Tensor silu(const Tensor& x) {
  return activation(UnaryOp::Silu, x, {}, "SiluBackward0", BinaryOp::SiluBackward, false,
                    [](const Tensor& g, const Tensor& v) {
                      Tensor s = v.sigmoid();
                      return g * s * (v * (1 - s) + 1);
                    });
}

Tensor hardswish(const Tensor& x) {
  return activation(UnaryOp::Hardswish, x, {}, "HardswishBackward0", BinaryOp::HardswishBackward, false,
                    [](const Tensor& g, const Tensor& v) {
                      return where(v < -3, zeros({}, g.options()), where(v <= 3, g * (v / 3 + 0.5), g));
                    });
}

Tensor hardsigmoid(const Tensor& x) {
  return activation(UnaryOp::Hardsigmoid, x, {}, "HardsigmoidBackward0", BinaryOp::HardsigmoidBackward, false,
                    [](const Tensor& g, const Tensor& v) { return g * ((v > -3) & (v < 3)) / 6; });
}

Tensor softplus(const Tensor& x, const Scalar& beta, const Scalar& threshold) {
  const double b = beta.toDouble(), t = threshold.toDouble();
  return activation(UnaryOp::Softplus, x, {b, t}, "SoftplusBackward0", BinaryOp::SoftplusBackward, false,
                    [b, t](const Tensor& g, const Tensor& v) {
                      Tensor z = (v * b).exp();
                      return where(v * b > t, g, g * z / (z + 1));
                    });
}

}  // namespace ark
