// Convolution and pooling ops: shapes, argument checks and autograd around the backend kernels.
#include "ark/ops/util.h"

namespace ark {

using autograd::needs_grad;
using autograd::record;
using autograd::save;
using autograd::variable_list;

namespace {

int64_t expand_param(IntArrayRef v, size_t i, const char* op, const char* name, size_t n = 2) {
  ARK_CHECK(v.size() == 1 || v.size() == n, op, ": expected ", name, " to be a single integer or a list of ", n,
            " integers, got ", v);
  return v.size() == 1 ? v[0] : v[i];
}

Backend::ConvParams conv_params(IntArrayRef stride, IntArrayRef padding, IntArrayRef dilation, int64_t groups,
                                const char* op) {
  Backend::ConvParams p{};
  for (size_t i = 0; i < 2; ++i) {
    p.stride[i] = expand_param(stride, i, op, "stride");
    p.padding[i] = expand_param(padding, i, op, "padding");
    p.dilation[i] = expand_param(dilation, i, op, "dilation");
    ARK_CHECK(p.stride[i] > 0, op, ": non-positive stride is not supported, got ", stride);
    ARK_CHECK(p.padding[i] >= 0, op, ": negative padding is not supported, got ", padding);
    ARK_CHECK(p.dilation[i] > 0, op, ": dilation should be greater than zero, got ", dilation);
  }
  p.groups = groups;
  return p;
}

// Convolution over 4-D input (N, C, H, W). conv_transpose is the backward-input of a conv.
Tensor conv2d_impl(const Tensor& input, const Tensor& weight, const Tensor& bias, const Backend::ConvParams& p,
                   const char* op) {
  ARK_CHECK(input.dim() == 4, op, ": expected 4-D input (N, C, H, W), got ", input.dim(), "-D input of size ",
            input.sizes());
  ARK_CHECK(weight.dim() == 4, op, ": expected 4-D weight (out_channels, in_channels/groups, kH, kW), got ",
            weight.sizes());
  ARK_CHECK(p.groups > 0, op, ": non-positive groups is not supported, got ", p.groups);
  ARK_CHECK(input.dtype() == weight.dtype(), op, ": input type (", dtype_name(input.dtype()),
            ") and weight type (", dtype_name(weight.dtype()), ") should be the same");
  ARK_CHECK(weight.size(0) % p.groups == 0, op, ": out_channels (", weight.size(0), ") must be divisible by groups (",
            p.groups, ")");
  ARK_CHECK(input.size(1) == weight.size(1) * p.groups, op, ": expected input ", input.sizes(), " to have ",
            weight.size(1) * p.groups, " channels, but got ", input.size(1), " channels instead (weight ",
            weight.sizes(), ", groups ", p.groups, ")");
  if (bias.defined())
    ARK_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), op, ": expected bias of shape [", weight.size(0),
              "], got ", bias.sizes());
  DimVector out_shape = {input.size(0), weight.size(0), 0, 0};
  for (int i = 0; i < 2; ++i) {
    const int64_t eff = p.dilation[i] * (weight.size(2 + i) - 1) + 1;
    const int64_t padded = input.size(2 + i) + 2 * p.padding[i];
    ARK_CHECK(padded >= eff, op, ": calculated padded input size per channel: (", input.size(2) + 2 * p.padding[0],
              " x ", input.size(3) + 2 * p.padding[1], "). Kernel size: (", (weight.size(2) - 1) * p.dilation[0] + 1,
              " x ", (weight.size(3) - 1) * p.dilation[1] + 1, "). Kernel size can't be greater than actual input size");
    out_shape[static_cast<size_t>(2 + i)] = (padded - eff) / p.stride[i] + 1;
  }
  const ScalarType ct = detail::compute_dtype(input.dtype());
  Tensor x = detail::cast(input, ct).contiguous(), w = detail::cast(weight, ct).contiguous();
  Tensor b = bias.defined() ? detail::cast(bias, ct).contiguous() : Tensor();
  Tensor out = empty(out_shape, x.options());
  const bool grad = needs_grad(input, weight, bias);
  Backend::ConvParams fp = p;
  fp.weight_grad_follows = grad && autograd::requires_grad(weight);
  backend_for(input).conv2d(x, w, b, out, fp);
  out = detail::cast(out, input.dtype());
  if (grad) {
    auto si = fp.weight_grad_follows ? save(input) : autograd::SavedTensor();
    auto sw = save(weight);
    const bool has_bias = bias.defined();
    const DimVector in_sizes = input.sizes().vec();
    record("ConvolutionBackward0", {input, weight, bias}, out,
           [si, sw, p = fp, has_bias, in_sizes](const variable_list& g) -> variable_list {
             Tensor w = sw.get();
             Tensor gy = g[0].contiguous();
             if (GradMode::is_enabled()) {
               // Double backward: both gradients as differentiable convolutions.
               Tensor gx = conv_transpose2d(gy, w, {}, DimVector{p.stride[0], p.stride[1]},
                                            DimVector{p.padding[0], p.padding[1]}, DimVector{0, 0}, p.groups,
                                            DimVector{p.dilation[0], p.dilation[1]});
               // Fix the output size when stride leaves a remainder.
               gx = constant_pad_nd(gx, {0, in_sizes[3] - gx.size(3), 0, in_sizes[2] - gx.size(2)});
               Tensor gw, gb;
               if (si.defined()) {
                 Tensor x = si.get();
                 // dW[o, c] = sum_n x[n, c] (*) gy[n, o]: a convolution with batch and channels swapped
                 // (stride and dilation trade places).
                 const int64_t G = p.groups;
                 ARK_CHECK(G == 1, "double backward of a grouped convolution's weight is not supported");
                 Tensor r = conv2d(x.transpose(0, 1), gy.transpose(0, 1), {}, DimVector{p.dilation[0], p.dilation[1]},
                                   DimVector{p.padding[0], p.padding[1]}, DimVector{p.stride[0], p.stride[1]}, 1);
                 gw = r.narrow(2, 0, w.size(2)).narrow(3, 0, w.size(3)).transpose(0, 1);
               }
               if (has_bias) gb = gy.sum({0, 2, 3});
               return {gx, gw, gb};
             }
             // The first layer's input (an image batch) needs no gradient: skip that convolution.
             Tensor gx;
             if (autograd::input_needs_grad(0)) {
               gx = empty(in_sizes, gy.options());
               backend_for(gy).conv2d_backward_input(gy, w.contiguous(), gx, p);
             }
             Tensor gw, gb;
             if (si.defined()) {
               gw = empty(w.sizes(), w.options());
               if (has_bias) gb = empty({w.size(0)}, w.options());
               backend_for(gy).conv2d_backward_weight(gy, si.get().contiguous(), gw, gb, p);
             } else if (has_bias) {
               gb = gy.sum({0, 2, 3});
             }
             return {gx, gw, gb};
           });
  }
  return out;
}

DimVector same_padding(const Tensor& weight, IntArrayRef dilation, int64_t spatial, bool& asymmetric,
                       DimVector& pad_nd) {
  // "same": total padding d*(k-1) per dim; odd totals put the extra on the right (as PyTorch).
  DimVector sym(static_cast<size_t>(spatial));
  pad_nd.assign(static_cast<size_t>(2 * spatial), 0);
  asymmetric = false;
  for (int64_t i = 0; i < spatial; ++i) {
    const int64_t d = dilation.size() == 1 ? dilation[0] : dilation[static_cast<size_t>(i)];
    const int64_t total = d * (weight.size(2 + i) - 1);
    sym[static_cast<size_t>(i)] = total / 2;
    if (total % 2) {
      asymmetric = true;
      // constant_pad_nd lists pads from the last dim: (left, right) of dim -1 first.
      pad_nd[static_cast<size_t>(2 * (spatial - 1 - i) + 1)] = 1;
    }
  }
  return sym;
}

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, IntArrayRef stride, IntArrayRef padding,
              IntArrayRef dilation, int64_t groups) {
  const bool batched = input.dim() == 4;
  ARK_CHECK(input.dim() == 3 || input.dim() == 4, "conv2d: expected 3-D (unbatched) or 4-D (batched) input, got ",
            input.dim(), "-D input of size ", input.sizes());
  Tensor x = batched ? input : input.unsqueeze(0);
  Tensor out = conv2d_impl(x, weight, bias, conv_params(stride, padding, dilation, groups, "conv2d"), "conv2d");
  return batched ? out : out.squeeze(0);
}

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, IntArrayRef stride,
              const std::string& padding, IntArrayRef dilation, int64_t groups) {
  if (padding == "valid") return conv2d(input, weight, bias, stride, IntArrayRef{0}, dilation, groups);
  ARK_CHECK(padding == "same", "conv2d: invalid padding string '", padding, "', expected 'same' or 'valid'");
  for (int64_t s : stride) ARK_CHECK(s == 1, "conv2d: padding='same' is not supported for strided convolutions");
  bool asym;
  DimVector pad_nd;
  DimVector sym = same_padding(weight, dilation, 2, asym, pad_nd);
  Tensor x = asym ? constant_pad_nd(input, pad_nd) : input;
  return conv2d(x, weight, bias, stride, sym, dilation, groups);
}

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, IntArrayRef stride, IntArrayRef padding,
              IntArrayRef dilation, int64_t groups) {
  ARK_CHECK(input.dim() == 2 || input.dim() == 3, "conv1d: expected 2-D (unbatched) or 3-D (batched) input, got ",
            input.dim(), "-D input of size ", input.sizes());
  ARK_CHECK(weight.dim() == 3, "conv1d: expected 3-D weight (out_channels, in_channels/groups, k), got ", weight.sizes());
  const bool batched = input.dim() == 3;
  Tensor x = (batched ? input : input.unsqueeze(0)).unsqueeze(2);
  auto one = [](IntArrayRef v, int64_t fill, const char* name) -> DimVector {
    ARK_CHECK(v.size() == 1, "conv1d: expected ", name, " to be a single integer, got ", v);
    return {fill, v[0]};
  };
  Tensor out = conv2d_impl(x, weight.unsqueeze(2), bias,
                           conv_params(one(stride, 1, "stride"), one(padding, 0, "padding"),
                                       one(dilation, 1, "dilation"), groups, "conv1d"),
                           "conv1d")
                   .squeeze(2);
  return batched ? out : out.squeeze(0);
}

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, IntArrayRef stride,
              const std::string& padding, IntArrayRef dilation, int64_t groups) {
  if (padding == "valid") return conv1d(input, weight, bias, stride, IntArrayRef{0}, dilation, groups);
  ARK_CHECK(padding == "same", "conv1d: invalid padding string '", padding, "', expected 'same' or 'valid'");
  for (int64_t s : stride) ARK_CHECK(s == 1, "conv1d: padding='same' is not supported for strided convolutions");
  bool asym;
  DimVector pad_nd;
  DimVector sym = same_padding(weight, dilation, 1, asym, pad_nd);
  Tensor x = asym ? constant_pad_nd(input, pad_nd) : input;
  return conv1d(x, weight, bias, stride, sym, dilation, groups);
}

Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias, IntArrayRef stride,
                        IntArrayRef padding, IntArrayRef output_padding, int64_t groups, IntArrayRef dilation) {
  const bool batched = input.dim() == 4;
  ARK_CHECK(input.dim() == 3 || input.dim() == 4, "conv_transpose2d: expected 3-D or 4-D input, got ", input.sizes());
  ARK_CHECK(weight.dim() == 4, "conv_transpose2d: expected 4-D weight (in_channels, out_channels/groups, kH, kW), got ",
            weight.sizes());
  Tensor x = batched ? input : input.unsqueeze(0);
  const Backend::ConvParams p = conv_params(stride, padding, dilation, groups, "conv_transpose2d");
  ARK_CHECK(x.size(1) == weight.size(0), "conv_transpose2d: expected input ", x.sizes(), " to have ", weight.size(0),
            " channels, got ", x.size(1));
  ARK_CHECK(x.dtype() == weight.dtype(), "conv_transpose2d: input type (", dtype_name(x.dtype()),
            ") and weight type (", dtype_name(weight.dtype()), ") should be the same");
  DimVector out_shape = {x.size(0), weight.size(1) * groups, 0, 0};
  for (size_t i = 0; i < 2; ++i) {
    const int64_t op = expand_param(output_padding, i, "conv_transpose2d", "output_padding");
    ARK_CHECK(op >= 0 && (op < p.stride[i] || op < p.dilation[i]), "conv_transpose2d: output padding must be smaller "
              "than either stride or dilation, got output_padding ", output_padding);
    out_shape[2 + i] = (x.size(static_cast<int64_t>(2 + i)) - 1) * p.stride[i] - 2 * p.padding[i] +
                       p.dilation[i] * (weight.size(static_cast<int64_t>(2 + i)) - 1) + op + 1;
    ARK_CHECK(out_shape[2 + i] > 0, "conv_transpose2d: output size is too small: ", IntArrayRef(out_shape));
  }
  const ScalarType ct = detail::compute_dtype(x.dtype());
  Tensor xc = detail::cast(x, ct).contiguous(), w = detail::cast(weight, ct).contiguous();
  Tensor out = empty(out_shape, xc.options());
  backend_for(x).conv2d_backward_input(xc, w, out, p);
  if (bias.defined()) {
    NoGradGuard ng;
    out.add_(detail::cast(bias, ct).view({1, -1, 1, 1}));
  }
  out = detail::cast(out, x.dtype());
  if (needs_grad(x, weight, bias)) {
    auto sx = save(x), sw = save(weight);
    const bool has_bias = bias.defined();
    record("ConvolutionBackward0", {x, weight, bias}, out, [sx, sw, p, has_bias](const variable_list& g) -> variable_list {
      // The adjoint of a transposed convolution is the convolution itself.
      Tensor gy = g[0].contiguous();
      Tensor w = sw.get();
      Tensor gx = conv2d(gy, w, {}, DimVector{p.stride[0], p.stride[1]}, DimVector{p.padding[0], p.padding[1]},
                         DimVector{p.dilation[0], p.dilation[1]}, p.groups);
      Tensor xin = sx.get();
      gx = gx.narrow(2, 0, xin.size(2)).narrow(3, 0, xin.size(3));
      // dW for conv_transpose (in, out/g, kh, kw) equals the conv weight-gradient with the roles of
      // input and output swapped.
      Tensor gw;
      if (GradMode::is_enabled()) {
        ARK_CHECK(p.groups == 1, "double backward of a grouped transposed convolution's weight is not supported");
        Tensor r = conv2d(gy.transpose(0, 1), xin.transpose(0, 1), {}, DimVector{p.dilation[0], p.dilation[1]},
                          DimVector{p.padding[0], p.padding[1]}, DimVector{p.stride[0], p.stride[1]}, 1);
        gw = r.narrow(2, 0, w.size(2)).narrow(3, 0, w.size(3)).transpose(0, 1);
      } else {
        gw = empty(w.sizes(), w.options());
        backend_for(gy).conv2d_backward_weight(xin.contiguous(), gy, gw, Tensor(), p);
      }
      Tensor gb = has_bias ? gy.sum({0, 2, 3}) : Tensor();
      return {gx, gw, gb};
    });
  }
  return batched ? out : out.squeeze(0);
}

// ---- pooling ----
namespace {
Backend::PoolParams pool_params(const Tensor& x, IntArrayRef kernel, IntArrayRef stride, IntArrayRef padding,
                                IntArrayRef dilation, bool ceil_mode, const char* op, DimVector& out_hw) {
  Backend::PoolParams p{};
  ARK_CHECK(x.dim() == 3 || x.dim() == 4, op, ": expected 3-D or 4-D input, got ", x.dim(), "-D input of size ",
            x.sizes());
  for (size_t i = 0; i < 2; ++i) {
    p.kernel[i] = expand_param(kernel, i, op, "kernel_size");
    p.stride[i] = stride.empty() ? p.kernel[i] : expand_param(stride, i, op, "stride");
    p.padding[i] = expand_param(padding, i, op, "padding");
    p.dilation[i] = expand_param(dilation, i, op, "dilation");
    ARK_CHECK(p.kernel[i] > 0, op, ": kernel_size must be greater than zero, got ", kernel);
    ARK_CHECK(p.stride[i] > 0, op, ": stride must be greater than zero, got ", stride);
    ARK_CHECK(p.dilation[i] > 0, op, ": dilation must be greater than zero, got ", dilation);
    ARK_CHECK(p.padding[i] >= 0 && p.padding[i] <= p.kernel[i] / 2, op,
              ": pad should be at most half of effective kernel size, but got pad=", p.padding[i],
              " and kernel_size=", p.kernel[i]);
  }
  p.ceil_mode = ceil_mode;
  out_hw.clear();
  for (size_t i = 0; i < 2; ++i) {
    const int64_t in = x.size(x.dim() - 2 + static_cast<int64_t>(i));
    const int64_t eff = p.dilation[i] * (p.kernel[i] - 1) + 1;
    int64_t num = in + 2 * p.padding[i] - eff + (ceil_mode ? p.stride[i] - 1 : 0);
    int64_t o = (num < 0 ? -1 : num / p.stride[i]) + 1;
    if (ceil_mode && (o - 1) * p.stride[i] >= in + p.padding[i]) --o;
    ARK_CHECK(o > 0, op, ": given input size ", x.sizes(), ", calculated output size is too small (", o, ")");
    out_hw.push_back(o);
  }
  return p;
}

DimVector pooled_shape(const Tensor& x, const DimVector& hw) {
  DimVector s = x.sizes().vec();
  s[s.size() - 2] = hw[0];
  s[s.size() - 1] = hw[1];
  return s;
}
}  // namespace

std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& self, IntArrayRef kernel, IntArrayRef stride,
                                                   IntArrayRef padding, IntArrayRef dilation, bool ceil_mode) {
  DimVector hw;
  const Backend::PoolParams p = pool_params(self, kernel, stride, padding, dilation, ceil_mode, "max_pool2d", hw);
  const bool batched = self.dim() == 4;
  Tensor x = detail::cast(batched ? self : self.unsqueeze(0), detail::compute_dtype(self.dtype())).contiguous();
  Tensor out = empty(pooled_shape(x, hw), x.options()), idx = empty(pooled_shape(x, hw), x.options().dtype(kLong));
  backend_for(self).max_pool2d(x, out, idx, p);
  out = detail::cast(out, self.dtype());
  if (!batched) {
    out = out.squeeze(0);
    idx = idx.squeeze(0);
  }
  if (needs_grad(self)) {
    const DimVector in_sizes = self.sizes().vec();
    record("MaxPool2DWithIndicesBackward0", {self}, out, [idx, in_sizes](const variable_list& g) -> variable_list {
      if (GradMode::is_enabled()) {
        // Differentiable form: scatter-add into flattened planes.
        Tensor flat = zeros(in_sizes, g[0].options()).flatten(-2);
        return {flat.scatter_add(-1, idx.flatten(-2), g[0].flatten(-2)).view(in_sizes)};
      }
      Tensor gy = g[0].contiguous();
      Tensor gx = empty(in_sizes, gy.options());
      Tensor gx4 = gx.dim() == 4 ? gx : gx.unsqueeze(0);
      backend_for(gy).max_pool2d_backward(gy.dim() == 4 ? gy : gy.unsqueeze(0), (idx.dim() == 4 ? idx : idx.unsqueeze(0)).contiguous(), gx4);
      return {gx};
    });
  }
  return {out, idx};
}

Tensor max_pool2d(const Tensor& self, IntArrayRef kernel, IntArrayRef stride, IntArrayRef padding, IntArrayRef dilation,
                  bool ceil_mode) {
  return std::get<0>(max_pool2d_with_indices(self, kernel, stride, padding, dilation, ceil_mode));
}

Tensor avg_pool2d(const Tensor& self, IntArrayRef kernel, IntArrayRef stride, IntArrayRef padding, bool ceil_mode,
                  bool count_include_pad, std::optional<int64_t> divisor_override) {
  DimVector hw;
  Backend::PoolParams p = pool_params(self, kernel, stride, padding, 1, ceil_mode, "avg_pool2d", hw);
  p.count_include_pad = count_include_pad;
  if (divisor_override) ARK_CHECK(*divisor_override != 0, "avg_pool2d: divisor must be not zero");
  p.divisor_override = divisor_override.value_or(0);
  const bool batched = self.dim() == 4;
  Tensor x = detail::cast(batched ? self : self.unsqueeze(0), detail::compute_dtype(self.dtype())).contiguous();
  Tensor out = empty(pooled_shape(x, hw), x.options());
  backend_for(self).avg_pool2d(x, out, p);
  out = detail::cast(out, self.dtype());
  if (!batched) out = out.squeeze(0);
  if (needs_grad(self)) {
    const DimVector in_sizes = self.sizes().vec();
    record("AvgPool2DBackward0", {self}, out, [p, in_sizes](const variable_list& g) -> variable_list {
      Tensor gy = g[0].contiguous();
      ARK_CHECK(!GradMode::is_enabled(), "double backward of avg_pool2d is not supported");
      Tensor gx = empty(in_sizes, gy.options());
      backend_for(gy).avg_pool2d_backward(gy.dim() == 4 ? gy : gy.unsqueeze(0), gx.dim() == 4 ? gx : gx.unsqueeze(0), p);
      return {gx};
    });
  }
  return out;
}

Tensor adaptive_avg_pool2d(const Tensor& self, IntArrayRef output_size) {
  ARK_CHECK(self.dim() == 3 || self.dim() == 4, "adaptive_avg_pool2d: expected 3-D or 4-D input, got ", self.sizes());
  ARK_CHECK(output_size.size() == 2 || output_size.size() == 1, "adaptive_avg_pool2d: output_size must be 2, got ",
            output_size);
  DimVector hw = {output_size[0], output_size.size() == 2 ? output_size[1] : output_size[0]};
  for (int i = 0; i < 2; ++i) {
    if (hw[static_cast<size_t>(i)] == -1) hw[static_cast<size_t>(i)] = self.size(self.dim() - 2 + i);
    ARK_CHECK(hw[static_cast<size_t>(i)] >= 0, "adaptive_avg_pool2d: output size must be non-negative, got ", output_size);
  }
  for (int64_t d = 1; d < self.dim(); ++d)
    ARK_CHECK(self.size(d) > 0, "adaptive_avg_pool2d: expected input to have non-zero size for non-batch dimensions, "
              "but input has sizes ", self.sizes());
  // Global pooling is a mean (as PyTorch, whose node is then MeanBackward1).
  if (hw[0] == 1 && hw[1] == 1) return self.mean({-2, -1}, true);
  const bool batched = self.dim() == 4;
  Tensor x = detail::cast(batched ? self : self.unsqueeze(0), detail::compute_dtype(self.dtype())).contiguous();
  Tensor out = empty(pooled_shape(x, hw), x.options());
  backend_for(self).adaptive_avg_pool2d(x, out);
  out = detail::cast(out, self.dtype());
  if (!batched) out = out.squeeze(0);
  if (needs_grad(self)) {
    const DimVector in_sizes = self.sizes().vec();
    record("AdaptiveAvgPool2DBackward0", {self}, out, [in_sizes](const variable_list& g) -> variable_list {
      ARK_CHECK(!GradMode::is_enabled(), "double backward of adaptive_avg_pool2d is not supported");
      Tensor gy = g[0].contiguous();
      Tensor gx = empty(in_sizes, gy.options());
      backend_for(gy).adaptive_avg_pool2d_backward(gy.dim() == 4 ? gy : gy.unsqueeze(0), gx.dim() == 4 ? gx : gx.unsqueeze(0));
      return {gx};
    });
  }
  return out;
}

}  // namespace ark
