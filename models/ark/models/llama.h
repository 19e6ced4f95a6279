// LLaMA-style decoders as Hugging Face's modeling_llama.py (TinyLlama, SmolLM, OpenLLaMA, Llama-2
// checkpoints), with its parameter names and config.json fields:
//   model.embed_tokens, model.layers.N.{input_layernorm, self_attn.{q,k,v,o}_proj, post_attention_layernorm,
//   mlp.{gate,up,down}_proj}, model.norm, lm_head (absent with tie_word_embeddings: the head reads
//   model.embed_tokens); LlamaForSequenceClassification adds score (no bias).
// RMSNorm in float32, rotary embeddings with rope_theta in HF's rotate_half layout (the two halves
// of each head, not interleaved pairs: weight compat requires it, HF's conversion permuted q/k
// for it), SwiGLU MLP, grouped-query attention (num_key_value_heads) without copying keys.
// Deliberately left out: rope_scaling (linear, dynamic, llama3, yarn: a config with one is an
// error), pretraining_tp > 1 slicing, sliding windows.
#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "ark/models/generation.h"

namespace ark::models {

struct LlamaConfig {
  int64_t vocab_size = 32000;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 11008;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 0;   // 0 = num_attention_heads (no GQA)
  int64_t head_dim = 0;              // 0 = hidden_size / num_attention_heads
  std::string hidden_act = "silu";
  int64_t max_position_embeddings = 2048;  // the context length
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool attention_bias = false;       // biases on q, k, v and o projections
  bool mlp_bias = false;
  double attention_dropout = 0.0;
  bool tie_word_embeddings = false;
  double initializer_range = 0.02;
  int64_t num_labels = 2;            // LlamaForSequenceClassification
  int64_t bos_token_id = 1;
  std::vector<int64_t> eos_token_ids = {2};
  int64_t pad_token_id = -1;         // -1: none

  int64_t kv_heads() const { return num_key_value_heads > 0 ? num_key_value_heads : num_attention_heads; }
  int64_t head_size() const { return head_dim > 0 ? head_dim : hidden_size / num_attention_heads; }
  /// From a Hugging Face config.json (unknown fields ignored, missing or null ones default; wrong
  /// types, out-of-range values and rope_scaling are errors naming the field).
  static LlamaConfig from_json(const nlohmann::json& config);
};

/// HF's LlamaRMSNorm: computed in float32, weight applied in the input's dtype.
class LlamaRMSNormImpl : public nn::Module {
 public:
  LlamaRMSNormImpl(int64_t hidden_size, double eps);
  Tensor forward(const Tensor& x);
  Tensor weight;

 private:
  double eps_;
};
ARK_MODULE(LlamaRMSNorm);

/// cos and sin (B, 1, L, head_dim) of the rotary embedding at position_ids (B, L).
struct Rotary {
  Tensor cos, sin;
};

class LlamaAttentionImpl : public nn::Module {
 public:
  LlamaAttentionImpl(const LlamaConfig& config, int64_t layer_idx);
  Tensor forward(const Tensor& x, KVCache* cache, const detail::CausalMask& mask, const Rotary& rotary);

  nn::Linear q_proj = nullptr, k_proj = nullptr, v_proj = nullptr, o_proj = nullptr;

 private:
  int64_t layer_idx_, n_head_, n_kv_, head_dim_;
  double dropout_;
};
ARK_MODULE(LlamaAttention);

/// SwiGLU: down_proj(act(gate_proj(x)) * up_proj(x)).
class LlamaMLPImpl : public nn::Module {
 public:
  explicit LlamaMLPImpl(const LlamaConfig& config);
  Tensor forward(const Tensor& x);

  nn::Linear gate_proj = nullptr, up_proj = nullptr, down_proj = nullptr;

 private:
  std::string act_;
};
ARK_MODULE(LlamaMLP);

class LlamaDecoderLayerImpl : public nn::Module {
 public:
  LlamaDecoderLayerImpl(const LlamaConfig& config, int64_t layer_idx);
  Tensor forward(const Tensor& x, KVCache* cache, const detail::CausalMask& mask, const Rotary& rotary);

  LlamaAttention self_attn = nullptr;
  LlamaMLP mlp = nullptr;
  LlamaRMSNorm input_layernorm = nullptr, post_attention_layernorm = nullptr;
};
ARK_MODULE(LlamaDecoderLayer);

class LlamaModelImpl : public nn::Module {
 public:
  explicit LlamaModelImpl(const LlamaConfig& config);
  /// As GPT2Model::forward: input_ids (B, L) -> hidden states after model.norm (B, L, hidden_size).
  Tensor forward(const Tensor& input_ids, KVCache* cache = nullptr, const Tensor& attention_mask = {},
                 const Tensor& position_ids = {}, std::vector<Tensor>* hidden_states = nullptr);
  /// The rotary cos/sin for position_ids (B, L), in `dtype`.
  Rotary rotary(const Tensor& position_ids, ScalarType dtype) const;

  LlamaConfig config;
  nn::Embedding embed_tokens = nullptr;
  nn::ModuleList layers = nullptr;
  std::vector<LlamaDecoderLayer> blocks;  // the children of layers, typed
  LlamaRMSNorm norm = nullptr;

 private:
  Tensor inv_freq_;  // (head_dim / 2) float32; not state (HF's non-persistent buffer)
};
ARK_MODULE(LlamaModel);

class LlamaForCausalLM : public CausalLM {
 public:
  explicit LlamaForCausalLM(const LlamaConfig& config);
  Tensor forward_hidden(const Tensor& input_ids, KVCache* cache = nullptr, const Tensor& attention_mask = {},
                        const Tensor& position_ids = {}) override;
  Tensor logits(const Tensor& hidden) override;
  KVCache make_cache(int64_t batch_size, int64_t max_length) const override;
  int64_t context_length() const override { return config.max_position_embeddings; }
  int64_t vocab_size() const override { return config.vocab_size; }

  LlamaConfig config;
  LlamaModel model = nullptr;
  nn::Linear lm_head = nullptr;  // empty with tie_word_embeddings
};

/// The last non-padding token's hidden state -> score, as GPT2ForSequenceClassification.
class LlamaForSequenceClassification : public nn::Module {
 public:
  explicit LlamaForSequenceClassification(const LlamaConfig& config);
  /// input_ids (B, T), attention_mask (B, T) or undefined -> logits (B, num_labels).
  Tensor forward(const Tensor& input_ids, const Tensor& attention_mask = {});
  void reset_classifier(int64_t num_labels);

  LlamaConfig config;
  LlamaModel model = nullptr;
  nn::Linear score = nullptr;
};

}  // namespace ark::models
