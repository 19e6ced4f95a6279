// BERT with Hugging Face's parameter names and config.json fields: BertModel (embeddings,
// encoder, pooler), BertForSequenceClassification, BertForMaskedLM. ref: transformers
// models/bert/modeling_bert.py (4.x, eager attention, absolute position embeddings).
// Registered for hf::from_pretrained as "BertModel", "BertForSequenceClassification",
// "BertForMaskedLM" (base_model_prefix "bert").
//
// Tied weights: BertForMaskedLM's decoder reads the word embeddings directly, so its state dict
// has no "cls.predictions.decoder.weight" (a checkpoint's copy is accepted and dropped by the
// loader; HF's safetensors files omit it too) and the decoder's bias is "cls.predictions.bias".
// Left out: relative position embeddings, cross-attention / is_decoder, the NSP head
// (BertForPreTraining), gradient checkpointing, head pruning.
#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ark/ark.h"
#include "ark/models/hf.h"

namespace ark::models {

struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";        // gelu (erf), gelu_new, relu, ...
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double initializer_range = 0.02;        // N(0, range) for fresh weights
  double layer_norm_eps = 1e-12;
  int64_t pad_token_id = 0;
  int64_t num_labels = 2;                 // classification heads
  std::string problem_type;               // "", regression, single_label_classification, multi_label_classification
  std::optional<double> classifier_dropout;  // default: hidden_dropout_prob

  /// Reads config.json's fields (absent ones keep the defaults above, as HF's BertConfig);
  /// wrong types, non-positive sizes, hidden_size not divisible by the heads and unsupported
  /// options (position_embedding_type other than "absolute") are errors naming the field.
  static BertConfig from_json(const nlohmann::json& config);
};

/// What the encoder returns (HF's BaseModelOutputWithPooling).
struct BertModelOutput {
  Tensor last_hidden_state;  // (N, L, hidden_size)
  Tensor pooler_output;      // (N, hidden_size): tanh(dense(first token)); undefined without a pooler
  std::vector<Tensor> hidden_states;  // with output_hidden_states: embeddings, then each layer (L + 1 tensors)
};

class BertEmbeddingsImpl : public nn::Module {
 public:
  explicit BertEmbeddingsImpl(const BertConfig& c);
  /// input_ids (N, L) int64; token_type_ids (N, L) or undefined (zeros); position_ids (N or 1, L)
  /// or undefined (0..L-1). -> (N, L, hidden_size).
  Tensor forward(const Tensor& input_ids, const Tensor& token_type_ids = {}, const Tensor& position_ids = {});

  nn::Embedding word_embeddings{nullptr}, position_embeddings{nullptr}, token_type_embeddings{nullptr};
  nn::LayerNorm LayerNorm{nullptr};

 private:
  double dropout_;
};
ARK_MODULE(BertEmbeddings);

/// One encoder layer: attention.self.{query,key,value}, attention.output.{dense,LayerNorm},
/// intermediate.dense, output.{dense,LayerNorm}; the submodules hold the parameters, the layer's
/// forward runs them.
class BertLayerImpl : public nn::Module {
 public:
  explicit BertLayerImpl(const BertConfig& c);
  /// x (N, L, D); mask: additive (N, 1, 1, L) or undefined.
  Tensor forward(const Tensor& x, const Tensor& mask = {});

  nn::Linear query{nullptr}, key{nullptr}, value{nullptr}, attention_dense{nullptr}, intermediate_dense{nullptr},
      output_dense{nullptr};
  nn::LayerNorm attention_norm{nullptr}, output_norm{nullptr};

 private:
  int64_t heads_;
  std::string act_;
  double dropout_, attention_dropout_;
};
ARK_MODULE(BertLayer);

class BertModelImpl : public nn::Module {
 public:
  explicit BertModelImpl(const BertConfig& c, bool add_pooling_layer = true);
  /// input_ids (N, L); attention_mask (N, L) of 1/0 or undefined (all attended).
  BertModelOutput forward(const Tensor& input_ids, const Tensor& attention_mask = {}, const Tensor& token_type_ids = {},
                          const Tensor& position_ids = {}, bool output_hidden_states = false);
  /// hf::init_weights (HF's _init_weights) unless hf::init_enabled() is false (from_pretrained
  /// draws only what the checkpoint lacks).
  static void init_weights(nn::Module& module, double initializer_range, int64_t padding_idx = -1);

  BertConfig config;
  BertEmbeddings embeddings{nullptr};
  std::vector<BertLayer> layers;  // registered as encoder.layer.N
  nn::Linear pooler{nullptr};     // registered as pooler.dense
};
ARK_MODULE(BertModel);

class BertForSequenceClassificationImpl : public nn::Module {
 public:
  explicit BertForSequenceClassificationImpl(const BertConfig& c);
  /// labels: (N,) class ids, (N,) / (N, num_labels) floats for regression or multi-label.
  hf::SequenceClassifierOutput forward(const Tensor& input_ids, const Tensor& attention_mask = {},
                                       const Tensor& token_type_ids = {}, const Tensor& labels = {},
                                       bool output_hidden_states = false);
  BertConfig config;
  BertModel bert{nullptr};
  nn::Linear classifier{nullptr};
};
ARK_MODULE(BertForSequenceClassification);

struct MaskedLMOutput {
  Tensor loss;    // cross-entropy over positions whose label is not -100; undefined without labels
  Tensor logits;  // (N, L, vocab_size)
  std::vector<Tensor> hidden_states;
};

class BertForMaskedLMImpl : public nn::Module {
 public:
  explicit BertForMaskedLMImpl(const BertConfig& c);
  MaskedLMOutput forward(const Tensor& input_ids, const Tensor& attention_mask = {}, const Tensor& token_type_ids = {},
                         const Tensor& labels = {}, bool output_hidden_states = false);
  BertConfig config;
  BertModel bert{nullptr};
  nn::Linear transform_dense{nullptr};  // cls.predictions.transform.dense
  nn::LayerNorm transform_norm{nullptr};  // cls.predictions.transform.LayerNorm
  Tensor bias;                          // cls.predictions.bias (vocab_size)
};
ARK_MODULE(BertForMaskedLM);

}  // namespace ark::models
