// GPT-2. ref: transformers models/gpt2/modeling_gpt2.py (GPT2Attention._attn, GPT2MLP, GPT2Block,
// GPT2Model, GPT2LMHeadModel, GPT2ForSequenceClassification, GPT2PreTrainedModel._init_weights).
#include "ark/models/gpt2.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "ark/models/hf.h"

namespace ark::models {

GPT2Config GPT2Config::from_json(const nlohmann::json& j) {
  GPT2Config c;
  c.vocab_size = hf::config_int(j, "vocab_size", c.vocab_size, 1);
  c.n_positions = hf::config_int(j, "n_positions", c.n_positions, 1);
  c.n_embd = hf::config_int(j, "n_embd", c.n_embd, 1);
  c.n_layer = hf::config_int(j, "n_layer", c.n_layer, 1);
  c.n_head = hf::config_int(j, "n_head", c.n_head, 1);
  c.n_inner = hf::config_int(j, "n_inner", c.n_inner, 0);
  c.activation_function = hf::config_string(j, "activation_function", c.activation_function);
  c.resid_pdrop = hf::config_double(j, "resid_pdrop", c.resid_pdrop);
  c.embd_pdrop = hf::config_double(j, "embd_pdrop", c.embd_pdrop);
  c.attn_pdrop = hf::config_double(j, "attn_pdrop", c.attn_pdrop);
  c.layer_norm_epsilon = hf::config_double(j, "layer_norm_epsilon", c.layer_norm_epsilon);
  c.initializer_range = hf::config_double(j, "initializer_range", c.initializer_range);
  c.scale_attn_weights = hf::config_bool(j, "scale_attn_weights", c.scale_attn_weights);
  c.scale_attn_by_inverse_layer_idx =
      hf::config_bool(j, "scale_attn_by_inverse_layer_idx", c.scale_attn_by_inverse_layer_idx);
  c.num_labels = detail::config_num_labels(j, c.num_labels);
  c.bos_token_id = hf::config_int(j, "bos_token_id", c.bos_token_id, -1);
  c.eos_token_ids = detail::config_token_ids(j, "eos_token_id", c.eos_token_ids);
  c.pad_token_id = hf::config_int(j, "pad_token_id", -1, -1);
  return c;
}

namespace {

void check_config(const GPT2Config& c) {
  ARK_CHECK(c.vocab_size > 0 && c.n_positions > 0 && c.n_embd > 0 && c.n_layer > 0 && c.n_head > 0 && c.n_inner >= 0,
            "GPT2Config: sizes must be positive (vocab_size ", c.vocab_size, ", n_positions ", c.n_positions,
            ", n_embd ", c.n_embd, ", n_layer ", c.n_layer, ", n_head ", c.n_head, ", n_inner ", c.n_inner, ")");
  ARK_CHECK(c.n_embd % c.n_head == 0, "GPT2Config: n_embd (", c.n_embd, ") must be divisible by n_head (", c.n_head,
            ")");
  hf::check_activation(c.activation_function);
}

// HF's _init_weights: the residual projections (c_proj) get initializer_range / sqrt(2 * n_layer)
// (the GPT-2 paper's scaling); other weights initializer_range.
double residual_std(const GPT2Config& c) {
  return c.initializer_range / std::sqrt(2.0 * static_cast<double>(c.n_layer));
}

// An Embedding without nn::Embedding's N(0, 1) draw: N(0, std) when hf::init_enabled(), else left
// for the checkpoint.
nn::Embedding make_embedding(int64_t n, int64_t dim, double std) {
  nn::Embedding e(nn::EmbeddingOptions(n, dim)._weight(empty({n, dim})));
  if (hf::init_enabled()) {
    NoGradGuard no_grad;
    nn::init::normal_(e->weight, 0.0, std);
  }
  return e;
}

}  // namespace

// ---- layers ----

Conv1DImpl::Conv1DImpl(int64_t in_features, int64_t out_features, double std) : nn::Module("Conv1D") {
  weight = register_parameter("weight", empty({in_features, out_features}));
  bias = register_parameter("bias", zeros({out_features}));
  if (hf::init_enabled()) nn::init::normal_(weight, 0.0, std);
}

Tensor Conv1DImpl::forward(const Tensor& x) {
  DimVector shape = x.sizes().vec();
  shape.back() = weight.size(1);
  return addmm(bias, x.reshape({-1, x.size(-1)}), weight).view(shape);
}

GPT2AttentionImpl::GPT2AttentionImpl(const GPT2Config& c, int64_t layer_idx)
    : nn::Module("GPT2Attention"),
      layer_idx_(layer_idx),
      n_head_(c.n_head),
      n_embd_(c.n_embd),
      attn_pdrop_(c.attn_pdrop),
      resid_pdrop_(c.resid_pdrop) {
  c_attn = register_module("c_attn", Conv1D(c.n_embd, 3 * c.n_embd, c.initializer_range));
  c_proj = register_module("c_proj", Conv1D(c.n_embd, c.n_embd, residual_std(c)));
  scale_ = c.scale_attn_weights ? 1.0 / std::sqrt(static_cast<double>(c.n_embd / c.n_head)) : 1.0;
  if (c.scale_attn_by_inverse_layer_idx) scale_ /= static_cast<double>(layer_idx + 1);
}

Tensor GPT2AttentionImpl::forward(const Tensor& x, KVCache* cache, const detail::CausalMask& mask) {
  const int64_t B = x.size(0), L = x.size(1), hd = n_embd_ / n_head_;
  Tensor qkv = c_attn(x).view({B, L, 3, n_head_, hd}).permute({2, 0, 3, 1, 4});  // (3, B, H, L, hd), a view
  Tensor q = qkv[0], k = qkv[1], v = qkv[2];
  if (cache) std::tie(k, v) = cache->update(layer_idx_, k, v);
  const bool train = is_training();
  Tensor o = detail::causal_attention(q, k, v, mask, train ? attn_pdrop_ : 0.0, scale_);  // (B, L, C)
  return dropout(c_proj(o), resid_pdrop_, train);
}

GPT2MLPImpl::GPT2MLPImpl(const GPT2Config& c)
    : nn::Module("GPT2MLP"), act_(c.activation_function), resid_pdrop_(c.resid_pdrop) {
  const int64_t inner = c.n_inner > 0 ? c.n_inner : 4 * c.n_embd;
  c_fc = register_module("c_fc", Conv1D(c.n_embd, inner, c.initializer_range));
  c_proj = register_module("c_proj", Conv1D(inner, c.n_embd, residual_std(c)));
}

Tensor GPT2MLPImpl::forward(const Tensor& x) {
  return dropout(c_proj(hf::activation(act_, c_fc(x))), resid_pdrop_, is_training());
}

GPT2BlockImpl::GPT2BlockImpl(const GPT2Config& c, int64_t layer_idx) : nn::Module("GPT2Block") {
  ln_1 = register_module("ln_1", nn::LayerNorm(nn::LayerNormOptions({c.n_embd}).eps(c.layer_norm_epsilon)));
  attn = register_module("attn", GPT2Attention(c, layer_idx));
  ln_2 = register_module("ln_2", nn::LayerNorm(nn::LayerNormOptions({c.n_embd}).eps(c.layer_norm_epsilon)));
  mlp = register_module("mlp", GPT2MLP(c));
}

Tensor GPT2BlockImpl::forward(const Tensor& x, KVCache* cache, const detail::CausalMask& mask) {
  Tensor y = x + attn(ln_1(x), cache, mask);
  return y + mlp(ln_2(y));
}

// ---- model ----

GPT2ModelImpl::GPT2ModelImpl(const GPT2Config& c) : nn::Module("GPT2Model"), config(c) {
  check_config(c);
  // Initialised as HF's _init_weights (N(0, initializer_range), c_proj scaled, zero biases, unit
  // LayerNorms), one draw per tensor, none when from_pretrained will load the weights.
  wte = register_module("wte", make_embedding(c.vocab_size, c.n_embd, c.initializer_range));
  wpe = register_module("wpe", make_embedding(c.n_positions, c.n_embd, c.initializer_range));
  h = register_module("h", nn::ModuleList());
  for (int64_t i = 0; i < c.n_layer; ++i) {
    blocks.emplace_back(c, i);
    h->push_back(blocks.back());
  }
  ln_f = register_module("ln_f", nn::LayerNorm(nn::LayerNormOptions({c.n_embd}).eps(c.layer_norm_epsilon)));
}

Tensor GPT2ModelImpl::forward(const Tensor& input_ids, KVCache* cache, const Tensor& attention_mask,
                              const Tensor& position_ids, std::vector<Tensor>* hidden_states) {
  ARK_CHECK(input_ids.dim() == 2 && input_ids.size(1) > 0, "GPT2Model: expected input_ids (batch_size, length), got ",
            input_ids.sizes());
  const int64_t B = input_ids.size(0), L = input_ids.size(1);
  const int64_t past = cache ? cache->length() : 0;
  ARK_CHECK(!cache || cache->batch_size() == B, "GPT2Model: the cache holds ", cache ? cache->batch_size() : 0,
            " rows, input_ids ", B);
  Tensor pos = position_ids;
  if (pos.defined()) {
    ARK_CHECK(pos.sizes() == input_ids.sizes(), "GPT2Model: position_ids ", pos.sizes(), " do not match input_ids ",
              input_ids.sizes());
    ARK_CHECK(pos.max().item<int64_t>() < config.n_positions, "GPT2Model: a position id reaches n_positions (",
              config.n_positions, ")");
  } else {
    ARK_CHECK(past + L <= config.n_positions, "GPT2Model: ", past + L, " positions exceed the context of ",
              config.n_positions, " (n_positions)");
    pos = detail::default_position_ids(B, L, past);
  }
  Tensor x = dropout(wte(input_ids) + wpe(pos), config.embd_pdrop, is_training());
  const detail::CausalMask mask = detail::make_causal_mask(attention_mask, B, L, past);
  if (hidden_states) hidden_states->assign(1, x);
  for (auto& block : blocks) {
    x = block(x, cache, mask);
    if (hidden_states) hidden_states->push_back(x);
  }
  if (cache) cache->advance(L);
  x = ln_f(x);
  if (hidden_states) hidden_states->back() = x;
  return x;
}

GPT2LMHeadModel::GPT2LMHeadModel(const GPT2Config& c) : CausalLM("GPT2LMHeadModel"), config(c) {
  transformer = register_module("transformer", GPT2Model(c));
  eos_token_ids = c.eos_token_ids;
  bos_token_id = c.bos_token_id;
  pad_token_id = c.pad_token_id;
}

Tensor GPT2LMHeadModel::forward_hidden(const Tensor& input_ids, KVCache* cache, const Tensor& attention_mask,
                                       const Tensor& position_ids) {
  return transformer(input_ids, cache, attention_mask, position_ids, nullptr);
}

Tensor GPT2LMHeadModel::logits(const Tensor& hidden) { return linear(hidden, transformer->wte->weight); }

KVCache GPT2LMHeadModel::make_cache(int64_t batch_size, int64_t max_length) const {
  return KVCache(config.n_layer, batch_size, config.n_head, max_length, config.n_embd / config.n_head,
                 transformer->wte->weight.dtype());
}

GPT2ForSequenceClassification::GPT2ForSequenceClassification(const GPT2Config& c)
    : nn::Module("GPT2ForSequenceClassification"), config(c) {
  transformer = register_module("transformer", GPT2Model(c));
  reset_classifier(c.num_labels);
}

void GPT2ForSequenceClassification::reset_classifier(int64_t num_labels) {
  ARK_CHECK(num_labels > 0, "GPT2ForSequenceClassification: num_labels must be positive, got ", num_labels);
  config.num_labels = num_labels;
  nn::Linear fresh(nn::LinearOptions(config.n_embd, num_labels).bias(false));
  if (hf::init_enabled()) {
    NoGradGuard no_grad;
    nn::init::normal_(fresh->weight, 0.0, config.initializer_range);
  }
  score = score ? replace_module("score", fresh) : register_module("score", fresh);
}

Tensor GPT2ForSequenceClassification::forward(const Tensor& input_ids, const Tensor& attention_mask) {
  Tensor hidden = transformer(input_ids, nullptr, attention_mask, Tensor(), nullptr);
  return detail::pool_last_non_pad(score(hidden), input_ids, config.pad_token_id);
}

// ---- Hugging Face architectures ----

void register_gpt2_hf_architectures() {
  hf::LoadSpec spec;
  spec.base_model_prefix = "transformer";
  spec.tied = {{"lm_head.weight", "transformer.wte.weight"}};
  // Old checkpoints (the hub's gpt2 among them) hold the causal-mask buffers.
  spec.ignore = {"*.attn.bias", "*.attn.masked_bias"};
  hf::register_architecture(
      "GPT2LMHeadModel",
      [](const nlohmann::json& j) { return std::make_shared<GPT2LMHeadModel>(GPT2Config::from_json(j)); }, spec);
  hf::register_architecture(
      "GPT2ForSequenceClassification",
      [](const nlohmann::json& j) { return std::make_shared<GPT2ForSequenceClassification>(GPT2Config::from_json(j)); },
      spec);
  hf::register_architecture(
      "GPT2Model", [](const nlohmann::json& j) { return GPT2Model(GPT2Config::from_json(j)).ptr(); }, spec);
}

}  // namespace ark::models
