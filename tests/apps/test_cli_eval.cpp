// `ark eval` as a user runs it, on the run folder and images of tools/reference/predict_ref.py
// (a torchvision resnet18 with a two-class head; eight images labelled so that it is right on
// five; an ImageFolder and a manifest with a site column). Checked: accuracy, counts and the
// confusion matrix against PyTorch's predictions and the library in process, the text report,
// --group-by (per-site accuracy and the gap), --confusion, a text classifier on a JSONL
// manifest (tiny BERT), and the errors: a label the model does not know, a missing group column,
// a missing data path, data of the other modality.
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
#include "ark/datasets/image.h"
#include "ark/datasets/transforms.h"
#include "ark/io/safetensors.h"
#include "ark/models/bert.h"
#include "ark/models/hf.h"
#include "ark/models/registry.h"
#include "ark/pretrained/load_weights.h"
#include "ark/tokenizers/tokenizer.h"
#include "support/reference.h"
#include "vision_run_fixture.h"

namespace fs = std::filesystem;
using namespace ark;
using nlohmann::json;

namespace {

using ark::test::slurp;

class CliEval : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ref_ = ark::test::reference_file("predict_ref.py", "predict_ref");
    expected_ = json::parse(slurp(fs::path(ref_) / "ref.json"));
    dir_ = fs::temp_directory_path() / ("ark_cli_eval_" + std::to_string(::getpid()));
    ark::test::write_vision_run(dir_ / "run", ref_, expected_);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  struct Run {
    int rc;
    std::string out, err;
  };
  static Run ark(const std::string& args) {
    const fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    const std::string cmd = std::string(ARK_CLI) + " eval " + args + " >" + out.string() + " 2>" + err.string();
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
  }
  static std::string run() { return (dir_ / "run").string(); }

  // The library's predicted class for each reference image, one forward per image.
  static std::map<std::string, int64_t> library_predictions() {
    auto m = models::create("resnet18", {.num_classes = 2});
    load_weights(*m, run() + "/model.safetensors");
    m->eval();
    datasets::PreprocessConfig cfg;
    cfg.input_size = {3, 64, 64};
    InferenceMode guard;
    std::map<std::string, int64_t> out;
    for (const auto& [name, _] : expected_["images"].items())
      out[name] = m->forward(datasets::preprocess(datasets::load_image(ref_ + "/images/" + name), cfg))
                      .argmax(1)
                      .item<int64_t>();
    return out;
  }

  static std::string ref_;
  static json expected_;
  static fs::path dir_;
};
std::string CliEval::ref_;
json CliEval::expected_;
fs::path CliEval::dir_;

TEST_F(CliEval, ImageFolderMatchesPyTorchAndTheLibrary) {
  const fs::path png = dir_ / "confusion.png";
  const Run r = ark(run() + " --data " + ref_ + "/data --json --batch-size 4 --confusion " + png.string());
  ASSERT_EQ(r.rc, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["count"].get<int64_t>(), 8);
  EXPECT_EQ(j["skipped"].get<int64_t>(), 0);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), expected_["accuracy"].get<double>());  // PyTorch's predictions
  EXPECT_DOUBLE_EQ(j["top5"].get<double>(), 1.0);                                      // two classes
  // The confusion matrix, from PyTorch's predictions and the library's (they agree).
  std::vector<std::vector<int64_t>> want(2, std::vector<int64_t>(2, 0)), lib(2, std::vector<int64_t>(2, 0));
  const auto preds = library_predictions();
  for (const auto& [name, e] : expected_["images"].items()) {
    ++want[e["label"].get<size_t>()][e["pred"].get<size_t>()];
    ++lib[e["label"].get<size_t>()][static_cast<size_t>(preds.at(name))];
  }
  EXPECT_EQ(j["confusion"].get<std::vector<std::vector<int64_t>>>(), want);
  EXPECT_EQ(lib, want);
  ASSERT_EQ(j["per_class"].size(), 2u);
  EXPECT_EQ(j["per_class"][0]["name"], "cat");
  EXPECT_EQ(j["per_class"][0]["support"].get<int64_t>(), want[0][0] + want[0][1]);
  EXPECT_DOUBLE_EQ(j["per_class"][0]["recall"].get<double>(),
                   static_cast<double>(want[0][0]) / static_cast<double>(want[0][0] + want[0][1]));
  EXPECT_DOUBLE_EQ(j["per_class"][1]["precision"].get<double>(),
                   static_cast<double>(want[1][1]) / static_cast<double>(want[0][1] + want[1][1]));
  EXPECT_FALSE(j.contains("groups"));
  EXPECT_EQ(datasets::load_image(png.string()).dim(), 3);  // a decodable PNG
}

TEST_F(CliEval, HumanReport) {
  const Run r = ark(run() + " --data " + ref_ + "/data --threads 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  char acc[32];
  std::snprintf(acc, sizeof acc, "accuracy %.4f", expected_["accuracy"].get<double>());
  EXPECT_NE(r.out.find(acc), std::string::npos) << r.out;
  for (const char* s : {"8 samples", "precision", "recall", "f1-score", "macro avg", "cat", "dog"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  EXPECT_EQ(r.out.find("confusion matrix:"), std::string::npos);  // no PNG unless asked
}

TEST_F(CliEval, GroupByReportsEachGroupAndTheGap) {
  const Run r = ark(run() + " --data " + ref_ + "/manifest.csv --group-by site --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), expected_["accuracy"].get<double>());
  ASSERT_EQ(j["groups"].size(), 2u);
  const double north = expected_["site_accuracy"]["north"].get<double>();
  const double south = expected_["site_accuracy"]["south"].get<double>();
  EXPECT_DOUBLE_EQ(j["groups"]["north"]["accuracy"].get<double>(), north);
  EXPECT_DOUBLE_EQ(j["groups"]["south"]["accuracy"].get<double>(), south);
  EXPECT_EQ(j["groups"]["north"]["count"].get<int64_t>() + j["groups"]["south"]["count"].get<int64_t>(), 8);
  bool found = false;
  for (const auto& g : j["gaps"])
    if (g["metric"] == "accuracy") {
      found = true;
      EXPECT_DOUBLE_EQ(g["gap"].get<double>(), std::abs(north - south));
      EXPECT_EQ(g["best_group"], north >= south ? "north" : "south");
    }
  EXPECT_TRUE(found) << j["gaps"].dump();
  // The text form names the groups and the gaps.
  const Run h = ark(run() + " --data " + ref_ + "/manifest.csv --group-by site");
  ASSERT_EQ(h.rc, 0) << h.err;
  for (const char* s : {"by site", "north", "south", "largest gaps", "accuracy"})
    EXPECT_NE(h.out.find(s), std::string::npos) << s << "\n" << h.out;
}

TEST_F(CliEval, AnUndecodableImageIsSkippedAndCounted) {
  const fs::path data = dir_ / "with_bad";
  fs::create_directories(data);
  fs::copy(ref_ + "/data", data, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  std::ofstream(data / "cat" / "zz_broken.png") << "not an image";
  const Run r = ark(run() + " --data " + data.string() + " --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["count"].get<int64_t>(), 8);
  EXPECT_EQ(j["skipped"].get<int64_t>(), 1);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), expected_["accuracy"].get<double>());
  EXPECT_NE(r.err.find("zz_broken.png"), std::string::npos) << r.err;
}

TEST_F(CliEval, BadData) {
  // A class the model does not know: an error naming it, not a silently wrong score.
  const fs::path data = dir_ / "birds";
  fs::create_directories(data / "cat");
  fs::create_directories(data / "bird");
  fs::copy_file(ref_ + "/images/img0.png", data / "cat" / "a.png");
  fs::copy_file(ref_ + "/images/img1.png", data / "bird" / "b.png");
  Run r = ark(run() + " --data " + data.string());
  EXPECT_EQ(r.rc, 5);
  EXPECT_NE(r.err.find("bird"), std::string::npos) << r.err;
  std::ofstream(dir_ / "birds.csv") << "path,label\n" << ref_ << "/images/img0.png,cat\n" << ref_ << "/images/img1.png,bird\n";
  r = ark(run() + " --data " + (dir_ / "birds.csv").string());
  EXPECT_EQ(r.rc, 5);
  EXPECT_NE(r.err.find("bird"), std::string::npos) << r.err;
  // --group-by a column the manifest lacks; a data path that is not there; texts for a vision model.
  r = ark(run() + " --data " + ref_ + "/manifest.csv --group-by hospital");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("hospital"), std::string::npos) << r.err;
  r = ark(run() + " --data " + (dir_ / "nothere").string());
  EXPECT_EQ(r.rc, 6);
  EXPECT_NE(r.err.find("nothere"), std::string::npos) << r.err;
  std::ofstream(dir_ / "texts.jsonl") << "{\"text\": \"a cat\", \"label\": \"cat\"}\n{\"text\": \"a dog\", \"label\": \"dog\"}\n";
  r = ark(run() + " --data " + (dir_ / "texts.jsonl").string());
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("texts"), std::string::npos) << r.err;
  EXPECT_EQ(ark(run()).rc, 2);  // --data is required
}

TEST_F(CliEval, TextClassifierOnAJsonlManifest) {
  const fs::path d = dir_ / "bert";
  fs::create_directories(d);
  const std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat",
                                          "on",    "a",     "mat",   "dog",   "good",  "bad", "very"};
  std::ofstream v(d / "vocab.txt");
  for (const auto& t : vocab) v << t << "\n";
  v.close();
  json config = {{"model_type", "bert"}, {"architectures", {"BertForSequenceClassification"}},
                 {"vocab_size", vocab.size()}, {"hidden_size", 16}, {"num_hidden_layers", 1},
                 {"num_attention_heads", 2}, {"intermediate_size", 32}, {"max_position_embeddings", 32},
                 {"id2label", {{"0", "negative"}, {"1", "positive"}}}};
  manual_seed(1);
  models::BertForSequenceClassification m(models::BertConfig::from_json(config));
  {
    NoGradGuard no_grad;
    for (auto& p : m->parameters())
      if (p.dim() == 2) nn::init::normal_(p, 0.0, 0.3);
  }
  io::save_safetensors((d / "model.safetensors").string(), m->state_dict());
  std::ofstream(d / "config.json") << config.dump(1);

  const std::vector<std::pair<std::string, std::string>> rows = {
      {"the cat sat on the mat", "positive"}, {"a dog", "negative"},     {"very good", "positive"},
      {"bad bad dog", "negative"},            {"the mat", "positive"},   {"a very bad cat sat", "negative"}};
  std::ofstream manifest(dir_ / "texts.jsonl");
  for (const auto& [text, label] : rows) manifest << json{{"text", text}, {"label", label}}.dump() << "\n";
  manifest.close();

  const Run r = ark(d.string() + " --data " + (dir_ / "texts.jsonl").string() + " --json --batch-size 4");
  ASSERT_EQ(r.rc, 0) << r.err;
  const json j = json::parse(r.out);
  // In process, one text at a time (the CLI pads batches; the mask must make that invisible).
  auto module = models::hf::from_pretrained(d);
  auto* model = dynamic_cast<models::BertForSequenceClassificationImpl*>(module.get());
  ASSERT_NE(model, nullptr);
  auto tok = tokenizers::from_folder(d.string());
  InferenceMode guard;
  int64_t right = 0;
  double loss = 0;
  for (const auto& [text, label] : rows) {
    auto ids = tok->encode(text);
    const Tensor logits = model->forward(from_blob(ids.data(), {1, static_cast<int64_t>(ids.size())}, kLong).clone()).logits;
    const int64_t truth = label == "negative" ? 0 : 1;
    right += logits.argmax(1).item<int64_t>() == truth;
    loss -= log_softmax(logits, 1)[0][truth].item<float>();
  }
  EXPECT_EQ(j["count"].get<int64_t>(), 6);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), static_cast<double>(right) / 6.0);
  EXPECT_NEAR(j["loss"].get<double>(), loss / 6.0, 1e-5);
}

}  // namespace
