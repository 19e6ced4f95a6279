// MultiheadAttention. ref: torch/nn/modules/activation.py MultiheadAttention and
// torch/nn/functional.py multi_head_attention_forward (PyTorch 1.13), followed step by step so
// results agree to rounding.
#include "ark/nn/modules/attention.h"

#include <cmath>
#include <limits>

#include "ark/nn/functional.h"
#include "ark/nn/init.h"
#include "ark/ops/ops.h"

namespace ark::nn {

namespace {
// Appends one column (false / 0) to a mask's last dim: the extra key of bias_kv / zero_attn.
Tensor pad_mask_column(const Tensor& mask) {
  if (!mask.defined()) return mask;
  DimVector shape = mask.sizes().vec();
  shape.back() = 1;
  return ark::cat({mask, ark::zeros(shape, mask.options())}, -1);
}
}  // namespace

MultiheadAttentionImpl::MultiheadAttentionImpl(const MultiheadAttentionOptions& options_) : options(options_) {
  const int64_t E = options.embed_dim(), H = options.num_heads();
  ARK_CHECK(E > 0 && H > 0, "MultiheadAttention: embed_dim and num_heads must be positive, got ", E, " and ", H);
  head_dim = E / H;
  ARK_CHECK(head_dim * H == E, "MultiheadAttention: embed_dim (", E, ") must be divisible by num_heads (", H, ")");
  qkv_same_embed_dim = options.kdim() == E && options.vdim() == E;
  // Registration order is PyTorch's: in_proj_weight (or q/k/v_proj_weight), in_proj_bias, bias_k,
  // bias_v, then out_proj; state_dict() keys come out in the same order.
  if (qkv_same_embed_dim) {
    in_proj_weight = register_parameter("in_proj_weight", ark::empty({3 * E, E}));
  } else {
    q_proj_weight = register_parameter("q_proj_weight", ark::empty({E, E}));
    k_proj_weight = register_parameter("k_proj_weight", ark::empty({E, options.kdim()}));
    v_proj_weight = register_parameter("v_proj_weight", ark::empty({E, options.vdim()}));
  }
  if (options.bias()) in_proj_bias = register_parameter("in_proj_bias", ark::empty({3 * E}));
  if (options.add_bias_kv()) {
    bias_k = register_parameter("bias_k", ark::empty({1, 1, E}));
    bias_v = register_parameter("bias_v", ark::empty({1, 1, E}));
  }
  out_proj = register_module("out_proj", Linear(LinearOptions(E, E).bias(options.bias())));
  reset_parameters();
}

void MultiheadAttentionImpl::reset_parameters() {
  if (qkv_same_embed_dim) {
    init::xavier_uniform_(in_proj_weight);
  } else {
    init::xavier_uniform_(q_proj_weight);
    init::xavier_uniform_(k_proj_weight);
    init::xavier_uniform_(v_proj_weight);
  }
  if (in_proj_bias.defined()) {
    init::constant_(in_proj_bias, 0.);
    init::constant_(out_proj->bias, 0.);
  }
  if (bias_k.defined()) init::xavier_normal_(bias_k);
  if (bias_v.defined()) init::xavier_normal_(bias_v);
}

std::tuple<Tensor, Tensor> MultiheadAttentionImpl::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                                           const Tensor& key_padding_mask, bool need_weights,
                                                           const Tensor& attn_mask, bool average_attn_weights) {
  Tensor weights;
  Tensor out = with_hooks(query, [&](const Tensor& q) {
    // A pre-hook that replaced the query of self-attention replaces key and value too.
    const Tensor& k = key.is_same(query) ? q : key;
    const Tensor& v = value.is_same(query) ? q : value;
    auto [o, w] = attention(q, k, v, key_padding_mask, need_weights, attn_mask, average_attn_weights);
    weights = w;
    return o;
  });
  return {out, weights};
}

std::tuple<Tensor, Tensor> MultiheadAttentionImpl::attention(const Tensor& query_in, const Tensor& key_in,
                                                             const Tensor& value_in, const Tensor& key_padding_mask_in,
                                                             bool need_weights, const Tensor& attn_mask_in,
                                                             bool average_attn_weights) {
  const int64_t E = options.embed_dim(), H = options.num_heads();
  ARK_CHECK(query_in.dim() == 2 || query_in.dim() == 3, "MultiheadAttention: expected query of shape (L, E) or ",
            options.batch_first() ? "(N, L, E)" : "(L, N, E)", ", got ", query_in.dim(), "-D query of shape ",
            query_in.sizes());
  const bool batched = query_in.dim() == 3;
  ARK_CHECK(key_in.dim() == query_in.dim() && value_in.dim() == query_in.dim(), "MultiheadAttention: query, key and "
            "value must have the same number of dims, got ", query_in.sizes(), ", ", key_in.sizes(), ", ",
            value_in.sizes());
  // Identity of q/k/v decides the packed projection (one matmul for self-attention).
  const bool self_attn = key_in.is_same(query_in) && value_in.is_same(query_in);
  const bool kv_same = value_in.is_same(key_in);
  Tensor query = query_in, key = key_in, value = value_in, kpm = key_padding_mask_in, attn_mask = attn_mask_in;
  if (batched && options.batch_first()) {
    query = query.transpose(0, 1);
    key = key.transpose(0, 1);
    value = value.transpose(0, 1);
  }
  if (!batched) {
    query = query.unsqueeze(1);
    key = key.unsqueeze(1);
    value = value.unsqueeze(1);
    if (kpm.defined()) kpm = kpm.unsqueeze(0);
  }
  const int64_t tgt_len = query.size(0), bsz = query.size(1);
  ARK_CHECK(query.size(2) == E, "MultiheadAttention: was expecting embedding dimension of ", E, ", but got ",
            query.size(2), " (query shape ", query_in.sizes(), ")");
  ARK_CHECK(key.size(2) == options.kdim() && value.size(2) == options.vdim(), "MultiheadAttention: expected key/value "
            "feature sizes ", options.kdim(), "/", options.vdim(), ", got ", key.size(2), "/", value.size(2));
  ARK_CHECK(key.size(0) == value.size(0) && key.size(1) == bsz && value.size(1) == bsz, "MultiheadAttention: key ",
            key_in.sizes(), " and value ", value_in.sizes(), " do not match each other or the query ", query_in.sizes());
  if (kpm.defined()) {
    if (kpm.dtype() == kByte) kpm = kpm.to(kBool);
    ARK_CHECK(kpm.dtype() == kBool || kpm.is_floating_point(), "MultiheadAttention: only bool and floating types of "
              "key_padding_mask are supported, got ", dtype_name(kpm.dtype()));
  }

  // ---- in-projection ----
  Tensor q, k, v;
  if (qkv_same_embed_dim) {
    if (self_attn) {
      std::vector<Tensor> qkv = F::linear(query, in_proj_weight, in_proj_bias).chunk(3, -1);
      q = qkv[0], k = qkv[1], v = qkv[2];
    } else if (kv_same) {
      std::vector<Tensor> w = in_proj_weight.split_with_sizes({E, 2 * E});
      std::vector<Tensor> b = in_proj_bias.defined() ? in_proj_bias.split_with_sizes({E, 2 * E}) : std::vector<Tensor>(2);
      q = F::linear(query, w[0], b[0]);
      std::vector<Tensor> kv = F::linear(key, w[1], b[1]).chunk(2, -1);
      k = kv[0], v = kv[1];
    } else {
      std::vector<Tensor> w = in_proj_weight.chunk(3);
      std::vector<Tensor> b = in_proj_bias.defined() ? in_proj_bias.chunk(3) : std::vector<Tensor>(3);
      q = F::linear(query, w[0], b[0]);
      k = F::linear(key, w[1], b[1]);
      v = F::linear(value, w[2], b[2]);
    }
  } else {
    std::vector<Tensor> b = in_proj_bias.defined() ? in_proj_bias.chunk(3) : std::vector<Tensor>(3);
    q = F::linear(query, q_proj_weight, b[0]);
    k = F::linear(key, k_proj_weight, b[1]);
    v = F::linear(value, v_proj_weight, b[2]);
  }

  // ---- masks ----
  if (attn_mask.defined()) {
    if (attn_mask.dtype() == kByte) attn_mask = attn_mask.to(kBool);
    ARK_CHECK(attn_mask.is_floating_point() || attn_mask.dtype() == kBool, "MultiheadAttention: only float, byte, and "
              "bool types are supported for attn_mask, not ", dtype_name(attn_mask.dtype()));
    const int64_t src_len = key.size(0);
    if (attn_mask.dim() == 2) {
      ARK_CHECK(attn_mask.size(0) == tgt_len && attn_mask.size(1) == src_len, "MultiheadAttention: the shape of the 2D "
                "attn_mask is ", attn_mask.sizes(), ", but should be [", tgt_len, ", ", src_len, "]");
      attn_mask = attn_mask.unsqueeze(0);
    } else {
      ARK_CHECK(attn_mask.dim() == 3 && attn_mask.size(0) == bsz * H && attn_mask.size(1) == tgt_len &&
                    attn_mask.size(2) == src_len,
                "MultiheadAttention: the shape of the attn_mask is ", attn_mask.sizes(), ", but should be [", tgt_len,
                ", ", src_len, "] or [", bsz * H, ", ", tgt_len, ", ", src_len, "]");
    }
  }
  if (bias_k.defined()) {
    k = ark::cat({k, bias_k.repeat({1, bsz, 1})});
    v = ark::cat({v, bias_v.repeat({1, bsz, 1})});
    attn_mask = pad_mask_column(attn_mask);
    kpm = pad_mask_column(kpm);
  }
  // (L, N, E) -> (N*H, L, head_dim)
  q = q.contiguous().view({tgt_len, bsz * H, head_dim}).transpose(0, 1);
  k = k.contiguous().view({k.size(0), bsz * H, head_dim}).transpose(0, 1);
  v = v.contiguous().view({v.size(0), bsz * H, head_dim}).transpose(0, 1);
  if (options.add_zero_attn()) {
    k = ark::cat({k, ark::zeros({bsz * H, 1, head_dim}, k.options())}, 1);
    v = ark::cat({v, ark::zeros({bsz * H, 1, head_dim}, v.options())}, 1);
    attn_mask = pad_mask_column(attn_mask);
    kpm = pad_mask_column(kpm);
  }
  const int64_t src_len = k.size(1);
  if (kpm.defined()) {
    ARK_CHECK(kpm.dim() == 2 && kpm.size(0) == bsz && kpm.size(1) == src_len, "MultiheadAttention: expecting "
              "key_padding_mask shape of [", bsz, ", ", src_len, "], but got ", kpm.sizes());
    kpm = kpm.view({bsz, 1, 1, src_len}).expand({-1, H, -1, -1}).reshape({bsz * H, 1, src_len});
    if (kpm.dtype() != kBool) {  // a float mask is added, as attn_mask is
      if (attn_mask.defined() && attn_mask.dtype() == kBool)
        attn_mask = ark::zeros(attn_mask.sizes(), q.options()).masked_fill(attn_mask, -INFINITY);
      attn_mask = attn_mask.defined() ? attn_mask + kpm : kpm;
    } else if (!attn_mask.defined()) {
      attn_mask = kpm;
    } else if (attn_mask.dtype() == kBool) {
      attn_mask = attn_mask.logical_or(kpm);
    } else {
      attn_mask = attn_mask.masked_fill(kpm, -INFINITY);
    }
  }
  if (attn_mask.defined() && attn_mask.dtype() == kBool)
    attn_mask = ark::zeros(attn_mask.sizes(), q.options()).masked_fill(attn_mask, -INFINITY);
  const double dropout_p = is_training() ? options.dropout() : 0.0;

  // ---- attention ----
  Tensor q_scaled = q / std::sqrt(static_cast<double>(head_dim));
  Tensor scores = ark::bmm(q_scaled, k.transpose(-2, -1));
  if (attn_mask.defined()) scores = attn_mask + scores;  // baddbmm(attn_mask, q, k^T)
  Tensor weights = ark::softmax(scores, -1);
  if (dropout_p > 0.0) weights = ark::dropout(weights, dropout_p, true);
  Tensor out = ark::bmm(weights, v);  // (N*H, L, head_dim)
  out = out.transpose(0, 1).contiguous().view({tgt_len * bsz, E});
  out = F::linear(out, out_proj->weight, out_proj->bias).view({tgt_len, bsz, E});

  if (need_weights) {
    weights = weights.view({bsz, H, tgt_len, src_len});
    if (average_attn_weights) weights = weights.sum({1}) / static_cast<double>(H);
    if (!batched) weights = weights.squeeze(0);
  } else {
    weights = Tensor();
  }
  if (!batched) out = out.squeeze(1);
  else if (options.batch_first()) out = out.transpose(0, 1);
  return {out, weights};
}

}  // namespace ark::nn
