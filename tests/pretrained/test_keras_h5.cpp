// The Keras .h5 reader and the Keras remaps, on files h5py writes at test time in Keras' exact
// layout (tools/reference/keras_fixtures.py; there is no TensorFlow here): valid weights-only and
// whole-model files in every attribute form (B50, B56), Keras' MobileNetV2 into mobilenet_v2_keras,
// Keras' ResNet50 into resnet50_keras against a PyTorch implementation of Keras' graph, and every
// malformed case of RELIABILITY.md B51-B58, each in-process and in the isolated child; and the same
// files through ark::load_weights (detection, the "keras" remaps, every difference of a misfit listed).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "ark/ark.h"
#include "ark/models/registry.h"
#include "ark/pretrained/keras_h5.h"
#include "ark/pretrained/load_weights.h"
#include "ark/pretrained/remap_keras.h"
#include "support/reference.h"

namespace pt = ark::pretrained;
using ark::Tensor;

namespace {

std::string fixtures() {
  static const std::string dir = [] {
    ark::test::reference_file("keras_fixtures.py", "keras_fixtures.stamp");
    return std::string(ARK_TEST_DATA) + "/keras_fixtures/";
  }();
  return dir;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ark::Error& e) {
    return e.what();
  }
  return "<no error>";
}

pt::KerasH5Options mode(bool isolate) {
  pt::KerasH5Options o;
  o.isolate = isolate;
  return o;
}

ark::models::ModelOptions ten_classes() {
  ark::models::ModelOptions o;
  o.num_classes = 10;
  return o;
}

bool same(const Tensor& a, const Tensor& b) {
  return a.sizes().vec() == b.sizes().vec() && a.dtype() == b.dtype() && ark::equal(a.contiguous(), b.contiguous());
}

}  // namespace

class KerasH5 : public ::testing::TestWithParam<bool> {  // param: isolate
 protected:
  pt::KerasH5File read(const std::string& name) { return pt::read_keras_h5(fixtures() + name, mode(GetParam())); }
  std::string error(const std::string& name) {
    return error_of([&] { pt::read_keras_h5(fixtures() + name, mode(GetParam())); });
  }
};

#define EXPECT_H5_ERROR(file, substr)                                                                  \
  do {                                                                                                 \
    const std::string e_ = error(file);                                                                \
    EXPECT_NE(e_.find(substr), std::string::npos) << file << ": expected '" << substr << "', got: " << e_; \
    EXPECT_NE(e_.find(file), std::string::npos) << "the error must name the file: " << e_;             \
  } while (0)

TEST_P(KerasH5, ValidSmallFiles) {  // B50
  const auto expected = ark::io::load_safetensors(fixtures() + "small_expected.safetensors");
  size_t checked = 0;
  for (const char* file : {"small_weights.h5", "small_whole.h5", "small_vlen.h5", "small_chunked.h5",
                           "small_dtypes.h5", "small_scoped.h5", "small_gzip.h5"}) {
    const auto f = read(file);
    std::vector<std::string> want;
    for (const auto& e : expected.tensors)
      if (e.key().rfind(std::string(file) + "|", 0) == 0) want.push_back(e.key().substr(std::strlen(file) + 1));
    ASSERT_EQ(f.tensors.size(), want.size()) << file;
    for (size_t i = 0; i < want.size(); ++i) {
      const Tensor* t = f.tensors.find(want[i]);
      ASSERT_NE(t, nullptr) << file << ": no " << want[i];
      EXPECT_TRUE(same(*t, expected.tensors[std::string(file) + "|" + want[i]])) << file << ": " << want[i];
      ++checked;
    }
    EXPECT_EQ(f.whole_model, std::string(file) == "small_whole.h5") << file;
    EXPECT_EQ(f.backend, "tensorflow") << file;
    EXPECT_FALSE(f.keras_version.empty()) << file;
  }
  EXPECT_EQ(checked, 4 * 6 + 4 + 2 + 1u);
  // layer_names / weight_names order, not alphabetical HDF5 order: dense_1 before bn.
  const auto f = read("small_weights.h5");
  EXPECT_EQ(f.tensors[0].key(), "dense_1/kernel");
  EXPECT_EQ(f.tensors[1].key(), "dense_1/bias");
  EXPECT_EQ(f.tensors[2].key(), "bn/gamma");
  EXPECT_EQ(f.tensors[5].key(), "bn/moving_variance");
  EXPECT_EQ(read("small_dtypes.h5").tensors["l/double"].dtype(), ark::kDouble);
  EXPECT_EQ(read("small_dtypes.h5").tensors["l/half"].dtype(), ark::kFloat);
}

TEST_P(KerasH5, WholeModelMobileNetV2IntoTheKerasGraph) {  // B50 + B56
  const auto f = read("mobilenet_v2_whole.h5");
  EXPECT_TRUE(f.whole_model);
  const auto expected = ark::io::load_safetensors(fixtures() + "mobilenet_v2_expected.safetensors");
  ASSERT_EQ(f.tensors.size(), expected.tensors.size());
  for (const auto& e : expected.tensors) {
    const Tensor* t = f.tensors.find(e.key());
    ASSERT_NE(t, nullptr) << e.key();
    EXPECT_TRUE(same(*t, e.value())) << e.key();
  }
  // B56: model_config (with its Lambda layer) and training_config are ignored, and said to be.
  ASSERT_EQ(f.warnings.size(), 2u);
  EXPECT_NE(f.warnings[0].find("model_config ignored"), std::string::npos);
  EXPECT_NE(f.warnings[0].find("Lambda"), std::string::npos);

  const auto sd = pt::remap_keras_mobilenet_v2(f.tensors);
  auto m = ark::models::create("mobilenet_v2_keras");
  m->load_state_dict(sd);  // strict
  const auto state = m->state_dict();
  EXPECT_TRUE(ark::equal(state["features.0.0.weight"], f.tensors["Conv1/kernel"].permute({3, 2, 0, 1})));
  EXPECT_TRUE(ark::equal(state["features.1.conv.0.0.weight"],
                         f.tensors["expanded_conv_depthwise/depthwise_kernel"].permute({2, 3, 0, 1})));
  EXPECT_TRUE(ark::equal(state["features.1.conv.2.running_mean"], f.tensors["expanded_conv_project_BN/moving_mean"]));
  EXPECT_TRUE(ark::equal(state["features.17.conv.2.weight"], f.tensors["block_16_project/kernel"].permute({3, 2, 0, 1})));
  EXPECT_TRUE(ark::equal(state["features.18.1.weight"], f.tensors["Conv_1_bn/gamma"]));
  EXPECT_TRUE(ark::equal(state["classifier.1.weight"], f.tensors["Logits/kernel"].t()));
  EXPECT_EQ(state["features.5.conv.1.1.num_batches_tracked"].item<int64_t>(), 0);
}

TEST_P(KerasH5, MissingNames) {  // B51
  EXPECT_H5_ERROR("bad_no_layer_names.h5", "no 'layer_names' attribute");
  EXPECT_H5_ERROR("bad_missing_layer.h5", "layer 'ghost_layer'");
  EXPECT_H5_ERROR("bad_missing_weight.h5", "weight 'dense_1/ghost_weight:0'");
  EXPECT_H5_ERROR("bad_no_weight_names.h5", "layer 'bn' has no 'weight_names'");
}

TEST_P(KerasH5, NonFloatDatasets) {  // B52
  EXPECT_H5_ERROR("bad_dtype_int.h5", "unsupported dtype (integer)");
  EXPECT_H5_ERROR("bad_dtype_string.h5", "unsupported dtype (string)");
  EXPECT_H5_ERROR("bad_dtype_compound.h5", "unsupported dtype (compound)");
  EXPECT_H5_ERROR("bad_dtype_vlen.h5", "unsupported dtype (variable-length)");
}

TEST_P(KerasH5, SizesAreCheckedBeforeReading) {  // B54
  EXPECT_H5_ERROR("bad_huge_dims.h5", "larger than the limit");
  EXPECT_H5_ERROR("bad_unallocated.h5", "storage not allocated");
  pt::KerasH5Options o = mode(GetParam());
  o.max_tensor_elements = 10;
  EXPECT_NE(error_of([&] { pt::read_keras_h5(fixtures() + "small_weights.h5", o); }).find("dense_1/kernel"), std::string::npos);
  o = mode(GetParam());
  o.max_total_bytes = 60;  // dense_1 (64 bytes) fits alone, not with what follows
  EXPECT_NE(error_of([&] { pt::read_keras_h5(fixtures() + "small_weights.h5", o); }).find("exceed the limit"),
            std::string::npos);
}

TEST_P(KerasH5, ExternalReferences) {  // B55
  EXPECT_H5_ERROR("bad_external_link.h5", "external references not allowed");
  EXPECT_H5_ERROR("bad_external_storage.h5", "external references not allowed");
  EXPECT_H5_ERROR("bad_virtual.h5", "external references not allowed");
  EXPECT_H5_ERROR("bad_soft_link.h5", "only hard links");
}

TEST_P(KerasH5, MissingFilterAndOtherLayouts) {  // B58
  EXPECT_H5_ERROR("bad_lzf_filter.h5", "HDF5 filter not available: lzf");
  EXPECT_H5_ERROR("bad_keras3.weights.h5", "Keras 3 .weights.h5 layout");
}

TEST_P(KerasH5, HostileBytes) {  // B57: errors, never a crash, in both modes
  const std::string good = fixtures() + "small_weights.h5";
  std::ifstream in(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string dir = std::string(ARK_TEST_DATA) + "/keras_hostile_" + (GetParam() ? "isolated" : "inprocess") + "/";
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& data) {
    std::ofstream(dir + name, std::ios::binary) << data;
    return dir + name;
  };
  std::vector<std::string> files;
  for (size_t cut : {size_t(0), size_t(8), size_t(100), size_t(1000), size_t(4096), bytes.size() / 2, bytes.size() - 1})
    files.push_back(write("truncated_" + std::to_string(cut) + ".h5", bytes.substr(0, cut)));
  std::mt19937 rng(42);
  std::string noise(8192, '\0');
  for (auto& c : noise) c = static_cast<char>(rng());
  files.push_back(write("random.h5", noise));
  files.push_back(write("signature_random.h5", std::string("\x89HDF\r\n\x1a\n", 8) + noise));
  // The real superblock followed by garbage: HDF5 reads structures from random bytes.
  files.push_back(write("superblock_random.h5", bytes.substr(0, 96) + noise));
  for (int flip = 0; flip < 8; ++flip) {  // bytes flipped inside the metadata
    std::string b = bytes;
    for (int k = 0; k < 16; ++k) b[(rng() % 2048)] ^= static_cast<char>(1 + rng() % 255);
    files.push_back(write("flipped_" + std::to_string(flip) + ".h5", b));
  }
  files.push_back(dir + "does_not_exist.h5");
  files.push_back(dir);
  for (const auto& f : files) {
    // Either an ark::Error naming the file, or (for a flip that missed every structure) a result.
    try {
      pt::read_keras_h5(f, mode(GetParam()));
    } catch (const ark::Error& e) {
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, KerasH5, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Isolated" : "InProcess"; });

TEST(KerasH5Isolation, ChildCrashIsAnErrorAndTheParentLives) {  // B57
  pt::detail::keras_h5_child_hook = [] { ::raise(SIGSEGV); };
  const std::string e = error_of([&] { pt::read_keras_h5(fixtures() + "small_weights.h5"); });
  pt::detail::keras_h5_child_hook = nullptr;
  EXPECT_NE(e.find("h5 parser crashed on untrusted file"), std::string::npos) << e;
  EXPECT_NE(e.find("small_weights.h5"), std::string::npos) << e;
  EXPECT_EQ(pt::read_keras_h5(fixtures() + "small_weights.h5").tensors.size(), 6u);  // and still works
}

TEST(KerasH5Isolation, HungChildIsKilled) {
  pt::detail::keras_h5_child_hook = [] { ::sleep(30); };
  pt::KerasH5Options o;
  o.timeout_ms = 300;
  const auto start = std::chrono::steady_clock::now();
  const std::string e = error_of([&] { pt::read_keras_h5(fixtures() + "small_weights.h5", o); });
  pt::detail::keras_h5_child_hook = nullptr;
  EXPECT_NE(e.find("timed out"), std::string::npos) << e;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

// ---- through ark::load_weights: detection by content, the "keras" remaps, strict checking ----

TEST(KerasLoadWeights, DetectsRemapsAndLoads) {
  pt::register_keras_weights();
  pt::register_keras_weights();  // idempotent
  std::string format;
  EXPECT_EQ(pt::read_weights(fixtures() + "resnet50_weights.h5", &format).size(), 320u);
  EXPECT_EQ(format, "keras-h5");

  // ResNet50: the "keras" remap recognises the file's layers; the logits match a PyTorch
  // implementation of Keras' graph (keras_fixtures.py, float64).
  auto m = ark::models::create("resnet50_keras", ten_classes());
  const auto r = ark::load_weights(*m, fixtures() + "resnet50_weights.h5");
  EXPECT_TRUE(r.missing_keys.empty() && r.unexpected_keys.empty());
  const auto keras_rn = pt::read_keras_h5(fixtures() + "resnet50_weights.h5").tensors;
  EXPECT_TRUE(ark::equal(m->state_dict()["layer2.0.conv1.weight"], keras_rn["conv3_block1_1_conv/kernel"].permute({3, 2, 0, 1})));
  EXPECT_TRUE(ark::equal(m->state_dict()["layer2.0.downsample.0.bias"], keras_rn["conv3_block1_0_conv/bias"]));
  EXPECT_TRUE(ark::equal(m->state_dict()["fc.weight"], keras_rn["predictions/kernel"].t()));
  m->eval();
  ark::NoGradGuard g;
  const auto ref = ark::io::load_safetensors(fixtures() + "resnet50_expected.safetensors");
  const Tensor want = ref.tensors["logits"];
  const double d = ark::max(ark::abs(m->forward(ref.tensors["input"]).to(ark::kDouble) - want.to(ark::kDouble))).item<double>();
  const double scale = std::max(1.0f, ark::max(ark::abs(want)).item<float>());
  std::printf("resnet50_keras logits: max |ark - torch(keras graph)| = %.3g (max |logit| %.3g)\n", d, scale);
  EXPECT_LE(d / scale, 5e-5);  // PyTorch itself in float32 is 1.5e-5 away from this float64 reference

  // MobileNetV2 (whole-model file), into the model directly and into a module that holds it
  // under a prefix (found from the first conv).
  const auto keras = pt::read_keras_h5(fixtures() + "mobilenet_v2_whole.h5").tensors;
  auto mn = ark::models::create("mobilenet_v2_keras");
  ark::load_weights(*mn, fixtures() + "mobilenet_v2_whole.h5");
  EXPECT_TRUE(ark::equal(mn->state_dict()["features.0.0.weight"], keras["Conv1/kernel"].permute({3, 2, 0, 1})));
  struct Wrapper : ark::nn::Module {
    Wrapper() : ark::nn::Module("Wrapper") { register_module("backbone", ark::models::create("mobilenet_v2_keras")); }
  } wrapper;
  ark::load_weights(wrapper, fixtures() + "mobilenet_v2_whole.h5");
  EXPECT_TRUE(ark::equal(wrapper.state_dict()["backbone.classifier.1.weight"], keras["Logits/kernel"].t()));
}

TEST(KerasLoadWeights, CheckpointsThatDoNotFitListEveryDifference) {  // B53
  pt::register_keras_weights();
  // Shapes: a 1000-class file into a 10-class model, 3 input channels into a 1-channel stem.
  ark::models::ModelOptions o = ten_classes();
  o.in_chans = 1;
  auto m = ark::models::create("mobilenet_v2_keras", o);
  std::string e = error_of([&] { ark::load_weights(*m, fixtures() + "mobilenet_v2_whole.h5"); });
  ark::models::ModelOptions o10 = ten_classes();
  o10.in_chans = 1;
  auto m10 = ark::models::create("resnet50_keras", o10);
  const std::string e2 = error_of([&] { ark::load_weights(*m10, fixtures() + "resnet50_weights.h5"); });
  EXPECT_NE(e.find("mobilenet_v2_whole.h5"), std::string::npos) << e;
  EXPECT_NE(e.find("keras-h5, remap 'keras'"), std::string::npos) << e;
  EXPECT_NE(e.find("shape mismatch: features.0.0.weight expected [32, 1, 3, 3] got [32, 3, 3, 3]"), std::string::npos) << e;
  EXPECT_NE(e.find("shape mismatch: classifier.1.weight expected [10, 1280] got [1000, 1280]"), std::string::npos) << e;
  EXPECT_NE(e.find("shape mismatch: classifier.1.bias expected [10] got [1000]"), std::string::npos) << e;
  EXPECT_NE(e2.find("shape mismatch: conv1.weight expected [64, 1, 7, 7] got [64, 3, 7, 7]"), std::string::npos) << e2;
  EXPECT_EQ(e2.find("fc.weight"), std::string::npos) << e2;  // what fits is not listed

  // A mis-shaped dataset, a missing weight and an extra layer in one file: all listed at once.
  auto mn = ark::models::create("mobilenet_v2_keras");
  e = error_of([&] { ark::load_weights(*mn, fixtures() + "misfit_mobilenet_v2.h5"); });
  EXPECT_NE(e.find("misfit_mobilenet_v2.h5"), std::string::npos) << e;
  EXPECT_NE(e.find("missing: [features.18.1.weight]"), std::string::npos) << e;
  EXPECT_NE(e.find("unexpected: [extra_dense/kernel]"), std::string::npos) << e;
  EXPECT_NE(e.find("shape mismatch: features.4.conv.0.0.weight expected [144, 24, 1, 1] got [100, 24, 1, 1]"),
            std::string::npos) << e;

  // Missing and unexpected: a file of other layers through an explicit remap; all listed at once.
  auto& r50 = m10;
  e = error_of([&] {
    ark::LoadOptions lo;
    lo.remap = "keras_resnet50";
    ark::load_weights(*r50, fixtures() + "small_weights.h5", lo);
  });
  EXPECT_NE(e.find("missing: [conv1.weight, conv1.bias, bn1.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("unexpected: [dense_1/kernel, dense_1/bias, bn/gamma, bn/beta, bn/moving_mean, bn/moving_variance]"),
            std::string::npos) << e;
  // The "keras" remap refuses a file whose architecture it cannot tell.
  e = error_of([&] { ark::load_weights(*r50, fixtures() + "small_weights.h5"); });
  EXPECT_NE(e.find("no known Keras architecture's layers"), std::string::npos) << e;
  // Nothing was loaded by the failed attempts.
  EXPECT_TRUE(ark::equal(r50->state_dict()["conv1.bias"], ark::zeros({64})));
}

TEST(KerasRemap, TablesAndErrors) {
  EXPECT_EQ(pt::keras_layer_mobilenet_v2("block_1_expand").value(), "features.2.conv.0.0");
  EXPECT_EQ(pt::keras_layer_mobilenet_v2("block_16_project_BN").value(), "features.17.conv.3");
  EXPECT_EQ(pt::keras_layer_mobilenet_v2("expanded_conv_project").value(), "features.1.conv.1");
  EXPECT_FALSE(pt::keras_layer_mobilenet_v2("block_17_expand").has_value());
  EXPECT_EQ(pt::keras_layer_resnet50("conv3_block1_0_conv").value(), "layer2.0.downsample.0");
  EXPECT_EQ(pt::keras_layer_resnet50("conv5_block3_2_bn").value(), "layer4.2.bn2");
  EXPECT_FALSE(pt::keras_layer_resnet50("conv3_block2_0_conv").has_value());  // only block 1 has a shortcut conv

  ark::io::TensorDict keras;
  keras.insert("model/Conv1_1/kernel", ark::zeros({3, 3, 3, 32}));  // nested model, built twice
  keras.insert("bn_Conv1/gamma", ark::ones({32}));
  keras.insert("bn_Conv1/moving_mean", ark::zeros({32}));
  auto sd = pt::remap_keras_mobilenet_v2(keras);
  EXPECT_EQ(sd["features.0.0.weight"].sizes().vec(), (std::vector<int64_t>{32, 3, 3, 3}));
  EXPECT_TRUE(sd.contains("features.0.1.num_batches_tracked"));

  ark::io::TensorDict bad;
  bad.insert("Conv1/kernel", ark::zeros({3, 3, 3}));
  bad.insert("Conv1/alpha", ark::zeros({3}));
  bad.insert("mystery/kernel", ark::zeros({2, 2}));
  bad.insert("nolayer", ark::zeros({2}));
  const std::string e = error_of([&] { pt::remap_keras_mobilenet_v2(bad); });
  EXPECT_NE(e.find("unmapped Keras layers: [mystery]"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown weight kind 'alpha'"), std::string::npos) << e;
  EXPECT_NE(e.find("nolayer (not a '<layer>/<weight>' name)"), std::string::npos) << e;
}
