// DistilBERT. ref: transformers models/distilbert/modeling_distilbert.py (4.x): Embeddings,
// MultiHeadSelfAttention, FFN, TransformerBlock, create_sinusoidal_embeddings, the heads.
#include "ark/models/distilbert.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "ark/models/bert.h"
#include "ark/models/layers.h"

namespace ark::models {

using json = nlohmann::json;

namespace {
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

nn::LayerNorm layer_norm(int64_t dim) { return nn::LayerNorm(nn::LayerNormOptions({dim}).eps(1e-12)); }

// HF's create_sinusoidal_embeddings: even columns sin(pos / 10000^(2j/dim)), odd columns cos.
void sinusoidal_(Tensor& w) {
  NoGradGuard no_grad;
  const int64_t P = w.size(0), D = w.size(1);
  Tensor t = ark::empty({P, D}, TensorOptions().dtype(kDouble));
  double* p = t.data_ptr<double>();
  for (int64_t pos = 0; pos < P; ++pos)
    for (int64_t j = 0; j < D; ++j) {
      const double angle = static_cast<double>(pos) / std::pow(10000.0, 2.0 * static_cast<double>(j / 2) / static_cast<double>(D));
      p[pos * D + j] = j % 2 == 0 ? std::sin(angle) : std::cos(angle);
    }
  w.copy_(t);
}
}  // namespace

DistilBertConfig DistilBertConfig::from_json(const json& j) {
  DistilBertConfig c;
  constexpr int64_t kMaxDim = int64_t{1} << 20;
  c.vocab_size = hf::config_int(j, "vocab_size", c.vocab_size, 1, int64_t{1} << 24);
  c.max_position_embeddings = hf::config_int(j, "max_position_embeddings", c.max_position_embeddings, 1, kMaxDim);
  c.sinusoidal_pos_embds = hf::config_bool(j, "sinusoidal_pos_embds", c.sinusoidal_pos_embds);
  c.n_layers = hf::config_int(j, "n_layers", c.n_layers, 1, 1024);
  c.dim = hf::config_int(j, "dim", c.dim, 1, int64_t{1} << 16);
  c.n_heads = hf::config_int(j, "n_heads", c.n_heads, 1, c.dim);
  c.hidden_dim = hf::config_int(j, "hidden_dim", c.hidden_dim, 1, kMaxDim);
  c.dropout = hf::config_double(j, "dropout", c.dropout);
  c.attention_dropout = hf::config_double(j, "attention_dropout", c.attention_dropout);
  c.activation = hf::config_string(j, "activation", c.activation);
  hf::check_activation(c.activation);
  c.initializer_range = hf::config_double(j, "initializer_range", c.initializer_range);
  c.seq_classif_dropout = hf::config_double(j, "seq_classif_dropout", c.seq_classif_dropout);
  c.pad_token_id = hf::config_int(j, "pad_token_id", c.pad_token_id, 0, c.vocab_size - 1);
  int64_t labels = c.num_labels;
  if (auto it = j.find("id2label"); it != j.end() && it->is_object() && !it->empty())
    labels = static_cast<int64_t>(it->size());
  c.num_labels = hf::config_int(j, "num_labels", labels, 1, kMaxDim);
  c.problem_type = hf::config_string(j, "problem_type", "");
  ARK_CHECK(c.dim % c.n_heads == 0, "config: dim (", c.dim, ") is not a multiple of n_heads (", c.n_heads, ")");
  for (auto [name, p] : {std::pair{"dropout", c.dropout}, std::pair{"attention_dropout", c.attention_dropout},
                         std::pair{"seq_classif_dropout", c.seq_classif_dropout}})
    ARK_CHECK(p >= 0 && p < 1, "config: ", name, " must be in [0, 1), got ", p);
  ARK_CHECK(c.problem_type.empty() || c.problem_type == "regression" || c.problem_type == "single_label_classification" ||
                c.problem_type == "multi_label_classification",
            "config: problem_type \"", c.problem_type, "\" is not regression, single_label_classification or "
            "multi_label_classification");
  const double D = static_cast<double>(c.dim);
  const double params = D * static_cast<double>(c.vocab_size + c.max_position_embeddings) +
                        static_cast<double>(c.n_layers) * (4 * D * D + 2 * D * static_cast<double>(c.hidden_dim));
  ARK_CHECK(params < 1e11, "config: the sizes describe ", params, " parameters, more than ark will allocate");
  return c;
}

TransformerBlockImpl::TransformerBlockImpl(const DistilBertConfig& c)
    : nn::Module("TransformerBlock"),
      heads_(c.n_heads),
      act_(c.activation),
      dropout_(c.dropout),
      attention_dropout_(c.attention_dropout) {
  const int64_t D = c.dim;
  auto attention = register_module("attention", container("MultiHeadSelfAttention"));
  q_lin = attention->register_module("q_lin", nn::Linear(D, D));
  k_lin = attention->register_module("k_lin", nn::Linear(D, D));
  v_lin = attention->register_module("v_lin", nn::Linear(D, D));
  out_lin = attention->register_module("out_lin", nn::Linear(D, D));
  sa_layer_norm = register_module("sa_layer_norm", layer_norm(D));
  auto ffn = register_module("ffn", container("FFN"));
  lin1 = ffn->register_module("lin1", nn::Linear(D, c.hidden_dim));
  lin2 = ffn->register_module("lin2", nn::Linear(c.hidden_dim, D));
  output_layer_norm = register_module("output_layer_norm", layer_norm(D));
}

Tensor TransformerBlockImpl::forward(const Tensor& x, const Tensor& mask) {
  return with_hooks(x, [&](const Tensor& h) {
    const bool train = is_training();
    const int64_t N = h.size(0), L = h.size(1), D = h.size(2), H = heads_;
    auto heads = [&](const Tensor& t) { return t.view({N, L, H, D / H}).transpose(1, 2); };  // (N, H, L, hd)
    Tensor ctx = ark::scaled_dot_product_attention(heads(q_lin(h)), heads(k_lin(h)), heads(v_lin(h)), mask,
                                                   train ? attention_dropout_ : 0.0);
    ctx = ctx.transpose(1, 2).reshape({N, L, D});
    Tensor a = sa_layer_norm(add_residual(out_lin(ctx), h));
    Tensor f = ark::dropout(lin2(hf::activation(act_, lin1(a))), dropout_, train);
    return output_layer_norm(add_residual(f, a));
  });
}

DistilBertModelImpl::DistilBertModelImpl(const DistilBertConfig& c) : nn::Module("DistilBertModel"), config(c) {
  auto embeddings = register_module("embeddings", container("Embeddings"));
  word_embeddings = embeddings->register_module(
      "word_embeddings", embedding(c.vocab_size, c.dim, c.pad_token_id));
  position_embeddings =
      embeddings->register_module("position_embeddings", embedding(c.max_position_embeddings, c.dim));
  embeddings_norm = embeddings->register_module("LayerNorm", layer_norm(c.dim));
  auto transformer = register_module("transformer", container("Transformer"));
  auto list = transformer->register_module("layer", nn::ModuleList());
  for (int64_t i = 0; i < c.n_layers; ++i) {
    layers.emplace_back(c);
    list->push_back(layers.back());
  }
  BertModelImpl::init_weights(*this, c.initializer_range);
  if (c.sinusoidal_pos_embds) {
    sinusoidal_(position_embeddings->weight);
    position_embeddings->weight.requires_grad_(false);
  }
}

DistilBertModelOutput DistilBertModelImpl::forward(const Tensor& input_ids, const Tensor& attention_mask,
                                                   bool output_hidden_states) {
  ARK_CHECK(input_ids.dim() == 2 && !input_ids.is_floating_point(), "DistilBertModel: expected input_ids (batch, "
            "sequence) of integer ids, got ", input_ids.sizes(), " ", input_ids.dtype());
  const int64_t L = input_ids.size(1);
  ARK_CHECK(L <= config.max_position_embeddings, "DistilBertModel: sequence length ", L,
            " exceeds max_position_embeddings (", config.max_position_embeddings, ")");
  Tensor h = add_into(word_embeddings(input_ids), position_embeddings->weight.narrow(0, 0, L));
  h = ark::dropout(embeddings_norm(h), config.dropout, is_training());
  Tensor mask;
  if (attention_mask.defined()) {
    ARK_CHECK(attention_mask.sizes() == input_ids.sizes(), "DistilBertModel: attention_mask ", attention_mask.sizes(),
              " must have the shape of input_ids ", input_ids.sizes());
    mask = hf::extended_attention_mask(attention_mask, h.dtype());
  }
  DistilBertModelOutput out;
  if (output_hidden_states) out.hidden_states.push_back(h);
  for (auto& layer : layers) {
    h = layer(h, mask);
    if (output_hidden_states) out.hidden_states.push_back(h);
  }
  out.last_hidden_state = h;
  return out;
}

DistilBertForSequenceClassificationImpl::DistilBertForSequenceClassificationImpl(const DistilBertConfig& c)
    : nn::Module("DistilBertForSequenceClassification"), config(c) {
  distilbert = register_module("distilbert", DistilBertModel(c));
  pre_classifier = register_module("pre_classifier", nn::Linear(c.dim, c.dim));
  classifier = register_module("classifier", nn::Linear(c.dim, c.num_labels));
  BertModelImpl::init_weights(*pre_classifier, c.initializer_range);
  BertModelImpl::init_weights(*classifier, c.initializer_range);
}

hf::SequenceClassifierOutput DistilBertForSequenceClassificationImpl::forward(const Tensor& input_ids,
                                                                              const Tensor& attention_mask,
                                                                              const Tensor& labels,
                                                                              bool output_hidden_states) {
  DistilBertModelOutput d = distilbert->forward(input_ids, attention_mask, output_hidden_states);
  Tensor pooled = ark::relu(pre_classifier(d.last_hidden_state.select(1, 0)));  // (N, dim)
  hf::SequenceClassifierOutput out;
  out.logits = classifier(ark::dropout(pooled, config.seq_classif_dropout, is_training()));
  out.hidden_states = std::move(d.hidden_states);
  if (labels.defined()) out.loss = hf::sequence_classification_loss(out.logits, labels, config.problem_type, config.num_labels);
  return out;
}

DistilBertForMaskedLMImpl::DistilBertForMaskedLMImpl(const DistilBertConfig& c)
    : nn::Module("DistilBertForMaskedLM"), config(c) {
  distilbert = register_module("distilbert", DistilBertModel(c));
  vocab_transform = register_module("vocab_transform", nn::Linear(c.dim, c.dim));
  vocab_layer_norm = register_module("vocab_layer_norm", layer_norm(c.dim));
  auto projector = register_module("vocab_projector", container("Linear"));
  vocab_projector_bias = projector->register_parameter("bias", ark::zeros({c.vocab_size}));
  BertModelImpl::init_weights(*vocab_transform, c.initializer_range);
}

std::pair<Tensor, Tensor> DistilBertForMaskedLMImpl::forward(const Tensor& input_ids, const Tensor& attention_mask,
                                                             const Tensor& labels) {
  Tensor h = distilbert->forward(input_ids, attention_mask).last_hidden_state;
  h = vocab_layer_norm(hf::activation(config.activation, vocab_transform(h)));
  Tensor logits = ark::linear(h, distilbert->word_embeddings->weight, vocab_projector_bias);  // tied projector
  Tensor loss;
  if (labels.defined())
    loss = ark::cross_entropy_loss(logits.reshape({-1, config.vocab_size}), labels.reshape({-1}).to(kLong));
  return {loss, logits};
}

void register_distilbert_hf_architectures() {
  hf::LoadSpec spec;
  spec.base_model_prefix = "distilbert";
  spec.ignore = {"*embeddings.position_ids"};
  hf::register_architecture(
      "DistilBertModel",
      [](const json& j) { return std::make_shared<DistilBertModelImpl>(DistilBertConfig::from_json(j)); }, spec);
  hf::register_architecture(
      "DistilBertForSequenceClassification",
      [](const json& j) { return std::make_shared<DistilBertForSequenceClassificationImpl>(DistilBertConfig::from_json(j)); },
      spec);
  hf::LoadSpec mlm = spec;
  mlm.tied = {{"vocab_projector.weight", "distilbert.embeddings.word_embeddings.weight"}};
  hf::register_architecture(
      "DistilBertForMaskedLM",
      [](const json& j) { return std::make_shared<DistilBertForMaskedLMImpl>(DistilBertConfig::from_json(j)); }, mlm);
}

}  // namespace ark::models
