// The `ark` command line, run as a user runs it: `ark inspect` and `ark convert` on every weights
// format ark reads (fixtures written by PyTorch 1.13, h5py and a hand-made TF.js manifest), their
// outputs checked against what the files hold, and each failure's exit code, message and the
// promise that nothing is left behind or overwritten.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "ark/ark.h"
#include "ark/models/registry.h"
#include "ark/pretrained/load_weights.h"
#include "support/reference.h"

namespace fs = std::filesystem;
namespace io = ark::io;
using ark::Tensor;
using nlohmann::json;

namespace {

struct CliRun {
  int rc = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { fixtures_ = ark::test::reference_file("cli_fixtures.py", "cli"); }
  void SetUp() override {
    scratch_ = fs::temp_directory_path() / ("ark_cli_test_" + std::to_string(::getpid()));
    fs::create_directories(scratch_);
  }
  void TearDown() override { fs::remove_all(scratch_); }

  static std::string fixture(const std::string& name) { return fixtures_ + "/" + name; }
  std::string scratch(const std::string& name) const { return (scratch_ / name).string(); }

  // Runs `ark ARGS` with stdout and stderr captured separately.
  CliRun ark(const std::string& args) const {
    const std::string out = scratch("stdout"), err = scratch("stderr");
    const std::string cmd = std::string(ARK_CLI) + " " + args + " >" + out + " 2>" + err;
    const int status = std::system(cmd.c_str());
    CliRun r;
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    fs::remove(out);
    fs::remove(err);
    return r;
  }

  // Files in the scratch folder other than the captured streams (what a failed command left).
  std::vector<std::string> leftovers() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(scratch_)) names.push_back(e.path().filename().string());
    return names;
  }

  static std::string fixtures_;
  fs::path scratch_;
};
std::string CliTest::fixtures_;

// inspect --json must list exactly the tensors the fixture's description holds.
void expect_inspect_matches(const json& j, const json& expected) {
  ASSERT_EQ(j["tensors"].size(), expected.size());
  uint64_t bytes = 0;
  for (const auto& t : j["tensors"]) {
    const std::string name = t["name"];
    ASSERT_TRUE(expected.contains(name)) << name;
    EXPECT_EQ(t["dtype"], expected[name]["dtype"]) << name;
    EXPECT_EQ(t["shape"], expected[name]["shape"]) << name;
    bytes += t["bytes"].get<uint64_t>();
  }
  EXPECT_EQ(j["total"]["bytes"].get<uint64_t>(), bytes);
  EXPECT_EQ(j["total"]["tensors"].get<size_t>(), expected.size());
}

TEST_F(CliTest, HelpListsCommandsAndExitCodes) {
  const CliRun r = ark("--help");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("inspect"), std::string::npos);
  EXPECT_NE(r.out.find("convert"), std::string::npos);
  EXPECT_NE(r.out.find("130 interrupted"), std::string::npos);
  EXPECT_EQ(ark("").rc, 2);  // a subcommand is required
  EXPECT_EQ(ark("frobnicate").rc, 2);
  EXPECT_EQ(ark("inspect").rc, 2);  // FILE is required
}

TEST_F(CliTest, InspectPthZipAndLegacyJson) {
  const json expected = json::parse(slurp(fixture("small.json")));
  for (const char* file : {"small.pth", "small_legacy.pth"}) {
    SCOPED_TRACE(file);
    const CliRun r = ark("inspect --json " + fixture(file));
    ASSERT_EQ(r.rc, 0) << r.err;
    const json j = json::parse(r.out);  // stdout holds the JSON only
    EXPECT_EQ(j["format"], "pth");
    expect_inspect_matches(j, expected);
  }
}

TEST_F(CliTest, InspectTableShowsNamesShapesAndTotals) {
  const CliRun r = ark("inspect " + fixture("resnet18.pth"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const json expected = json::parse(slurp(fixture("resnet18.json")));
  EXPECT_NE(r.out.find(std::to_string(expected.size()) + " tensors"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("layer4.1.bn2.running_var"), std::string::npos);
  EXPECT_NE(r.out.find("[64, 3, 7, 7]"), std::string::npos);  // conv1.weight
  EXPECT_NE(r.out.find("[10, 512]"), std::string::npos);      // fc.weight
  EXPECT_NE(r.out.find("total:"), std::string::npos);
}

TEST_F(CliTest, InspectSafetensorsKerasH5AndTfjs) {
  // safetensors written by ark itself
  io::TensorDict sd;
  sd.insert("a", ark::arange(6, ark::kFloat).reshape({2, 3}));
  sd.insert("b", ark::ones({4}, ark::kInt64));
  ark::io::save_safetensors(scratch("w.safetensors"), sd);
  CliRun r = ark("inspect --json " + scratch("w.safetensors"));
  ASSERT_EQ(r.rc, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["format"], "safetensors");
  EXPECT_EQ(j["total"]["bytes"], 6 * 4 + 4 * 8);

  r = ark("inspect --json " + fixture("small.h5"));
  ASSERT_EQ(r.rc, 0) << r.err;
  j = json::parse(r.out);
  EXPECT_EQ(j["format"], "keras-h5");
  ASSERT_EQ(j["tensors"].size(), 3u);
  EXPECT_EQ(j["tensors"][0]["name"], "Conv1/kernel");
  EXPECT_EQ(j["tensors"][0]["shape"], json({3, 3, 3, 8}));  // Keras' HWIO, as stored

  r = ark("inspect --json " + fixture("tfjs/model.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  j = json::parse(r.out);
  EXPECT_EQ(j["format"], "tfjs");
  ASSERT_EQ(j["tensors"].size(), 2u);
  EXPECT_EQ(j["tensors"][1]["name"], "dense/bias");
  EXPECT_EQ(j["tensors"][1]["dtype"], "float32");  // uint8-quantized, dequantized on read
}

TEST_F(CliTest, ConvertPthToSafetensorsKeepsValues) {
  const json expected = json::parse(slurp(fixture("small.json")));
  for (const char* file : {"small.pth", "small_legacy.pth"}) {
    SCOPED_TRACE(file);
    const std::string out = scratch(std::string(file) + ".safetensors");
    const CliRun r = ark("convert " + fixture(file) + " " + out);
    ASSERT_EQ(r.rc, 0) << r.err;
    const io::TensorDict back = ark::io::load_safetensors(out).tensors;
    ASSERT_EQ(back.size(), expected.size());
    for (const auto& item : back) {
      const json& e = expected[item.key()];
      const Tensor values = item.value().to(ark::kDouble).flatten();
      ASSERT_EQ(values.numel(), static_cast<int64_t>(e["values"].size())) << item.key();
      for (int64_t i = 0; i < values.numel(); ++i)
        EXPECT_EQ(values[i].item<double>(), e["values"][i].get<double>()) << item.key() << "[" << i << "]";
    }
  }
}

TEST_F(CliTest, ConvertWithArchWritesArksNamesAndLoads) {
  const std::string out = scratch("resnet18.safetensors");
  const CliRun r = ark("convert " + fixture("resnet18.pth") + " " + out + " --arch resnet18 --num-classes 10");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto model = ark::models::create("resnet18", {.num_classes = 10});
  ark::load_weights(*model, out);  // strict: every key of the model, nothing else
  const io::TensorDict from_pth = ark::pretrained::read_weights(fixture("resnet18.pth"));
  const io::TensorDict converted = ark::io::load_safetensors(out).tensors;
  ASSERT_EQ(converted.size(), from_pth.size());
  for (const auto& item : from_pth)
    EXPECT_TRUE(ark::equal(converted[item.key()], item.value())) << item.key();

  // A checkpoint that does not fit the architecture: every difference is reported, nothing written.
  const CliRun bad = ark("convert " + fixture("resnet18.pth") + " " + scratch("bad.safetensors") + " --arch resnet18");
  EXPECT_EQ(bad.rc, 5);
  EXPECT_NE(bad.err.find("fc.weight"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("fc.bias"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("--num-classes"), std::string::npos) << bad.err;
  EXPECT_FALSE(fs::exists(scratch("bad.safetensors")));
}

TEST_F(CliTest, ErrorsNameTheFileAndLeaveNothingBehind) {
  // missing input: I/O error
  CliRun r = ark("inspect " + scratch("nope.pth"));
  EXPECT_EQ(r.rc, 6);
  EXPECT_NE(r.err.find("nope.pth"), std::string::npos) << r.err;

  // not a weights file: bad file, and the loader's message
  write_file(scratch("junk.bin"), "this is not a weights file at all\n");
  r = ark("inspect " + scratch("junk.bin"));
  EXPECT_EQ(r.rc, 5);
  EXPECT_NE(r.err.find("junk.bin"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());

  // truncated .pth: the reader's error, no output file
  const std::string pth = slurp(fixture("small.pth"));
  write_file(scratch("cut.pth"), pth.substr(0, pth.size() / 2));
  r = ark("convert " + scratch("cut.pth") + " " + scratch("cut.safetensors"));
  EXPECT_EQ(r.rc, 5);
  EXPECT_NE(r.err.find("cut.pth"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(scratch("cut.safetensors")));

  // existing output is never overwritten without --force, and survives a failed --force
  write_file(scratch("keep.safetensors"), "precious");
  r = ark("convert " + fixture("small.pth") + " " + scratch("keep.safetensors"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  r = ark("convert --force " + scratch("cut.pth") + " " + scratch("keep.safetensors"));
  EXPECT_EQ(r.rc, 5);
  EXPECT_EQ(slurp(scratch("keep.safetensors")), "precious");
  r = ark("convert --force " + fixture("small.pth") + " " + scratch("keep.safetensors"));
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(ark::io::load_safetensors(scratch("keep.safetensors")).tensors.size(), 7u);

  // unknown architecture: usage error naming it
  r = ark("convert " + fixture("small.pth") + " " + scratch("x.safetensors") + " --arch resnet19");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("resnet19"), std::string::npos) << r.err;

  for (const auto& name : leftovers())
    EXPECT_TRUE(name == "junk.bin" || name == "cut.pth" || name == "keep.safetensors") << "left behind: " << name;
}

}  // namespace
