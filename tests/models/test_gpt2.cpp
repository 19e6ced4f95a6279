// GPT-2 against tools/reference/text_decoders.py (plain PyTorch written like HF's modeling_gpt2.py):
// logits and every hidden state, greedy 64-token continuations (computed there without a cache),
// the sequence-classification head's logits and gradients, at a tiny size and at GPT-2 small's
// real size; names, config.json, Hugging Face folders (hub layout) and checkpoints that do not fit.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ark/ark.h"
#include "ark/io/safetensors.h"
#include "ark/models/gpt2.h"
#include "ark/models/hf.h"
#include "support/reference.h"

namespace {

using namespace ark;
using namespace ark::models;
namespace fs = std::filesystem;

struct Case {
  io::TensorDict ref;
  std::string folder;
  nlohmann::json config;
};

Case load_case(const std::string& name) {
  const std::string out = test::reference_file("text_decoders.py", name + ".ref.safetensors", name);
  Case c;
  c.ref = io::load_safetensors(out).tensors;
  c.folder = std::string(ARK_TEST_DATA) + "/" + name + ".hf";
  std::ifstream f(c.folder + "/config.json");
  c.config = nlohmann::json::parse(f);
  return c;
}

void load_weights(nn::Module& model, const std::string& folder) {
  model.load_state_dict(io::load_safetensors(folder + "/model.safetensors").tensors);
  model.eval();
}

// max |a - b| relative to the reference's scale (at least 1).
double rel_diff(const Tensor& a, const Tensor& ref) {
  return (a - ref).abs().max().item<double>() / std::max(1.0, ref.abs().max().item<double>());
}

std::vector<int64_t> to_vector(const Tensor& t) {
  Tensor c = t.to(kLong).contiguous().view({-1});
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

void check_lm(const std::string& name, int64_t n_greedy_checks) {
  Case c = load_case(name);
  // Through from_pretrained: no random init, the float32 weights adopted from the mapping.
  auto loaded = std::dynamic_pointer_cast<GPT2LMHeadModel>(hf::from_pretrained(c.folder));
  ASSERT_NE(loaded, nullptr);
  GPT2LMHeadModel& model = *loaded;
  NoGradGuard no_grad;
  std::vector<Tensor> hidden;
  Tensor h = model.transformer(c.ref["input_ids"], nullptr, Tensor(), Tensor(), &hidden);
  Tensor logits = model.logits(h);
  const double dl = rel_diff(logits, c.ref["logits"]);
  std::printf("[parity] %s logits: max|diff| / scale = %.3g\n", name.c_str(), dl);
  EXPECT_LE(dl, 1e-4);
  ASSERT_EQ(static_cast<int64_t>(hidden.size()), model.config.n_layer + 1);
  for (size_t i = 0; i < hidden.size(); ++i)
    EXPECT_LE(rel_diff(hidden[i], c.ref["hidden." + std::to_string(i)]), 1e-4) << "hidden state " << i;

  GenerationConfig g;
  g.max_new_tokens = 64;
  g.eos_token_ids = std::vector<int64_t>{};  // the reference ignores EOS
  const auto expected = to_vector(c.ref["greedy.tokens"]);
  for (int64_t use_cache = 1; use_cache >= 2 - n_greedy_checks; --use_cache) {
    g.use_cache = use_cache != 0;
    GenerationResult r = generate(model, c.ref["greedy.prompt"], {}, g);
    EXPECT_EQ(r.tokens[0], expected) << name << " greedy, use_cache=" << use_cache;
    EXPECT_EQ(r.finish_reasons[0], FinishReason::kLength);
    EXPECT_EQ(r.sequences.sizes(), IntArrayRef({1, 8 + 64}));
  }
}

TEST(GPT2, TinyMatchesReference) { check_lm("gpt2_tiny", 2); }

// GPT-2 small at its real size (124M parameters, seeded random weights); the greedy run uses the cache.
TEST(GPT2, SmallMatchesReference) { check_lm("gpt2_small", 1); }

TEST(GPT2, SequenceClassificationOutputsAndGradients) {
  Case c = load_case("gpt2_tiny");
  const std::string folder = std::string(ARK_TEST_DATA) + "/gpt2_tiny_cls.hf";
  std::ifstream f(folder + "/config.json");
  GPT2ForSequenceClassification model(GPT2Config::from_json(nlohmann::json::parse(f)));
  load_weights(model, folder);
  EXPECT_EQ(model.config.num_labels, 3);
  EXPECT_EQ(model.config.pad_token_id, 0);
  Tensor logits = model.forward(c.ref["cls.input_ids"], c.ref["cls.attention_mask"]);
  EXPECT_LE(rel_diff(logits, c.ref["cls.logits"]), 1e-4);
  (logits * c.ref["cls.target"]).sum().backward();
  const auto params = model.named_parameters();
  int checked = 0;
  for (const auto& item : c.ref) {
    if (!item.key().starts_with("cls.grad.")) continue;
    const std::string name = item.key().substr(9);
    const Tensor* p = params.find(name);
    ASSERT_NE(p, nullptr) << name;
    ASSERT_TRUE(p->grad().defined()) << name;
    EXPECT_LE(rel_diff(p->grad(), item.value()), 1e-4) << name;
    ++checked;
  }
  EXPECT_GE(checked, 10);
  // Without a pad_token_id only a single row can be pooled (its last token), as in HF.
  GPT2Config no_pad = model.config;
  no_pad.pad_token_id = -1;
  GPT2ForSequenceClassification m2(no_pad);
  EXPECT_THROW(m2.forward(c.ref["cls.input_ids"]), Error);
  EXPECT_EQ(m2.forward(c.ref["cls.input_ids"].narrow(0, 0, 1)).sizes(), IntArrayRef({1, 3}));
  model.reset_classifier(5);
  EXPECT_EQ(model.forward(c.ref["cls.input_ids"]).sizes(), IntArrayRef({3, 5}));
}

TEST(GPT2, NamesAndConfig) {
  nlohmann::json j = {{"vocab_size", 50}, {"n_positions", 16}, {"n_embd", 8}, {"n_layer", 2}, {"n_head", 2},
                      {"eos_token_id", {3, 4}}, {"pad_token_id", nullptr}, {"id2label", {{"0", "a"}, {"1", "b"}, {"2", "c"}}}};
  const GPT2Config cfg = GPT2Config::from_json(j);
  EXPECT_EQ(cfg.eos_token_ids, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(cfg.pad_token_id, -1);
  EXPECT_EQ(cfg.num_labels, 3);
  GPT2LMHeadModel m(cfg);
  const auto keys = m.state_dict().keys();
  EXPECT_EQ(keys.front(), "transformer.wte.weight");
  EXPECT_EQ(keys[1], "transformer.wpe.weight");
  EXPECT_EQ(keys[2], "transformer.h.0.ln_1.weight");
  EXPECT_EQ(keys[4], "transformer.h.0.attn.c_attn.weight");
  EXPECT_EQ(keys.back(), "transformer.ln_f.bias");
  EXPECT_FALSE(m.state_dict().contains("lm_head.weight"));  // tied to wte
  EXPECT_EQ(m.state_dict()["transformer.h.1.attn.c_attn.weight"].sizes(), IntArrayRef({8, 24}));  // Conv1D: [in, out]
  EXPECT_EQ(m.state_dict()["transformer.h.1.mlp.c_fc.weight"].sizes(), IntArrayRef({8, 32}));
  for (auto bad : {nlohmann::json{{"n_embd", 10}, {"n_head", 3}}, nlohmann::json{{"n_layer", "two"}},
                   nlohmann::json{{"activation_function", "gelu_unknown"}}, nlohmann::json{{"n_positions", -1}}}) {
    nlohmann::json b = j;
    b.update(bad);
    EXPECT_THROW(GPT2LMHeadModel{GPT2Config::from_json(b)}, Error) << bad.dump();
  }
}

// A Hugging Face folder as the hub has it: keys of the base model (h.0.*, wte.weight) with the
// old attn.bias / attn.masked_bias buffers, loaded into GPT2LMHeadModel by from_pretrained; and a
// checkpoint that does not fit its config is refused with every problem named.
TEST(GPT2, FromPretrainedHubLayoutAndMisfits) {
  Case c = load_case("gpt2_tiny");
  const fs::path dir = fs::path(ARK_BINARY_DIR) / "tmp" / ("gpt2_hub_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  io::TensorDict hub;
  for (const auto& item : io::load_safetensors(c.folder + "/model.safetensors").tensors) {
    std::string key = item.key().substr(std::string("transformer.").size());
    hub.insert(key, item.value());
    if (key.ends_with("attn.c_attn.bias")) {
      const std::string layer = key.substr(0, key.size() - std::string("c_attn.bias").size());
      hub.insert(layer + "bias", ones({1, 1, 96, 96}).tril());
      hub.insert(layer + "masked_bias", scalar_tensor(-1e4));
    }
  }
  io::save_safetensors((dir / "model.safetensors").string(), hub);
  fs::copy_file(c.folder + "/config.json", dir / "config.json", fs::copy_options::overwrite_existing);
  auto loaded = hf::from_pretrained(dir);
  auto* lm = dynamic_cast<GPT2LMHeadModel*>(loaded.get());
  ASSERT_NE(lm, nullptr);
  {
    NoGradGuard no_grad;
    EXPECT_LE(rel_diff(lm->forward(c.ref["input_ids"]), c.ref["logits"]), 1e-4);
  }

  // Misfit: the config says 3 layers and a wider MLP than the file holds.
  nlohmann::json bad = c.config;
  bad["n_layer"] = 3;
  bad["n_inner"] = 128;
  std::ofstream(dir / "config.json") << bad.dump();
  try {
    hf::from_pretrained(dir);
    ADD_FAILURE() << "a checkpoint that does not fit its config loaded";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("h.2."), std::string::npos) << msg;          // missing layer
    EXPECT_NE(msg.find("c_fc.weight"), std::string::npos) << msg;   // shape mismatch
  }
  // And directly: load_state_dict of the reference weights into a model of another width.
  GPT2Config other = GPT2Config::from_json(c.config);
  other.n_embd = 32;
  GPT2LMHeadModel m(other);
  EXPECT_THROW(m.load_state_dict(io::load_safetensors(c.folder + "/model.safetensors").tensors), Error);
  fs::remove_all(dir);
}

}  // namespace
