// Normalisation and softmax ops: batch_norm, layer_norm, group_norm, rms_norm, softmax,
// log_softmax. Forward uses fused kernels; backward has a fused path and, under create_graph,
// a differentiable composite that recomputes the statistics from the input.
#include <cfloat>
#include <cmath>

#include "ark/ops/util.h"

namespace ark {

using autograd::needs_grad;
using autograd::record;
using autograd::save;
using autograd::save_output;
using autograd::SavedTensor;
using autograd::variable_list;

// ---- softmax ----
namespace {
Tensor softmax_impl(const Tensor& self, int64_t dim, std::optional<ScalarType> dtype, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  Tensor x = dtype ? self.to(*dtype) : self;
  ARK_CHECK(x.is_floating_point(), op, ": expected a floating point tensor, got ", dtype_name(x.dtype()));
  const int64_t d = detail::wrap_dim(dim, x.dim(), op);
  const bool last = x.dim() == 0 || d == x.dim() - 1;
  Tensor xt = last ? x : x.transpose(d, -1);
  Tensor in = detail::cast(xt, detail::compute_dtype(x.dtype())).contiguous();
  Tensor out = empty(in.sizes(), in.options());
  if (in.numel() > 0) backend_for(x).softmax(in.dim() == 0 ? in.reshape({1}) : in, out.dim() == 0 ? out.reshape({1}) : out, log);
  out = detail::cast(out, x.dtype());
  if (!last) out = out.transpose(d, -1);
  if (needs_grad(x)) {
    auto so = save_output(out);
    record(log ? "LogSoftmaxBackward0" : "SoftmaxBackward0", {x}, out, [so, d, log](const variable_list& g) -> variable_list {
      Tensor y = so.get();
      if (GradMode::is_enabled() || y.dim() == 0) {
        if (log) return {g[0] - y.exp() * g[0].sum({d}, true)};
        return {y * (g[0] - (g[0] * y).sum({d}, true))};
      }
      const bool lst = d == y.dim() - 1;
      Tensor gt = (lst ? g[0] : g[0].transpose(d, -1)).contiguous();
      Tensor yt = (lst ? y : y.transpose(d, -1)).contiguous();
      Tensor gx = empty(gt.sizes(), gt.options());
      backend_for(gt).softmax_backward(gt, yt, gx, log);
      return {lst ? gx : gx.transpose(d, -1)};
    });
  }
  return out;
}
}  // namespace

Tensor softmax(const Tensor& self, int64_t dim, std::optional<ScalarType> dtype) { return softmax_impl(self, dim, dtype, false); }
Tensor log_softmax(const Tensor& self, int64_t dim, std::optional<ScalarType> dtype) {
  return softmax_impl(self, dim, dtype, true);
}

// ---- layer norm family ----
namespace {

// Gradient of y = xhat * w (+ b) with respect to x, where xhat normalises over `dims` (kept):
// dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)).
Tensor normalize_backward(const Tensor& dxhat, const Tensor& xhat, const Tensor& rstd, IntArrayRef dims) {
  return rstd * (dxhat - dxhat.mean(dims, true) - xhat * (dxhat * xhat).mean(dims, true));
}

}  // namespace

Tensor layer_norm(const Tensor& input, IntArrayRef normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps, bool) {
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  ARK_CHECK(k >= 1 && input.dim() >= k, "layer_norm: normalized_shape ", normalized_shape,
            " has more dims than the input ", input.sizes());
  for (int64_t i = 0; i < k; ++i)
    ARK_CHECK(input.size(input.dim() - k + i) == normalized_shape[static_cast<size_t>(i)],
              "layer_norm: given normalized_shape=", normalized_shape, ", expected input with shape [*, ",
              normalized_shape, "], but got input of size ", input.sizes());
  if (weight.defined())
    ARK_CHECK(weight.sizes() == normalized_shape, "layer_norm: expected weight of shape ", normalized_shape, ", got ",
              weight.sizes());
  if (bias.defined())
    ARK_CHECK(bias.sizes() == normalized_shape, "layer_norm: expected bias of shape ", normalized_shape, ", got ",
              bias.sizes());
  ARK_CHECK(input.is_floating_point(), "layer_norm: expected a floating point input, got ", dtype_name(input.dtype()));
  DimVector dims;
  for (int64_t i = input.dim() - k; i < input.dim(); ++i) dims.push_back(i);
  DimVector stat_shape = input.sizes().vec();
  for (int64_t d : dims) stat_shape[static_cast<size_t>(d)] = 1;

  const ScalarType ct = detail::compute_dtype(input.dtype());
  Tensor x = detail::cast(input, ct).contiguous();
  Tensor mean = empty(stat_shape, x.options()), rstd = empty(stat_shape, x.options());
  if (x.numel() > 0) backend_for(x).row_moments(x, eps, mean, rstd);
  Tensor out;
  {
    NoGradGuard ng;
    out = (x - mean).mul_(rstd);
    if (weight.defined()) out.mul_(detail::cast(weight, ct));
    if (bias.defined()) out.add_(detail::cast(bias, ct));
    out = detail::cast(out, input.dtype());
  }
  if (needs_grad(input, weight, bias)) {
    auto sx = save(input);
    auto sw = weight.defined() ? save(weight) : SavedTensor();
    const bool has_bias = bias.defined();
    record("NativeLayerNormBackward0", {input, weight, bias}, out,
           [sx, sw, mean, rstd, dims, eps, has_bias](const variable_list& g) -> variable_list {
             Tensor x = sx.get();
             Tensor m = mean, r = rstd;
             if (GradMode::is_enabled()) {  // differentiable statistics for higher-order gradients
               m = x.mean(dims, true);
               r = ((x - m).pow(2).mean(dims, true) + eps).rsqrt();
             }
             Tensor xhat = (x - m) * r;
             Tensor w = sw.defined() ? sw.get() : Tensor();
             Tensor dxhat = w.defined() ? g[0] * w : g[0];
             Tensor gx = normalize_backward(dxhat, xhat, r, dims);
             DimVector batch_dims;
             for (int64_t d = 0; d < x.dim() - static_cast<int64_t>(dims.size()); ++d) batch_dims.push_back(d);
             Tensor gw = w.defined() ? (batch_dims.empty() ? g[0] * xhat : (g[0] * xhat).sum(batch_dims)) : Tensor();
             Tensor gb = has_bias ? (batch_dims.empty() ? g[0] : g[0].sum(batch_dims)) : Tensor();
             return {gx, gw, gb};
           });
  }
  return out;
}

Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight, const Tensor& bias, double eps, bool) {
  ARK_CHECK(input.dim() >= 2, "group_norm: expected input with at least 2 dims (N, C, *), got ", input.sizes());
  const int64_t N = input.size(0), C = input.size(1);
  ARK_CHECK(num_groups > 0 && C % num_groups == 0, "group_norm: expected number of channels in input (", C,
            ") to be divisible by num_groups (", num_groups, ")");
  if (weight.defined())
    ARK_CHECK(weight.dim() == 1 && weight.size(0) == C, "group_norm: expected weight of shape [", C, "], got ",
              weight.sizes());
  if (bias.defined())
    ARK_CHECK(bias.dim() == 1 && bias.size(0) == C, "group_norm: expected bias of shape [", C, "], got ", bias.sizes());
  const int64_t per_group = input.numel() / std::max<int64_t>(N * num_groups, 1);
  Tensor grouped = input.reshape({N, num_groups, per_group});
  Tensor normed = layer_norm(grouped, {per_group}, {}, {}, eps).view(input.sizes());
  DimVector bshape(static_cast<size_t>(input.dim()), 1);
  bshape[1] = C;
  if (weight.defined()) normed = normed * weight.view(bshape);
  if (bias.defined()) normed = normed + bias.view(bshape);
  return normed;
}

Tensor rms_norm(const Tensor& input, IntArrayRef normalized_shape, const Tensor& weight, std::optional<double> eps) {
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  ARK_CHECK(k >= 1 && input.dim() >= k, "rms_norm: normalized_shape ", normalized_shape,
            " has more dims than the input ", input.sizes());
  for (int64_t i = 0; i < k; ++i)
    ARK_CHECK(input.size(input.dim() - k + i) == normalized_shape[static_cast<size_t>(i)],
              "rms_norm: given normalized_shape=", normalized_shape, ", expected input with shape [*, ",
              normalized_shape, "], but got input of size ", input.sizes());
  if (weight.defined())
    ARK_CHECK(weight.sizes() == normalized_shape, "rms_norm: expected weight of shape ", normalized_shape, ", got ",
              weight.sizes());
  const double e = eps.value_or(input.dtype() == kDouble ? DBL_EPSILON : input.dtype() == kFloat ? FLT_EPSILON
                                : input.dtype() == kHalf ? 0.0009765625 : 0.0078125);
  DimVector dims;
  for (int64_t i = input.dim() - k; i < input.dim(); ++i) dims.push_back(i);
  Tensor y = input * (input.pow(2).mean(dims, true) + e).rsqrt();
  return weight.defined() ? y * weight : y;
}

// ---- batch norm ----
Tensor batch_norm(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps, bool) {
  ARK_CHECK(input.dim() >= 2, "batch_norm: expected input with at least 2 dims (N, C, *), got ", input.sizes());
  const int64_t C = input.size(1);
  auto check_vec = [&](const Tensor& t, const char* name) {
    if (t.defined())
      ARK_CHECK(t.dim() == 1 && t.size(0) == C, "batch_norm: expected ", name, " of shape [", C, "], got ", t.sizes());
  };
  check_vec(weight, "weight");
  check_vec(bias, "bias");
  check_vec(running_mean, "running_mean");
  check_vec(running_var, "running_var");
  ARK_CHECK(training || (running_mean.defined() && running_var.defined()),
            "batch_norm: running_mean and running_var must be defined in evaluation mode");
  const int64_t count = input.numel() / std::max<int64_t>(C, 1);
  ARK_CHECK(!training || count > 1, "Expected more than 1 value per channel when training, got input size ",
            input.sizes());
  const ScalarType ct = detail::compute_dtype(input.dtype());
  Tensor x = detail::cast(input, ct).contiguous();
  Tensor mean, var, rstd;
  {
    NoGradGuard ng;
    if (training) {
      mean = empty({C}, x.options());
      var = empty({C}, x.options());
      if (x.numel() > 0) backend_for(x).channel_moments(x, mean, var);
      if (running_mean.defined()) {
        Tensor rm = running_mean;
        rm.mul_(1 - momentum).add_(mean.to(rm.dtype()), momentum);
      }
      if (running_var.defined()) {
        Tensor rv = running_var;
        rv.mul_(1 - momentum).add_((var * (static_cast<double>(count) / static_cast<double>(count - 1))).to(rv.dtype()),
                                   momentum);
      }
    } else {
      mean = detail::cast(running_mean, ct).contiguous();
      var = detail::cast(running_var, ct).contiguous();
    }
    rstd = (var + eps).rsqrt();
  }
  Tensor out;
  {
    NoGradGuard ng;
    Tensor scale = weight.defined() ? rstd * detail::cast(weight, ct) : rstd;
    Tensor shift = bias.defined() ? detail::cast(bias, ct) - mean * scale : -(mean * scale);
    out = empty(x.sizes(), x.options());
    if (x.numel() > 0) backend_for(x).channel_affine(x, scale.contiguous(), shift.contiguous(), out);
    out = detail::cast(out, input.dtype());
  }
  if (needs_grad(input, weight, bias)) {
    auto sx = save(input);
    auto sw = weight.defined() ? save(weight) : SavedTensor();
    const bool has_bias = bias.defined();
    record("NativeBatchNormBackward0", {input, weight, bias}, out,
           [sx, sw, mean, rstd, training, eps, has_bias, count](const variable_list& g) -> variable_list {
             Tensor x = sx.get();
             Tensor w = sw.defined() ? sw.get() : Tensor();
             const int64_t C = x.size(1);
             DimVector bshape(static_cast<size_t>(x.dim()), 1);
             bshape[1] = C;
             DimVector red = {0};
             for (int64_t d = 2; d < x.dim(); ++d) red.push_back(d);
             if (GradMode::is_enabled()) {
               Tensor m = mean.view(bshape), r = rstd.view(bshape);
               if (training) {
                 m = x.mean(red, true);
                 r = ((x - m).pow(2).mean(red, true) + eps).rsqrt();
               }
               Tensor xhat = (x - m) * r;
               Tensor dxhat = w.defined() ? g[0] * w.view(bshape) : g[0];
               Tensor gx = training ? normalize_backward(dxhat, xhat, r, red) : dxhat * r;
               return {gx, w.defined() ? (g[0] * xhat).sum(red) : Tensor(), has_bias ? g[0].sum(red) : Tensor()};
             }
             Tensor gy = g[0].contiguous();
             Tensor xc = x.contiguous();
             Tensor sum_g = empty({C}, gy.options()), sum_gx = empty({C}, gy.options());
             backend_for(gy).channel_grad_sums(gy, xc, mean, sum_g, sum_gx);
             Tensor wv = w.defined() ? w : ones({C}, gy.options());
             Tensor gx = empty(x.sizes(), gy.options());
             if (training) {
               // dx = w*rstd * (g - sum_g/M - (x-mean) * rstd^2 * sum_gx/M)
               const double M = static_cast<double>(count);
               Tensor k1 = wv * rstd;                          // scale on g
               Tensor k2 = rstd * rstd * sum_gx / M;           // coefficient of (x - mean)
               Tensor scale = k1;
               Tensor coef = -(k1 * k2);
               Tensor shift = -(k1 * sum_g / M) - coef * mean;  // constant term per channel
               // gx = g * scale + x * coef + shift
               backend_for(gy).channel_affine(xc, coef.contiguous(), shift.contiguous(), gx);
               gx.add_(gy * scale.view(bshape));
             } else {
               Tensor scale = wv * rstd;
               backend_for(gy).channel_affine(gy, scale.contiguous(), zeros({C}, gy.options()), gx);
             }
             Tensor gw = w.defined() ? sum_gx * rstd : Tensor();
             Tensor gb = has_bias ? sum_g : Tensor();
             return {gx, gw, gb};
           });
  }
  return out;
}

}  // namespace ark
