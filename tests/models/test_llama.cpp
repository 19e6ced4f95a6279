// LLaMA-style decoders against tools/reference/text_decoders.py (plain PyTorch written like HF's
// modeling_llama.py): GQA (4 query heads on 2 key/value heads), MQA with attention biases, tied
// embeddings and rope_theta 5e5, and a moderate size (8 layers, 512 wide, vocab 32000, GQA 8:2);
// logits, hidden states, greedy 64-token continuations, the classification head's logits and
// gradients; names, config.json and checkpoints that do not fit.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ark/ark.h"
#include "ark/io/safetensors.h"
#include "ark/models/hf.h"
#include "ark/models/llama.h"
#include "support/reference.h"

namespace {

using namespace ark;
using namespace ark::models;

struct Case {
  io::TensorDict ref;
  std::string folder;
  nlohmann::json config;
};

Case load_case(const std::string& name, const std::string& suffix = ".hf") {
  const std::string out = test::reference_file("text_decoders.py", name + ".ref.safetensors", name);
  Case c;
  c.ref = io::load_safetensors(out).tensors;
  c.folder = std::string(ARK_TEST_DATA) + "/" + name + suffix;
  std::ifstream f(c.folder + "/config.json");
  c.config = nlohmann::json::parse(f);
  return c;
}

double rel_diff(const Tensor& a, const Tensor& ref) {
  return (a - ref).abs().max().item<double>() / std::max(1.0, ref.abs().max().item<double>());
}

std::vector<int64_t> to_vector(const Tensor& t) {
  Tensor c = t.to(kLong).contiguous().view({-1});
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

void check_lm(const std::string& name, bool both_cache_modes) {
  Case c = load_case(name);
  auto loaded = std::dynamic_pointer_cast<LlamaForCausalLM>(hf::from_pretrained(c.folder));
  ASSERT_NE(loaded, nullptr);
  LlamaForCausalLM& model = *loaded;
  NoGradGuard no_grad;
  std::vector<Tensor> hidden;
  Tensor logits = model.logits(model.model(c.ref["input_ids"], nullptr, Tensor(), Tensor(), &hidden));
  const double dl = rel_diff(logits, c.ref["logits"]);
  std::printf("[parity] %s logits: max|diff| / scale = %.3g\n", name.c_str(), dl);
  EXPECT_LE(dl, 1e-4);
  ASSERT_EQ(static_cast<int64_t>(hidden.size()), model.config.num_hidden_layers + 1);
  for (size_t i = 0; i < hidden.size(); ++i)
    EXPECT_LE(rel_diff(hidden[i], c.ref["hidden." + std::to_string(i)]), 1e-4) << "hidden state " << i;

  GenerationConfig g;
  g.max_new_tokens = 64;
  g.eos_token_ids = std::vector<int64_t>{};  // the reference ignores EOS
  const auto expected = to_vector(c.ref["greedy.tokens"]);
  for (bool use_cache : {true, false}) {
    if (!use_cache && !both_cache_modes) continue;
    g.use_cache = use_cache;
    EXPECT_EQ(generate(model, c.ref["greedy.prompt"], {}, g).tokens[0], expected) << name << " use_cache=" << use_cache;
  }
}

TEST(Llama, TinyGQAMatchesReference) { check_lm("llama_tiny", true); }
TEST(Llama, TinyMQABiasTiedMatchesReference) { check_lm("llama_tiny_mqa", true); }
TEST(Llama, MediumMatchesReference) { check_lm("llama_medium", false); }

TEST(Llama, SequenceClassificationOutputsAndGradients) {
  for (const std::string name : {"llama_tiny", "llama_tiny_mqa"}) {
    Case c = load_case(name, "_cls.hf");
    LlamaForSequenceClassification model(LlamaConfig::from_json(c.config));
    model.load_state_dict(io::load_safetensors(c.folder + "/model.safetensors").tensors);
    model.eval();
    Tensor logits = model.forward(c.ref["cls.input_ids"], c.ref["cls.attention_mask"]);
    EXPECT_LE(rel_diff(logits, c.ref["cls.logits"]), 1e-4) << name;
    (logits * c.ref["cls.target"]).sum().backward();
    const auto params = model.named_parameters();
    int checked = 0;
    for (const auto& item : c.ref) {
      if (!item.key().starts_with("cls.grad.")) continue;
      const std::string pname = item.key().substr(9);
      const Tensor* p = params.find(pname);
      ASSERT_NE(p, nullptr) << pname;
      ASSERT_TRUE(p->grad().defined()) << pname;
      EXPECT_LE(rel_diff(p->grad(), item.value()), 1e-4) << name << " " << pname;
      ++checked;
    }
    EXPECT_GE(checked, 10) << name;
  }
}

TEST(Llama, NamesAndConfig) {
  nlohmann::json j = {{"vocab_size", 40},         {"hidden_size", 16},        {"intermediate_size", 24},
                      {"num_hidden_layers", 2},   {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                      {"max_position_embeddings", 32}, {"tie_word_embeddings", false}, {"rope_scaling", nullptr}};
  LlamaForCausalLM m(LlamaConfig::from_json(j));
  const auto sd = m.state_dict();
  const auto keys = sd.keys();
  EXPECT_EQ(keys.front(), "model.embed_tokens.weight");
  EXPECT_EQ(keys[1], "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(keys.back(), "lm_head.weight");
  EXPECT_EQ(sd["model.layers.1.self_attn.k_proj.weight"].sizes(), IntArrayRef({8, 16}));  // 2 kv heads of 4
  EXPECT_TRUE(sd.contains("model.layers.1.mlp.gate_proj.weight"));
  EXPECT_TRUE(sd.contains("model.layers.1.post_attention_layernorm.weight"));
  EXPECT_TRUE(sd.contains("model.norm.weight"));
  EXPECT_FALSE(sd.contains("model.layers.0.self_attn.q_proj.bias"));
  j["tie_word_embeddings"] = true;
  j["attention_bias"] = true;
  LlamaForCausalLM tied(LlamaConfig::from_json(j));
  EXPECT_FALSE(tied.state_dict().contains("lm_head.weight"));
  EXPECT_TRUE(tied.state_dict().contains("model.layers.0.self_attn.o_proj.bias"));
  for (auto bad : {nlohmann::json{{"num_key_value_heads", 3}}, nlohmann::json{{"rope_scaling", {{"type", "linear"}}}},
                   nlohmann::json{{"hidden_act", "swiglu?"}}, nlohmann::json{{"hidden_size", 18}}}) {
    nlohmann::json b = j;
    b.update(bad);
    EXPECT_THROW(LlamaForCausalLM{LlamaConfig::from_json(b)}, Error) << bad.dump();
  }
}

TEST(Llama, FromPretrainedAndMisfit) {
  Case c = load_case("llama_tiny");
  auto model = hf::from_pretrained(c.folder);
  auto* lm = dynamic_cast<LlamaForCausalLM*>(model.get());
  ASSERT_NE(lm, nullptr);
  {
    NoGradGuard no_grad;
    EXPECT_LE(rel_diff(lm->forward(c.ref["input_ids"]), c.ref["logits"]), 1e-4);
  }
  // The same weights into a config with other key/value heads: every mis-shaped key is named.
  LlamaConfig other = LlamaConfig::from_json(c.config);
  other.num_key_value_heads = 4;
  LlamaForCausalLM m(other);
  try {
    m.load_state_dict(io::load_safetensors(c.folder + "/model.safetensors").tensors);
    ADD_FAILURE() << "mis-shaped checkpoint loaded";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("model.layers.0.self_attn.k_proj.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.layers.1.self_attn.v_proj.weight"), std::string::npos) << msg;
  }
}

// A bfloat16 model (from_pretrained with dtype): logits within bfloat16's precision of the float32
// reference, the KV cache in bfloat16, and the first greedy tokens as the reference's.
TEST(Llama, Bfloat16) {
  Case c = load_case("llama_tiny");
  hf::FromPretrainedOptions o;
  o.dtype = kBFloat16;
  auto lm = std::dynamic_pointer_cast<LlamaForCausalLM>(hf::from_pretrained(c.folder, o));
  ASSERT_NE(lm, nullptr);
  EXPECT_EQ(lm->model->embed_tokens->weight.dtype(), kBFloat16);
  EXPECT_EQ(lm->make_cache(1, 4).batch_size(), 1);
  {
    NoGradGuard no_grad;
    Tensor logits = lm->forward(c.ref["input_ids"]);
    EXPECT_EQ(logits.dtype(), kBFloat16);
    EXPECT_LE(rel_diff(logits.to(kFloat), c.ref["logits"]), 0.05);
  }
  GenerationConfig g;
  g.max_new_tokens = 2;
  g.eos_token_ids = std::vector<int64_t>{};
  const auto expected = to_vector(c.ref["greedy.tokens"]);
  EXPECT_EQ(generate(*lm, c.ref["greedy.prompt"], {}, g).tokens[0], std::vector<int64_t>(expected.begin(), expected.begin() + 2));
}

}  // namespace
