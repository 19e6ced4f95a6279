// DistilBERT against the plain-PyTorch reference of tools/reference/text_encoders.py: hidden
// states, logits, losses and gradients of the classification head (tiny: every parameter;
// distilbert-base size: selected ones), the masked LM with its tied projector, and a base
// checkpoint under a fresh classification head.
#include <gtest/gtest.h>

#include <cstdio>

#include "ark/ark.h"
#include "ark/models/distilbert.h"
#include "ark/models/hf.h"
#include "support/reference.h"

namespace {

using namespace ark;
using namespace ark::models;

double rel_diff(const Tensor& a, const Tensor& ref) {
  EXPECT_EQ(a.sizes(), ref.sizes());
  if (a.sizes() != ref.sizes()) return 1e9;
  const double scale = std::max(1.0, ref.abs().max().item<double>());
  return (a.to(kFloat) - ref.to(kFloat)).abs().max().item<double>() / scale;
}

struct Case {
  std::string stem;
  io::TensorDict ref;
};

Case load_case(const std::string& name) {
  const std::string path = test::reference_file("text_encoders.py", name + ".safetensors", name);
  return {path.substr(0, path.size() - std::string(".safetensors").size()), io::load_safetensors(path).tensors};
}

void check_grads(const nn::Module& model, const io::TensorDict& ref, const std::string& prefix) {
  int n = 0;
  double worst = 0;
  for (const auto& p : model.named_parameters()) {
    const Tensor* g = ref.find(prefix + p.key());
    if (!g) continue;
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    const double d = rel_diff(p.value().grad(), *g);
    worst = std::max(worst, d);
    EXPECT_LE(d, 1e-4) << "grad of " << p.key();
    ++n;
  }
  EXPECT_GT(n, 0);
  std::printf("[parity] %d gradients (%s*): worst max|diff| / scale = %.3g\n", n, prefix.c_str(), worst);
}

void check_classification(const Case& c, bool all_hidden) {
  const auto& T = c.ref;
  auto module = hf::from_pretrained(c.stem + ".cls");
  auto& model = dynamic_cast<DistilBertForSequenceClassificationImpl&>(*module);
  auto out = model.forward(T["input_ids"], T["attention_mask"], T["cls.labels"], true);
  EXPECT_LE(rel_diff(out.logits, T["cls.logits"]), 1e-4);
  EXPECT_LE(rel_diff(out.loss, T["cls.loss"]), 1e-4);
  EXPECT_LE(rel_diff(out.hidden_states.back(), T["cls.last_hidden_state"]), 1e-4);
  if (all_hidden) {
    for (size_t i = 0; i < out.hidden_states.size(); ++i)
      EXPECT_LE(rel_diff(out.hidden_states[i], T["cls.hidden." + std::to_string(i)]), 1e-4) << "hidden " << i;
  }
  std::printf("[parity] %s logits max|diff| = %.3g\n", c.stem.c_str(), rel_diff(out.logits, T["cls.logits"]));
  out.loss.backward();
  check_grads(model, T, "grad.");
  if (!all_hidden) return;  // at real size, one pass is enough (the other losses are checked small)
  for (const char* kind : {"multi", "reg"}) {
    const std::string k = kind;
    model.config.problem_type = k == "multi" ? "multi_label_classification" : "regression";
    model.zero_grad();
    auto o = model.forward(T["input_ids"], T["attention_mask"], T["cls.labels_" + k]);
    EXPECT_LE(rel_diff(o.loss, T["cls.loss_" + k]), 1e-4) << k;
    o.loss.backward();
    check_grads(model, T, "grad_" + k + ".");
  }
  NoGradGuard no_grad;
  EXPECT_LE(rel_diff(model.distilbert->forward(T["input_ids"]).last_hidden_state, T["nomask.last_hidden_state"]), 1e-4);
}

TEST(DistilBert, SequenceClassificationMatchesReference) { check_classification(load_case("distilbert_small"), true); }

TEST(DistilBert, MaskedLMAndFreshHead) {
  const Case c = load_case("distilbert_small");
  const auto& T = c.ref;
  auto module = hf::from_pretrained(c.stem + ".mlm");
  auto& mlm = dynamic_cast<DistilBertForMaskedLMImpl&>(*module);
  EXPECT_FALSE(mlm.state_dict().contains("vocab_projector.weight"));
  EXPECT_TRUE(mlm.state_dict().contains("vocab_projector.bias"));
  auto [loss, logits] = mlm.forward(T["input_ids"], T["attention_mask"], T["mlm.labels"]);
  EXPECT_LE(rel_diff(logits, T["mlm.logits"]), 1e-4);
  EXPECT_LE(rel_diff(loss, T["mlm.loss"]), 1e-4);

  // The base checkpoint under a classification head: the prefix is added, the head is new.
  hf::LoadReport report;
  auto cls = hf::from_pretrained(c.stem + ".base",
                                 {.architecture = "DistilBertForSequenceClassification", .num_labels = 4, .report = &report});
  auto& m = dynamic_cast<DistilBertForSequenceClassificationImpl&>(*cls);
  EXPECT_EQ(m.classifier->weight.size(0), 4);
  EXPECT_EQ(report.initialised, (std::vector<std::string>{"pre_classifier.weight", "pre_classifier.bias",
                                                          "classifier.weight", "classifier.bias"}));
  NoGradGuard no_grad;
  EXPECT_LE(rel_diff(m.distilbert->forward(T["input_ids"], T["attention_mask"]).last_hidden_state,
                     T["cls.last_hidden_state"]), 1e-4);
}

TEST(DistilBert, BaseSizeMatchesReference) { check_classification(load_case("distilbert_base"), false); }

}  // namespace
