// The TF.js reader on synthetic model.json + shards (every dtype and quantization, shard and group
// layouts, each malformed case), and on the real thing: nsfwjs@4.4.0's Keras MobileNetV2 through
// read_tfjs + remap_keras into mobilenet_v2_keras + nsfwjs' dense head, against a PyTorch
// implementation of the same Keras graph (tools/reference/nsfwjs_reference.py): logits and
// probabilities within 1e-4. The asset comes from scripts/fetch_assets.sh (run by `make test`'s
// set-up); without it those tests skip, saying how to fetch it.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "ark/ark.h"
#include "ark/models/mobilenet.h"
#include "ark/models/registry.h"
#include "ark/pretrained/load_weights.h"
#include "ark/pretrained/remap_keras.h"
#include "ark/pretrained/tfjs.h"
#include "support/reference.h"

namespace nn = ark::nn;
namespace pt = ark::pretrained;
using ark::Tensor;

namespace {

std::string bytes_of(const std::vector<float>& v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4); }
template <class T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

/// Writes model.json and shards into a fresh folder; returns model.json's path.
std::string write_model(const std::string& name, const std::string& json,
                        const std::vector<std::pair<std::string, std::string>>& shards) {
  const std::string dir = std::string(ARK_TEST_DATA) + "/tfjs/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (const auto& [p, bytes] : shards) {
    std::filesystem::create_directories(std::filesystem::path(dir + "/" + p).parent_path());
    std::ofstream(dir + "/" + p, std::ios::binary) << bytes;
  }
  std::ofstream(dir + "/model.json") << json;
  return dir + "/model.json";
}

/// A one-group manifest with one weight entry (the JSON object given) and one shard.
std::string one_weight(const std::string& weight_json) {
  return R"({"format":"layers-model","modelTopology":{},"weightsManifest":[{"paths":["w.bin"],"weights":[)" +
         weight_json + "]}]}";
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ark::Error& e) {
    return e.what();
  }
  return "<no error>";
}

#define EXPECT_ERROR(stmt, substr) EXPECT_NE(error_of([&] { stmt; }).find(substr), std::string::npos) \
    << "expected an error containing '" << substr << "', got: " << error_of([&] { stmt; })

std::vector<float> values(const Tensor& t) {
  Tensor c = t.to(ark::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

}  // namespace

TEST(Tfjs, Float32AcrossShardsAndGroups) {
  // Group 1: a (2, 3) tensor split across two shards mid-tensor, then a scalar and an empty one.
  // Group 2 (its own shard): a (4,) tensor.
  const std::vector<float> a = {1, 2, 3, 4, 5, 6}, s = {7.5f}, b = {-1, -2, -3, -4};
  const std::string g1 = bytes_of(a) + bytes_of(s);
  const std::string json = R"({"weightsManifest":[
    {"paths":["g1-1of2","g1-2of2"],"weights":[{"name":"dense/kernel","shape":[2,3],"dtype":"float32"},
                                              {"name":"s","shape":[],"dtype":"float32"},
                                              {"name":"empty","shape":[0,5],"dtype":"float32"}]},
    {"paths":["sub/g2.bin"],"weights":[{"name":"dense/bias","shape":[4],"dtype":"float32"}]}]})";
  const std::string path = write_model("groups", json, {{"g1-1of2", g1.substr(0, 10)}, {"g1-2of2", g1.substr(10)},
                                                        {"sub/g2.bin", bytes_of(b)}});
  const auto t = pt::read_tfjs(path);
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].key(), "dense/kernel");  // manifest order
  EXPECT_EQ(t["dense/kernel"].sizes().vec(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(values(t["dense/kernel"]), a);
  EXPECT_EQ(t["s"].dim(), 0);
  EXPECT_EQ(values(t["s"]), s);
  EXPECT_EQ(t["empty"].numel(), 0);
  EXPECT_EQ(values(t["dense/bias"]), b);
}

TEST(Tfjs, QuantizedAndIntegerDtypes) {
  const std::vector<uint8_t> q8 = {0, 1, 255, 128};
  const std::vector<uint16_t> q16 = {0, 65535, 1000};
  const std::vector<uint16_t> h = {0x3c00, 0xc000, 0x3555, 0x0001};  // 1, -2, 0.333251953125, 2^-24
  const std::vector<int32_t> i32 = {-7, 0, 123456789};
  const std::vector<uint8_t> qi = {0, 1, 3, 10};
  const std::vector<uint8_t> bools = {1, 0, 1};
  const std::string json = R"({"weightsManifest":[{"paths":["w.bin"],"weights":[
    {"name":"u8","shape":[4],"dtype":"float32","quantization":{"dtype":"uint8","scale":0.1,"min":-1.5}},
    {"name":"u16","shape":[3],"dtype":"float32","quantization":{"dtype":"uint16","scale":0.001,"min":2}},
    {"name":"f16","shape":[2,2],"dtype":"float32","quantization":{"dtype":"float16"}},
    {"name":"i32","shape":[3],"dtype":"int32"},
    {"name":"qi","shape":[4],"dtype":"int32","quantization":{"dtype":"uint8","scale":0.5,"min":-1}},
    {"name":"b","shape":[3],"dtype":"bool"}]}]})";
  const std::string path = write_model("dtypes", json, {{"w.bin", raw(q8) + raw(q16) + raw(h) + raw(i32) + raw(qi) + raw(bools)}});
  const auto t = pt::read_tfjs(path);
  // TF.js: q * scale + min in double, then float32.
  const auto u8 = values(t["u8"]);
  for (size_t i = 0; i < q8.size(); ++i) EXPECT_EQ(u8[i], static_cast<float>(q8[i] * 0.1 + -1.5));
  const auto u16 = values(t["u16"]);
  for (size_t i = 0; i < q16.size(); ++i) EXPECT_EQ(u16[i], static_cast<float>(q16[i] * 0.001 + 2));
  EXPECT_EQ(values(t["f16"]), (std::vector<float>{1.0f, -2.0f, 0.333251953125f, 5.9604644775390625e-8f}));
  EXPECT_EQ(t["f16"].sizes().vec(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(t["i32"].dtype(), ark::kInt);
  EXPECT_EQ(t["i32"][2].item<int32_t>(), 123456789);
  EXPECT_EQ(t["qi"].dtype(), ark::kInt);  // dequantized then rounded, as TF.js does for int32
  EXPECT_EQ(t["qi"][0].item<int32_t>(), -1);
  EXPECT_EQ(t["qi"][1].item<int32_t>(), 0);  // Math.round(-0.5): halves go up
  EXPECT_EQ(t["qi"][2].item<int32_t>(), 1);  // Math.round(0.5)
  EXPECT_EQ(t["qi"][3].item<int32_t>(), 4);
  EXPECT_EQ(t["b"].dtype(), ark::kBool);
  EXPECT_EQ(t["b"][1].item<bool>(), false);
}

TEST(Tfjs, BareWeightsManifest) {
  // face-api ships *-weights_manifest.json: the weightsManifest array itself, no topology.
  const std::string path = write_model("bare", R"([{"paths":["w"],"weights":[{"name":"x","shape":[1],"dtype":"float32"}]}])",
                                       {{"w", bytes_of({3.0f})}});
  EXPECT_EQ(values(pt::read_tfjs(path)["x"]), std::vector<float>{3.0f});
}

TEST(Tfjs, SizesMustMatchExactly) {
  const std::string w = R"({"name":"x","shape":[2,2],"dtype":"float32"})";
  EXPECT_ERROR(pt::read_tfjs(write_model("short", one_weight(w), {{"w.bin", std::string(15, '\0')}})),
               "weights need 16 bytes but its shards hold 15");
  EXPECT_ERROR(pt::read_tfjs(write_model("long", one_weight(w), {{"w.bin", std::string(17, '\0')}})),
               "shards hold more bytes than its weights need");
  EXPECT_ERROR(pt::read_tfjs(write_model("missing", one_weight(w), {})), "cannot open");
  const std::string q = R"({"name":"x","shape":[3],"dtype":"float32","quantization":{"dtype":"uint16","scale":1,"min":0}})";
  EXPECT_ERROR(pt::read_tfjs(write_model("qshort", one_weight(q), {{"w.bin", std::string(5, '\0')}})),
               "weights need 6 bytes");
}

TEST(Tfjs, MalformedManifests) {
  auto parse = [](const std::string& json, const std::string& shard = std::string(16, '\0')) {
    return pt::parse_tfjs(json, [&](const std::string&) { return shard; }, "test.json");
  };
  EXPECT_ERROR(parse("{not json"), "invalid JSON");
  EXPECT_ERROR(parse("{\"modelTopology\":{}}"), "no \"weightsManifest\"");
  EXPECT_ERROR(parse("{\"weightsManifest\":{}}"), "must be an array");
  EXPECT_ERROR(parse("{\"weightsManifest\":[{\"weights\":[]}]}"), "has no \"paths\"");
  EXPECT_ERROR(parse("{\"weightsManifest\":[{\"paths\":[],\"weights\":[3]}]}"), "not an object");
  EXPECT_ERROR(parse(one_weight(R"({"shape":[1],"dtype":"float32"})")), "has no \"name\"");
  EXPECT_ERROR(parse(one_weight(R"({"name":"x","shape":[-1],"dtype":"float32"})")), "non-negative integers");
  EXPECT_ERROR(parse(one_weight(R"({"name":"x","shape":[2.5],"dtype":"float32"})")), "non-negative integers");
  EXPECT_ERROR(parse(one_weight(R"({"name":"x","shape":[1,1,1,1,1,1,1,1,1],"dtype":"float32"})")), "at most 8");
  EXPECT_ERROR(parse(one_weight(R"({"name":"x","shape":[4294967296,4294967296],"dtype":"float32"})")), "overflows");
  EXPECT_ERROR(parse(one_weight(R"({"name":"x","shape":[1099511627776],"dtype":"float32"})")), "byte limit");
  EXPECT_ERROR(parse(one_weight(R"({"name":"x","shape":[4],"dtype":"string"})")), "unsupported dtype 'string'");
  EXPECT_ERROR(parse(one_weight(R"({"name":"x","shape":[4],"dtype":"complex64"})")), "unsupported dtype");
  EXPECT_ERROR(parse(one_weight(R"({"name":"x","shape":[4],"dtype":"float32","quantization":{"dtype":"int8","scale":1,"min":0}})")),
               "unsupported quantization dtype 'int8'");
  EXPECT_ERROR(parse(one_weight(R"({"name":"x","shape":[4],"dtype":"float32","quantization":{"dtype":"uint8","min":0}})")),
               "has no \"scale\"");
  EXPECT_ERROR(parse(one_weight(R"({"name":"x","shape":[4],"dtype":"float32","quantization":{"dtype":"uint8","scale":1e999,"min":0}})")),
               "number overflow parsing '1e999'");  // nlohmann refuses it; parse_spec also checks isfinite
  EXPECT_ERROR(parse(one_weight(R"({"name":"x","shape":[4],"dtype":"bool","quantization":{"dtype":"uint8","scale":1,"min":0}})")),
               "cannot be quantized");
  EXPECT_ERROR(parse(one_weight(R"({"name":"x","shape":[2],"dtype":"float32"},{"name":"x","shape":[2],"dtype":"float32"})")),
               "appears twice");
  EXPECT_ERROR(parse(std::string(100, '[') + std::string(100, ']')), "nesting deeper than 64");
  EXPECT_ERROR(parse(one_weight(R"({"name":"x","shape":[4],"dtype":"int32","quantization":{"dtype":"uint8","scale":1e10,"min":0}})"),
                     std::string(4, '\xff')),
               "does not fit int32");
  pt::TfjsOptions small;
  small.max_total_bytes = 8;
  EXPECT_ERROR(pt::parse_tfjs(one_weight(R"({"name":"x","shape":[4],"dtype":"float32"})"),
                              [](const std::string&) { return std::string(16, '\0'); }, "t", small),
               "8-byte limit");
}

TEST(Tfjs, ShardPathsStayBesideModelJson) {
  for (const char* p : {"../secret.bin", "/etc/passwd", "a/../../b", "./w.bin", "a//b", "", "http://x/w.bin", "a\\\\b"}) {
    const std::string json = R"({"weightsManifest":[{"paths":[")" + std::string(p) +
                             R"("],"weights":[{"name":"x","shape":[1],"dtype":"float32"}]}]})";
    bool called = false;
    EXPECT_ERROR(pt::parse_tfjs(json, [&](const std::string&) { called = true; return std::string(4, '\0'); }),
                 "unsafe shard path");
    EXPECT_FALSE(called) << p;
  }
}

// ---- the real model: nsfwjs@4.4.0 ----

namespace {

std::string nsfwjs_dir() {
  const char* env = std::getenv("ARK_ASSETS");
  const std::string base = env && *env ? env : std::string(std::getenv("HOME") ? std::getenv("HOME") : "") + "/.cache/ark/assets";
  return base + "/nsfwjs-4.4.0/mobilenet_v2";
}

ark::models::ModelOptions no_head() {
  ark::models::ModelOptions o;
  o.num_classes = 0;
  return o;
}

bool have_nsfwjs() {
  struct stat st {};
  return ::stat((nsfwjs_dir() + "/.complete").c_str(), &st) == 0;
}

#define REQUIRE_NSFWJS()                                                                             \
  if (!have_nsfwjs())                                                                                \
  GTEST_SKIP() << "nsfwjs@4.4.0 is not in " << nsfwjs_dir() << "; run scripts/fetch_assets.sh (needs " \
                  "the npm registry), or `make test`, which runs it"

/// nsfwjs' model: the Keras MobileNetV2 backbone, then (ASSETS.md, and model.json's topology)
/// AveragePooling2D(7) + Flatten -> Dense(256, relu) -> Dropout(0.5) -> Dense(128, relu) ->
/// Dropout(0.25) -> Dense(5, softmax). Classes: Drawing, Hentai, Neutral, Porn, Sexy.
class NsfwjsNet : public nn::Module {
 public:
  NsfwjsNet() : nn::Module("NsfwjsNet") {
    backbone = register_module("backbone", std::dynamic_pointer_cast<ark::models::MobileNetV2>(
                                               ark::models::create("mobilenet_v2_keras", no_head())));
    dense_1 = register_module("dense_1", nn::Linear(1280, 256));
    dense_2 = register_module("dense_2", nn::Linear(256, 128));
    dense_3 = register_module("dense_3", nn::Linear(128, 5));
  }
  /// (N, 3, 224, 224) RGB in [0, 1] -> {pooled features (N, 1280), logits (N, 5)}.
  std::pair<Tensor, Tensor> forward(const Tensor& x) {
    Tensor f = backbone->forward_head(backbone->forward_features(x), /*pre_logits=*/true);
    Tensor h = ark::dropout(ark::relu(dense_1(f)), 0.5, is_training());
    h = ark::dropout(ark::relu(dense_2(h)), 0.25, is_training());
    return {f, dense_3(h)};
  }
  std::shared_ptr<ark::models::MobileNetV2> backbone;
  nn::Linear dense_1 = nullptr, dense_2 = nullptr, dense_3 = nullptr;
};

}  // namespace

TEST(TfjsNsfwjs, ReadsTheRealManifest) {
  REQUIRE_NSFWJS();
  const auto t = pt::read_tfjs(nsfwjs_dir() + "/model.json");
  EXPECT_EQ(t.size(), 266u);
  int64_t n = 0;
  for (const auto& item : t) n += item.value().numel();
  EXPECT_EQ(n, 2619461);  // uint8-quantized: one byte per value, the shard's exact size
  EXPECT_EQ(t["Conv1/kernel"].sizes().vec(), (std::vector<int64_t>{3, 3, 3, 32}));
  EXPECT_EQ(t["block_16_depthwise/depthwise_kernel"].sizes().vec(), (std::vector<int64_t>{3, 3, 960, 1}));
  EXPECT_EQ(t["dense_3/kernel"].sizes().vec(), (std::vector<int64_t>{128, 5}));
  // The first value by hand: shard byte 0 of Conv1/kernel, scale and min from model.json.
  std::ifstream shard(nsfwjs_dir() + "/group1-shard1of1", std::ios::binary);
  const auto q0 = static_cast<unsigned char>(shard.get());
  EXPECT_EQ(t["Conv1/kernel"].flatten()[0].item<float>(),
            static_cast<float>(q0 * 0.006666756611244351 + -0.87334511607301));
}

TEST(TfjsNsfwjs, MatchesThePyTorchReferenceOfTheKerasGraph) {
  REQUIRE_NSFWJS();
  const auto ref = ark::io::load_safetensors(
      ark::test::reference_file("nsfwjs_reference.py", "nsfwjs_reference.safetensors", "'" + nsfwjs_dir() + "'"));

  auto net = std::make_shared<NsfwjsNet>();
  pt::KerasRemapOptions opt;
  opt.prefix = "backbone.";
  opt.extra_layers = {{"dense_1", "dense_1"}, {"dense_2", "dense_2"}, {"dense_3", "dense_3"}};
  const auto sd = pt::remap_keras(pt::read_tfjs(nsfwjs_dir() + "/model.json"), pt::keras_layer_mobilenet_v2, opt);
  net->load_state_dict(sd);  // strict: every parameter and BN statistic of the model, nothing more
  net->eval();
  ark::NoGradGuard g;

  for (const std::string which : {"random", "photo"}) {
    if (!ref.tensors.contains(which + "_input")) {
      std::printf("nsfwjs: no %s case in the reference (no photo found)\n", which.c_str());
      continue;
    }
    auto [features, logits] = net->forward(ref.tensors[which + "_input"]);
    const Tensor probs = ark::softmax(logits, -1);
    auto diff = [](const Tensor& a, const Tensor& b) {
      return ark::max(ark::abs(a.to(ark::kDouble) - b.to(ark::kDouble))).item<double>();
    };
    const double df = diff(features, ref.tensors[which + "_features"]);
    const double dl = diff(logits, ref.tensors[which + "_logits"]);
    const double dp = diff(probs, ref.tensors[which + "_probs"]);
    std::printf("nsfwjs %s: max |ark - pytorch| features %.3g, logits %.3g, probabilities %.3g\n", which.c_str(), df,
                dl, dp);
    EXPECT_LE(df, 1e-4) << which;
    EXPECT_LE(dl, 1e-4) << which;
    EXPECT_LE(dp, 1e-4) << which;
  }
  if (ref.tensors.contains("photo_probs")) {
    // A real photo of a dog: nsfwjs says Neutral (class 2), and so must ark.
    auto [f, logits] = net->forward(ref.tensors["photo_input"]);
    EXPECT_EQ(ark::argmax(logits, 1).item<int64_t>(), 2);
    EXPECT_GT(ark::softmax(logits, -1)[0][2].item<float>(), 0.9f);
  }
}

TEST(TfjsNsfwjs, RemapCoversTheBackboneExactly) {
  REQUIRE_NSFWJS();
  const auto keras = pt::read_tfjs(nsfwjs_dir() + "/model.json");
  // Without the head's layers the remap names them (strict), and drops them when asked.
  EXPECT_ERROR(pt::remap_keras_mobilenet_v2(keras), "unmapped Keras layers: [dense_1, dense_2, dense_3]");
  pt::KerasRemapOptions lax;
  lax.strict = false;
  const auto sd = pt::remap_keras(keras, pt::keras_layer_mobilenet_v2, lax);
  auto m = ark::models::create("mobilenet_v2_keras", no_head());
  EXPECT_NO_THROW(m->load_state_dict(sd));  // strict: all 52 convs/BNs covered, no extra key
  // Layouts: HWIO -> OIHW for convs, H W C 1 -> C 1 H W for depthwise.
  const Tensor k = keras["block_3_expand/kernel"];            // (1, 1, 24, 144)
  const Tensor w = m->state_dict()["features.4.conv.0.0.weight"];  // (144, 24, 1, 1)
  EXPECT_TRUE(ark::equal(w, k.permute({3, 2, 0, 1})));
  const Tensor dk = keras["block_3_depthwise/depthwise_kernel"];  // (3, 3, 144, 1)
  EXPECT_TRUE(ark::equal(m->state_dict()["features.4.conv.1.0.weight"], dk.permute({2, 3, 0, 1})));
  EXPECT_TRUE(ark::equal(m->state_dict()["features.0.1.running_var"], keras["bn_Conv1/moving_variance"]));
}

TEST(TfjsNsfwjs, LoadWeightsListsTheHeadItDoesNotHave) {
  REQUIRE_NSFWJS();
  pt::register_keras_weights();
  const std::string path = nsfwjs_dir() + "/model.json";
  auto m = ark::models::create("mobilenet_v2_keras", no_head());
  // Strict: the dense head has no place in a headless MobileNetV2, and every tensor of it is named.
  const std::string e = error_of([&] { ark::load_weights(*m, path); });
  EXPECT_NE(e.find("(tfjs, remap 'keras')"), std::string::npos) << e;
  EXPECT_NE(e.find("unexpected: [dense_1/kernel, dense_1/bias, dense_2/kernel, dense_2/bias, dense_3/kernel, dense_3/bias]"),
            std::string::npos) << e;
  EXPECT_EQ(e.find("missing"), std::string::npos) << e;
  // Non-strict: the backbone loads, the head is reported as skipped.
  ark::LoadOptions lax;
  lax.strict = false;
  const auto r = ark::load_weights(*m, path, lax);
  EXPECT_TRUE(r.missing_keys.empty());
  EXPECT_EQ(r.unexpected_keys.size(), 6u);
  const auto keras = pt::read_tfjs(path);
  EXPECT_TRUE(ark::equal(m->state_dict()["features.4.conv.1.0.weight"],
                         keras["block_3_depthwise/depthwise_kernel"].permute({2, 3, 0, 1})));
  EXPECT_TRUE(ark::equal(m->state_dict()["features.18.1.running_mean"], keras["Conv_1_bn/moving_mean"]));
}
