// Generation: the KV cache (stepwise logits equal the full forward; generation with and without
// it identical), batched left-padded prompts equal to each prompt alone, seeded sampling, HF's
// logits processors on fixed logits against tools/reference/text_decoders.py, EOS and stop
// strings, streaming, and bad input (prompts longer than the context, bad arguments).
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "ark/ark.h"
#include "ark/io/safetensors.h"
#include "ark/models/generation.h"
#include "ark/models/gpt2.h"
#include "ark/models/llama.h"
#include "support/reference.h"

namespace {

using namespace ark;
using namespace ark::models;

std::shared_ptr<CausalLM> load_model(const std::string& name) {
  test::reference_file("text_decoders.py", name + ".ref.safetensors", name);
  const std::string folder = std::string(ARK_TEST_DATA) + "/" + name + ".hf";
  std::ifstream f(folder + "/config.json");
  const nlohmann::json config = nlohmann::json::parse(f);
  std::shared_ptr<CausalLM> model;
  if (config["model_type"] == "gpt2") model = std::make_shared<GPT2LMHeadModel>(GPT2Config::from_json(config));
  else model = std::make_shared<LlamaForCausalLM>(LlamaConfig::from_json(config));
  model->load_state_dict(io::load_safetensors(folder + "/model.safetensors").tensors);
  model->eval();
  return model;
}

double max_diff(const Tensor& a, const Tensor& b) { return (a - b).abs().max().item<double>(); }

class Decoders : public ::testing::TestWithParam<std::string> {};

// Prefill 5 tokens, then 1, then 3 at a time through the cache: the logits of every position
// equal the full forward's.
TEST_P(Decoders, CachedStepsEqualFullForward) {
  auto model = load_model(GetParam());
  NoGradGuard no_grad;
  manual_seed(3);
  Tensor ids = randint(3, 128, {2, 9}, TensorOptions().dtype(kLong));
  Tensor full = model->forward(ids);
  KVCache cache = model->make_cache(2, 12);
  std::vector<Tensor> parts;
  int64_t at = 0;
  for (int64_t n : {5, 1, 3}) {
    parts.push_back(model->forward(ids.narrow(1, at, n), &cache));
    at += n;
    EXPECT_EQ(cache.length(), at);
  }
  EXPECT_LE(max_diff(cat(parts, 1), full), 1e-5);
  EXPECT_THROW(model->forward(ids.narrow(1, 0, 4), &cache), Error);  // 9 + 4 > the cache's 12
  KVCache small = model->make_cache(1, 4);
  EXPECT_THROW(model->forward(ids.narrow(1, 0, 2), &small), Error);  // batch 2 into a cache of 1 row
}

// Three prompts of different lengths in one left-padded batch give what each gives alone, for
// greedy decoding with and without the cache; the logits of the real positions agree too.
TEST_P(Decoders, BatchedPaddedPromptsEqualUnbatched) {
  auto model = load_model(GetParam());
  const std::vector<std::vector<int64_t>> prompts = {{5, 17, 99, 3, 42}, {7, 8, 9, 10, 11, 12, 13, 14, 15}, {64, 65, 66}};
  GenerationConfig g;
  g.max_new_tokens = 20;
  g.eos_token_ids = std::vector<int64_t>{};
  for (bool use_cache : {true, false}) {
    g.use_cache = use_cache;
    GenerationResult batched = generate(*model, prompts, g);
    ASSERT_EQ(batched.tokens.size(), 3u);
    EXPECT_EQ(batched.sequences.sizes(), IntArrayRef({3, 9 + 20}));
    for (size_t i = 0; i < prompts.size(); ++i) {
      GenerationResult alone = generate(*model, std::vector<std::vector<int64_t>>{prompts[i]}, g);
      EXPECT_EQ(batched.tokens[i], alone.tokens[0]) << "row " << i << " use_cache=" << use_cache;
    }
  }
  // Logits of a padded batch, position by position.
  NoGradGuard no_grad;
  Tensor ids = full({2, 6}, 0, TensorOptions().dtype(kLong));
  Tensor mask = zeros({2, 6}, TensorOptions().dtype(kLong));
  ids[0].copy_(tensor({5, 17, 99, 3, 42, 9}).to(kLong));
  mask[0].fill_(1);
  ids[1].narrow(0, 3, 3).copy_(tensor({64, 65, 66}).to(kLong));
  mask[1].narrow(0, 3, 3).fill_(1);
  Tensor pos = (mask.cumsum(1) - 1).clamp_min(0);
  Tensor batched = model->forward(ids, nullptr, mask, pos);
  Tensor alone = model->forward(ids[1].narrow(0, 3, 3).unsqueeze(0));
  EXPECT_LE(max_diff(batched[1].narrow(0, 3, 3), alone[0]), 1e-5);
  EXPECT_FALSE(batched.isnan().any().item<bool>());  // padding rows stay finite
}

TEST_P(Decoders, SeededSamplingIsReproducible) {
  auto model = load_model(GetParam());
  GenerationConfig g;
  g.max_new_tokens = 24;
  g.temperature = 1.5;
  g.top_k = 40;
  g.top_p = 0.95;
  g.repetition_penalty = 1.1;
  g.eos_token_ids = std::vector<int64_t>{};
  g.seed = 1234;
  const std::vector<std::vector<int64_t>> prompts = {{5, 6, 7}, {9, 10}};
  GenerationResult a = generate(*model, prompts, g);
  GenerationResult b = generate(*model, prompts, g);
  EXPECT_EQ(a.tokens, b.tokens);
  g.use_cache = false;
  EXPECT_EQ(generate(*model, prompts, g).tokens, a.tokens);  // the cache changes nothing
  g.use_cache = true;
  g.seed = 99;
  EXPECT_NE(generate(*model, prompts, g).tokens, a.tokens);
}

// EOS ends a row (the token is kept, later positions get the pad); stop strings need `decode`
// and end a row once its text contains them; tokens stream through on_token as chosen.
TEST_P(Decoders, EosStopStringsAndStreaming) {
  auto model = load_model(GetParam());
  GenerationConfig g;
  g.max_new_tokens = 12;
  g.eos_token_ids = std::vector<int64_t>{};
  const std::vector<std::vector<int64_t>> prompts = {{5, 6, 7}, {9, 10, 11}};
  GenerationResult free_run = generate(*model, prompts, g);
  const int64_t stop_token = free_run.tokens[0][3];
  g.eos_token_ids = std::vector<int64_t>{stop_token};
  g.pad_token_id = 1;
  std::vector<std::pair<int64_t, int64_t>> streamed;
  GenerationResult r = generate(*model, prompts, g, [&](int64_t row, int64_t tok) { streamed.emplace_back(row, tok); });
  const auto first = std::find(free_run.tokens[0].begin(), free_run.tokens[0].end(), stop_token);
  const std::vector<int64_t> expected(free_run.tokens[0].begin(), first + 1);
  EXPECT_EQ(r.tokens[0], expected);
  EXPECT_EQ(r.finish_reasons[0], FinishReason::kEos);
  size_t n_streamed = 0;
  for (const auto& [row, tok] : streamed) n_streamed += row == 0;
  EXPECT_EQ(n_streamed, expected.size());
  EXPECT_EQ(streamed.size(), r.tokens[0].size() + r.tokens[1].size());
  if (r.tokens[1].size() > r.tokens[0].size()) {  // finished rows are padded in `sequences`
    EXPECT_EQ(r.sequences[0][3 + static_cast<int64_t>(expected.size())].item<int64_t>(), 1);
  }

  // Stop strings over a toy decoder: token t -> "<t>".
  g.eos_token_ids = std::vector<int64_t>{};
  g.decode = [](const std::vector<int64_t>& ids) {
    std::string s;
    for (int64_t t : ids) s.append("<").append(std::to_string(t)).append(">");
    return s;
  };
  g.stop_strings = {"<" + std::to_string(free_run.tokens[1][2]) + ">"};
  GenerationResult s = generate(*model, prompts, g);
  EXPECT_EQ(s.finish_reasons[1], FinishReason::kStopString);
  EXPECT_EQ(s.tokens[1].back(), free_run.tokens[1][2]);
  EXPECT_LE(s.tokens[1].size(), 3u);
  g.decode = nullptr;
  EXPECT_THROW(generate(*model, prompts, g), Error);  // stop strings without decode
}

// A prompt that fills the context is an error; one that nearly does stops at the context.
TEST_P(Decoders, ContextLimitsAndBadArguments) {
  auto model = load_model(GetParam());
  const int64_t context = model->context_length();  // 96 for the tiny cases
  GenerationConfig g;
  g.max_new_tokens = 10;
  g.eos_token_ids = std::vector<int64_t>{};
  Tensor too_long = full({1, context}, 5, TensorOptions().dtype(kLong));
  try {
    generate(*model, too_long, {}, g);
    ADD_FAILURE() << "a prompt of the context's length was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("context"), std::string::npos) << e.what();
  }
  EXPECT_THROW(generate(*model, full({1, context + 50}, 5, TensorOptions().dtype(kLong)), {}, g), Error);
  GenerationResult r = generate(*model, full({1, context - 4}, 5, TensorOptions().dtype(kLong)), {}, g);
  EXPECT_EQ(r.tokens[0].size(), 4u);
  EXPECT_EQ(r.finish_reasons[0], FinishReason::kContext);
  EXPECT_EQ(r.sequences.size(1), context);
  // Without generate, the model itself refuses positions past the context.
  NoGradGuard no_grad;
  EXPECT_THROW(model->forward(full({1, context + 1}, 5, TensorOptions().dtype(kLong))), Error);

  const std::vector<std::vector<int64_t>> p = {{5, 6}};
  auto bad = [&](auto edit) {
    GenerationConfig b = g;
    edit(b);
    EXPECT_THROW(generate(*model, p, b), Error);
  };
  bad([](GenerationConfig& b) { b.temperature = -1; });
  bad([](GenerationConfig& b) { b.top_p = 0; });
  bad([](GenerationConfig& b) { b.top_p = 1.5; });
  bad([](GenerationConfig& b) { b.top_k = -2; });
  bad([](GenerationConfig& b) { b.repetition_penalty = 0; });
  bad([](GenerationConfig& b) { b.max_new_tokens = -1; });
  EXPECT_THROW(generate(*model, std::vector<std::vector<int64_t>>{{5, 100000}}, g), Error);  // id out of vocab
  EXPECT_THROW(generate(*model, std::vector<std::vector<int64_t>>{{}}, g), Error);
  EXPECT_THROW(generate(*model, zeros({1, 3}, TensorOptions().dtype(kLong)), zeros({1, 3}), g), Error);  // all padding
}

INSTANTIATE_TEST_SUITE_P(Generation, Decoders, ::testing::Values("gpt2_tiny", "llama_tiny", "llama_tiny_mqa"));

// HF's logits processors (tools/reference/text_decoders.py, written like logits_process.py) on fixed logits.
TEST(Generation, LogitsProcessorsMatchReference) {
  const auto ref = io::load_safetensors(test::reference_file("text_decoders.py", "processors.ref.safetensors",
                                                             "processors")).tensors;
  const Tensor& logits = ref["logits"];
  const Tensor& ids = ref["input_ids"];
  auto same = [](const Tensor& a, const Tensor& b, const std::string& what) {
    // -inf where the reference has -inf, values within float rounding elsewhere.
    EXPECT_TRUE(equal(isinf(a), isinf(b))) << what;
    Tensor fa = a.masked_fill(isinf(a), 0), fb = b.masked_fill(isinf(b), 0);
    EXPECT_LE((fa - fb).abs().max().item<double>(), 1e-6) << what;
  };
  same(apply_repetition_penalty(logits, ids, 1.3), ref["rep1.3"], "repetition 1.3");
  same(apply_repetition_penalty(logits, ids, 0.8), ref["rep0.8"], "repetition 0.8");
  same(logits / 0.7, ref["temp0.7"], "temperature");
  for (int k : {1, 5, 60}) same(apply_top_k(logits, k), ref["topk" + std::to_string(k)], "top_k " + std::to_string(k));
  for (const char* p : {"0", "0.5", "0.9", "1"})
    same(apply_top_p(logits, std::stod(p)), ref[std::string("topp") + p], std::string("top_p ") + p);
  same(apply_top_p(apply_top_k(apply_repetition_penalty(logits, ids, 1.2) / 0.8, 10), 0.85), ref["chain"], "chain");
  // Padding (valid == 0) is left out of the repetition penalty.
  Tensor valid = ones_like(ids);
  valid.narrow(1, 0, 4).fill_(0);
  Tensor rest = ids.narrow(1, 4, ids.size(1) - 4);
  same(apply_repetition_penalty(logits, ids, 1.3, valid), apply_repetition_penalty(logits, rest, 1.3), "valid mask");
}

TEST(Generation, KVCacheBasics) {
  KVCache cache(2, 1, 2, 4, 3);
  EXPECT_EQ(cache.length(), 0);
  EXPECT_EQ(cache.max_length(), 4);
  Tensor k = randn({1, 2, 3, 3}), v = randn({1, 2, 3, 3});
  auto [k0, v0] = cache.update(0, k, v);
  EXPECT_TRUE(equal(k0, k));
  cache.update(1, k, v);
  cache.advance(3);
  Tensor k2 = randn({1, 2, 1, 3});
  auto [k1, v1] = cache.update(0, k2, k2);
  EXPECT_EQ(k1.sizes(), IntArrayRef({1, 2, 4, 3}));
  EXPECT_TRUE(equal(k1.narrow(2, 0, 3), k));  // the past stays in place
  EXPECT_TRUE(equal(k1.narrow(2, 3, 1), k2));
  EXPECT_THROW(cache.update(0, randn({1, 2, 2, 3}), randn({1, 2, 2, 3})), Error);  // past max_length
  EXPECT_THROW(cache.update(2, k2, k2), Error);
  EXPECT_THROW(cache.update(0, randn({1, 3, 1, 3}), randn({1, 3, 1, 3})), Error);
  EXPECT_THROW(KVCache(0, 1, 1, 1, 1), Error);
}

}  // namespace
