// DistilBERT with Hugging Face's parameter names and config.json fields: DistilBertModel,
// DistilBertForSequenceClassification, DistilBertForMaskedLM. ref: transformers
// models/distilbert/modeling_distilbert.py (4.x, eager attention). Registered for
// hf::from_pretrained under those class names (base_model_prefix "distilbert").
//
// Tied weights: the MLM vocab_projector reads the word embeddings, so the state dict has
// "vocab_projector.bias" but no "vocab_projector.weight" (a file's copy is accepted and dropped).
// Left out: question answering, token classification and multiple-choice heads, head pruning.
#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "ark/ark.h"
#include "ark/models/hf.h"

namespace ark::models {

struct DistilBertConfig {
  int64_t vocab_size = 30522;
  int64_t max_position_embeddings = 512;
  bool sinusoidal_pos_embds = false;  // fixed sin/cos position table (still stored in the state dict)
  int64_t n_layers = 6;
  int64_t n_heads = 12;
  int64_t dim = 768;
  int64_t hidden_dim = 3072;          // FFN width
  double dropout = 0.1;
  double attention_dropout = 0.1;
  std::string activation = "gelu";
  double initializer_range = 0.02;
  double seq_classif_dropout = 0.2;
  int64_t pad_token_id = 0;
  int64_t num_labels = 2;
  std::string problem_type;

  /// config.json's fields (absent ones keep the defaults); errors name the field.
  static DistilBertConfig from_json(const nlohmann::json& config);
};

struct DistilBertModelOutput {
  Tensor last_hidden_state;           // (N, L, dim)
  std::vector<Tensor> hidden_states;  // with output_hidden_states: embeddings, then each layer
};

/// transformer.layer.N: attention.{q_lin,k_lin,v_lin,out_lin}, sa_layer_norm, ffn.{lin1,lin2},
/// output_layer_norm.
class TransformerBlockImpl : public nn::Module {
 public:
  explicit TransformerBlockImpl(const DistilBertConfig& c);
  /// x (N, L, dim); mask: additive (N, 1, 1, L) or undefined.
  Tensor forward(const Tensor& x, const Tensor& mask = {});

  nn::Linear q_lin{nullptr}, k_lin{nullptr}, v_lin{nullptr}, out_lin{nullptr}, lin1{nullptr}, lin2{nullptr};
  nn::LayerNorm sa_layer_norm{nullptr}, output_layer_norm{nullptr};

 private:
  int64_t heads_;
  std::string act_;
  double dropout_, attention_dropout_;
};
ARK_MODULE(TransformerBlock);

class DistilBertModelImpl : public nn::Module {
 public:
  explicit DistilBertModelImpl(const DistilBertConfig& c);
  /// input_ids (N, L); attention_mask (N, L) of 1/0 or undefined.
  DistilBertModelOutput forward(const Tensor& input_ids, const Tensor& attention_mask = {},
                                bool output_hidden_states = false);

  DistilBertConfig config;
  nn::Embedding word_embeddings{nullptr}, position_embeddings{nullptr};  // embeddings.*
  nn::LayerNorm embeddings_norm{nullptr};                                // embeddings.LayerNorm
  std::vector<TransformerBlock> layers;                                  // transformer.layer.N
};
ARK_MODULE(DistilBertModel);

class DistilBertForSequenceClassificationImpl : public nn::Module {
 public:
  explicit DistilBertForSequenceClassificationImpl(const DistilBertConfig& c);
  hf::SequenceClassifierOutput forward(const Tensor& input_ids, const Tensor& attention_mask = {},
                                       const Tensor& labels = {}, bool output_hidden_states = false);
  DistilBertConfig config;
  DistilBertModel distilbert{nullptr};
  nn::Linear pre_classifier{nullptr}, classifier{nullptr};
};
ARK_MODULE(DistilBertForSequenceClassification);

class DistilBertForMaskedLMImpl : public nn::Module {
 public:
  explicit DistilBertForMaskedLMImpl(const DistilBertConfig& c);
  /// (loss with labels, -100 ignored; logits (N, L, vocab_size)).
  std::pair<Tensor, Tensor> forward(const Tensor& input_ids, const Tensor& attention_mask = {},
                                    const Tensor& labels = {});
  DistilBertConfig config;
  DistilBertModel distilbert{nullptr};
  nn::Linear vocab_transform{nullptr};
  nn::LayerNorm vocab_layer_norm{nullptr};
  Tensor vocab_projector_bias;  // vocab_projector.bias; the weight is the word embeddings
};
ARK_MODULE(DistilBertForMaskedLM);

}  // namespace ark::models
