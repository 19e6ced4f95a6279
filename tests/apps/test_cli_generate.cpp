// `ark generate` as a user runs it, on a Hugging Face folder written here: a small GPT-2 whose
// vocabulary is a byte-level BPE (every byte a token, plus a few merges), so continuations split
// UTF-8 characters across tokens and the printer must hold incomplete ones back. Its output is
// checked against the library (greedy generate + decode in process), stop strings, seeded
// sampling, and each bad input's exit code: bad sampling arguments and an over-long prompt (2),
// a missing folder (6), a folder that is not a causal LM (2).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ark/ark.h"
#include "ark/io/safetensors.h"
#include "ark/models/gpt2.h"
#include "ark/models/hf.h"
#include "ark/tokenizers/tokenizer.h"

namespace fs = std::filesystem;
using namespace ark;
using namespace ark::models;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// GPT-2's bytes_to_unicode: the printable bytes stand for themselves, the others for 256 + n.
std::vector<std::string> byte_tokens() {
  std::vector<int> cs(256, -1);
  for (int b = 0; b < 256; ++b)
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) cs[b] = b;
  int n = 0;
  for (int b = 0; b < 256; ++b)
    if (cs[b] < 0) cs[b] = 256 + n++;
  std::vector<std::string> out;
  for (int b = 0; b < 256; ++b) {
    const int c = cs[b];
    std::string s;
    if (c < 0x80) s += static_cast<char>(c);
    else {
      s += static_cast<char>(0xC0 | (c >> 6));
      s += static_cast<char>(0x80 | (c & 0x3F));
    }
    out.push_back(s);
  }
  return out;
}

class CliGenerate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("ark_cli_generate_" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "lm");
    fs::create_directories(dir_ / "cls");
    // Tokenizer: 256 byte tokens, three merges, <|endoftext|>.
    nlohmann::json vocab;
    const auto bytes = byte_tokens();
    for (int b = 0; b < 256; ++b) vocab[bytes[static_cast<size_t>(b)]] = b;
    vocab["\xC4\xA0t"] = 256;  // "Ġt"
    vocab["he"] = 257;
    vocab["\xC4\xA0the"] = 258;
    vocab["<|endoftext|>"] = 259;
    for (const char* sub : {"lm", "cls"}) {
      std::ofstream(dir_ / sub / "vocab.json") << vocab.dump();
      std::ofstream(dir_ / sub / "merges.txt") << "#version: 0.2\n\xC4\xA0 t\nh e\n\xC4\xA0t he\n";
    }
    nlohmann::json config = {{"model_type", "gpt2"}, {"architectures", {"GPT2LMHeadModel"}}, {"vocab_size", 260},
                             {"n_positions", 64}, {"n_embd", 32}, {"n_layer", 2}, {"n_head", 4},
                             {"bos_token_id", 259}, {"eos_token_id", 259}};
    manual_seed(0);
    GPT2LMHeadModel lm(GPT2Config::from_json(config));
    {
      NoGradGuard no_grad;
      for (auto& p : lm.parameters())
        if (p.dim() == 2) nn::init::normal_(p, 0.0, 0.3);  // varied continuations, not one repeated token
    }
    io::save_safetensors((dir_ / "lm" / "model.safetensors").string(), lm.state_dict());
    std::ofstream(dir_ / "lm" / "config.json") << config.dump();
    config["architectures"] = {"GPT2ForSequenceClassification"};
    GPT2ForSequenceClassification cls(GPT2Config::from_json(config));
    io::save_safetensors((dir_ / "cls" / "model.safetensors").string(), cls.state_dict());
    std::ofstream(dir_ / "cls" / "config.json") << config.dump();
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  struct Run {
    int rc;
    std::string out, err;
  };
  static Run ark(const std::string& args) {
    const fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    const std::string cmd = std::string(ARK_CLI) + " generate " + args + " >" + out.string() + " 2>" + err.string();
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
  }
  static std::string lm() { return (dir_ / "lm").string(); }

  // What the library gives: greedy tokens of `prompt`, decoded without special tokens.
  static std::string expected_greedy(const std::string& prompt, int64_t n) {
    auto model = std::dynamic_pointer_cast<CausalLM>(hf::from_pretrained(lm()));
    auto tok = tokenizers::from_folder(lm());
    GenerationConfig g;
    g.max_new_tokens = n;
    return tok->decode(generate(*model, std::vector<std::vector<int64_t>>{tok->encode(prompt)}, g).tokens[0], true);
  }

  static fs::path dir_;
};
fs::path CliGenerate::dir_;

TEST_F(CliGenerate, GreedyMatchesTheLibrary) {
  const std::string expected = expected_greedy("the cat sat", 40);
  Run r = ark(lm() + " --prompt 'the cat sat' --max-tokens 40 --temperature 0");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, expected + "\n");
  EXPECT_EQ(r.err, "");
  // The cache-free path prints the same.
  EXPECT_EQ(ark(lm() + " -p 'the cat sat' -n 40 -t 0 --no-cache").out, r.out);
  // Byte tokens: the continuation holds characters split across tokens (or their U+FFFD).
  bool non_ascii = false;
  for (char c : expected) non_ascii = non_ascii || static_cast<unsigned char>(c) >= 0x80;
  EXPECT_TRUE(non_ascii) << "the fixture should exercise multi-byte output";
}

TEST_F(CliGenerate, StopStringEndsAndIsNotPrinted) {
  const std::string expected = expected_greedy("the cat sat", 40);
  // Two printable ASCII bytes from the middle of the continuation.
  size_t at = std::string::npos;
  for (size_t i = 4; i + 1 < expected.size() && at == std::string::npos; ++i)
    if (std::isalnum(static_cast<unsigned char>(expected[i])) && std::isalnum(static_cast<unsigned char>(expected[i + 1])))
      at = i;
  ASSERT_NE(at, std::string::npos) << "no ASCII pair in: " << expected;
  const std::string stop = expected.substr(at, 2);
  Run r = ark(lm() + " --prompt 'the cat sat' --max-tokens 40 --temperature 0 --stop '" + stop + "' --verbose");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, expected.substr(0, expected.find(stop)) + "\n");
  EXPECT_NE(r.err.find("stopped: stop"), std::string::npos) << r.err;
}

TEST_F(CliGenerate, SeededSamplingIsReproducible) {
  const std::string args = lm() + " --prompt 'the' --max-tokens 30 --temperature 0.9 --top-k 40 --top-p 0.95 "
                                  "--repetition-penalty 1.2 --seed ";
  Run a = ark(args + "7"), b = ark(args + "7"), c = ark(args + "8");
  ASSERT_EQ(a.rc, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
}

TEST_F(CliGenerate, BadInputExitCodes) {
  for (const std::string bad : {"--temperature -1", "--top-p 0", "--top-p 1.5", "--top-k -1", "--max-tokens -3",
                                "--repetition-penalty 0", "--seed -2", "--temperature abc"}) {
    Run r = ark(lm() + " --prompt hi " + bad);
    EXPECT_EQ(r.rc, 2) << bad << ": " << r.err;
  }
  EXPECT_EQ(ark(lm()).rc, 2);  // no --prompt
  Run longer = ark(lm() + " --prompt '" + std::string(80, 'x') + "'");  // 80 tokens > the context of 64
  EXPECT_EQ(longer.rc, 2);
  EXPECT_NE(longer.err.find("context"), std::string::npos) << longer.err;
  Run missing = ark((dir_ / "nowhere").string() + " --prompt hi");
  EXPECT_EQ(missing.rc, 6) << missing.err;
  Run cls = ark((dir_ / "cls").string() + " --prompt hi");
  EXPECT_EQ(cls.rc, 2) << cls.err;
  EXPECT_NE(cls.err.find("GPT2ForSequenceClassification"), std::string::npos) << cls.err;
}

}  // namespace
