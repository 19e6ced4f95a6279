// MultiheadAttention (torch.nn.MultiheadAttention of PyTorch 1.13): parameter names and layout
// (in_proj_weight (3E, E), in_proj_bias (3E), out_proj.weight/bias; q/k/v_proj_weight when
// kdim/vdim differ from embed_dim; bias_k/bias_v with add_bias_kv), batch_first, unbatched
// (L, E) input, attn_mask (bool: true = may NOT attend; float: added) and key_padding_mask
// (bool: true = ignore that key), need_weights with head-averaged weights.
// Forward hooks see `query` and the attention output.
#pragma once
#include <cstdint>
#include <tuple>

#include "ark/nn/module.h"
#include "ark/nn/modules/linear.h"
#include "ark/nn/options/transformer.h"

namespace ark::nn {

class MultiheadAttentionImpl : public Module {
 public:
  MultiheadAttentionImpl(int64_t embed_dim, int64_t num_heads)
      : MultiheadAttentionImpl(MultiheadAttentionOptions(embed_dim, num_heads)) {}
  explicit MultiheadAttentionImpl(const MultiheadAttentionOptions& options);
  /// xavier_uniform_ projections, zero biases, xavier_normal_ bias_k/bias_v (PyTorch's
  /// _reset_parameters); out_proj.weight keeps Linear's default init.
  void reset_parameters();
  /// query (L, N, E), key/value (S, N, kdim/vdim); (N, L, E) with batch_first; or unbatched.
  /// Returns (attn_output like query, weights (N, L, S) averaged over heads, or (N, H, L, S)
  /// with average_attn_weights=false; undefined when need_weights is false).
  std::tuple<Tensor, Tensor> forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                     const Tensor& key_padding_mask = {}, bool need_weights = true,
                                     const Tensor& attn_mask = {}, bool average_attn_weights = true);

  MultiheadAttentionOptions options;
  int64_t head_dim = 0;
  bool qkv_same_embed_dim = true;
  Tensor in_proj_weight, in_proj_bias;
  Tensor q_proj_weight, k_proj_weight, v_proj_weight;  // only when kdim/vdim != embed_dim
  Tensor bias_k, bias_v;                               // only with add_bias_kv
  Linear out_proj = nullptr;

 private:
  std::tuple<Tensor, Tensor> attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                       const Tensor& key_padding_mask, bool need_weights, const Tensor& attn_mask,
                                       bool average_attn_weights);
};
ARK_MODULE(MultiheadAttention);

}  // namespace ark::nn
