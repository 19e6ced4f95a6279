// GPT-2 as Hugging Face's modeling_gpt2.py, with its parameter names and config.json fields, so
// hub checkpoints load unchanged:
//   transformer.{wte, wpe}, transformer.h.N.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc,
//   mlp.c_proj}, transformer.ln_f; GPT2LMHeadModel's lm_head is tied to transformer.wte (not a
//   parameter of its own); GPT2ForSequenceClassification adds score (no bias).
// Conv1D weights are stored [in, out] (weight compat requires it: the checkpoints are so) and
// multiplied as they are, without a transpose copy. The causal-mask buffers attn.bias and
// attn.masked_bias of old checkpoints are not state (loaders skip them).
// Deliberately left out: cross-attention (add_cross_attention), head_mask, reorder_and_upcast_attn
// (float32 already), summary heads (GPT2DoubleHeadsModel).
#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "ark/models/generation.h"

namespace ark::models {

struct GPT2Config {
  int64_t vocab_size = 50257;
  int64_t n_positions = 1024;    // the context length
  int64_t n_embd = 768;
  int64_t n_layer = 12;
  int64_t n_head = 12;
  int64_t n_inner = 0;           // MLP width; 0 = 4 * n_embd
  std::string activation_function = "gelu_new";  // gelu_new / gelu_pytorch_tanh / gelu_fast (tanh), gelu, relu, silu
  double resid_pdrop = 0.1;
  double embd_pdrop = 0.1;
  double attn_pdrop = 0.1;
  double layer_norm_epsilon = 1e-5;
  double initializer_range = 0.02;
  bool scale_attn_weights = true;               // scores / sqrt(head_dim)
  bool scale_attn_by_inverse_layer_idx = false;  // and / (layer + 1)
  int64_t num_labels = 2;        // GPT2ForSequenceClassification
  int64_t bos_token_id = 50256;
  std::vector<int64_t> eos_token_ids = {50256};
  int64_t pad_token_id = -1;     // -1: none

  /// From a Hugging Face config.json (unknown fields ignored, missing or null ones default;
  /// wrong types and out-of-range values are errors naming the field).
  static GPT2Config from_json(const nlohmann::json& config);
};

/// HF's Conv1D: y = x @ weight + bias with weight (in_features, out_features), drawn N(0, std)
/// (unless hf::init_enabled() is off), bias zero.
class Conv1DImpl : public nn::Module {
 public:
  Conv1DImpl(int64_t in_features, int64_t out_features, double std = 0.02);
  Tensor forward(const Tensor& x);  // (*, in) -> (*, out)
  Tensor weight, bias;
};
ARK_MODULE(Conv1D);

class GPT2AttentionImpl : public nn::Module {
 public:
  GPT2AttentionImpl(const GPT2Config& config, int64_t layer_idx);
  /// (B, L, C) -> (B, L, C); with a cache, appends this layer's keys and values to it.
  Tensor forward(const Tensor& x, KVCache* cache, const detail::CausalMask& mask);

  Conv1D c_attn = nullptr, c_proj = nullptr;

 private:
  int64_t layer_idx_, n_head_, n_embd_;
  double scale_, attn_pdrop_, resid_pdrop_;
};
ARK_MODULE(GPT2Attention);

class GPT2MLPImpl : public nn::Module {
 public:
  explicit GPT2MLPImpl(const GPT2Config& config);
  Tensor forward(const Tensor& x);

  Conv1D c_fc = nullptr, c_proj = nullptr;

 private:
  std::string act_;
  double resid_pdrop_;
};
ARK_MODULE(GPT2MLP);

/// Pre-norm block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).
class GPT2BlockImpl : public nn::Module {
 public:
  GPT2BlockImpl(const GPT2Config& config, int64_t layer_idx);
  Tensor forward(const Tensor& x, KVCache* cache, const detail::CausalMask& mask);

  nn::LayerNorm ln_1 = nullptr;
  GPT2Attention attn = nullptr;
  nn::LayerNorm ln_2 = nullptr;
  GPT2MLP mlp = nullptr;
};
ARK_MODULE(GPT2Block);

class GPT2ModelImpl : public nn::Module {
 public:
  explicit GPT2ModelImpl(const GPT2Config& config);
  /// input_ids (B, L) -> the last hidden state after ln_f (B, L, n_embd). cache, attention_mask
  /// and position_ids as CausalLM::forward. hidden_states, if given, receives HF's
  /// output_hidden_states: the embeddings, then each block's output, the last one after ln_f.
  Tensor forward(const Tensor& input_ids, KVCache* cache = nullptr, const Tensor& attention_mask = {},
                 const Tensor& position_ids = {}, std::vector<Tensor>* hidden_states = nullptr);

  GPT2Config config;
  nn::Embedding wte = nullptr, wpe = nullptr;
  nn::ModuleList h = nullptr;
  std::vector<GPT2Block> blocks;  // the children of h, typed
  nn::LayerNorm ln_f = nullptr;
};
ARK_MODULE(GPT2Model);

class GPT2LMHeadModel : public CausalLM {
 public:
  explicit GPT2LMHeadModel(const GPT2Config& config);
  Tensor forward_hidden(const Tensor& input_ids, KVCache* cache = nullptr, const Tensor& attention_mask = {},
                        const Tensor& position_ids = {}) override;
  /// The tied head: hidden @ wte.weight^T.
  Tensor logits(const Tensor& hidden) override;
  KVCache make_cache(int64_t batch_size, int64_t max_length) const override;
  int64_t context_length() const override { return config.n_positions; }
  int64_t vocab_size() const override { return config.vocab_size; }

  GPT2Config config;
  GPT2Model transformer = nullptr;
};

/// The last non-padding token's hidden state -> score (HF's pooling: the last token that is not
/// pad_token_id in each row, so left and right padding both work).
class GPT2ForSequenceClassification : public nn::Module {
 public:
  explicit GPT2ForSequenceClassification(const GPT2Config& config);
  /// input_ids (B, T), attention_mask (B, T) or undefined -> logits (B, num_labels).
  Tensor forward(const Tensor& input_ids, const Tensor& attention_mask = {});
  /// A fresh score layer for num_labels outputs (N(0, initializer_range), as HF initialises it).
  void reset_classifier(int64_t num_labels);

  GPT2Config config;
  GPT2Model transformer = nullptr;
  nn::Linear score = nullptr;
};

}  // namespace ark::models
