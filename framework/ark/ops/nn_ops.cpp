// Dropout, embedding, scaled dot-product attention, interpolation, padding and one_hot.
#include <cmath>

#include "ark/ops/util.h"

namespace ark {

using autograd::needs_grad;
using autograd::record;
using autograd::save;
using autograd::variable_list;

Tensor dropout(const Tensor& input, double p, bool train) {
  ARK_CHECK(p >= 0 && p <= 1, "dropout probability has to be between 0 and 1, but got ", p);
  if (!train || p == 0 || input.numel() == 0) return input;
  if (p == 1) return input * zeros_like(input);
  Tensor mask = empty(input.sizes(), input.options().dtype(detail::compute_dtype(input.dtype())));
  {
    NoGradGuard ng;
    backend_for(input).bernoulli(mask, full({}, 1 - p, kDouble), default_generator());
    mask.div_(1 - p);
  }
  return input * mask;
}

Tensor feature_dropout(const Tensor& input, double p, bool train) {
  ARK_CHECK(p >= 0 && p <= 1, "dropout probability has to be between 0 and 1, but got ", p);
  ARK_CHECK(input.dim() >= 2, "dropout2d: expected input with at least 2 dims, got ", input.sizes());
  if (!train || p == 0 || input.numel() == 0) return input;
  // One draw per (sample, channel): zero whole feature maps.
  DimVector mshape(static_cast<size_t>(input.dim()), 1);
  mshape[0] = input.size(0);
  mshape[1] = input.size(1);
  if (input.dim() == 3) {  // unbatched (C, H, W): one draw per channel
    mshape = {input.size(0), 1, 1};
  }
  if (p == 1) return input * zeros(mshape, input.options());
  Tensor mask = empty(mshape, input.options().dtype(detail::compute_dtype(input.dtype())));
  {
    NoGradGuard ng;
    backend_for(input).bernoulli(mask, full({}, 1 - p, kDouble), default_generator());
    mask.div_(1 - p);
  }
  return input * mask;
}

Tensor embedding(const Tensor& weight, const Tensor& indices, int64_t padding_idx, bool scale_grad_by_freq, bool sparse) {
  ARK_CHECK(weight.dim() == 2, "embedding: weight must be 2-D (num_embeddings, embedding_dim), got ", weight.sizes());
  ARK_CHECK(indices.dtype() == kLong || indices.dtype() == kInt, "embedding: expected indices of dtype int64 or int32, "
            "got ", dtype_name(indices.dtype()));
  ARK_CHECK(!sparse, "embedding: sparse gradients are not supported");
  const int64_t n = weight.size(0);
  Tensor idx = detail::cast(indices, kLong).contiguous();
  if (idx.numel() > 0) {
    const int64_t mn = idx.min().item<int64_t>(), mx = idx.max().item<int64_t>();
    ARK_CHECK(mn >= 0 && mx < n, "embedding: index out of range in self: indices must be in [0, ", n, "), got ",
              mn < 0 ? mn : mx);
  }
  Tensor flat = idx.reshape({-1});
  Tensor out;
  {
    NoGradGuard ng;
    Tensor w = weight.contiguous();
    out = empty({flat.numel(), weight.size(1)}, weight.options());
    backend_for(weight).index_select(w, 0, flat, out);
  }
  DimVector shape = indices.sizes().vec();
  shape.push_back(weight.size(1));
  out = out.view(shape);
  if (needs_grad(weight)) {
    // ATen's convention: -1 means no padding index (nn::functional wraps negative indices first).
    const int64_t pad = padding_idx;
    const bool has_pad = padding_idx >= 0;
    record("EmbeddingBackward0", {weight}, out, [flat, n, pad, has_pad, scale_grad_by_freq](const variable_list& g) -> variable_list {
      Tensor gy = g[0].reshape({flat.numel(), -1});
      if (has_pad || scale_grad_by_freq) {
        Tensor scale = ones({flat.numel(), 1}, gy.options());
        if (scale_grad_by_freq) {
          Tensor counts = zeros({n}, gy.options()).index_add(0, flat, ones({flat.numel()}, gy.options()));
          scale = scale / counts.index_select(0, flat).unsqueeze(1);
        }
        if (has_pad) scale = scale.masked_fill((flat == pad).unsqueeze(1), 0);
        gy = gy * scale;
      }
      return {zeros({n, gy.size(1)}, gy.options()).index_add(0, flat, gy)};
    });
  }
  return out;
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
                                    double dropout_p, bool is_causal, std::optional<double> scale) {
  ARK_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2, "scaled_dot_product_attention: expected (..., L, E) inputs, "
            "got ", q.sizes(), ", ", k.sizes(), ", ", v.sizes());
  ARK_CHECK(q.size(-1) == k.size(-1), "scaled_dot_product_attention: query and key embedding dims differ: ", q.sizes(),
            " vs ", k.sizes());
  ARK_CHECK(k.size(-2) == v.size(-2), "scaled_dot_product_attention: key and value sequence lengths differ: ",
            k.sizes(), " vs ", v.sizes());
  ARK_CHECK(!(is_causal && attn_mask.defined()), "scaled_dot_product_attention: explicit attn_mask should not be set "
            "when is_causal=true");
  const double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(q.size(-1))));
  Tensor scores = matmul(q * s, k.transpose(-2, -1));
  const int64_t L = q.size(-2), S = k.size(-2);
  if (is_causal) {
    Tensor keep = ones({L, S}, TensorOptions().dtype(kBool)).tril();
    scores = scores.masked_fill(keep.logical_not(), -INFINITY);
  }
  if (attn_mask.defined()) {
    if (attn_mask.dtype() == kBool) scores = scores.masked_fill(attn_mask.logical_not(), -INFINITY);
    else scores = scores + attn_mask;
  }
  Tensor attn = softmax(scores, -1);
  if (dropout_p > 0) attn = dropout(attn, dropout_p, true);
  return matmul(attn, v);
}

Tensor upsample_nearest2d(const Tensor& self, IntArrayRef output_size) {
  ARK_CHECK(self.dim() == 4, "upsample_nearest2d: expected 4-D input, got ", self.sizes());
  ARK_CHECK(output_size.size() == 2 && output_size[0] > 0 && output_size[1] > 0,
            "upsample_nearest2d: expected a positive output size (H, W), got ", output_size);
  Tensor x = detail::cast(self, detail::compute_dtype(self.dtype())).contiguous();
  Tensor out = empty({x.size(0), x.size(1), output_size[0], output_size[1]}, x.options());
  backend_for(x).upsample_nearest2d(x, out, false);
  out = detail::cast(out, self.dtype());
  if (needs_grad(self)) {
    const DimVector in = self.sizes().vec();
    record("UpsampleNearest2DBackward0", {self}, out, [in](const variable_list& g) -> variable_list {
      ARK_CHECK(!GradMode::is_enabled(), "double backward of upsample_nearest2d is not supported");
      Tensor gy = g[0].contiguous();
      Tensor gx = empty(in, gy.options());
      backend_for(gy).upsample_nearest2d(gy, gx, true);
      return {gx};
    });
  }
  return out;
}

Tensor upsample_bilinear2d(const Tensor& self, IntArrayRef output_size, bool align_corners) {
  ARK_CHECK(self.dim() == 4, "upsample_bilinear2d: expected 4-D input, got ", self.sizes());
  ARK_CHECK(output_size.size() == 2 && output_size[0] > 0 && output_size[1] > 0,
            "upsample_bilinear2d: expected a positive output size (H, W), got ", output_size);
  Tensor x = detail::cast(self, detail::compute_dtype(self.dtype())).contiguous();
  Tensor out = empty({x.size(0), x.size(1), output_size[0], output_size[1]}, x.options());
  backend_for(x).upsample_bilinear2d(x, out, align_corners, false);
  out = detail::cast(out, self.dtype());
  if (needs_grad(self)) {
    const DimVector in = self.sizes().vec();
    record("UpsampleBilinear2DBackward0", {self}, out, [in, align_corners](const variable_list& g) -> variable_list {
      ARK_CHECK(!GradMode::is_enabled(), "double backward of upsample_bilinear2d is not supported");
      Tensor gy = g[0].contiguous();
      Tensor gx = empty(in, gy.options());
      backend_for(gy).upsample_bilinear2d(gy, gx, align_corners, true);
      return {gx};
    });
  }
  return out;
}

Tensor constant_pad_nd(const Tensor& self, IntArrayRef pad, const Scalar& value) {
  ARK_CHECK(pad.size() % 2 == 0, "constant_pad_nd: padding length must be divisible by 2, got ", pad.size());
  const int64_t np = static_cast<int64_t>(pad.size()) / 2;
  ARK_CHECK(np <= self.dim(), "constant_pad_nd: padding length too large: ", pad.size(), " for a ", self.dim(),
            "-D input");
  DimVector out_shape = self.sizes().vec();
  bool all_zero = true;
  for (int64_t i = 0; i < np; ++i) {
    const int64_t d = self.dim() - 1 - i;
    out_shape[static_cast<size_t>(d)] += pad[static_cast<size_t>(2 * i)] + pad[static_cast<size_t>(2 * i + 1)];
    ARK_CHECK(out_shape[static_cast<size_t>(d)] >= 0, "constant_pad_nd: the input size ", self.size(d),
              ", plus negative padding ", pad[static_cast<size_t>(2 * i)], " and ", pad[static_cast<size_t>(2 * i + 1)],
              " resulted in a negative output size");
    all_zero = all_zero && pad[static_cast<size_t>(2 * i)] == 0 && pad[static_cast<size_t>(2 * i + 1)] == 0;
  }
  if (all_zero) return self;
  // Copy the overlapping region of the input (negative pads crop) into a filled output.
  Tensor src = self, out = full(out_shape, value, self.options());
  Tensor dst = out;
  {
    NoGradGuard ng;
    for (int64_t i = 0; i < np; ++i) {
      const int64_t d = self.dim() - 1 - i;
      const int64_t lo = pad[static_cast<size_t>(2 * i)], hi = pad[static_cast<size_t>(2 * i + 1)];
      const int64_t src_start = lo < 0 ? -lo : 0, dst_start = lo > 0 ? lo : 0;
      const int64_t len = self.size(d) - src_start - (hi < 0 ? -hi : 0);
      src = src.narrow(d, src_start, std::max<int64_t>(len, 0));
      dst = dst.narrow(d, dst_start, std::max<int64_t>(len, 0));
    }
    dst.copy_(src);
  }
  if (needs_grad(self)) {
    const DimVector p = pad.vec();
    record("ConstantPadNdBackward0", {self}, out, [p](const variable_list& g) -> variable_list {
      DimVector neg;
      for (int64_t v : p) neg.push_back(-v);
      return {constant_pad_nd(g[0], neg, 0)};
    });
  }
  return out;
}

Tensor pad(const Tensor& self, IntArrayRef p, const std::string& mode, std::optional<double> value) {
  if (mode == "constant") return constant_pad_nd(self, p, value.value_or(0.0));
  ARK_CHECK(!value || *value == 0, "pad: padding mode \"", mode, "\" doesn't take in value argument");
  ARK_CHECK(mode == "reflect" || mode == "replicate" || mode == "circular", "pad: unknown padding mode '", mode,
            "', expected constant, reflect, replicate or circular");
  ARK_CHECK(p.size() % 2 == 0 && static_cast<int64_t>(p.size()) / 2 <= self.dim() - 1, "pad: ", mode,
            " padding of ", p.size() / 2, " dims needs an input with a batch or channel dim, got ", self.sizes());
  // Build each padded dim by gathering indices: reflect mirrors without the edge, replicate
  // clamps, circular wraps. index_select keeps it differentiable.
  Tensor out = self;
  for (size_t i = 0; i < p.size() / 2; ++i) {
    const int64_t d = self.dim() - 1 - static_cast<int64_t>(i);
    const int64_t n = self.size(d), lo = p[2 * i], hi = p[2 * i + 1];
    if (mode == "reflect")
      ARK_CHECK(lo < n && hi < n, "pad: padding size should be less than the corresponding input dimension, but got: "
                "padding (", lo, ", ", hi, ") at dimension ", d, " of input ", self.sizes());
    if (mode == "circular")
      ARK_CHECK(lo <= n && hi <= n, "pad: padding value causes wrapping around more than once (dim ", d, ")");
    std::vector<int64_t> idx;
    for (int64_t j = -lo; j < n + hi; ++j) {
      int64_t k = j;
      if (mode == "reflect") {
        if (k < 0) k = -k;
        if (k >= n) k = 2 * (n - 1) - k;
      } else if (mode == "replicate") {
        k = std::clamp<int64_t>(k, 0, n - 1);
      } else {
        k = ((k % n) + n) % n;
      }
      idx.push_back(k);
    }
    out = index_select(out, d, tensor(idx));
  }
  return out;
}

Tensor one_hot(const Tensor& self, int64_t num_classes) {
  ARK_CHECK(self.dtype() == kLong, "one_hot is only applicable to index tensor (int64), got ", dtype_name(self.dtype()));
  int64_t n = num_classes;
  if (self.numel() > 0) {
    const int64_t mn = self.min().item<int64_t>(), mx = self.max().item<int64_t>();
    ARK_CHECK(mn >= 0, "one_hot: class values must be non-negative, got ", mn);
    if (n == -1) n = mx + 1;
    else ARK_CHECK(mx < n, "one_hot: class values must be smaller than num_classes (", n, "), got ", mx);
  } else {
    ARK_CHECK(n > 0, "one_hot: can not infer total number of classes from empty tensor");
  }
  DimVector shape = self.sizes().vec();
  shape.push_back(n);
  return zeros(shape, kLong).scatter(-1, self.unsqueeze(-1), 1);
}

}  // namespace ark
