// BERT. ref: transformers models/bert/modeling_bert.py (4.x): BertEmbeddings, BertSelfAttention
// (eager), BertSelfOutput, BertIntermediate, BertOutput, BertPooler, BertPredictionHeadTransform,
// _init_weights; the classification loss of BertForSequenceClassification.
#include "ark/models/bert.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "ark/models/layers.h"

namespace ark::models {

using json = nlohmann::json;

namespace {
// An attribute-only module: HF's BertAttention, BertIntermediate, ... exist to name parameters
// ("attention.self.query.weight"); the layer's forward runs their pieces itself.
std::shared_ptr<nn::Module> container(const char* name) { return std::make_shared<nn::Module>(name); }

// x + y, written into x when no gradient is recorded (x is a fresh embedding gather here).
Tensor add_into(Tensor x, const Tensor& y) {
  if (autograd::needs_grad(x, y)) return x + y;
  x.add_(y);
  return x;
}

// An Embedding over uninitialised memory: nn::Embedding draws N(0, 1) itself, which HF's init
// (or the checkpoint) overwrites anyway; the draw is a second and a half for a 30522-row table.
nn::Embedding embedding(int64_t num, int64_t dim, std::optional<int64_t> padding_idx = std::nullopt) {
  return nn::Embedding(nn::EmbeddingOptions(num, dim).padding_idx(padding_idx)._weight(ark::empty({num, dim})));
}

nn::LayerNorm layer_norm(const BertConfig& c) {
  return nn::LayerNorm(nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps));
}
}  // namespace

BertConfig BertConfig::from_json(const json& j) {
  BertConfig c;
  constexpr int64_t kMaxDim = int64_t{1} << 20;
  c.vocab_size = hf::config_int(j, "vocab_size", c.vocab_size, 1, int64_t{1} << 24);
  c.hidden_size = hf::config_int(j, "hidden_size", c.hidden_size, 1, int64_t{1} << 16);
  c.num_hidden_layers = hf::config_int(j, "num_hidden_layers", c.num_hidden_layers, 1, 1024);
  c.num_attention_heads = hf::config_int(j, "num_attention_heads", c.num_attention_heads, 1, c.hidden_size);
  c.intermediate_size = hf::config_int(j, "intermediate_size", c.intermediate_size, 1, kMaxDim);
  c.hidden_act = hf::config_string(j, "hidden_act", c.hidden_act);
  hf::check_activation(c.hidden_act);
  c.hidden_dropout_prob = hf::config_double(j, "hidden_dropout_prob", c.hidden_dropout_prob);
  c.attention_probs_dropout_prob = hf::config_double(j, "attention_probs_dropout_prob", c.attention_probs_dropout_prob);
  c.max_position_embeddings = hf::config_int(j, "max_position_embeddings", c.max_position_embeddings, 1, kMaxDim);
  c.type_vocab_size = hf::config_int(j, "type_vocab_size", c.type_vocab_size, 1, 1 << 16);
  c.initializer_range = hf::config_double(j, "initializer_range", c.initializer_range);
  c.layer_norm_eps = hf::config_double(j, "layer_norm_eps", c.layer_norm_eps);
  c.pad_token_id = hf::config_int(j, "pad_token_id", c.pad_token_id, 0, c.vocab_size - 1);
  // HF derives num_labels from id2label when only that is given.
  int64_t labels = c.num_labels;
  if (auto it = j.find("id2label"); it != j.end() && it->is_object() && !it->empty())
    labels = static_cast<int64_t>(it->size());
  c.num_labels = hf::config_int(j, "num_labels", labels, 1, kMaxDim);
  c.problem_type = hf::config_string(j, "problem_type", "");
  if (auto it = j.find("classifier_dropout"); it != j.end() && !it->is_null())
    c.classifier_dropout = hf::config_double(j, "classifier_dropout", std::nullopt);
  const std::string pos = hf::config_string(j, "position_embedding_type", "absolute");
  ARK_CHECK(pos == "absolute", "config: position_embedding_type \"", pos, "\" is not supported (only \"absolute\")");
  ARK_CHECK(!hf::config_bool(j, "is_decoder", false) && !hf::config_bool(j, "add_cross_attention", false),
            "config: BERT as a decoder (is_decoder / add_cross_attention) is not supported");
  ARK_CHECK(c.hidden_size % c.num_attention_heads == 0, "config: hidden_size (", c.hidden_size,
            ") is not a multiple of num_attention_heads (", c.num_attention_heads, ")");
  for (auto [name, p] : {std::pair{"hidden_dropout_prob", c.hidden_dropout_prob},
                         std::pair{"attention_probs_dropout_prob", c.attention_probs_dropout_prob},
                         std::pair{"classifier_dropout", c.classifier_dropout.value_or(0.0)}})
    ARK_CHECK(p >= 0 && p < 1, "config: ", name, " must be in [0, 1), got ", p);
  ARK_CHECK(c.layer_norm_eps > 0, "config: layer_norm_eps must be positive, got ", c.layer_norm_eps);
  ARK_CHECK(c.initializer_range >= 0, "config: initializer_range must be >= 0, got ", c.initializer_range);
  ARK_CHECK(c.problem_type.empty() || c.problem_type == "regression" || c.problem_type == "single_label_classification" ||
                c.problem_type == "multi_label_classification",
            "config: problem_type \"", c.problem_type, "\" is not regression, single_label_classification or "
            "multi_label_classification");
  // Refuse configs whose parameters could not be allocated, before allocating anything.
  const double D = static_cast<double>(c.hidden_size);
  const double params = D * static_cast<double>(c.vocab_size + c.max_position_embeddings + c.type_vocab_size) +
                        static_cast<double>(c.num_hidden_layers) * (4 * D * D + 2 * D * static_cast<double>(c.intermediate_size));
  ARK_CHECK(params < 1e11, "config: the sizes describe ", params, " parameters, more than ark will allocate");
  return c;
}

// ---- embeddings ----

BertEmbeddingsImpl::BertEmbeddingsImpl(const BertConfig& c) : nn::Module("BertEmbeddings"), dropout_(c.hidden_dropout_prob) {
  word_embeddings = register_module(
      "word_embeddings", embedding(c.vocab_size, c.hidden_size, c.pad_token_id));
  position_embeddings =
      register_module("position_embeddings", embedding(c.max_position_embeddings, c.hidden_size));
  token_type_embeddings = register_module("token_type_embeddings", embedding(c.type_vocab_size, c.hidden_size));
  LayerNorm = register_module("LayerNorm", layer_norm(c));
}

Tensor BertEmbeddingsImpl::forward(const Tensor& input_ids, const Tensor& token_type_ids, const Tensor& position_ids) {
  ARK_CHECK(input_ids.dim() == 2 && !input_ids.is_floating_point(), "BertEmbeddings: expected input_ids (batch, sequence) "
            "of integer ids, got ", input_ids.sizes(), " ", input_ids.dtype());
  const int64_t L = input_ids.size(1);
  const int64_t P = position_embeddings->weight.size(0);
  ARK_CHECK(L <= P, "BertEmbeddings: sequence length ", L, " exceeds max_position_embeddings (", P, ")");
  Tensor x = word_embeddings(input_ids);  // (N, L, D)
  // Absent token types are all 0 and absent positions are 0..L-1: broadcast rows, no gather.
  if (token_type_ids.defined()) {
    ARK_CHECK(token_type_ids.sizes() == input_ids.sizes(), "BertEmbeddings: token_type_ids ", token_type_ids.sizes(),
              " must have the shape of input_ids ", input_ids.sizes());
    x = add_into(x, token_type_embeddings(token_type_ids));
  } else {
    x = add_into(x, token_type_embeddings->weight.select(0, 0));
  }
  if (position_ids.defined()) x = add_into(x, position_embeddings(position_ids));
  else x = add_into(x, position_embeddings->weight.narrow(0, 0, L));
  return ark::dropout(LayerNorm(x), dropout_, is_training());
}

// ---- encoder layer ----

BertLayerImpl::BertLayerImpl(const BertConfig& c)
    : nn::Module("BertLayer"),
      heads_(c.num_attention_heads),
      act_(c.hidden_act),
      dropout_(c.hidden_dropout_prob),
      attention_dropout_(c.attention_probs_dropout_prob) {
  const int64_t D = c.hidden_size, I = c.intermediate_size;
  auto attention = register_module("attention", container("BertAttention"));
  auto self = attention->register_module("self", container("BertSelfAttention"));
  query = self->register_module("query", nn::Linear(D, D));
  key = self->register_module("key", nn::Linear(D, D));
  value = self->register_module("value", nn::Linear(D, D));
  auto attention_output = attention->register_module("output", container("BertSelfOutput"));
  attention_dense = attention_output->register_module("dense", nn::Linear(D, D));
  attention_norm = attention_output->register_module("LayerNorm", layer_norm(c));
  auto intermediate = register_module("intermediate", container("BertIntermediate"));
  intermediate_dense = intermediate->register_module("dense", nn::Linear(D, I));
  auto output = register_module("output", container("BertOutput"));
  output_dense = output->register_module("dense", nn::Linear(I, D));
  output_norm = output->register_module("LayerNorm", layer_norm(c));
}

Tensor BertLayerImpl::forward(const Tensor& x, const Tensor& mask) {
  return with_hooks(x, [&](const Tensor& h) {
    const bool train = is_training();
    const int64_t N = h.size(0), L = h.size(1), D = h.size(2), H = heads_;
    auto heads = [&](const Tensor& t) { return t.view({N, L, H, D / H}).transpose(1, 2); };  // (N, H, L, hd)
    Tensor ctx = ark::scaled_dot_product_attention(heads(query(h)), heads(key(h)), heads(value(h)), mask,
                                                   train ? attention_dropout_ : 0.0);
    ctx = ctx.transpose(1, 2).reshape({N, L, D});
    Tensor a = attention_norm(add_residual(ark::dropout(attention_dense(ctx), dropout_, train), h));
    Tensor f = hf::activation(act_, intermediate_dense(a));
    return output_norm(add_residual(ark::dropout(output_dense(f), dropout_, train), a));
  });
}

// ---- model ----

BertModelImpl::BertModelImpl(const BertConfig& c, bool add_pooling_layer) : nn::Module("BertModel"), config(c) {
  embeddings = register_module("embeddings", BertEmbeddings(c));
  auto encoder = register_module("encoder", container("BertEncoder"));
  auto list = encoder->register_module("layer", nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    layers.emplace_back(c);
    list->push_back(layers.back());
  }
  if (add_pooling_layer) {
    auto p = register_module("pooler", container("BertPooler"));
    pooler = p->register_module("dense", nn::Linear(c.hidden_size, c.hidden_size));
  }
  init_weights(*this, c.initializer_range, c.pad_token_id);
}

void BertModelImpl::init_weights(nn::Module& module, double range, int64_t) {
  if (hf::init_enabled()) hf::init_weights(module, range);
}

BertModelOutput BertModelImpl::forward(const Tensor& input_ids, const Tensor& attention_mask,
                                       const Tensor& token_type_ids, const Tensor& position_ids,
                                       bool output_hidden_states) {
  BertModelOutput out;
  Tensor h = embeddings(input_ids, token_type_ids, position_ids);
  Tensor mask;
  if (attention_mask.defined()) {
    ARK_CHECK(attention_mask.sizes() == input_ids.sizes(), "BertModel: attention_mask ", attention_mask.sizes(),
              " must have the shape of input_ids ", input_ids.sizes());
    mask = hf::extended_attention_mask(attention_mask, h.dtype());
  }
  if (output_hidden_states) out.hidden_states.push_back(h);
  for (auto& layer : layers) {
    h = layer(h, mask);
    if (output_hidden_states) out.hidden_states.push_back(h);
  }
  out.last_hidden_state = h;
  if (pooler) out.pooler_output = ark::tanh(pooler(h.select(1, 0)));
  return out;
}

// ---- heads ----

BertForSequenceClassificationImpl::BertForSequenceClassificationImpl(const BertConfig& c)
    : nn::Module("BertForSequenceClassification"), config(c) {
  bert = register_module("bert", BertModel(c));
  classifier = register_module("classifier", nn::Linear(c.hidden_size, c.num_labels));
  BertModelImpl::init_weights(*classifier, c.initializer_range);
}

hf::SequenceClassifierOutput BertForSequenceClassificationImpl::forward(const Tensor& input_ids,
                                                                        const Tensor& attention_mask,
                                                                        const Tensor& token_type_ids,
                                                                        const Tensor& labels, bool output_hidden_states) {
  BertModelOutput b = bert->forward(input_ids, attention_mask, token_type_ids, {}, output_hidden_states);
  const double p = config.classifier_dropout.value_or(config.hidden_dropout_prob);
  hf::SequenceClassifierOutput out;
  out.logits = classifier(ark::dropout(b.pooler_output, p, is_training()));
  out.hidden_states = std::move(b.hidden_states);
  if (labels.defined()) out.loss = hf::sequence_classification_loss(out.logits, labels, config.problem_type, config.num_labels);
  return out;
}

BertForMaskedLMImpl::BertForMaskedLMImpl(const BertConfig& c) : nn::Module("BertForMaskedLM"), config(c) {
  bert = register_module("bert", BertModel(c, /*add_pooling_layer=*/false));
  auto cls = register_module("cls", container("BertOnlyMLMHead"));
  auto predictions = cls->register_module("predictions", container("BertLMPredictionHead"));
  auto transform = predictions->register_module("transform", container("BertPredictionHeadTransform"));
  transform_dense = transform->register_module("dense", nn::Linear(c.hidden_size, c.hidden_size));
  transform_norm = transform->register_module("LayerNorm", layer_norm(c));
  bias = predictions->register_parameter("bias", ark::zeros({c.vocab_size}));
  BertModelImpl::init_weights(*cls, c.initializer_range);
}

MaskedLMOutput BertForMaskedLMImpl::forward(const Tensor& input_ids, const Tensor& attention_mask,
                                            const Tensor& token_type_ids, const Tensor& labels,
                                            bool output_hidden_states) {
  BertModelOutput b = bert->forward(input_ids, attention_mask, token_type_ids, {}, output_hidden_states);
  Tensor h = transform_norm(hf::activation(config.hidden_act, transform_dense(b.last_hidden_state)));
  MaskedLMOutput out;
  out.logits = ark::linear(h, bert->embeddings->word_embeddings->weight, bias);  // tied decoder
  out.hidden_states = std::move(b.hidden_states);
  if (labels.defined())
    out.loss = ark::cross_entropy_loss(out.logits.reshape({-1, config.vocab_size}), labels.reshape({-1}).to(kLong));
  return out;
}

// ---- registration (hf.cpp's builtin list calls this) ----

void register_bert_hf_architectures() {
  hf::LoadSpec base;
  base.base_model_prefix = "bert";
  // Non-persistent buffers that files written by transformers < 4.31 hold.
  base.ignore = {"*embeddings.position_ids", "*embeddings.token_type_ids"};
  base.head = {"bert.pooler.*"};  // absent from masked-LM checkpoints
  hf::register_architecture(
      "BertModel", [](const json& j) { return std::make_shared<BertModelImpl>(BertConfig::from_json(j)); }, base);
  hf::register_architecture(
      "BertForSequenceClassification",
      [](const json& j) { return std::make_shared<BertForSequenceClassificationImpl>(BertConfig::from_json(j)); }, base);
  hf::LoadSpec mlm = base;
  mlm.tied = {{"cls.predictions.decoder.weight", "bert.embeddings.word_embeddings.weight"},
              {"cls.predictions.decoder.bias", "cls.predictions.bias"}};
  // HF's BertForMaskedLM has no pooler and ignores one in the file; the pre-training checkpoints
  // (bert-base-uncased) also carry the next-sentence head.
  mlm.ignore.push_back("*pooler.dense.*");
  mlm.ignore.push_back("cls.seq_relationship.*");
  hf::register_architecture(
      "BertForMaskedLM", [](const json& j) { return std::make_shared<BertForMaskedLMImpl>(BertConfig::from_json(j)); },
      mlm);
}

}  // namespace ark::models
