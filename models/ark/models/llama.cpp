// LLaMA-style decoders. ref: transformers models/llama/modeling_llama.py (LlamaRMSNorm,
// LlamaRotaryEmbedding + rotate_half/apply_rotary_pos_emb, repeat_kv, LlamaAttention, LlamaMLP,
// LlamaDecoderLayer, LlamaModel, LlamaForCausalLM, LlamaForSequenceClassification, _init_weights).
#include "ark/models/llama.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "ark/models/hf.h"

namespace ark::models {

LlamaConfig LlamaConfig::from_json(const nlohmann::json& j) {
  LlamaConfig c;
  c.vocab_size = hf::config_int(j, "vocab_size", c.vocab_size, 1);
  c.hidden_size = hf::config_int(j, "hidden_size", c.hidden_size, 1);
  c.intermediate_size = hf::config_int(j, "intermediate_size", c.intermediate_size, 1);
  c.num_hidden_layers = hf::config_int(j, "num_hidden_layers", c.num_hidden_layers, 1);
  c.num_attention_heads = hf::config_int(j, "num_attention_heads", c.num_attention_heads, 1);
  c.num_key_value_heads = hf::config_int(j, "num_key_value_heads", 0, 0);
  c.head_dim = hf::config_int(j, "head_dim", 0, 0);
  c.hidden_act = hf::config_string(j, "hidden_act", c.hidden_act);
  c.max_position_embeddings = hf::config_int(j, "max_position_embeddings", c.max_position_embeddings, 1);
  c.rms_norm_eps = hf::config_double(j, "rms_norm_eps", c.rms_norm_eps);
  c.rope_theta = hf::config_double(j, "rope_theta", c.rope_theta);
  c.attention_bias = hf::config_bool(j, "attention_bias", c.attention_bias);
  c.mlp_bias = hf::config_bool(j, "mlp_bias", c.mlp_bias);
  c.attention_dropout = hf::config_double(j, "attention_dropout", c.attention_dropout);
  c.tie_word_embeddings = hf::config_bool(j, "tie_word_embeddings", c.tie_word_embeddings);
  c.initializer_range = hf::config_double(j, "initializer_range", c.initializer_range);
  c.num_labels = detail::config_num_labels(j, c.num_labels);
  c.bos_token_id = hf::config_int(j, "bos_token_id", c.bos_token_id, -1);
  c.eos_token_ids = detail::config_token_ids(j, "eos_token_id", c.eos_token_ids);
  c.pad_token_id = hf::config_int(j, "pad_token_id", -1, -1);
  if (auto it = j.find("rope_scaling"); it != j.end() && !it->is_null())
    ARK_ERROR("LlamaConfig: rope_scaling ", it->dump(), " is not supported (only plain rotary embeddings with rope_theta)");
  return c;
}

namespace {

void check_config(const LlamaConfig& c) {
  ARK_CHECK(c.vocab_size > 0 && c.hidden_size > 0 && c.intermediate_size > 0 && c.num_hidden_layers > 0 &&
                c.num_attention_heads > 0 && c.max_position_embeddings > 0,
            "LlamaConfig: sizes must be positive");
  ARK_CHECK(c.head_dim > 0 || c.hidden_size % c.num_attention_heads == 0, "LlamaConfig: hidden_size (", c.hidden_size,
            ") must be divisible by num_attention_heads (", c.num_attention_heads, ") unless head_dim is given");
  ARK_CHECK(c.head_size() % 2 == 0, "LlamaConfig: the head size (", c.head_size(), ") must be even for rotary embeddings");
  ARK_CHECK(c.num_attention_heads % c.kv_heads() == 0, "LlamaConfig: num_attention_heads (", c.num_attention_heads,
            ") must be a multiple of num_key_value_heads (", c.kv_heads(), ")");
  ARK_CHECK(c.rope_theta > 0, "LlamaConfig: rope_theta must be positive, got ", c.rope_theta);
  hf::check_activation(c.hidden_act);
}

nn::Linear make_linear(int64_t in, int64_t out, bool bias) {
  return nn::Linear(nn::LinearOptions(in, out).bias(bias));
}

// rotate_half(x) = cat(-x2, x1) over the two halves of the last dim.
Tensor rotate_half(const Tensor& x) {
  const int64_t h = x.size(-1) / 2;
  return cat({neg(x.narrow(-1, h, h)), x.narrow(-1, 0, h)}, -1);
}

Tensor apply_rotary(const Tensor& x, const Rotary& r) { return x * r.cos + rotate_half(x) * r.sin; }

}  // namespace

// ---- layers ----

LlamaRMSNormImpl::LlamaRMSNormImpl(int64_t hidden_size, double eps) : nn::Module("LlamaRMSNorm"), eps_(eps) {
  weight = register_parameter("weight", ones({hidden_size}));
}

Tensor LlamaRMSNormImpl::forward(const Tensor& x) {
  if (x.dtype() == kFloat) return rms_norm(x, {x.size(-1)}, weight, eps_);
  return weight * rms_norm(x.to(kFloat), {x.size(-1)}, {}, eps_).to(x.dtype());
}

LlamaAttentionImpl::LlamaAttentionImpl(const LlamaConfig& c, int64_t layer_idx)
    : nn::Module("LlamaAttention"),
      layer_idx_(layer_idx),
      n_head_(c.num_attention_heads),
      n_kv_(c.kv_heads()),
      head_dim_(c.head_size()),
      dropout_(c.attention_dropout) {
  q_proj = register_module("q_proj", make_linear(c.hidden_size, n_head_ * head_dim_, c.attention_bias));
  k_proj = register_module("k_proj", make_linear(c.hidden_size, n_kv_ * head_dim_, c.attention_bias));
  v_proj = register_module("v_proj", make_linear(c.hidden_size, n_kv_ * head_dim_, c.attention_bias));
  o_proj = register_module("o_proj", make_linear(n_head_ * head_dim_, c.hidden_size, c.attention_bias));
}

Tensor LlamaAttentionImpl::forward(const Tensor& x, KVCache* cache, const detail::CausalMask& mask,
                                   const Rotary& rotary) {
  const int64_t B = x.size(0), L = x.size(1);
  Tensor q = apply_rotary(q_proj(x).view({B, L, n_head_, head_dim_}).transpose(1, 2), rotary);  // (B, H, L, hd)
  Tensor k = apply_rotary(k_proj(x).view({B, L, n_kv_, head_dim_}).transpose(1, 2), rotary);    // (B, Hkv, L, hd)
  Tensor v = v_proj(x).view({B, L, n_kv_, head_dim_}).transpose(1, 2);
  if (cache) std::tie(k, v) = cache->update(layer_idx_, k, v);
  Tensor o = detail::causal_attention(q, k, v, mask, is_training() ? dropout_ : 0.0,
                                      1.0 / std::sqrt(static_cast<double>(head_dim_)));
  return o_proj(o);
}

LlamaMLPImpl::LlamaMLPImpl(const LlamaConfig& c) : nn::Module("LlamaMLP"), act_(c.hidden_act) {
  gate_proj = register_module("gate_proj", make_linear(c.hidden_size, c.intermediate_size, c.mlp_bias));
  up_proj = register_module("up_proj", make_linear(c.hidden_size, c.intermediate_size, c.mlp_bias));
  down_proj = register_module("down_proj", make_linear(c.intermediate_size, c.hidden_size, c.mlp_bias));
}

Tensor LlamaMLPImpl::forward(const Tensor& x) {
  return down_proj(hf::activation(act_, gate_proj(x)) * up_proj(x));
}

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const LlamaConfig& c, int64_t layer_idx)
    : nn::Module("LlamaDecoderLayer") {
  // HF's registration order: self_attn, mlp, input_layernorm, post_attention_layernorm.
  self_attn = register_module("self_attn", LlamaAttention(c, layer_idx));
  mlp = register_module("mlp", LlamaMLP(c));
  input_layernorm = register_module("input_layernorm", LlamaRMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", LlamaRMSNorm(c.hidden_size, c.rms_norm_eps));
}

Tensor LlamaDecoderLayerImpl::forward(const Tensor& x, KVCache* cache, const detail::CausalMask& mask,
                                      const Rotary& rotary) {
  Tensor h = x + self_attn(input_layernorm(x), cache, mask, rotary);
  return h + mlp(post_attention_layernorm(h));
}

// ---- model ----

LlamaModelImpl::LlamaModelImpl(const LlamaConfig& c) : nn::Module("LlamaModel"), config(c) {
  check_config(c);
  // HF's padding_idx = pad_token_id: that row gets no gradient (and starts at zero).
  auto eo = nn::EmbeddingOptions(c.vocab_size, c.hidden_size)._weight(empty({c.vocab_size, c.hidden_size}));
  if (c.pad_token_id >= 0 && c.pad_token_id < c.vocab_size) eo.padding_idx(c.pad_token_id);
  embed_tokens = register_module("embed_tokens", nn::Embedding(eo));
  layers = register_module("layers", nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    blocks.emplace_back(c, i);
    layers->push_back(blocks.back());
  }
  norm = register_module("norm", LlamaRMSNorm(c.hidden_size, c.rms_norm_eps));
  // HF's _init_weights: N(0, initializer_range) for Linear and Embedding weights (the padding
  // row zero), zero biases; skipped when from_pretrained will load the weights.
  if (hf::init_enabled()) {
    NoGradGuard no_grad;
    for (auto& item : named_parameters()) {
      Tensor& p = item.value();
      if (item.key().find("norm") != std::string::npos) continue;  // RMSNorm weights start at one
      if (item.key().ends_with("bias")) p.zero_();
      else nn::init::normal_(p, 0.0, c.initializer_range);
    }
    if (auto pad = embed_tokens->options.padding_idx()) embed_tokens->weight.select(0, *pad).zero_();
  }
  // inv_freq = 1 / theta^(2i / head_dim), rounded to float32 as HF computes it.
  const int64_t hd = c.head_size();
  inv_freq_ = empty({hd / 2});
  float* f = inv_freq_.data_ptr<float>();
  for (int64_t i = 0; i < hd / 2; ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(hd);
    f[i] = 1.0f / static_cast<float>(std::pow(c.rope_theta, static_cast<double>(e)));
  }
}

Rotary LlamaModelImpl::rotary(const Tensor& position_ids, ScalarType dtype) const {
  const int64_t B = position_ids.size(0), L = position_ids.size(1);
  Tensor freqs = position_ids.to(kFloat).unsqueeze(-1) * inv_freq_;  // (B, L, hd/2)
  Tensor emb = cat({freqs, freqs}, -1).view({B, 1, L, 2 * inv_freq_.size(0)});
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

Tensor LlamaModelImpl::forward(const Tensor& input_ids, KVCache* cache, const Tensor& attention_mask,
                               const Tensor& position_ids, std::vector<Tensor>* hidden_states) {
  ARK_CHECK(input_ids.dim() == 2 && input_ids.size(1) > 0, "LlamaModel: expected input_ids (batch_size, length), got ",
            input_ids.sizes());
  const int64_t B = input_ids.size(0), L = input_ids.size(1);
  const int64_t past = cache ? cache->length() : 0;
  ARK_CHECK(!cache || cache->batch_size() == B, "LlamaModel: the cache holds ", cache ? cache->batch_size() : 0,
            " rows, input_ids ", B);
  Tensor pos = position_ids;
  if (pos.defined()) {
    ARK_CHECK(pos.sizes() == input_ids.sizes(), "LlamaModel: position_ids ", pos.sizes(), " do not match input_ids ",
              input_ids.sizes());
  } else {
    ARK_CHECK(past + L <= config.max_position_embeddings, "LlamaModel: ", past + L, " positions exceed the context of ",
              config.max_position_embeddings, " (max_position_embeddings)");
    pos = detail::default_position_ids(B, L, past);
  }
  Tensor x = embed_tokens(input_ids);
  const Rotary rot = rotary(pos, x.dtype());
  const detail::CausalMask mask = detail::make_causal_mask(attention_mask, B, L, past);
  if (hidden_states) hidden_states->assign(1, x);
  for (auto& layer : blocks) {
    x = layer(x, cache, mask, rot);
    if (hidden_states) hidden_states->push_back(x);
  }
  if (cache) cache->advance(L);
  x = norm(x);
  if (hidden_states) hidden_states->back() = x;
  return x;
}

LlamaForCausalLM::LlamaForCausalLM(const LlamaConfig& c) : CausalLM("LlamaForCausalLM"), config(c) {
  model = register_module("model", LlamaModel(c));
  if (!c.tie_word_embeddings) {
    lm_head = register_module("lm_head", make_linear(c.hidden_size, c.vocab_size, false));
    NoGradGuard no_grad;
    if (hf::init_enabled()) nn::init::normal_(lm_head->weight, 0.0, c.initializer_range);
  }
  eos_token_ids = c.eos_token_ids;
  bos_token_id = c.bos_token_id;
  pad_token_id = c.pad_token_id;
}

Tensor LlamaForCausalLM::forward_hidden(const Tensor& input_ids, KVCache* cache, const Tensor& attention_mask,
                                        const Tensor& position_ids) {
  return model(input_ids, cache, attention_mask, position_ids, nullptr);
}

Tensor LlamaForCausalLM::logits(const Tensor& hidden) {
  return linear(hidden, lm_head ? lm_head->weight : model->embed_tokens->weight);
}

KVCache LlamaForCausalLM::make_cache(int64_t batch_size, int64_t max_length) const {
  return KVCache(config.num_hidden_layers, batch_size, config.kv_heads(), max_length, config.head_size(),
                 model->embed_tokens->weight.dtype());
}

LlamaForSequenceClassification::LlamaForSequenceClassification(const LlamaConfig& c)
    : nn::Module("LlamaForSequenceClassification"), config(c) {
  model = register_module("model", LlamaModel(c));
  reset_classifier(c.num_labels);
}

void LlamaForSequenceClassification::reset_classifier(int64_t num_labels) {
  ARK_CHECK(num_labels > 0, "LlamaForSequenceClassification: num_labels must be positive, got ", num_labels);
  config.num_labels = num_labels;
  nn::Linear fresh = make_linear(config.hidden_size, num_labels, false);
  NoGradGuard no_grad;
  if (hf::init_enabled()) nn::init::normal_(fresh->weight, 0.0, config.initializer_range);
  score = score ? replace_module("score", fresh) : register_module("score", fresh);
}

Tensor LlamaForSequenceClassification::forward(const Tensor& input_ids, const Tensor& attention_mask) {
  Tensor hidden = model(input_ids, nullptr, attention_mask, Tensor(), nullptr);
  return detail::pool_last_non_pad(score(hidden), input_ids, config.pad_token_id);
}

// ---- Hugging Face architectures ----

void register_llama_hf_architectures() {
  hf::LoadSpec spec;
  spec.base_model_prefix = "model";
  spec.tied = {{"lm_head.weight", "model.embed_tokens.weight"}};
  spec.ignore = {"*rotary_emb.inv_freq"};  // a buffer old checkpoints saved
  hf::register_architecture(
      "LlamaForCausalLM",
      [](const nlohmann::json& j) { return std::make_shared<LlamaForCausalLM>(LlamaConfig::from_json(j)); }, spec);
  hf::register_architecture(
      "LlamaForSequenceClassification",
      [](const nlohmann::json& j) { return std::make_shared<LlamaForSequenceClassification>(LlamaConfig::from_json(j)); },
      spec);
  hf::register_architecture(
      "LlamaModel", [](const nlohmann::json& j) { return LlamaModel(LlamaConfig::from_json(j)).ptr(); }, spec);
}

}  // namespace ark::models
