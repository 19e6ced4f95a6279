// BERT against the plain-PyTorch reference of tools/reference/text_encoders.py (HF's structure
// and names): hidden states, pooler, logits, the three classification losses and every
// parameter's gradient at a tiny size; logits and selected gradients at bert-base size; the
// masked LM with its tied decoder, from a safetensors file without the tied keys and from a .bin
// with them and TF-era LayerNorm names.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "ark/ark.h"
#include "ark/models/bert.h"
#include "ark/models/hf.h"
#include "support/reference.h"

namespace {

using namespace ark;
using namespace ark::models;

// max |a - b| relative to the reference's scale (1 for O(1) tensors).
double rel_diff(const Tensor& a, const Tensor& ref) {
  EXPECT_EQ(a.sizes(), ref.sizes());
  if (a.sizes() != ref.sizes()) return 1e9;
  const double scale = std::max(1.0, ref.abs().max().item<double>());
  return (a.to(kFloat) - ref.to(kFloat)).abs().max().item<double>() / scale;
}

#define EXPECT_CLOSE(a, ref, tol, what)                               \
  do {                                                                \
    const double d_ = rel_diff((a), (ref));                           \
    EXPECT_LE(d_, (tol)) << what;                                     \
  } while (0)

std::string stem_of(const std::string& ref) { return ref.substr(0, ref.size() - std::string(".safetensors").size()); }

struct Case {
  std::string stem;
  io::TensorDict ref;
};

Case load_case(const std::string& name) {
  const std::string path = test::reference_file("text_encoders.py", name + ".safetensors", name);
  return {stem_of(path), io::load_safetensors(path).tensors};
}

const Case& bert_small() {
  static Case c = load_case("bert_small");
  return c;
}

// Every gradient the reference wrote under `prefix` + parameter name.
void check_grads(const nn::Module& model, const io::TensorDict& ref, const std::string& prefix, double tol) {
  int n = 0;
  double worst = 0;
  for (const auto& p : model.named_parameters()) {
    const Tensor* g = ref.find(prefix + p.key());
    if (!g) continue;
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    const double d = rel_diff(p.value().grad(), *g);
    worst = std::max(worst, d);
    EXPECT_LE(d, tol) << "grad of " << p.key();
    ++n;
  }
  EXPECT_GT(n, 0);
  std::printf("[parity] %d gradients (%s*): worst max|diff| / scale = %.3g\n", n, prefix.c_str(), worst);
}

TEST(Bert, SequenceClassificationMatchesReference) {
  const auto& [stem, T] = bert_small();
  hf::LoadReport report;
  auto module = hf::from_pretrained(stem + ".cls", {.report = &report});
  auto& model = dynamic_cast<BertForSequenceClassificationImpl&>(*module);
  EXPECT_FALSE(model.is_training());  // from_pretrained returns eval mode, as HF
  EXPECT_TRUE(report.warnings().empty());
  EXPECT_EQ(report.copied, 0);  // float32 safetensors: every tensor adopted from the mapping
  EXPECT_EQ(model.config.num_labels, 3);

  auto out = model.forward(T["input_ids"], T["attention_mask"], T["token_type_ids"], T["cls.labels"], true);
  EXPECT_CLOSE(out.logits, T["cls.logits"], 1e-4, "logits");
  EXPECT_CLOSE(out.loss, T["cls.loss"], 1e-4, "loss");
  ASSERT_EQ(out.hidden_states.size(), 3u);
  for (size_t i = 0; i < out.hidden_states.size(); ++i)
    EXPECT_CLOSE(out.hidden_states[i], T["cls.hidden." + std::to_string(i)], 1e-4, "hidden state " << i);
  auto base = model.bert->forward(T["input_ids"], T["attention_mask"], T["token_type_ids"]);
  EXPECT_CLOSE(base.last_hidden_state, T["cls.last_hidden_state"], 1e-4, "last_hidden_state");
  EXPECT_CLOSE(base.pooler_output, T["cls.pooler_output"], 1e-4, "pooler_output");
  std::printf("[parity] bert small logits max|diff| = %.3g\n", rel_diff(out.logits, T["cls.logits"]));

  out.loss.backward();
  check_grads(model, T, "grad.", 1e-4);

  // The other problem types (HF picks them from config.problem_type).
  for (const char* kind : {"multi", "reg"}) {
    model.config.problem_type = std::string(kind) == "multi" ? "multi_label_classification" : "regression";
    model.zero_grad();
    const std::string k = kind;
    auto o = model.forward(T["input_ids"], T["attention_mask"], T["token_type_ids"], T["cls.labels_" + k]);
    EXPECT_CLOSE(o.loss, T["cls.loss_" + k], 1e-4, k << " loss");
    o.loss.backward();
    check_grads(model, T, "grad_" + k + ".", 1e-4);
  }
  // With problem_type unset, float labels on 3 labels mean multi-label, as in HF.
  model.config.problem_type = "";
  auto o = model.forward(T["input_ids"], T["attention_mask"], T["token_type_ids"], T["cls.labels_multi"]);
  EXPECT_CLOSE(o.loss, T["cls.loss_multi"], 1e-4, "inferred multi-label loss");
}

TEST(Bert, DefaultsAndPositionIds) {
  const auto& [stem, T] = bert_small();
  auto module = hf::from_pretrained(stem + ".base");
  auto& model = dynamic_cast<BertModelImpl&>(*module);
  NoGradGuard no_grad;
  EXPECT_CLOSE(model.forward(T["input_ids"]).last_hidden_state, T["nomask.last_hidden_state"], 1e-4, "no mask");
  auto out = model.forward(T["input_ids"], T["attention_mask"], T["token_type_ids"], T["pos.position_ids"]);
  EXPECT_CLOSE(out.last_hidden_state, T["pos.last_hidden_state"], 1e-4, "explicit position_ids");
  // Names: HF's, registration order.
  auto sd = model.state_dict();
  EXPECT_TRUE(sd.contains("encoder.layer.1.attention.self.query.weight"));
  EXPECT_TRUE(sd.contains("encoder.layer.0.attention.output.LayerNorm.bias"));
  EXPECT_TRUE(sd.contains("encoder.layer.0.intermediate.dense.weight"));
  EXPECT_TRUE(sd.contains("encoder.layer.0.output.dense.weight"));
  EXPECT_TRUE(sd.contains("pooler.dense.weight"));
  EXPECT_EQ(sd[0].key(), "embeddings.word_embeddings.weight");
  EXPECT_EQ(sd.size(), 5u + 16u * 2u + 2u);
  // Input checks.
  EXPECT_THROW(model.forward(ark::zeros({1, 65}, TensorOptions().dtype(kLong))), Error);  // > max_position_embeddings
  EXPECT_THROW(model.forward(T["input_ids"], ark::ones({3, 15})), Error);
}

TEST(Bert, MaskedLMWithTiedDecoder) {
  const auto& [stem, T] = bert_small();
  for (const char* variant : {".mlm", ".mlm_bin"}) {
    hf::LoadReport report;
    auto module = hf::from_pretrained(stem + variant, {.report = &report});
    auto& model = dynamic_cast<BertForMaskedLMImpl&>(*module);
    EXPECT_EQ(model.config.hidden_act, "gelu_new");
    EXPECT_FALSE(model.state_dict().contains("cls.predictions.decoder.weight"));
    EXPECT_FALSE(model.state_dict().contains("bert.pooler.dense.weight"));
    auto out = model.forward(T["input_ids"], T["attention_mask"], T["token_type_ids"], T["mlm.labels"]);
    EXPECT_CLOSE(out.logits, T["mlm.logits"], 1e-4, variant << " logits");
    EXPECT_CLOSE(out.loss, T["mlm.loss"], 1e-4, variant << " loss");
    // The decoder is the word embedding: its gradient reaches it from both ends.
    out.loss.backward();
    EXPECT_TRUE(model.bert->embeddings->word_embeddings->weight.grad().defined());
  }
}

TEST(Bert, BaseSizeMatchesReference) {
  static Case c = load_case("bert_base");
  const auto& T = c.ref;
  auto module = hf::from_pretrained(c.stem + ".cls");
  auto& model = dynamic_cast<BertForSequenceClassificationImpl&>(*module);
  EXPECT_EQ(model.config.num_hidden_layers, 12);
  EXPECT_EQ(model.config.vocab_size, 30522);
  auto out = model.forward(T["input_ids"], T["attention_mask"], T["token_type_ids"], T["cls.labels"], true);
  EXPECT_CLOSE(out.logits, T["cls.logits"], 1e-4, "logits");
  EXPECT_CLOSE(out.hidden_states.back(), T["cls.last_hidden_state"], 1e-4, "last hidden state");
  for (int i : {0, 6, 12}) EXPECT_CLOSE(out.hidden_states[i], T["cls.hidden." + std::to_string(i)], 1e-4, "hidden " << i);
  EXPECT_CLOSE(out.loss, T["cls.loss"], 1e-4, "loss");
  std::printf("[parity] bert-base logits max|diff| = %.3g, last hidden %.3g\n", rel_diff(out.logits, T["cls.logits"]),
              rel_diff(out.hidden_states.back(), T["cls.last_hidden_state"]));
  out.loss.backward();
  check_grads(model, T, "grad.", 1e-4);
}

}  // namespace
