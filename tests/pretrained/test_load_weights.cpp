// ark::load_weights: format detection from content (not names), loading real PyTorch 1.13
// checkpoints (.pth, pytorch_model.bin, nested training checkpoints, DataParallel) and
// safetensors into a small module whose eval output then matches PyTorch's, the one-error report
// of every mismatch (naming the file), dtype conversion, remaps and the reader registry.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ark/ark.h"
#include "ark/pretrained/load_weights.h"
#include "support/pth_fixtures.h"
#include "support/reference.h"
#include "support/scratch_dir.h"
#include "support/errors.h"

namespace fs = std::filesystem;
namespace nn = ark::nn;
using namespace ark;

namespace {

using test::error_of;

std::string scratch(const std::string& name) { return test::scratch_file("ark_lw_", name); }
std::string copy_as(const std::string& from, const std::string& name) {
  const std::string to = scratch(name);
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  return to;
}
void write(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// The model of pth_fixtures.py: Linear(4, 3), BatchNorm1d(3), Linear(3, 2).
nn::Sequential tiny(int64_t hidden = 3) {
  return nn::Sequential(nn::Linear(4, hidden), nn::BatchNorm1d(hidden), nn::Linear(hidden, 2));
}

void expect_pytorch_output(nn::Sequential& m, const std::string& what) {
  const auto io_ = io::load_safetensors(test::pth_fixture("model_io.safetensors")).tensors;
  m->eval();
  NoGradGuard g;
  const Tensor y = m->forward(io_["x"]);
  EXPECT_TRUE(allclose(y, io_["y"], 1e-5, 1e-6)) << what << "\n" << y << "\n" << io_["y"];
}

}  // namespace

TEST(LoadWeights, DetectsTheFormatFromContentNotName) {
  EXPECT_EQ(pretrained::detect_reader(test::pth_fixture("model.pth")).name, "pth");
  EXPECT_EQ(pretrained::detect_reader(test::pth_fixture("legacy.pth")).name, "pth");
  EXPECT_EQ(pretrained::detect_reader(test::pth_fixture("pytorch_model.bin")).name, "pth");
  EXPECT_EQ(pretrained::detect_reader(test::pth_fixture("model.safetensors")).name, "safetensors");
  EXPECT_EQ(pretrained::detect_reader(copy_as(test::pth_fixture("model.pth"), "looks.safetensors")).name, "pth");
  EXPECT_EQ(pretrained::detect_reader(copy_as(test::pth_fixture("model.safetensors"), "looks.pth")).name, "safetensors");
  // TorchScript archives are routed to the .pth reader, which refuses them by name.
  EXPECT_EQ(pretrained::detect_reader(test::pth_fixture("torchscript.pt")).name, "pth");

  // Keras HDF5 and TF.js are recognised by content; until their readers are registered
  // (pretrained::register_keras_weights(), which other tests in this binary may already have
  // called) the error says which format it is.
  const std::vector<std::string> readers = pretrained::reader_names();
  auto registered = [&](const char* n) { return std::find(readers.begin(), readers.end(), n) != readers.end(); };
  auto expect_known = [&](const std::string& path, const char* reader, const char* what) {
    if (registered(reader)) EXPECT_EQ(pretrained::detect_reader(path).name, reader) << path;
    else EXPECT_NE(error_of([&] { pretrained::detect_reader(path); }).find(what), std::string::npos) << path;
  };
  const std::string h5 = scratch("w.h5");
  write(h5, std::string("\x89HDF\r\n\x1a\n", 8) + std::string(600, '\0'));
  expect_known(h5, "keras-h5", "Keras HDF5");
  const std::string h5ub = scratch("userblock.h5");  // after a 512-byte user block
  write(h5ub, std::string(512, ' ') + std::string("\x89HDF\r\n\x1a\n", 8) + std::string(64, '\0'));
  EXPECT_TRUE(pretrained::looks_like_hdf5(std::string(512, ' ') + std::string("\x89HDF\r\n\x1a\n", 8)));
  expect_known(h5ub, "keras-h5", "Keras HDF5");
  const std::string tfjs = scratch("model.json");
  write(tfjs, "  {\"format\": \"layers-model\", \"modelTopology\": {}, \"weightsManifest\": []}");
  expect_known(tfjs, "tfjs", "TF.js");

  const std::string junk = scratch("junk.pth");
  write(junk, "hello, not weights");
  const std::string msg = error_of([&] { pretrained::detect_reader(junk); });
  EXPECT_NE(msg.find("unrecognised weights format"), std::string::npos) << msg;
  EXPECT_NE(msg.find(junk), std::string::npos) << msg;
  const std::string empty = scratch("empty.safetensors");
  write(empty, "");
  EXPECT_NE(error_of([&] { pretrained::detect_reader(empty); }).find("empty file"), std::string::npos);
  EXPECT_NE(error_of([&] { pretrained::detect_reader(scratch("missing.pth")); }).find("cannot open"), std::string::npos);
}

TEST(LoadWeights, RealCheckpointsGivePyTorchsOutput) {
  for (const char* name : {"model.pth", "pytorch_model.bin", "model.safetensors", "model_nested.pth", "model_dp.pth"}) {
    auto m = tiny();
    const nn::LoadStateDictResult r = load_weights(*m, test::pth_fixture(name));
    EXPECT_TRUE(r.missing_keys.empty() && r.unexpected_keys.empty()) << name;
    EXPECT_EQ(m->state_dict()["1.num_batches_tracked"].item<int64_t>(), 7) << name;
    expect_pytorch_output(m, name);
  }
}

TEST(LoadWeights, OneErrorListsEveryProblemAndNamesTheFile) {
  // Wider hidden layer and an extra head: shape mismatches and missing keys together.
  auto wide = nn::Sequential(nn::Linear(4, 5), nn::BatchNorm1d(5), nn::Linear(5, 2), nn::Linear(2, 2));
  const Tensor before = wide->state_dict()["0.weight"].clone();
  const std::string path = test::pth_fixture("model.pth");
  const std::string msg = error_of([&] { load_weights(*wide, path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("(pth, remap 'torchvision')"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing: [3.weight, 3.bias]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("shape mismatch: 0.weight expected [5, 4] got [3, 4]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("shape mismatch: 1.running_var expected [5] got [3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("shape mismatch: 2.weight expected [2, 5] got [2, 3]"), std::string::npos) << msg;
  EXPECT_TRUE(equal(wide->state_dict()["0.weight"], before));  // nothing loaded

  // All three kinds in one message: a ReLU shifts the head to index 3.
  auto shifted = nn::Sequential(nn::Linear(4, 5), nn::BatchNorm1d(3), nn::ReLU(), nn::Linear(3, 2));
  const std::string all = error_of([&] { load_weights(*shifted, path); });
  EXPECT_NE(all.find("missing: [3.weight, 3.bias]; unexpected: [2.weight, 2.bias]; "
                     "shape mismatch: 0.weight expected [5, 4] got [3, 4]; shape mismatch: 0.bias expected [5] got [3]"),
            std::string::npos) << all;

  auto shorter = nn::Sequential(nn::Linear(4, 3), nn::BatchNorm1d(3));
  const std::string msg2 = error_of([&] { load_weights(*shorter, path); });
  EXPECT_NE(msg2.find("unexpected: [2.weight, 2.bias]"), std::string::npos) << msg2;
  // strict=false loads what matches and returns the rest; shape mismatches stay errors.
  LoadOptions lax;
  lax.strict = false;
  const nn::LoadStateDictResult r = load_weights(*shorter, path, lax);
  EXPECT_EQ(r.unexpected_keys, (std::vector<std::string>{"2.weight", "2.bias"}));
  EXPECT_TRUE(equal(shorter->state_dict()["0.bias"], io::load_pth(path).tensors["0.bias"]));
  EXPECT_NE(error_of([&] { load_weights(*wide, path, lax); }).find("shape mismatch"), std::string::npos);
}

TEST(LoadWeights, DtypeConversionAndNumBatchesTracked) {
  io::TensorDict half;
  for (const auto& item : io::load_pth(test::pth_fixture("model.pth")).tensors) {
    if (item.key() == "1.num_batches_tracked") continue;  // an old checkpoint without it
    half.insert(item.key(), item.value().is_floating_point() ? item.value().to(kHalf) : item.value());
  }
  const std::string path = scratch("half.safetensors");
  io::save_safetensors(path, half);
  auto m = tiny();
  load_weights(*m, path);  // converted to float32; num_batches_tracked keeps its value
  EXPECT_EQ(m->state_dict()["0.weight"].dtype(), kFloat);
  EXPECT_TRUE(equal(m->state_dict()["0.weight"], half["0.weight"].to(kFloat)));
  EXPECT_EQ(m->state_dict()["1.num_batches_tracked"].item<int64_t>(), 0);
  LoadOptions exact;
  exact.convert_dtype = false;
  const std::string msg = error_of([&] { load_weights(*tiny(), path, exact); });
  EXPECT_NE(msg.find("dtype mismatch: 0.weight expected float32 got float16"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
}

TEST(LoadWeights, RemapsTransformsAndReaderRegistry) {
  const io::TensorDict sd = io::load_pth(test::pth_fixture("model.pth")).tensors;
  // A foreign layout: prefixed keys, a transposed kernel, an extra tensor to drop.
  io::TensorDict foreign;
  for (const auto& item : sd)
    foreign.insert("net." + item.key(), item.key() == "0.weight" ? item.value().t().contiguous() : item.value());
  foreign.insert("aux.logits", zeros({1}));
  const std::string path = scratch("foreign.safetensors");
  io::save_safetensors(path, foreign);
  pretrained::register_remap("test-foreign", std::make_shared<pretrained::TableRemap>(
                                                 std::vector<pretrained::TableRemap::Rename>{{"net.", ""}, {"aux.", std::nullopt}},
                                                 std::vector<pretrained::TableRemap::Transform>{{"0.weight", "transpose"}}));
  auto m = tiny();
  LoadOptions opt;
  opt.remap = "test-foreign";
  load_weights(*m, path, opt);
  expect_pytorch_output(m, "remapped");
  // The same remap as one function.
  pretrained::register_remap("test-foreign-fn", [](const io::TensorDict& src, const pretrained::RemapContext& ctx) {
    io::TensorDict out;
    for (const auto& item : src) {
      if (item.key().rfind("net.", 0) != 0) continue;
      const std::string key = item.key().substr(4);
      out.insert(key, key == "0.weight" ? item.value().t().contiguous() : item.value());
    }
    EXPECT_TRUE(ctx.target.contains("0.weight"));
    return out;
  });
  auto m_fn = tiny();
  opt.remap = "test-foreign-fn";
  load_weights(*m_fn, path, opt);
  expect_pytorch_output(m_fn, "remapped by a function");
  opt.remap = "nope";
  EXPECT_NE(error_of([&] { load_weights(*tiny(), path, opt); }).find("unknown remap 'nope' (known: "), std::string::npos);
  EXPECT_NE(error_of([&] { pretrained::find_transform("nope"); }).find("hwio_to_oihw"), std::string::npos);
  // Built-in kernel transforms.
  const Tensor hwio = arange(2 * 3 * 4 * 5, kFloat).reshape({2, 3, 4, 5});
  EXPECT_TRUE(equal(pretrained::find_transform("hwio_to_oihw")(hwio, {}), hwio.permute({3, 2, 0, 1})));
  const Tensor hwcm = arange(3 * 3 * 4 * 2, kFloat).reshape({3, 3, 4, 2});
  const Tensor dw = pretrained::find_transform("hwcm_to_depthwise_oihw")(hwcm, {});
  EXPECT_EQ(dw.sizes().vec(), (std::vector<int64_t>{8, 1, 3, 3}));
  EXPECT_EQ(dw.index({3, 0, 1, 2}).item<float>(), hwcm.index({1, 2, 1, 1}).item<float>());  // channel 1, multiplier 1

  // A new format: one registration, detected by content, with its own default remap.
  pretrained::register_reader({"arktest",
                               [](std::string_view prefix, uint64_t) { return prefix.substr(0, 7) == "ARKTEST"; },
                               [sd](const std::string&) {
                                 io::TensorDict out;
                                 for (const auto& item : sd) out.insert("net." + item.key(), item.value());
                                 return out;
                               },
                               "test-strip"});
  pretrained::register_remap("test-strip", std::make_shared<pretrained::TableRemap>(
                                               std::vector<pretrained::TableRemap::Rename>{{"net.", ""}}));
  const std::string custom = scratch("weights.bin");
  write(custom, "ARKTEST whatever");
  EXPECT_EQ(pretrained::detect_reader(custom).name, "arktest");
  auto m2 = tiny();
  load_weights(*m2, custom);
  expect_pytorch_output(m2, "custom reader");
  const auto names = pretrained::reader_names();
  EXPECT_EQ(names.front(), "safetensors");
  EXPECT_EQ(names.back(), "arktest");
  // Forcing a format: the reader's own error names the file.
  LoadOptions forced;
  forced.format = "safetensors";
  const std::string msg = error_of([&] { load_weights(*tiny(), test::pth_fixture("model.pth"), forced); });
  EXPECT_NE(msg.find(test::pth_fixture("model.pth")), std::string::npos) << msg;
  forced.format = "nope";
  EXPECT_NE(error_of([&] { load_weights(*tiny(), test::pth_fixture("model.pth"), forced); }).find("unknown weights format"),
            std::string::npos);
}

TEST(LoadWeights, HostileFilesAreRefusedWithTheirName) {
  const std::string canary = test::pth_manifest()["canary"].get<std::string>();
  fs::remove(canary);
  for (const char* name : {"malicious.pth", "malicious_legacy.pth"}) {
    const std::string msg = error_of([&] { load_weights(*tiny(), test::pth_fixture(name)); });
    EXPECT_NE(msg.find("disallowed global posix.system"), std::string::npos) << msg;
    EXPECT_NE(msg.find(name), std::string::npos) << msg;
  }
  EXPECT_FALSE(fs::exists(canary));
  EXPECT_NE(error_of([&] { load_weights(*tiny(), test::pth_fixture("torchscript.pt")); }).find("TorchScript"), std::string::npos);
  std::ifstream in(test::pth_fixture("model.pth"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const std::string cut = scratch("cut.pth");
  write(cut, bytes.substr(0, bytes.size() - 40));
  const std::string msg = error_of([&] { load_weights(*tiny(), cut); });
  EXPECT_NE(msg.find("truncated or corrupted archive"), std::string::npos) << msg;
  EXPECT_NE(msg.find(cut), std::string::npos) << msg;
}
