// nn::functional: options structs mapped onto the ops of ark/ops.
#include "ark/nn/functional.h"

#include <cmath>

#include "ark/autograd/grad_mode.h"
#include "ark/ops/ops.h"

namespace ark::nn::functional {

namespace {

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

// The `inplace` option: write the result into the input, as PyTorch's in-place variants do.
Tensor maybe_inplace(Tensor& input, const Tensor& out, bool inplace) {
  if (!inplace) return out;
  input.copy_(out);
  return input;
}

std::string padding_string(const std::variant<enumtype::kValid, enumtype::kSame>& p) {
  return std::holds_alternative<enumtype::kSame>(p) ? "same" : "valid";
}

}  // namespace

// ---- activations ----
Tensor relu(Tensor input, const ReLUFuncOptions& options) {
  if (options.inplace()) return input.relu_();
  return ark::relu(input);
}
Tensor relu6(Tensor input, const ReLU6FuncOptions& options) {
  return maybe_inplace(input, ark::relu6(input), options.inplace());
}
Tensor leaky_relu(Tensor input, const LeakyReLUFuncOptions& options) {
  return maybe_inplace(input, ark::leaky_relu(input, options.negative_slope()), options.inplace());
}
Tensor elu(Tensor input, const ELUFuncOptions& options) {
  return maybe_inplace(input, ark::elu(input, options.alpha()), options.inplace());
}
Tensor gelu(const Tensor& input, const GELUFuncOptions& options) {
  ARK_CHECK(options.approximate() == "none" || options.approximate() == "tanh",
            "gelu: approximate must be 'none' or 'tanh', got '", options.approximate(), "'");
  return ark::gelu(input, options.approximate());
}
Tensor silu(const Tensor& input) { return ark::silu(input); }
Tensor hardswish(const Tensor& input) { return ark::hardswish(input); }
Tensor hardsigmoid(const Tensor& input) { return ark::hardsigmoid(input); }
Tensor softplus(const Tensor& input, const SoftplusFuncOptions& options) {
  return ark::softplus(input, options.beta(), options.threshold());
}
Tensor softmax(const Tensor& input, const SoftmaxFuncOptions& options) {
  return ark::softmax(input, options.dim(), options.dtype());
}
Tensor log_softmax(const Tensor& input, const LogSoftmaxFuncOptions& options) {
  return ark::log_softmax(input, options.dim(), options.dtype());
}

// ---- dropout ----
Tensor dropout(Tensor input, const DropoutFuncOptions& options) {
  return maybe_inplace(input, ark::dropout(input, options.p(), options.training()), options.inplace() && options.training());
}
Tensor dropout2d(Tensor input, const Dropout2dFuncOptions& options) {
  ARK_CHECK(input.dim() == 3 || input.dim() == 4, "dropout2d: expected 3-D (C, H, W) or 4-D (N, C, H, W) input, got ",
            input.dim(), "-D input of shape ", input.sizes());
  return maybe_inplace(input, ark::feature_dropout(input, options.p(), options.training()),
                       options.inplace() && options.training());
}

// ---- linear, convolution, pooling ----
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) { return ark::linear(input, weight, bias); }

Tensor conv1d(const Tensor& input, const Tensor& weight, const Conv1dFuncOptions& o) {
  return std::visit(overloaded{[&](const ExpandingArray<1>& p) {
                                 return ark::conv1d(input, weight, o.bias(), o.stride(), p, o.dilation(), o.groups());
                               },
                               [&](auto tag) {
                                 return ark::conv1d(input, weight, o.bias(), o.stride(), padding_string(tag), o.dilation(),
                                                    o.groups());
                               }},
                    o.padding());
}

Tensor conv2d(const Tensor& input, const Tensor& weight, const Conv2dFuncOptions& o) {
  return std::visit(overloaded{[&](const ExpandingArray<2>& p) {
                                 return ark::conv2d(input, weight, o.bias(), o.stride(), p, o.dilation(), o.groups());
                               },
                               [&](auto tag) {
                                 return ark::conv2d(input, weight, o.bias(), o.stride(), padding_string(tag), o.dilation(),
                                                    o.groups());
                               }},
                    o.padding());
}

Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const ConvTranspose2dFuncOptions& o) {
  return ark::conv_transpose2d(input, weight, o.bias(), o.stride(), o.padding(), o.output_padding(), o.groups(),
                               o.dilation());
}

Tensor max_pool2d(const Tensor& input, const MaxPool2dFuncOptions& o) {
  return ark::max_pool2d(input, o.kernel_size(), o.stride(), o.padding(), o.dilation(), o.ceil_mode());
}

Tensor avg_pool2d(const Tensor& input, const AvgPool2dFuncOptions& o) {
  return ark::avg_pool2d(input, o.kernel_size(), o.stride(), o.padding(), o.ceil_mode(), o.count_include_pad(),
                         o.divisor_override());
}

Tensor adaptive_avg_pool2d(const Tensor& input, const AdaptiveAvgPool2dFuncOptions& o) {
  ARK_CHECK(input.dim() == 3 || input.dim() == 4, "adaptive_avg_pool2d: expected 3-D or 4-D input, got ", input.dim(),
            "-D input of shape ", input.sizes());
  DimVector out(2);
  for (size_t i = 0; i < 2; ++i) out[i] = o.output_size()[i].value_or(input.size(input.dim() - 2 + static_cast<int64_t>(i)));
  return ark::adaptive_avg_pool2d(input, out);
}

// ---- normalisation ----
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const BatchNormFuncOptions& o) {
  ARK_CHECK(o.momentum().has_value() || !o.training() || !running_mean.defined(),
            "batch_norm: momentum must be set when training with running statistics (the module computes the "
            "cumulative-average factor itself)");
  return ark::batch_norm(input, o.weight(), o.bias(), running_mean, running_var, o.training(), o.momentum().value_or(0.0),
                         o.eps());
}

Tensor layer_norm(const Tensor& input, const LayerNormFuncOptions& o) {
  return ark::layer_norm(input, o.normalized_shape(), o.weight(), o.bias(), o.eps());
}

Tensor group_norm(const Tensor& input, const GroupNormFuncOptions& o) {
  return ark::group_norm(input, o.num_groups(), o.weight(), o.bias(), o.eps());
}

Tensor rms_norm(const Tensor& input, const RMSNormFuncOptions& o) {
  return ark::rms_norm(input, o.normalized_shape(), o.weight(), o.eps());
}

Tensor normalize(const Tensor& input, const NormalizeFuncOptions& o) {
  Tensor denom = input.norm(o.p(), {o.dim()}, /*keepdim=*/true).clamp_min(o.eps());
  return input / denom;
}

// ---- embedding ----
Tensor embedding(const Tensor& input, const Tensor& weight, const EmbeddingFuncOptions& o) {
  int64_t padding_idx = -1;
  if (o.padding_idx()) {
    const int64_t n = weight.size(0), p = *o.padding_idx();
    ARK_CHECK(p < n && p >= -n, "embedding: padding_idx must be within num_embeddings (", n, "), got ", p);
    padding_idx = p < 0 ? p + n : p;
  }
  if (o.max_norm()) {
    // embedding_renorm_: rows looked up whose norm exceeds max_norm are scaled down in place.
    NoGradGuard no_grad;
    Tensor idx = input.reshape({-1}).to(kLong);
    Tensor rows = weight.index_select(0, idx);
    Tensor norms = rows.norm(o.norm_type(), {1}, /*keepdim=*/true);
    Tensor scale = ark::where(norms > *o.max_norm(), *o.max_norm() / (norms + 1e-7), ones_like(norms));
    Tensor w = weight;
    w.copy_(ark::index_put(weight, {idx}, rows * scale));
  }
  return ark::embedding(weight, input, padding_idx, o.scale_grad_by_freq(), o.sparse());
}

Tensor one_hot(const Tensor& tensor, int64_t num_classes) { return ark::one_hot(tensor, num_classes); }

// ---- losses ----
Tensor cross_entropy(const Tensor& input, const Tensor& target, const CrossEntropyFuncOptions& o) {
  return ark::cross_entropy_loss(input, target, o.weight(), nn::detail::reduction_value(o.reduction()), o.ignore_index(),
                                 o.label_smoothing());
}
Tensor nll_loss(const Tensor& input, const Tensor& target, const NLLLossFuncOptions& o) {
  return ark::nll_loss(input, target, o.weight(), nn::detail::reduction_value(o.reduction()), o.ignore_index());
}
Tensor mse_loss(const Tensor& input, const Tensor& target, const MSELossFuncOptions& o) {
  return ark::mse_loss(input, target, nn::detail::reduction_value(o.reduction()));
}
Tensor l1_loss(const Tensor& input, const Tensor& target, const L1LossFuncOptions& o) {
  return ark::l1_loss(input, target, nn::detail::reduction_value(o.reduction()));
}
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, const SmoothL1LossFuncOptions& o) {
  return ark::smooth_l1_loss(input, target, nn::detail::reduction_value(o.reduction()), o.beta());
}
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const BinaryCrossEntropyFuncOptions& o) {
  return ark::binary_cross_entropy(input, target, o.weight(), nn::detail::reduction_value(o.reduction()));
}
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BinaryCrossEntropyWithLogitsFuncOptions& o) {
  return ark::binary_cross_entropy_with_logits(input, target, o.weight(), o.pos_weight(),
                                               nn::detail::reduction_value(o.reduction()));
}

// ---- resampling and geometry ----
Tensor interpolate(const Tensor& input, const InterpolateFuncOptions& o) {
  const std::string mode = enumtype::get_enum_name(o.mode());
  ARK_CHECK(input.dim() == 4, "interpolate: only 4-D (N, C, H, W) input is supported, got ", input.dim(),
            "-D input of shape ", input.sizes());
  ARK_CHECK(o.size().has_value() != o.scale_factor().has_value(),
            "interpolate: exactly one of size and scale_factor must be given");
  const bool linear_mode = std::holds_alternative<enumtype::kLinear>(o.mode()) ||
                           std::holds_alternative<enumtype::kBilinear>(o.mode()) ||
                           std::holds_alternative<enumtype::kBicubic>(o.mode()) ||
                           std::holds_alternative<enumtype::kTrilinear>(o.mode());
  ARK_CHECK(linear_mode || !o.align_corners().has_value(), "interpolate: align_corners option can only be set with "
            "the interpolating modes: linear | bilinear | bicubic | trilinear (mode is '", mode, "')");
  DimVector out(2);
  if (o.size()) {
    const auto& s = *o.size();
    ARK_CHECK(s.size() == 1 || s.size() == 2, "interpolate: size must have 1 or 2 entries for 4-D input, got ", s.size());
    out = {s[0], s.size() == 2 ? s[1] : s[0]};
  } else {
    const auto& f = *o.scale_factor();
    ARK_CHECK(f.size() == 1 || f.size() == 2, "interpolate: scale_factor must have 1 or 2 entries for 4-D input, got ",
              f.size());
    for (size_t i = 0; i < 2; ++i) {
      const double s = f.size() == 2 ? f[i] : f[0];
      out[i] = static_cast<int64_t>(std::floor(static_cast<double>(input.size(2 + static_cast<int64_t>(i))) * s));
    }
  }
  if (std::holds_alternative<enumtype::kNearest>(o.mode())) return ark::upsample_nearest2d(input, out);
  if (std::holds_alternative<enumtype::kBilinear>(o.mode()))
    return ark::upsample_bilinear2d(input, out, o.align_corners().value_or(false));
  if (std::holds_alternative<enumtype::kArea>(o.mode())) return ark::adaptive_avg_pool2d(input, out);
  ARK_ERROR("interpolate: mode '", mode, "' is not implemented for 4-D input (nearest, bilinear and area are)");
}

Tensor pad(const Tensor& input, const PadFuncOptions& o) {
  const std::string mode = enumtype::get_enum_name(o.mode());
  if (mode == "constant") return ark::pad(input, o.pad(), mode, o.value());
  return ark::pad(input, o.pad(), mode);
}

Tensor cosine_similarity(const Tensor& x1, const Tensor& x2, const CosineSimilarityFuncOptions& o) {
  // ark::broadcast_tensors is declared in ops.h but not defined yet; expand to the common shape.
  const DimVector shape = ark::broadcast_shapes(x1.sizes(), x2.sizes());
  const Tensor b[2] = {x1.expand(shape), x2.expand(shape)};
  // The clamp is applied without a gradient (PyTorch clamps the norms under no_grad), so the
  // gradient flows as if through the unclamped norm.
  auto clamped_norm = [&](const Tensor& x) {
    Tensor n = x.norm(2, {o.dim()}, /*keepdim=*/true);
    return n + (n.clamp_min(o.eps()) - n).detach();
  };
  return ((b[0] / clamped_norm(b[0])) * (b[1] / clamped_norm(b[1]))).sum({o.dim()});
}

}  // namespace ark::nn::functional
