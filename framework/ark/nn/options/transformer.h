// Options of MultiheadAttention and TransformerEncoderLayer, with PyTorch 1.13's arguments and
// defaults (libtorch's nn/options/activation.h and transformerlayer.h, plus batch_first,
// layer_norm_eps and norm_first that libtorch lacks).
#pragma once
#include <cstdint>
#include <functional>
#include <variant>

#include "ark/core/tensor.h"
#include "ark/nn/arg.h"
#include "ark/nn/enum.h"

namespace ark::nn {

struct MultiheadAttentionOptions {
  MultiheadAttentionOptions(int64_t embed_dim, int64_t num_heads)
      : embed_dim_(embed_dim), num_heads_(num_heads), kdim_(embed_dim), vdim_(embed_dim) {}
  ARK_ARG(int64_t, embed_dim);
  ARK_ARG(int64_t, num_heads);
  /// Dropout on the attention weights (training only).
  ARK_ARG(double, dropout) = 0.0;
  ARK_ARG(bool, bias) = true;
  /// Learned bias_k/bias_v appended to the key/value sequences.
  ARK_ARG(bool, add_bias_kv) = false;
  /// A zero key/value appended to the sequences after projection.
  ARK_ARG(bool, add_zero_attn) = false;
  ARK_ARG(int64_t, kdim);
  ARK_ARG(int64_t, vdim);
  /// Inputs are (N, L, E) instead of (L, N, E).
  ARK_ARG(bool, batch_first) = false;
};

using TransformerActivation = std::function<Tensor(const Tensor&)>;
using transformer_activation_t = std::variant<enumtype::kReLU, enumtype::kGELU, TransformerActivation>;

struct TransformerEncoderLayerOptions {
  TransformerEncoderLayerOptions(int64_t d_model, int64_t nhead) : d_model_(d_model), nhead_(nhead) {}
  ARK_ARG(int64_t, d_model);
  ARK_ARG(int64_t, nhead);
  ARK_ARG(int64_t, dim_feedforward) = 2048;
  ARK_ARG(double, dropout) = 0.1;
  /// ark::kReLU, ark::kGELU or any Tensor(const Tensor&) function.
  ARK_ARG(transformer_activation_t, activation) = enumtype::kReLU{};
  ARK_ARG(double, layer_norm_eps) = 1e-5;
  ARK_ARG(bool, batch_first) = false;
  /// Pre-norm (x + sa(norm1(x))) instead of post-norm (norm1(x + sa(x))).
  ARK_ARG(bool, norm_first) = false;
};

}  // namespace ark::nn
