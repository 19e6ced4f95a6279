// `ark predict` as a user runs it. A run folder is built here as `ark finetune` writes one
// (config.json with ark_run, model.safetensors, labels.txt) from a torchvision resnet18 with a
// two-class head (tools/reference/predict_ref.py: seeded weights, perturbed BatchNorm statistics,
// eight PNGs of different sizes and PyTorch's probabilities for them). Checked: the probabilities
// against PyTorch and against the library in process, top-k and both output forms, folders,
// --cam, a text classifier (a tiny BERT folder, batched with padding vs one text at a time), and
// each bad input's exit code and message.
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
#include "ark/models/gpt2.h"
#include "ark/models/hf.h"
#include "ark/models/registry.h"
#include "ark/pretrained/load_weights.h"
#include "ark/pretrained/sha256.h"
#include "ark/tokenizers/tokenizer.h"
#include "support/reference.h"
#include "vision_run_fixture.h"

namespace fs = std::filesystem;
using namespace ark;
using nlohmann::json;

namespace {

using ark::test::slurp;

class CliPredict : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ref_ = ark::test::reference_file("predict_ref.py", "predict_ref");
    expected_ = json::parse(slurp(fs::path(ref_) / "ref.json"));
    dir_ = fs::temp_directory_path() / ("ark_cli_predict_" + std::to_string(::getpid()));
    ark::test::write_vision_run(dir_ / "run", ref_, expected_,
                                {{"name", "resnet18.tv_in1k"}, {"sha256", std::string(64, '0')}, {"license", "bsd-3-clause"}});
    write_text_model();
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // A Hugging Face folder of a tiny BertForSequenceClassification with a WordPiece vocabulary;
  // weights drawn wide so that texts get clearly different probabilities.
  static void write_text_model() {
    const fs::path d = dir_ / "bert";
    fs::create_directories(d);
    const std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on",
                                            "a",     "mat",   "dog",   "good",  "bad",    "very", "##s"};
    std::ofstream v(d / "vocab.txt");
    for (const auto& t : vocab) v << t << "\n";
    v.close();
    json config = {{"model_type", "bert"}, {"architectures", {"BertForSequenceClassification"}},
                   {"vocab_size", vocab.size()}, {"hidden_size", 16}, {"num_hidden_layers", 2},
                   {"num_attention_heads", 2}, {"intermediate_size", 32}, {"max_position_embeddings", 32},
                   {"id2label", {{"0", "negative"}, {"1", "positive"}}},
                   {"label2id", {{"negative", 0}, {"positive", 1}}}};
    manual_seed(0);
    models::BertForSequenceClassification m(models::BertConfig::from_json(config));
    {
      NoGradGuard no_grad;
      for (auto& p : m->parameters())
        if (p.dim() == 2) nn::init::normal_(p, 0.0, 0.3);
    }
    io::save_safetensors((d / "model.safetensors").string(), m->state_dict());
    std::ofstream(d / "config.json") << config.dump(1);
  }

  struct Run {
    int rc;
    std::string out, err;
  };
  static Run ark(const std::string& args) {
    const fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    const std::string cmd = std::string(ARK_CLI) + " predict " + args + " >" + out.string() + " 2>" + err.string();
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
  }
  static std::string run() { return (dir_ / "run").string(); }
  static std::string image(const std::string& name) { return ref_ + "/images/" + name; }

  // The library's answer for one image: the run's model, preprocessed as the run says.
  static std::vector<float> library_probs(const std::string& path) {
    static std::shared_ptr<models::VisionModel> model = [] {
      auto m = models::create("resnet18", {.num_classes = 2});
      load_weights(*m, run() + "/model.safetensors");
      m->eval();
      return m;
    }();
    datasets::PreprocessConfig cfg;
    cfg.input_size = {3, 64, 64};
    cfg.crop_pct = 0.875;
    InferenceMode guard;
    const Tensor p = softmax(model->forward(datasets::preprocess(datasets::load_image(path), cfg)), 1).contiguous();
    return {p.data_ptr<float>()[0], p.data_ptr<float>()[1]};
  }

  static std::string ref_;
  static json expected_;
  static fs::path dir_;
};
std::string CliPredict::ref_;
json CliPredict::expected_;
fs::path CliPredict::dir_;

TEST_F(CliPredict, FolderJsonMatchesPyTorchAndTheLibrary) {
  const Run r = ark(run() + " " + ref_ + "/images --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), expected_["images"].size());  // the folder's eight images, in sorted order
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string name = fs::path(j[i]["input"].get<std::string>()).filename().string();
    SCOPED_TRACE(name);
    EXPECT_EQ(name, "img" + std::to_string(i) + ".png");
    const json& want = expected_["images"][name];
    const json& preds = j[i]["predictions"];
    ASSERT_EQ(preds.size(), 2u);  // top-5 capped at the two classes
    EXPECT_GE(preds[0]["probability"].get<double>(), preds[1]["probability"].get<double>());
    EXPECT_NEAR(preds[0]["probability"].get<double>() + preds[1]["probability"].get<double>(), 1.0, 1e-6);
    EXPECT_EQ(preds[0]["index"].get<int>(), want["pred"].get<int>());
    const std::vector<float> lib = library_probs(image(name));
    for (const auto& p : preds) {
      const int c = p["index"].get<int>();
      EXPECT_EQ(p["label"], expected_["classes"][static_cast<size_t>(c)]);
      EXPECT_NEAR(p["probability"].get<double>(), want["probs"][static_cast<size_t>(c)].get<double>(), 2e-4);  // PyTorch
      EXPECT_NEAR(p["probability"].get<double>(), lib[static_cast<size_t>(c)], 1e-5);                     // in process
    }
  }
}

TEST_F(CliPredict, HumanOutputAndTopK) {
  const Run r = ark(run() + " " + image("img1.png") + " " + image("img4.png") + " --topk 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  char p1[32], p4[32];
  std::snprintf(p1, sizeof p1, "%.4f", expected_["images"]["img1.png"]["probs"][1].get<double>());
  std::snprintf(p4, sizeof p4, "%.4f", expected_["images"]["img4.png"]["probs"][0].get<double>());
  EXPECT_EQ(r.out, image("img1.png") + "\n  dog  " + p1 + "\n" + image("img4.png") + "\n  cat  " + p4 + "\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(CliPredict, BadImagesAreReportedAndTheOthersGoOn) {
  const fs::path bad = dir_ / "bad.png";
  std::ofstream(bad) << "\x89PNG\r\n\x1a\nnot really a png";
  Run r = ark(run() + " " + image("img0.png") + " " + bad.string() + " " + image("img2.png") + " --json");
  EXPECT_EQ(r.rc, 5);
  EXPECT_NE(r.err.find("bad.png"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("1 of 3 inputs failed"), std::string::npos) << r.err;
  const json j = json::parse(r.out);
  ASSERT_EQ(j.size(), 3u);
  EXPECT_TRUE(j[0].contains("predictions"));
  EXPECT_TRUE(j[1].contains("error"));
  EXPECT_FALSE(j[1].contains("predictions"));
  EXPECT_EQ(j[2]["predictions"].size(), 2u);

  // A file that is not there: an I/O failure (6), the others still printed.
  r = ark(run() + " " + image("img0.png") + " " + (dir_ / "missing.png").string());
  EXPECT_EQ(r.rc, 6);
  EXPECT_NE(r.err.find("missing.png"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("img0.png"), std::string::npos);
}

TEST_F(CliPredict, BadModelArguments) {
  // A bare weights file needs its architecture.
  Run r = ark(ref_ + "/resnet18_2.pth " + image("img0.png"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--arch"), std::string::npos) << r.err;
  // With it, the head's size comes from the file (2 classes, names unknown).
  r = ark(ref_ + "/resnet18_2.pth " + image("img0.png") + " --arch resnet18 --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_EQ(j[0]["predictions"].size(), 2u);
  EXPECT_EQ(j[0]["predictions"][0]["label"].get<std::string>().rfind("class ", 0), 0u);
  // Weights without a head (features only) cannot classify.
  io::save_safetensors((dir_ / "headless.safetensors").string(), models::create("resnet18", {.num_classes = 0})->state_dict());
  r = ark((dir_ / "headless.safetensors").string() + " " + image("img0.png") + " --arch resnet18");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("no classifier head"), std::string::npos) << r.err;
  // An architecture that does not exist, a name that is neither a file nor a model, a path that
  // is not there, a folder that is no model.
  r = ark(ref_ + "/resnet18_2.pth " + image("img0.png") + " --arch resnet19");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("resnet18"), std::string::npos) << r.err;  // the closest names
  r = ark("resnet1000 " + image("img0.png"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("resnet1000"), std::string::npos) << r.err;
  r = ark((dir_ / "nothere" / "run").string() + " " + image("img0.png"));
  EXPECT_EQ(r.rc, 6);
  EXPECT_NE(r.err.find("nothere"), std::string::npos) << r.err;
  r = ark(ref_ + "/images " + image("img0.png"));
  EXPECT_EQ(r.rc, 6);
  EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;
  // A run folder whose config.json is not JSON: a bad file naming it.
  fs::create_directories(dir_ / "broken");
  std::ofstream(dir_ / "broken" / "config.json") << "{\"ark_run\": ";
  r = ark((dir_ / "broken").string() + " " + image("img0.png"));
  EXPECT_EQ(r.rc, 5);
  EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;
  // Usage: --topk 0, no inputs, a folder without images.
  EXPECT_EQ(ark(run() + " " + image("img0.png") + " --topk 0").rc, 2);
  EXPECT_EQ(ark(run()).rc, 2);
  fs::create_directories(dir_ / "empty");
  EXPECT_EQ(ark(run() + " " + (dir_ / "empty").string()).rc, 2);
}

TEST_F(CliPredict, CamWritesAnOverlayOfTheInputSize) {
  const fs::path out = dir_ / "cam.png";
  Run r = ark(run() + " " + image("img3.png") + " --cam " + out.string() + " --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j[0]["cam"]["class"].get<int>(), expected_["images"]["img3.png"]["pred"].get<int>());
  const Tensor png = datasets::load_image(out.string());
  EXPECT_EQ(png.sizes().vec(), (std::vector<int64_t>{64, 64, 3}));  // the model's input, not the 90x120 file
  // One image only, and vision only.
  EXPECT_EQ(ark(run() + " " + image("img0.png") + " " + image("img1.png") + " --cam " + out.string()).rc, 2);
  EXPECT_EQ(ark((dir_ / "bert").string() + " 'the cat' --cam " + out.string()).rc, 2);
}

TEST_F(CliPredict, TextClassifierBatchedMatchesOneAtATime) {
  const std::vector<std::string> texts = {"the cat sat on the mat", "a dog", "very very good cats", "bad"};
  std::ofstream(dir_ / "texts.txt") << texts[0] << "\n\n" << texts[1] << "\r\n" << texts[2] << "\n" << texts[3] << "\n";
  const Run r = ark((dir_ / "bert").string() + " --file " + (dir_ / "texts.txt").string() + " --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_EQ(j.size(), texts.size());  // the blank line is not a text

  auto module = models::hf::from_pretrained(dir_ / "bert");
  auto* model = dynamic_cast<models::BertForSequenceClassificationImpl*>(module.get());
  ASSERT_NE(model, nullptr);
  auto tok = tokenizers::from_folder((dir_ / "bert").string());
  InferenceMode guard;
  bool differ = false;
  for (size_t i = 0; i < texts.size(); ++i) {
    SCOPED_TRACE(texts[i]);
    EXPECT_EQ(j[i]["input"], texts[i]);
    auto ids = tok->encode(texts[i]);
    const Tensor x = from_blob(ids.data(), {1, static_cast<int64_t>(ids.size())}, kLong).clone();
    const Tensor p = softmax(model->forward(x).logits, 1).contiguous();
    for (const auto& pred : j[i]["predictions"]) {
      const int c = pred["index"].get<int>();
      EXPECT_EQ(pred["label"], c == 0 ? "negative" : "positive");  // id2label
      EXPECT_NEAR(pred["probability"].get<double>(), p.data_ptr<float>()[c], 1e-5);
    }
    differ = differ || std::abs(p.data_ptr<float>()[0] - 0.5f) > 0.05f;
  }
  EXPECT_TRUE(differ);  // the model is not trivially uniform
  // Texts as arguments give the same.
  const Run a = ark((dir_ / "bert").string() + " 'a dog' --json");
  ASSERT_EQ(a.rc, 0) << a.err;
  const json one = json::parse(a.out)[0]["predictions"];
  ASSERT_EQ(one.size(), 2u);
  for (size_t k = 0; k < 2; ++k) {
    EXPECT_EQ(one[k]["index"], j[1]["predictions"][k]["index"]);
    EXPECT_NEAR(one[k]["probability"].get<double>(), j[1]["predictions"][k]["probability"].get<double>(), 1e-6);
  }
}

TEST_F(CliPredict, TextRunFolderUsesItsClassesAndMaxLength) {
  // A text run folder as finetune writes it: a Hugging Face folder whose config.json also holds
  // ark_run (the class names, the tokenizer's max_length).
  const fs::path d = dir_ / "textrun";
  fs::create_directories(d);
  for (const char* f : {"vocab.txt", "model.safetensors"}) fs::copy_file(dir_ / "bert" / f, d / f, fs::copy_options::overwrite_existing);
  json config = json::parse(slurp(dir_ / "bert" / "config.json"));
  config["ark_run"] = {{"version", 1}, {"kind", "text"}, {"task", "classification"},
                       {"architecture", "BertForSequenceClassification"}, {"classes", {"neg", "pos"}},
                       {"tokenizer", {{"files", {"vocab.txt"}}, {"max_length", 5}}}};
  std::ofstream(d / "config.json") << config.dump(1);
  const std::string text = "the cat sat on the mat";
  const Run r = ark(d.string() + " '" + text + "' --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  const json preds = json::parse(r.out)[0]["predictions"];

  auto module = models::hf::from_pretrained(dir_ / "bert");
  auto* model = dynamic_cast<models::BertForSequenceClassificationImpl*>(module.get());
  ASSERT_NE(model, nullptr);
  auto tok = tokenizers::from_folder((dir_ / "bert").string());
  tokenizers::EncodeOptions eo;
  eo.truncation = tokenizers::Truncation::kLongestFirst;
  eo.max_length = 5;
  auto ids = tok->encode_plus(text, std::nullopt, eo).ids;
  ASSERT_EQ(ids.size(), 5u);  // [CLS] the cat sat [SEP]
  InferenceMode guard;
  const Tensor p =
      softmax(model->forward(from_blob(ids.data(), {1, 5}, kLong).clone()).logits, 1).contiguous();
  ASSERT_EQ(preds.size(), 2u);
  for (const auto& pred : preds) {
    const int c = pred["index"].get<int>();
    EXPECT_EQ(pred["label"], c == 0 ? "neg" : "pos");  // the run's classes, not id2label
    EXPECT_NEAR(pred["probability"].get<double>(), p.data_ptr<float>()[c], 1e-5);
  }
}

TEST_F(CliPredict, Gpt2ClassifierWithoutPadTokenPadsWithEos) {
  // GPT-2 classifies from the last token that is not padding, and its checkpoints have no pad
  // token: the CLI pads with EOS (HF's recipe), so a batch of texts of different lengths gives
  // what each text gives alone.
  const fs::path d = dir_ / "gpt2cls";
  fs::create_directories(d);
  // GPT-2's bytes_to_unicode: the printable bytes stand for themselves, the others for 256 + n.
  json vocab = json::object();
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const int c = printable ? b : 256 + n++;
    std::string u;
    if (c < 0x80) u += static_cast<char>(c);
    else {
      u += static_cast<char>(0xC0 | (c >> 6));
      u += static_cast<char>(0x80 | (c & 0x3F));
    }
    vocab[u] = b;
  }
  vocab["<|endoftext|>"] = 257;  // 256 unused: ids need not be dense
  std::ofstream(d / "vocab.json") << vocab.dump();
  std::ofstream(d / "merges.txt") << "#version: 0.2\n";
  json config = {{"model_type", "gpt2"}, {"architectures", {"GPT2ForSequenceClassification"}}, {"vocab_size", 258},
                 {"n_positions", 64}, {"n_embd", 16}, {"n_layer", 1}, {"n_head", 2}, {"bos_token_id", 257},
                 {"eos_token_id", 257}, {"id2label", {{"0", "no"}, {"1", "yes"}}}};
  manual_seed(3);
  models::GPT2ForSequenceClassification m(models::GPT2Config::from_json(config));
  {
    NoGradGuard no_grad;
    for (auto& p : m.parameters())
      if (p.dim() == 2) nn::init::normal_(p, 0.0, 0.3);
  }
  io::save_safetensors((d / "model.safetensors").string(), m.state_dict());
  std::ofstream(d / "config.json") << config.dump(1);

  const std::vector<std::string> texts = {"hello there, world", "ok", "a b c d e f"};
  const Run r = ark(d.string() + " '" + texts[0] + "' '" + texts[1] + "' '" + texts[2] + "' --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_EQ(j.size(), 3u);
  config["pad_token_id"] = 257;  // as the CLI sets it
  models::GPT2ForSequenceClassification ref(models::GPT2Config::from_json(config));
  load_weights(ref, (d / "model.safetensors").string());
  ref.eval();  // no dropout
  auto tok = tokenizers::from_folder(d.string());
  InferenceMode guard;
  for (size_t i = 0; i < texts.size(); ++i) {
    SCOPED_TRACE(texts[i]);
    auto ids = tok->encode(texts[i]);
    const Tensor p = softmax(ref.forward(from_blob(ids.data(), {1, static_cast<int64_t>(ids.size())}, kLong).clone()), 1)
                         .contiguous();
    for (const auto& pred : j[i]["predictions"]) {
      const int c = pred["index"].get<int>();
      EXPECT_EQ(pred["label"], c == 0 ? "no" : "yes");
      EXPECT_NEAR(pred["probability"].get<double>(), p.data_ptr<float>()[c], 1e-5);
    }
  }
}

TEST_F(CliPredict, RegistryNameFromTheCache) {
  // A registry entry (ARK_REGISTRY_EXTRA) whose file is served from a local file: pulled into an
  // empty cache, its preprocessing and inline labels used, PyTorch's answer.
  const fs::path weights = dir_ / "run" / "model.safetensors";
  json entry = {{"name", "testnet.cats"},
                {"architecture", "resnet18"},
                {"config", {{"num_classes", 2}}},
                {"files", {{{"name", "model.safetensors"}, {"size", fs::file_size(weights)},
                            {"sha256", pretrained::sha256_file(weights)}, {"urls", {"file://" + weights.string()}}}}},
                {"format", "safetensors"},
                {"remap", "identity"},
                {"preprocess", expected_["preprocess"]},
                {"labels", expected_["classes"]},
                {"license", "test"},
                {"source", "test_cli_predict"},
                {"tasks", {"image-classification"}}};
  json remote = entry;  // the same file, but only on a server: offline, nothing to read
  remote["name"] = "testnet.remote";
  remote["files"][0]["urls"] = {"http://127.0.0.1:9/model.safetensors"};
  std::ofstream(dir_ / "extra.json") << json{{"entries", {entry, remote}}}.dump(1);
  const std::string env = "env -u ARK_ENDPOINT -u ARK_OFFLINE ARK_HOME=" + (dir_ / "home").string() +
                          " ARK_REGISTRY_EXTRA=" + (dir_ / "extra.json").string() + " ";
  auto with_env = [&](const std::string& args) {
    const fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    const int status = std::system((env + ARK_CLI + " predict " + args + " >" + out.string() + " 2>" + err.string()).c_str());
    return Run{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
  };
  // Offline with an empty cache and a remote file: the network exit code, naming the entry.
  Run r = with_env("testnet.remote " + image("img5.png") + " --offline");
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("testnet.remote"), std::string::npos) << r.err;
  r = with_env("testnet.cats " + image("img5.png") + " --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  const json& want = expected_["images"]["img5.png"];
  const json preds = json::parse(r.out)[0]["predictions"];
  ASSERT_EQ(preds.size(), 2u);
  EXPECT_EQ(preds[0]["index"].get<int>(), want["pred"].get<int>());
  EXPECT_EQ(preds[0]["label"], expected_["classes"][want["pred"].get<size_t>()]);
  EXPECT_NEAR(preds[0]["probability"].get<double>(), want["probs"][want["pred"].get<size_t>()].get<double>(), 2e-4);
}

}  // namespace
