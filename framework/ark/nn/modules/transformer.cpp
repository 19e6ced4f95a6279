// TransformerEncoderLayer. ref: torch/nn/modules/transformer.py (PyTorch 1.13), the slow path
// (the fused fast path is an inference optimisation with the same result).
#include "ark/nn/modules/transformer.h"

#include "ark/nn/functional.h"

namespace ark::nn {

TransformerEncoderLayerImpl::TransformerEncoderLayerImpl(const TransformerEncoderLayerOptions& options_)
    : options(options_) {
  const int64_t d = options.d_model(), ff = options.dim_feedforward();
  // Registered in PyTorch's order, so state_dict() keys line up with torch's.
  self_attn = register_module("self_attn", MultiheadAttention(MultiheadAttentionOptions(d, options.nhead())
                                                                  .dropout(options.dropout())
                                                                  .batch_first(options.batch_first())));
  linear1 = register_module("linear1", Linear(d, ff));
  dropout = register_module("dropout", Dropout(options.dropout()));
  linear2 = register_module("linear2", Linear(ff, d));
  norm1 = register_module("norm1", LayerNorm(LayerNormOptions({d}).eps(options.layer_norm_eps())));
  norm2 = register_module("norm2", LayerNorm(LayerNormOptions({d}).eps(options.layer_norm_eps())));
  dropout1 = register_module("dropout1", Dropout(options.dropout()));
  dropout2 = register_module("dropout2", Dropout(options.dropout()));
}

Tensor TransformerEncoderLayerImpl::activation(const Tensor& x) const {
  const auto& a = options.activation();
  if (std::holds_alternative<enumtype::kReLU>(a)) return F::relu(x);
  if (std::holds_alternative<enumtype::kGELU>(a)) return F::gelu(x);
  const auto& fn = std::get<TransformerActivation>(a);
  ARK_CHECK(fn != nullptr, "TransformerEncoderLayer: the activation function is empty");
  return fn(x);
}

Tensor TransformerEncoderLayerImpl::sa_block(const Tensor& x, const Tensor& attn_mask, const Tensor& key_padding_mask) {
  Tensor y = std::get<0>(self_attn->forward(x, x, x, key_padding_mask, /*need_weights=*/false, attn_mask));
  return dropout1->forward(y);
}

Tensor TransformerEncoderLayerImpl::ff_block(const Tensor& x) {
  return dropout2->forward(linear2->forward(dropout->forward(activation(linear1->forward(x)))));
}

Tensor TransformerEncoderLayerImpl::forward(const Tensor& src, const Tensor& src_mask, const Tensor& src_key_padding_mask) {
  return with_hooks(src, [&](const Tensor& x_in) {
    Tensor x = x_in;
    if (options.norm_first()) {
      x = x + sa_block(norm1->forward(x), src_mask, src_key_padding_mask);
      x = x + ff_block(norm2->forward(x));
    } else {
      x = norm1->forward(x + sa_block(x, src_mask, src_key_padding_mask));
      x = norm2->forward(x + ff_block(x));
    }
    return x;
  });
}

}  // namespace ark::nn
