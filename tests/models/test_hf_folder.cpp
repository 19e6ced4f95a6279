// Hugging Face folders (ark/models/hf.h): every weights layout (safetensors, sharded safetensors,
// pytorch_model.bin, sharded .bin, float16, bfloat16), base/task prefix handling, zero-copy
// adoption of the mapping, and bad input, each with its message: malformed config.json, a
// sharded index naming a missing shard, a checkpoint that does not fit its config, an unknown
// architecture. Fixtures come from tools/reference/text_encoders.py; the broken ones are made
// here from copies.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ark/ark.h"
#include "ark/io/file.h"
#include "ark/models/bert.h"
#include "ark/models/hf.h"
#include "support/reference.h"

namespace {

using namespace ark;
using namespace ark::models;
namespace fs = std::filesystem;
using json = nlohmann::json;

double rel_diff(const Tensor& a, const Tensor& ref) {
  EXPECT_EQ(a.sizes(), ref.sizes());
  if (a.sizes() != ref.sizes()) return 1e9;
  const double scale = std::max(1.0, ref.abs().max().item<double>());
  return (a.to(kFloat) - ref.to(kFloat)).abs().max().item<double>() / scale;
}

struct Fixture {
  std::string stem;
  io::TensorDict ref;
};

const Fixture& small() {
  static Fixture f = [] {
    const std::string path = test::reference_file("text_encoders.py", "bert_small.safetensors", "bert_small");
    return Fixture{path.substr(0, path.size() - std::string(".safetensors").size()), io::load_safetensors(path).tensors};
  }();
  return f;
}

Tensor logits_of(const std::shared_ptr<nn::Module>& module) {
  const auto& T = small().ref;
  auto& model = dynamic_cast<BertForSequenceClassificationImpl&>(*module);
  NoGradGuard no_grad;
  return model.forward(T["input_ids"], T["attention_mask"], T["token_type_ids"]).logits;
}

// A scratch copy of a fixture folder, removed at the end of the test.
class Scratch {
 public:
  explicit Scratch(const std::string& from) {
    static int n = 0;
    path_ = fs::path(ARK_TEST_DATA) / ("hf_scratch_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::remove_all(path_);
    fs::copy(from, path_, fs::copy_options::recursive);
  }
  ~Scratch() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  json config() const { return json::parse(io::read_file((path_ / "config.json").string())); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path_ / name) << text; }
  void set_config(const json& j) const { write("config.json", j.dump()); }

 private:
  fs::path path_;
};

// The message of the ark::Error that `fn` throws ("" if none).
template <class F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR_HAS(stmt, ...)                                                        \
  do {                                                                                    \
    const std::string msg_ = error_of([&] { stmt; });                                     \
    EXPECT_FALSE(msg_.empty()) << #stmt " did not throw";                                 \
    for (const std::string& part_ : std::vector<std::string>{__VA_ARGS__})                \
      EXPECT_NE(msg_.find(part_), std::string::npos) << "'" << part_ << "' not in: " << msg_; \
  } while (0)

TEST(HfFolder, EveryWeightsLayoutGivesTheSameModel) {
  const auto& [stem, T] = small();
  for (const char* variant : {".cls", ".cls_sharded", ".cls_bin", ".cls_bin_sharded"}) {
    hf::LoadReport report;
    auto model = hf::from_pretrained(stem + variant, {.report = &report});
    const double d = rel_diff(logits_of(model), T["cls.logits"]);
    EXPECT_LE(d, 1e-4) << variant;
    EXPECT_TRUE(report.warnings().empty()) << variant;
    EXPECT_TRUE(report.converted.empty()) << variant;
    // safetensors tensors are adopted from the mapping; .bin records too when aligned.
    EXPECT_GT(report.adopted, 0) << variant;
  }
  // The sharded index finds every tensor once.
  EXPECT_EQ(hf::read_weights(stem + ".cls_sharded").size(), hf::read_weights(stem + ".cls").size());
  // The .bin has the old persistent position_ids buffer; the spec ignores it.
  EXPECT_TRUE(hf::read_weights(stem + ".cls_bin").contains("bert.embeddings.position_ids"));
}

TEST(HfFolder, HalfAndBFloat16Checkpoints) {
  const auto& [stem, T] = small();
  for (const char* name : {"f16", "bf16"}) {
    const std::string folder = stem + ".cls_" + name;
    EXPECT_EQ(hf::read_weights(folder)["classifier.weight"].dtype(), std::string(name) == "f16" ? kHalf : kBFloat16);
    hf::LoadReport report;
    auto model = hf::from_pretrained(folder, {.report = &report});
    EXPECT_EQ(model->named_parameters()["classifier.weight"].dtype(), kFloat);  // converted by default
    EXPECT_EQ(report.adopted, 0);
    EXPECT_FALSE(report.converted.empty());
    EXPECT_LE(rel_diff(logits_of(model), T[std::string(name) + ".logits"]), 1e-4) << name;
    // Built in the checkpoint's dtype, the tensors are adopted unconverted.
    hf::LoadReport kept;
    auto half = hf::from_pretrained(folder, {.dtype = std::string(name) == "f16" ? kHalf : kBFloat16, .report = &kept});
    EXPECT_TRUE(kept.converted.empty());
    EXPECT_EQ(kept.copied, 0);
    EXPECT_EQ(half->named_parameters()["classifier.weight"].dtype(), std::string(name) == "f16" ? kHalf : kBFloat16);
  }
}

TEST(HfFolder, ZeroCopyAdoptionViewsTheMapping) {
  const auto& [stem, T] = small();
  auto model = std::make_shared<BertForSequenceClassificationImpl>(BertConfig::from_json(hf::read_config(stem + ".cls")));
  io::TensorDict w = hf::read_weights(stem + ".cls");
  const void* file_ptr = w["bert.encoder.layer.0.attention.self.query.weight"].data_ptr();
  Tensor q = model->bert->layers[0]->query->weight;  // a handle taken before loading sees the load
  hf::LoadReport r = hf::load_strict(*model, w, stem + ".cls", hf::architecture("BertForSequenceClassification").spec);
  EXPECT_EQ(r.copied, 0);
  EXPECT_EQ(r.adopted, static_cast<int64_t>(model->state_dict().size()));
  EXPECT_EQ(q.data_ptr(), file_ptr);
  EXPECT_TRUE(q.requires_grad());
  // Writing to an adopted parameter changes the private mapping only, never the file.
  { NoGradGuard g; q.add_(1.0); }
  EXPECT_TRUE(equal(hf::read_weights(stem + ".cls")["bert.encoder.layer.0.attention.self.query.weight"] + 1.0, q));
  // adopt = false copies everything.
  auto copy = std::make_shared<BertForSequenceClassificationImpl>(BertConfig::from_json(hf::read_config(stem + ".cls")));
  hf::LoadReport rc = hf::load_strict(*copy, hf::read_weights(stem + ".cls"), "x",
                                      hf::architecture("BertForSequenceClassification").spec, {.adopt = false});
  EXPECT_EQ(rc.adopted, 0);
  copy->eval();
  EXPECT_LE(rel_diff(logits_of(copy), T["cls.logits"]), 1e-4);
}

TEST(HfFolder, BasePrefixAndFreshHeads) {
  const auto& [stem, T] = small();
  // A BertModel checkpoint (no "bert." prefix) under a classification head with 5 labels.
  hf::LoadReport report;
  auto module = hf::from_pretrained(stem + ".base",
                                    {.architecture = "BertForSequenceClassification", .num_labels = 5, .report = &report});
  auto& cls = dynamic_cast<BertForSequenceClassificationImpl&>(*module);
  EXPECT_EQ(report.initialised, (std::vector<std::string>{"classifier.weight", "classifier.bias"}));
  ASSERT_EQ(report.warnings().size(), 1u);
  EXPECT_NE(report.warnings()[0].find("classifier.weight"), std::string::npos);
  EXPECT_EQ(cls.classifier->weight.sizes(), IntArrayRef({5, 32}));
  const double std = cls.classifier->weight.std().item<double>();
  EXPECT_GT(std, 0.01);  // HF's N(0, 0.02) init
  EXPECT_LT(std, 0.03);
  EXPECT_EQ(cls.classifier->bias.abs().sum().item<double>(), 0.0);
  {
    NoGradGuard g;
    EXPECT_LE(rel_diff(cls.bert->forward(T["input_ids"], T["attention_mask"], T["token_type_ids"]).last_hidden_state,
                       T["cls.last_hidden_state"]), 1e-4);
  }
  // The same class with another number of labels: the classifier is drawn afresh, the rest loads.
  hf::LoadReport relabel;
  auto five = hf::from_pretrained(stem + ".cls", {.num_labels = 5, .report = &relabel});
  EXPECT_EQ(relabel.initialised, (std::vector<std::string>{"classifier.weight", "classifier.bias"}));
  EXPECT_EQ(dynamic_cast<BertForSequenceClassificationImpl&>(*five).classifier->weight.size(0), 5);
  EXPECT_THROW(hf::from_pretrained(stem + ".cls", {.num_labels = 0}), Error);
  // The reverse: the classification checkpoint loaded as a BertModel drops the head (with a warning).
  hf::LoadReport rev;
  auto base = hf::from_pretrained(stem + ".cls", {.architecture = "BertModel", .report = &rev});
  EXPECT_EQ(rev.unused, (std::vector<std::string>{"classifier.bias", "classifier.weight"}));  // file order
  // An MLM checkpoint under a classification head: its cls.* keys are unused, the pooler is new.
  hf::LoadReport mlm;
  hf::from_pretrained(stem + ".mlm", {.architecture = "BertForSequenceClassification", .report = &mlm});
  EXPECT_EQ(mlm.unused.size(), 5u);  // cls.predictions.{bias, transform.dense.*, transform.LayerNorm.*}
  EXPECT_EQ(mlm.initialised, (std::vector<std::string>{"bert.pooler.dense.weight", "bert.pooler.dense.bias",
                                                       "classifier.weight", "classifier.bias"}));
  (void)base;
}

TEST(HfFolder, StrictLoadWithoutNewHeadListsTheMissingHead) {
  const auto& [stem, T] = small();
  auto model = std::make_shared<BertForSequenceClassificationImpl>(BertConfig::from_json(hf::read_config(stem + ".base")));
  EXPECT_ERROR_HAS(hf::load_strict(*model, hf::read_weights(stem + ".base"), stem + ".base",
                                   hf::architecture("BertForSequenceClassification").spec),
                   "Error(s) in loading " + stem + ".base", "missing: [classifier.weight, classifier.bias]");
}

TEST(HfFolder, MalformedConfig) {
  const auto& [stem, T] = small();
  Scratch s(stem + ".cls");
  const json good = s.config();
  s.write("config.json", "{\"hidden_size\": 32,");
  EXPECT_ERROR_HAS(hf::from_pretrained(s.path()), "config.json", "not valid JSON");
  s.write("config.json", "[1, 2]");
  EXPECT_ERROR_HAS(hf::from_pretrained(s.path()), "config.json", "expected a JSON object");
  fs::remove(s.path() / "config.json");
  EXPECT_ERROR_HAS(hf::from_pretrained(s.path()), "config.json", "no such file");

  auto with = [&](const char* key, json value) {
    json j = good;
    if (value.is_discarded()) j.erase(key);
    else j[key] = value;
    s.set_config(j);
  };
  with("architectures", json::value_t::discarded);
  EXPECT_ERROR_HAS(hf::from_pretrained(s.path()), "config.json", "no \"architectures\" entry");
  with("architectures", "BertModel");
  EXPECT_ERROR_HAS(hf::from_pretrained(s.path()), "\"architectures\" must be a non-empty list");
  with("hidden_size", "thirty-two");
  EXPECT_ERROR_HAS(hf::from_pretrained(s.path()), "config.json", "\"hidden_size\" must be an integer, got \"thirty-two\"");
  with("hidden_size", 30);
  EXPECT_ERROR_HAS(hf::from_pretrained(s.path()), "config.json", "hidden_size (30) is not a multiple of num_attention_heads (4)");
  with("hidden_size", 1e15);
  EXPECT_ERROR_HAS(hf::from_pretrained(s.path()), "\"hidden_size\" must be in [1, 65536]");
  with("num_hidden_layers", -2);
  EXPECT_ERROR_HAS(hf::from_pretrained(s.path()), "\"num_hidden_layers\" must be in [1, 1024], got -2");
  json j = good;
  j["vocab_size"] = 16000000;
  j["hidden_size"] = 65536;
  j["num_attention_heads"] = 1;
  s.set_config(j);
  EXPECT_ERROR_HAS(hf::from_pretrained(s.path()), "parameters, more than ark will allocate");
  with("hidden_act", "swiglu");
  EXPECT_ERROR_HAS(hf::from_pretrained(s.path()), "unsupported activation \"swiglu\"");
  with("layer_norm_eps", "small");
  EXPECT_ERROR_HAS(hf::from_pretrained(s.path()), "\"layer_norm_eps\" must be a number");
  with("hidden_dropout_prob", 1.5);
  EXPECT_ERROR_HAS(hf::from_pretrained(s.path()), "hidden_dropout_prob must be in [0, 1)");
  with("position_embedding_type", "relative_key");
  EXPECT_ERROR_HAS(hf::from_pretrained(s.path()), "position_embedding_type \"relative_key\" is not supported");
  with("architectures", json::array({"BertForQuestionAnswering"}));
  EXPECT_ERROR_HAS(hf::from_pretrained(s.path()), "unknown Hugging Face architecture 'BertForQuestionAnswering'",
                   "did you mean");
  EXPECT_ERROR_HAS(hf::architecture("GPT3ForEverything"), "unknown Hugging Face architecture 'GPT3ForEverything'");
}

TEST(HfFolder, BrokenShardIndex) {
  const auto& [stem, T] = small();
  Scratch s(stem + ".cls_sharded");
  const std::string index_text = io::read_file((s.path() / "model.safetensors.index.json").string());
  const json index = json::parse(index_text);
  // A missing shard.
  fs::rename(s.path() / "model-00002-of-00003.safetensors", s.path() / "moved.safetensors");
  EXPECT_ERROR_HAS(hf::read_weights(s.path()), "model.safetensors.index.json", "missing shard file",
                   "model-00002-of-00003.safetensors");
  fs::rename(s.path() / "moved.safetensors", s.path() / "model-00002-of-00003.safetensors");
  // The map names a tensor its shard lacks, and puts another in the wrong shard.
  json bad = index;
  bad["weight_map"]["bert.not.a.tensor"] = "model-00001-of-00003.safetensors";
  bad["weight_map"]["classifier.weight"] = "model-00001-of-00003.safetensors";
  s.write("model.safetensors.index.json", bad.dump());
  EXPECT_ERROR_HAS(hf::read_weights(s.path()), "model.safetensors.index.json",
                   "puts 'bert.not.a.tensor' in model-00001-of-00003.safetensors, which lacks it",
                   "puts 'classifier.weight' in model-00001-of-00003.safetensors but it is in model-00003-of-00003");
  // A tensor in two shards.
  {
    io::TensorDict one = io::load_safetensors((s.path() / "model-00001-of-00003.safetensors").string()).tensors;
    io::TensorDict three = io::load_safetensors((s.path() / "model-00003-of-00003.safetensors").string()).tensors;
    three.insert(one[0].key(), one[0].value().clone());
    s.write("model.safetensors.index.json", index_text);
    io::save_safetensors((s.path() / "model-00003-of-00003.safetensors").string(), three);
  }
  EXPECT_ERROR_HAS(hf::read_weights(s.path()), "is in two shards");
  // Not JSON; no weight_map; a path outside the folder.
  s.write("model.safetensors.index.json", "{\"weight_map\": ");
  EXPECT_ERROR_HAS(hf::read_weights(s.path()), "model.safetensors.index.json", "not valid JSON");
  s.write("model.safetensors.index.json", "{\"metadata\": {}}");
  EXPECT_ERROR_HAS(hf::read_weights(s.path()), "expected a \"weight_map\" object");
  s.write("model.safetensors.index.json", "{\"weight_map\": {\"a\": \"../../etc/passwd\"}}");
  EXPECT_ERROR_HAS(hf::read_weights(s.path()), "not a file inside the folder");
  // No weights at all.
  for (const auto& e : fs::directory_iterator(s.path()))
    if (e.path().filename() != "config.json") fs::remove(e.path());
  EXPECT_ERROR_HAS(hf::from_pretrained(s.path()), "no weights found", "model.safetensors");
}

TEST(HfFolder, CheckpointThatDoesNotFitItsConfig) {
  const auto& [stem, T] = small();
  Scratch s(stem + ".cls");
  // Wrong shapes: the config says intermediate_size 40, the file has 37.
  json j = s.config();
  j["intermediate_size"] = 40;
  s.set_config(j);
  EXPECT_ERROR_HAS(hf::from_pretrained(s.path()), "Error(s) in loading " + s.path().string(),
                   "shape mismatch: bert.encoder.layer.0.intermediate.dense.weight expected [40, 32] got [37, 32]",
                   "shape mismatch: bert.encoder.layer.1.output.dense.weight expected [32, 40] got [32, 37]");
  j["intermediate_size"] = 37;
  s.set_config(j);
  // A missing key and an extra key, reported together with a shape mismatch.
  io::TensorDict w = io::load_safetensors((s.path() / "model.safetensors").string()).tensors;
  io::TensorDict edited;
  for (const auto& item : w) {
    if (item.key() == "bert.encoder.layer.1.attention.self.key.bias") continue;
    edited.insert(item.key(), item.key() == "bert.pooler.dense.bias" ? ark::zeros({31}) : item.value().clone());
  }
  edited.insert("bert.encoder.layer.2.attention.self.key.bias", ark::zeros({32}));
  io::save_safetensors((s.path() / "model.safetensors").string(), edited);
  const std::string msg = error_of([&] { hf::from_pretrained(s.path()); });
  for (const std::string& part : std::vector<std::string>{"missing: [bert.encoder.layer.1.attention.self.key.bias]",
                                 "unexpected: [bert.encoder.layer.2.attention.self.key.bias]",
                                 "shape mismatch: bert.pooler.dense.bias expected [32] got [31]", s.path().string()})
    EXPECT_NE(msg.find(part), std::string::npos) << part << " not in: " << msg;
}

TEST(HfFolder, ArchitectureTable) {
  for (const char* name : {"BertModel", "BertForSequenceClassification", "BertForMaskedLM", "DistilBertModel",
                           "DistilBertForSequenceClassification", "DistilBertForMaskedLM"})
    EXPECT_TRUE(hf::is_architecture(name)) << name;
  // Users register their own classes; a second registration replaces the first.
  hf::register_architecture("TinyBertForTests", [](const json& c) {
    return std::make_shared<BertModelImpl>(BertConfig::from_json(c));
  }, hf::LoadSpec{});
  EXPECT_TRUE(hf::is_architecture("TinyBertForTests"));
  EXPECT_ERROR_HAS(hf::register_architecture("", nullptr, {}), "a name and a factory are required");
}

// Peak resident memory of loading and running a bert-base-sized folder, with the tensors adopted
// from the mapping and copied, each in a fresh process (this binary re-run on the child test
// below), so earlier tests' heap does not hide or add to it. Prints the numbers; the bound checks
// that adoption does not hold two copies of the weights.
long status_kb(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::string(field).size()));
  return -1;
}

std::string bert_base_folder(io::TensorDict* ref = nullptr) {
  const std::string path = test::reference_file("text_encoders.py", "bert_base.safetensors", "bert_base");
  if (ref) *ref = io::load_safetensors(path).tensors;
  return path.substr(0, path.size() - std::string(".safetensors").size()) + ".cls";
}

TEST(HfFolder, DISABLED_PeakMemoryChild) {
  const char* mode = std::getenv("ARK_HF_MEMORY_MODE");
  if (!mode) GTEST_SKIP();
  io::TensorDict T;
  const std::string folder = bert_base_folder(&T);
  const long before = status_kb("VmRSS:");
  std::shared_ptr<BertForSequenceClassificationImpl> model;
  {
    hf::SkipInitGuard skip;  // as from_pretrained builds it
    model = std::make_shared<BertForSequenceClassificationImpl>(BertConfig::from_json(hf::read_config(folder)));
  }
  hf::load_strict(*model, hf::read_weights(folder), folder, hf::architecture("BertForSequenceClassification").spec,
                  {.adopt = std::string(mode) == "adopt"});
  const long loaded = status_kb("VmHWM:");
  model->eval();
  NoGradGuard g;
  model->forward(T["input_ids"], T["attention_mask"], T["token_type_ids"]);
  std::printf("[memory-child] %ld %ld %ld\n", before, loaded, status_kb("VmHWM:"));
}

TEST(HfFolder, PeakMemoryOfBertBase) {
  const std::string folder = bert_base_folder();
  const double file_mb = static_cast<double>(fs::file_size(fs::path(folder) / "model.safetensors")) / 1e3;  // kB
  for (const char* mode : {"adopt", "copy"}) {
    const std::string cmd = std::string("ARK_HF_MEMORY_MODE=") + mode +
                            " /proc/" + std::to_string(::getpid()) + "/exe --gtest_also_run_disabled_tests "
                            "--gtest_filter=HfFolder.DISABLED_PeakMemoryChild 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[512];
    long before = -1, loaded = -1, peak = -1;
    while (std::fgets(buf, sizeof buf, p))
      if (std::sscanf(buf, "[memory-child] %ld %ld %ld", &before, &loaded, &peak) == 3) break;
    while (std::fgets(buf, sizeof buf, p)) {
    }
    ::pclose(p);
    ASSERT_GT(peak, 0) << mode;
    std::printf("[memory] bert-base (%.0f MB of float32 safetensors), %s: peak RSS after loading +%.0f MB, after a "
                "forward (2 x 24 tokens) +%.0f MB, over %.0f MB before\n",
                file_mb / 1e3, mode, static_cast<double>(loaded - before) / 1e3, static_cast<double>(peak - before) / 1e3,
                static_cast<double>(before) / 1e3);
    if (std::string(mode) == "adopt") EXPECT_LT(static_cast<double>(peak - before), 1.3 * file_mb);
    else EXPECT_GT(static_cast<double>(peak - before), 1.5 * file_mb);  // the copy holds both
  }
}

}  // namespace
