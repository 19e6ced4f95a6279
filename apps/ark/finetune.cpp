// `ark finetune MODEL --data PATH`: fine-tunes a pretrained model on the user's data, as timm's
// train.py and Hugging Face's Trainer do, with checkpoints that survive a crash and a resume that
// continues bit-identically.
//
// What makes the run exactly resumable (for the same thread count):
// - the data order of epoch e and every augmentation draw of sample i are pure functions of
//   (seed, e, i) (datasets/augment.h), so the loader needs only (epoch, next batch) to continue;
// - the learning rate of optimizer step t is a pure function of t (lr_multiplier below);
// - a checkpoint holds the weights and buffers, the optimizer state, ark's default generator
//   (dropout, stochastic depth), the position, the partial sums of the epoch's metrics and the
//   metric history; it is written only at optimizer-step boundaries (checkpoint.h).
// The run folder is itself a model (model_arg.h reads it): model.safetensors (the best epoch's
// weights when there is validation data, else the last), config.json, labels.txt, the tokenizer
// files for text, metrics.jsonl, and PNG curves and a confusion matrix.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "ark/datasets/augment.h"
#include "ark/datasets/labeled.h"
#include "ark/datasets/loader.h"
#include "ark/datasets/metrics.h"
#include "ark/datasets/plot.h"
#include "ark/datasets/table.h"
#include "ark/io/file.h"
#include "ark/io/safetensors.h"
#include "ark/models/hf.h"
#include "ark/optim/serialize.h"
#include "ark/pretrained/download.h"
#include "ark/pretrained/sha256.h"
#include "checkpoint.h"
#include "cli.h"
#include "model_arg.h"
#include "progress.h"
#include "recipe.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace ark::cli {
namespace {

// ---- small helpers ----

std::string to_hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string from_hex(const std::string& hex) {
  ARK_CHECK(hex.size() % 2 == 0, "malformed hex string in a checkpoint");
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

bool all_finite(nn::Module& module) {
  NoGradGuard guard;
  for (const auto& item : module.named_parameters()) {
    if (!isfinite(item.value()).all().item<bool>()) return false;
  }
  return true;
}

void log_line(const std::string& line) { std::cerr << line << "\n" << std::flush; }

/// A test hook (RELIABILITY: interrupted checkpoint writes): ARK_FAULT_CHECKPOINT=N makes the
/// N-th checkpoint write of this process die (_exit 137, as SIGKILL would) after its weights are
/// written and before its manifest.
void maybe_die_in_checkpoint(const fs::path& folder) {
  static int count = 0;
  static const char* env = std::getenv("ARK_FAULT_CHECKPOINT");
  if (env != nullptr && ++count == std::atoi(env)) {
    std::ofstream(folder / "partial") << "x";
    ::_exit(137);
  }
}

// ---- the trainer ----

struct TrainState {
  int64_t epoch = 0;         // 0-based epoch in progress
  int64_t batch = 0;         // next batch of that epoch
  int64_t step = 0;          // optimizer steps done
  double loss_sum = 0;       // this epoch so far: sum of per-sample losses
  int64_t correct = 0, seen = 0;
  double train_seconds = 0;  // this epoch so far
  double best = NAN;         // best validation score (accuracy; -loss for lm)
  int64_t best_epoch = 0, bad_epochs = 0;
  bool stopped = false;      // early stopping or max steps reached
  json history = json::array();
};

json state_to_json(const TrainState& s) {
  return {{"epoch", s.epoch}, {"batch", s.batch}, {"step", s.step}, {"loss_sum", s.loss_sum},
          {"correct", s.correct}, {"seen", s.seen}, {"train_seconds", s.train_seconds},
          {"best", std::isfinite(s.best) ? json(s.best) : json()}, {"best_epoch", s.best_epoch},
          {"bad_epochs", s.bad_epochs}, {"stopped", s.stopped}, {"history", s.history},
          {"generator", to_hex(default_generator().get_state())}};
}

TrainState state_from_json(const json& j) {
  TrainState s;
  s.epoch = j.at("epoch");
  s.batch = j.at("batch");
  s.step = j.at("step");
  s.loss_sum = j.at("loss_sum");
  s.correct = j.at("correct");
  s.seen = j.at("seen");
  s.train_seconds = j.at("train_seconds");
  s.best = j.at("best").is_null() ? NAN : j.at("best").get<double>();
  s.best_epoch = j.at("best_epoch");
  s.bad_epochs = j.at("bad_epochs");
  s.stopped = j.at("stopped");
  s.history = j.at("history");
  default_generator().set_state(from_hex(j.at("generator")));
  return s;
}

class Trainer {
 public:
  explicit Trainer(FinetuneArgs args) : a_(std::move(args)) {}
  int run();

 private:
  void prepare_output();
  void load_data();
  void load_model();
  void setup_training();
  void restore(const fs::path& checkpoint);
  void train_epoch();
  json validate();
  void save_checkpoint(bool best);
  void write_outputs(bool final_model);
  json base_model_json() const;
  void set_frozen_for_epoch(int64_t epoch);
  void set_train_mode();
  Tensor logits_of(const datasets::Batch& b);
  Tensor loss_of(const Tensor& logits, const datasets::Batch& b, double label_smoothing, bool per_sample = false);
  datasets::LoadFn make_load_fn(bool train);
  bool lm() const { return a_.task == "lm"; }
  nn::Module& module() { return model_.text ? *model_.text_model : static_cast<nn::Module&>(*model_.vision); }

  FinetuneArgs a_;
  fs::path out_;
  json previous_config_;
  // data
  datasets::LabeledData train_, val_;
  std::vector<std::vector<int64_t>> lm_train_, lm_val_;  // token blocks
  std::vector<std::string> classes_;
  std::string data_sha256_;
  datasets::TrainTransform transform_;
  int64_t max_length_ = 0;
  // model and optimisation
  ModelArg model_;
  std::vector<ParamInfo> params_;
  std::vector<bool> frozen_;
  std::vector<double> base_lrs_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  std::unique_ptr<datasets::Loader> train_loader_, val_loader_;
  int64_t steps_per_epoch_ = 0, total_steps_ = 0;
  TrainState s_;
  std::unique_ptr<CheckpointWriter> writer_;
  json last_val_;
  std::vector<std::vector<int64_t>> last_confusion_;
};

void Trainer::prepare_output() {
  if (a_.out.empty()) {
    if (a_.resume && fs::is_regular_file(fs::path(a_.model) / "config.json")) {
      a_.out = a_.model;
    } else {
      std::string stem = fs::path(a_.model).filename().string();
      if (stem.empty()) stem = fs::path(a_.model).parent_path().filename().string();
      for (char& c : stem) {
        if (c == ':' || c == '/' || c == '@') c = '-';
      }
      const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
      char stamp[32];
      std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
      a_.out = (fs::path("runs") / (stem + "-" + stamp)).string();
    }
  }
  out_ = a_.out;
  const bool has_run = fs::exists(out_ / "checkpoints") || fs::exists(out_ / "config.json");
  if (a_.resume) {
    if (!has_run) throw CommandError(kUsage, "--resume: '" + out_.string() + "' holds no run to resume");
    try {
      std::ifstream in(out_ / "config.json");
      previous_config_ = json::parse(in);
    } catch (const std::exception& e) {
      throw CommandError(kBadFile, "--resume: cannot read '" + (out_ / "config.json").string() + "': " + e.what());
    }
  } else if (has_run) {
    throw CommandError(kUsage, "'" + out_.string() +
                                   "' already holds a run; pass --resume to continue it, or choose another --out");
  }
  fs::create_directories(out_);
}

void Trainer::load_data() {
  datasets::ReadOptions ro;
  ro.text_column = a_.text_column;
  ro.text_pair_column = a_.text_pair_column;
  ro.label_column = a_.label_column;
  ro.path_column = a_.path_column;
  if (lm()) return;  // read after the tokenizer (load_model)
  ro.max_samples = a_.max_samples;
  datasets::LabeledData all = datasets::read_labeled(a_.data, ro);
  classes_ = all.classes;
  if (!a_.val_data.empty()) {
    train_ = std::move(all);
    datasets::ReadOptions vo = ro;
    vo.classes = classes_;
    vo.max_samples = a_.val_max_samples;
    val_ = datasets::read_labeled(a_.val_data, vo);
  } else {
    auto val_idx = datasets::split_indices(all, "val");
    if (val_idx.empty()) val_idx = datasets::split_indices(all, "validation");
    if (!val_idx.empty()) {
      auto train_idx = datasets::split_indices(all, "train");
      train_ = datasets::subset(all, train_idx);
      val_ = datasets::subset(all, val_idx);
    } else if (a_.val_split > 0) {
      auto [train_idx, v] = datasets::stratified_split(all, a_.val_split, a_.seed);
      train_ = datasets::subset(all, train_idx);
      val_ = datasets::subset(all, v);
    } else {
      train_ = std::move(all);
    }
  }
  if (train_.samples.empty()) throw CommandError(kBadFile, "'" + a_.data + "': no training samples");
  data_sha256_ = pretrained::sha256_hex(train_.sha256 + ":" + val_.sha256);
  const auto counts = train_.class_counts();
  for (size_t c = 0; c < counts.size(); ++c) {
    if (counts[c] == 0) {
      throw CommandError(kBadFile, "'" + a_.data + "': class '" + classes_[c] + "' has no training samples");
    }
  }
}

/// Causal-LM data: plain text (a .txt file, a folder of them, or a table's text column),
/// tokenised, documents joined with EOS, cut into blocks of block_size tokens.
std::vector<std::vector<int64_t>> lm_blocks(const std::string& path, const tokenizers::Tokenizer& tok,
                                            const FinetuneArgs& a, int64_t block_size) {
  std::vector<std::string> docs;
  const auto read_text = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    ARK_CHECK(in.good(), "cannot read '", p.string(), "'");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  if (fs::is_directory(path)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(path)) {
      if (e.is_regular_file() && e.path().extension() == ".txt") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) docs.push_back(read_text(f));
  } else if (fs::path(path).extension() == ".txt") {
    docs.push_back(read_text(path));
  } else {
    const datasets::Table t = datasets::read_table(path);
    const int64_t col = t.require_column(a.text_column);
    for (const auto& row : t.rows) docs.push_back(row[static_cast<size_t>(col)]);
  }
  std::vector<int64_t> ids;
  for (const auto& d : docs) {
    const auto piece = tok.encode(d, false);
    ids.insert(ids.end(), piece.begin(), piece.end());
    if (tok.eos_id()) ids.push_back(*tok.eos_id());
  }
  std::vector<std::vector<int64_t>> blocks;
  for (size_t i = 0; i + static_cast<size_t>(block_size) <= ids.size(); i += static_cast<size_t>(block_size)) {
    blocks.emplace_back(ids.begin() + static_cast<std::ptrdiff_t>(i), ids.begin() + static_cast<std::ptrdiff_t>(i + block_size));
  }
  ARK_CHECK(!blocks.empty(), "'", path, "' holds ", ids.size(), " tokens, fewer than one block of ", block_size,
            " (--block-size)");
  return blocks;
}

void Trainer::load_model() {
  ModelArgOptions mo;
  mo.arch = a_.arch;
  mo.text_task = lm() ? "lm" : "classification";
  if (!lm()) mo.num_classes = static_cast<int64_t>(classes_.size());
  mo.offline = a_.offline;
  mo.log = log_line;
  model_ = load_model_arg(a_.model, mo);
  if (lm()) {
    if (!model_.text || !model_.tokenizer) {
      throw CommandError(kUsage, "--task lm needs a causal language model with a tokenizer; '" + a_.model + "' is not one");
    }
    const json& c = model_.hf_config;
    const int64_t context = c.value("n_positions", c.value("max_position_embeddings", int64_t{1024}));
    const int64_t block = a_.block_size > 0 ? a_.block_size : std::min<int64_t>(context, 256);
    if (block > context) throw CommandError(kUsage, "--block-size " + std::to_string(block) + " exceeds the model's context of " + std::to_string(context));
    a_.block_size = block;
    lm_train_ = lm_blocks(a_.data, *model_.tokenizer, a_, block);
    if (!a_.val_data.empty()) {
      lm_val_ = lm_blocks(a_.val_data, *model_.tokenizer, a_, block);
    } else if (a_.val_split > 0 && lm_train_.size() > 1) {
      // The last blocks validate: a contiguous tail, like a held-out end of the text.
      const auto n_val = std::max<size_t>(1, static_cast<size_t>(std::llround(a_.val_split * static_cast<double>(lm_train_.size()))));
      lm_val_.assign(lm_train_.end() - static_cast<std::ptrdiff_t>(n_val), lm_train_.end());
      lm_train_.resize(lm_train_.size() - n_val);
    }
    std::string bytes;
    for (const auto& b : lm_train_) bytes.append(reinterpret_cast<const char*>(b.data()), b.size() * sizeof(int64_t));
    bytes += "|";
    for (const auto& b : lm_val_) bytes.append(reinterpret_cast<const char*>(b.data()), b.size() * sizeof(int64_t));
    data_sha256_ = pretrained::sha256_hex(bytes);
    return;
  }
  const bool text_data = train_.kind == datasets::DataKind::kText;
  if (text_data != model_.text) {
    throw CommandError(kUsage, std::string("'") + a_.data + "' holds " + (text_data ? "texts" : "images") + " but '" +
                                   a_.model + "' is a " + (model_.text ? "text" : "vision") + " model");
  }
  if (model_.text) {
    if (!model_.tokenizer) throw CommandError(kBadFile, "'" + a_.model + "' has no tokenizer files");
    const json& c = model_.hf_config;
    const int64_t context = c.value("max_position_embeddings", c.value("n_positions", int64_t{512}));
    max_length_ = a_.max_length > 0 ? a_.max_length : std::min<int64_t>(context, 512);
    if (max_length_ > context) throw CommandError(kUsage, "--max-length " + std::to_string(max_length_) + " exceeds the model's " + std::to_string(context) + " positions");
    a_.max_length = max_length_;
  } else {
    transform_.preprocess = model_.preprocess;
    if (a_.input_size > 0) {
      transform_.preprocess.input_size = {3, a_.input_size, a_.input_size};
    }
    if (a_.crop_pct > 0) transform_.preprocess.crop_pct = a_.crop_pct;
    transform_.augment = !a_.no_augment;
  }
}

datasets::LoadFn Trainer::make_load_fn(bool train) {
  if (lm()) {
    const auto* blocks = train ? &lm_train_ : &lm_val_;
    return [blocks](int64_t i, int64_t) {
      datasets::Item item;
      item.input_ids = (*blocks)[static_cast<size_t>(i)];
      return item;
    };
  }
  const datasets::LabeledData* data = train ? &train_ : &val_;
  if (model_.text) {
    auto tok = model_.tokenizer;
    const int64_t max_length = max_length_;
    return [data, tok, max_length](int64_t i, int64_t) {
      const auto& s = data->samples[static_cast<size_t>(i)];
      tokenizers::EncodeOptions eo;
      eo.truncation = tokenizers::Truncation::kLongestFirst;
      eo.max_length = max_length;
      const auto enc = s.text_pair.empty() ? tok->encode_plus(s.text, std::nullopt, eo)
                                           : tok->encode_plus(s.text, std::string_view(s.text_pair), eo);
      datasets::Item item;
      item.input_ids = enc.ids;
      item.token_type_ids = enc.token_type_ids;
      item.label = s.label;
      return item;
    };
  }
  const datasets::TrainTransform t = transform_;
  const uint64_t seed = a_.seed;
  return [data, t, train, seed](int64_t i, int64_t epoch) {
    datasets::Item item;
    const Tensor image = data->image(i);
    if (train && t.augment) {
      auto rng = datasets::sample_rng(seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(i));
      item.image = datasets::train_transform(image, t, rng);
    } else {
      item.image = datasets::eval_transform(image, t.preprocess);
    }
    item.label = data->samples[static_cast<size_t>(i)].label;
    return item;
  };
}

void Trainer::setup_training() {
  std::vector<std::string> head;
  if (model_.text) {
    if (!lm()) {
      const std::string prefix = models::hf::architecture(model_.architecture).spec.base_model_prefix;
      std::set<std::string> tops;
      for (const auto& item : module().named_parameters()) {
        const std::string top = item.key().substr(0, item.key().find('.'));
        if (top != prefix) tops.insert(top);
      }
      head.assign(tops.begin(), tops.end());
    }
  } else {
    head.push_back(model_.vision->classifier());
  }
  if (a_.bn_momentum) {
    for (const auto& item : module().named_modules()) {
      if (auto* bn = item.value()->as<nn::BatchNormImplBase>()) bn->options.momentum(*a_.bn_momentum);
    }
  }
  params_ = describe_params(module(), head);
  frozen_ = frozen_mask(params_, a_.freeze);
  const auto groups = make_groups(params_, a_);
  for (const auto& g : groups) base_lrs_.push_back(g.lr);
  optimizer_ = make_optimizer(groups, a_);

  const int64_t pad = model_.pad_id;  // what GPT-2/LLaMA classifiers' last-token pooling skips (model_arg.h)
  const int64_t n_train = lm() ? static_cast<int64_t>(lm_train_.size()) : static_cast<int64_t>(train_.samples.size());
  const int64_t n_val = lm() ? static_cast<int64_t>(lm_val_.size()) : static_cast<int64_t>(val_.samples.size());
  datasets::LoaderOptions lo;
  lo.batch_size = a_.batch_size;
  lo.shuffle = true;
  lo.seed = a_.seed;
  lo.num_workers = a_.workers;
  lo.max_bad_fraction = a_.max_bad_fraction;
  lo.pad_id = pad;
  lo.on_skip = [](const std::string& m) { log_line("warning: skipped " + m); };
  train_loader_ = std::make_unique<datasets::Loader>(n_train, make_load_fn(true), lo);
  if (n_val > 0) {
    lo.shuffle = false;
    val_loader_ = std::make_unique<datasets::Loader>(n_val, make_load_fn(false), lo);
  }
  const int64_t batches = train_loader_->num_batches();
  steps_per_epoch_ = (batches + a_.grad_accum - 1) / a_.grad_accum;
  total_steps_ = steps_per_epoch_ * a_.epochs;
  if (a_.max_steps > 0) total_steps_ = std::min(total_steps_, a_.max_steps);
  writer_ = std::make_unique<CheckpointWriter>(out_);
}

void Trainer::set_frozen_for_epoch(int64_t epoch) {
  const bool unfrozen = a_.unfreeze_at > 0 && epoch + 1 >= a_.unfreeze_at;
  for (size_t i = 0; i < params_.size(); ++i) params_[i].param.requires_grad_(!(frozen_[i] && !unfrozen));
}

void Trainer::set_train_mode() {
  module().train();
  // BatchNorm layers whose parameters are all frozen keep their running statistics (timm's
  // freeze: frozen stages do not adapt their normalisation either).
  if (!model_.text) {
    for (const auto& item : module().named_modules()) {
      auto* bn = item.value()->as<nn::BatchNormImplBase>();
      if (bn == nullptr || !bn->weight.defined()) continue;
      if (!bn->weight.requires_grad()) item.value()->eval();
    }
  }
}

Tensor Trainer::logits_of(const datasets::Batch& b) {
  if (lm()) return lm_logits(model_, b.input_ids, b.attention_mask);
  if (model_.text) return text_logits(model_, b.input_ids, b.attention_mask, b.token_type_ids);
  return model_.vision->forward(b.inputs);
}

Tensor Trainer::loss_of(const Tensor& logits, const datasets::Batch& b, double label_smoothing, bool per_sample) {
  namespace F = nn::functional;
  if (lm()) {
    const int64_t V = logits.size(-1);
    const Tensor shifted = logits.narrow(1, 0, logits.size(1) - 1).reshape({-1, V});
    const Tensor target = b.input_ids.narrow(1, 1, b.input_ids.size(1) - 1).reshape({-1});
    auto opts = F::CrossEntropyFuncOptions();
    if (per_sample) opts.reduction(kNone);
    return F::cross_entropy(shifted, target, opts);
  }
  auto opts = F::CrossEntropyFuncOptions().label_smoothing(label_smoothing);
  if (per_sample) opts.reduction(kNone);
  return F::cross_entropy(logits, b.labels, opts);
}

void Trainer::train_epoch() {
  const int64_t epoch = s_.epoch;
  set_frozen_for_epoch(epoch);
  set_train_mode();
  train_loader_->start_epoch(epoch, s_.batch);
  const int64_t batches = train_loader_->num_batches();
  Progress progress(epoch + 1, a_.epochs, batches, lm() ? "tok" : (model_.text ? "seq" : "img"));
  const auto t0 = std::chrono::steady_clock::now();
  const double seconds_before = s_.train_seconds;
  const int64_t first = s_.batch;
  int64_t items = 0;
  int64_t micro = 0;  // micro-batches accumulated since the last optimizer step
  while (auto batch = train_loader_->next()) {
    const int64_t bi = batch->index;
    const bool last_of_epoch = bi + 1 == batches;
    s_.batch = bi + 1;
    // BatchNorm cannot train on one sample (PyTorch raises); such a batch (a short last batch,
    // or one thinned by unreadable files) is left out, as timm's drop_last would.
    const bool single = !model_.text && batch->size() < 2;
    if (single) {
      log_line("warning: epoch " + std::to_string(epoch + 1) + ", batch " + std::to_string(bi + 1) +
               " holds one sample; left out (BatchNorm needs two)");
    } else {
      const Tensor logits = logits_of(*batch);
      const Tensor loss = loss_of(logits, *batch, a_.label_smoothing);
      const double value = loss.item<double>();
      if (!std::isfinite(value)) {
        progress.finish();
        throw CommandError(kFailure, "the loss became " + std::string(std::isnan(value) ? "NaN" : "infinite") +
                                         " at epoch " + std::to_string(epoch + 1) + ", batch " + std::to_string(bi + 1) +
                                         ": training stopped and no checkpoint was written with these weights (the "
                                         "last good one is in '" + (out_ / "checkpoints").string() +
                                         "'); try a lower --lr or --clip-grad");
      }
      (a_.grad_accum > 1 ? loss / static_cast<double>(a_.grad_accum) : loss).backward();
      const int64_t n = batch->size();
      const int64_t count = lm() ? n * (batch->input_ids.size(1) - 1) : n;
      s_.loss_sum += value * static_cast<double>(count);
      s_.seen += count;
      if (!lm()) {
        NoGradGuard guard;
        s_.correct += logits.argmax(1).eq(batch->labels).sum().item<int64_t>();
      }
      items += lm() ? n * batch->input_ids.size(1) : n;
      ++micro;
    }
    if (micro > 0 && (micro == a_.grad_accum || last_of_epoch)) {
      const double m = lr_multiplier(a_, s_.step, total_steps_, steps_per_epoch_);
      auto& groups = optimizer_->param_groups();
      for (size_t g = 0; g < groups.size(); ++g) groups[g].options().set_lr(base_lrs_[g] * m);
      if (a_.clip_grad > 0) nn::utils::clip_grad_norm_(module().parameters(), a_.clip_grad);
      optimizer_->step();
      optimizer_->zero_grad();
      ++s_.step;
      micro = 0;
      s_.train_seconds = seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      progress.update(bi + 1, first, s_.loss_sum / static_cast<double>(std::max<int64_t>(1, s_.seen)),
                      lm() ? NAN : static_cast<double>(s_.correct) / static_cast<double>(std::max<int64_t>(1, s_.seen)),
                      items);
      const bool reached_max = a_.max_steps > 0 && s_.step >= a_.max_steps;
      if (pretrained::interrupt_requested()) {
        progress.finish();
        save_checkpoint(false);
        throw CommandError(kInterrupted, "interrupted: saved a checkpoint at epoch " + std::to_string(epoch + 1) +
                                             ", batch " + std::to_string(bi + 1) + " in '" + out_.string() +
                                             "'; continue with: ark finetune ... --out " + out_.string() + " --resume");
      }
      if (reached_max) {
        s_.stopped = true;
        break;
      }
      if (a_.save_every > 0 && s_.step % a_.save_every == 0 && !last_of_epoch) save_checkpoint(false);
    }
  }
  progress.finish();
}

json Trainer::validate() {
  json row = json::object();
  if (!val_loader_) return row;
  module().eval();
  NoGradGuard guard;
  val_loader_->start_epoch(0, 0);
  if (lm()) {
    double sum = 0;
    int64_t count = 0;
    while (auto batch = val_loader_->next()) {
      const Tensor losses = loss_of(logits_of(*batch), *batch, 0, true);
      sum += losses.sum().item<double>();
      count += losses.numel();
    }
    const double loss = sum / static_cast<double>(std::max<int64_t>(1, count));
    row["val_loss"] = loss;
    row["val_perplexity"] = std::exp(loss);
    return row;
  }
  datasets::MetricAccumulator acc(classes_);
  while (auto batch = val_loader_->next()) {
    const Tensor logits = logits_of(*batch);
    acc.add(logits, batch->labels, loss_of(logits, *batch, 0, true));
  }
  const auto report = acc.report();
  row["val_loss"] = report.loss;
  row["val_accuracy"] = report.accuracy;
  row["val_top5"] = report.top5;
  row["val_macro_f1"] = report.macro_f1;
  last_confusion_ = report.confusion;
  last_val_ = datasets::to_json(report);
  return row;
}

void Trainer::save_checkpoint(bool best) {
  if (!all_finite(module())) {
    throw CommandError(kFailure, "the weights hold NaN or infinite values at epoch " + std::to_string(s_.epoch + 1) +
                                     ": no checkpoint written; try a lower --lr or --clip-grad");
  }
  const json state = state_to_json(s_);
  writer_->write(
      s_.step,
      [&](const fs::path& dir) {
        io::save_safetensors((dir / "model.safetensors").string(), module().state_dict(), {{"format", "pt"}});
        maybe_die_in_checkpoint(dir);
        optim::save(*optimizer_, (dir / "optimizer.safetensors").string());
        io::write_file_atomic((dir / "trainer.json").string(), state.dump(1) + "\n");
      },
      best);
}

void Trainer::restore(const fs::path& checkpoint) {
  // A run continues only with the settings it started with: anything else would silently give
  // another result than the one its config.json describes.
  const json& old = previous_config_.at("ark_run");
  const json now = hyperparameters(a_);
  std::string diff;
  for (const auto& [key, value] : now.items()) {
    const json was = old.at("hyperparameters").value(key, json());
    if (was != value) diff += "\n  " + key + ": the run has " + was.dump() + ", this command " + value.dump();
  }
  if (old.at("data").value("sha256", "") != data_sha256_) diff += "\n  data: '" + a_.data + "' is not the data the run was trained on";
  if (old.at("base_model").value("sha256", "") != model_.base_sha256) diff += "\n  model: '" + a_.model + "' is not the run's base model";
  if (!diff.empty()) throw CommandError(kUsage, "cannot --resume '" + out_.string() + "' with other settings:" + diff);

  const auto weights = io::load_safetensors((checkpoint / "model.safetensors").string());
  module().load_state_dict(weights.tensors, true);
  optim::load(*optimizer_, (checkpoint / "optimizer.safetensors").string());
  std::ifstream in(checkpoint / "trainer.json");
  s_ = state_from_json(json::parse(in));
  log_line("resuming from '" + checkpoint.string() + "': epoch " + std::to_string(s_.epoch + 1) + ", batch " +
           std::to_string(s_.batch) + ", step " + std::to_string(s_.step));
}

/// The model this run started from. An earlier run is named as itself (its folder and the hash
/// of its model.safetensors), with that run's own base inside, so the chain back to the
/// pretrained weights (and their licence) stays in the record.
json Trainer::base_model_json() const {
  json base = {{"name", model_.run_folder ? model_.run_folder->string() : model_.base_name},
               {"sha256", model_.base_sha256},
               {"license", model_.license}};
  if (model_.run_folder && model_.run_config.contains("ark_run")) {
    base["base_model"] = model_.run_config["ark_run"].value("base_model", json::object());
  }
  return base;
}

void Trainer::write_outputs(bool final_model) {
  // metrics.jsonl is rewritten whole from the history (which the checkpoint holds), so a crash
  // between a checkpoint and this write never loses or duplicates a line.
  std::string lines;
  for (const auto& row : s_.history) lines += row.dump() + "\n";
  io::write_file_atomic((out_ / "metrics.jsonl").string(), lines);

  std::vector<datasets::Series> loss{{"train", {}, {}}, {"validation", {}, {}}};
  std::vector<datasets::Series> accuracy{{"train", {}, {}}, {"validation", {}, {}}};
  for (const auto& row : s_.history) {
    const double e = row.at("epoch").get<double>();
    const auto put = [&](datasets::Series& s, const char* key) {
      if (row.contains(key) && row[key].is_number()) {
        s.x.push_back(e);
        s.y.push_back(row[key].get<double>());
      }
    };
    put(loss[0], "train_loss");
    put(loss[1], "val_loss");
    put(accuracy[0], "train_accuracy");
    put(accuracy[1], "val_accuracy");
  }
  if (!s_.history.empty()) {
    datasets::plot_lines((out_ / "loss.png").string(), loss, "Loss", "epoch", lm() ? "cross-entropy per token" : "cross-entropy");
  }
  if (!lm() && !s_.history.empty()) {
    datasets::plot_lines((out_ / "accuracy.png").string(), accuracy, "Accuracy", "epoch", "accuracy");
    if (!last_confusion_.empty()) datasets::plot_confusion((out_ / "confusion.png").string(), last_confusion_, classes_, "Validation confusion matrix");
  }

  json run = {{"version", 1},
              {"kind", model_.text ? "text" : "vision"},
              {"task", lm() ? "lm" : "classification"},
              {"architecture", model_.architecture},
              {"classes", classes_},
              {"base_model", base_model_json()},
              {"data", {{"path", a_.data}, {"val_path", a_.val_data}, {"sha256", data_sha256_},
                        {"train_samples", lm() ? lm_train_.size() : train_.samples.size()},
                        {"val_samples", lm() ? lm_val_.size() : val_.samples.size()}}},
              {"hyperparameters", hyperparameters(a_)},
              {"threads", get_num_threads()},
              {"metrics", s_.history.empty() ? json::object() : s_.history.back()},
              {"best", {{"epoch", s_.best_epoch}, {"score", std::isfinite(s_.best) ? json(s_.best) : json()}}}};
  json config;
  if (model_.text) {
    config = model_.hf_config;
    if (!lm()) {
      json id2label = json::object(), label2id = json::object();
      for (size_t i = 0; i < classes_.size(); ++i) {
        id2label[std::to_string(i)] = classes_[i];
        label2id[classes_[i]] = i;
      }
      config["num_labels"] = classes_.size();
      config["id2label"] = id2label;
      config["label2id"] = label2id;
      config["architectures"] = {model_.architecture};
    }
    std::vector<std::string> names;
    for (const auto& f : model_.tokenizer_files) names.push_back(f.filename().string());
    run["tokenizer"] = {{"files", names}, {"max_length", lm() ? a_.block_size : max_length_}};
  } else {
    const auto& p = transform_.preprocess;
    run["model_options"] = {{"num_classes", classes_.size()},
                            {"in_chans", model_.vision_options.in_chans},
                            {"image_size", model_.vision_options.image_size ? json(*model_.vision_options.image_size) : json()}};
    run["preprocess"] = {{"input_size", p.input_size}, {"crop_pct", p.crop_pct},
                         {"interpolation", datasets::interpolation_name(p.interpolation)},
                         {"mean", p.mean}, {"std", p.std}};
  }
  config["ark_run"] = run;

  if (final_model) {
    // The model of the run: the best epoch's weights when there was validation, else the last.
    // A checkpoint's model file is already one (PyTorch's "format" metadata included): copied
    // through a small buffer, it never sits in memory whole at the run's end. Checkpoints of
    // older versions lack the metadata and are rewritten.
    const fs::path checkpoint = out_ / "checkpoints" / (std::isfinite(s_.best) ? "best" : "last");
    const std::string source = (checkpoint / "model.safetensors").string();
    const std::string target = (out_ / "model.safetensors").string();
    const io::SafetensorsFile best = io::load_safetensors(source);  // mapped: only the header is read here
    if (best.metadata.count("format")) {
      io::copy_file_atomic(source, target);
    } else {
      io::save_safetensors(target, best.tensors, {{"format", "pt"}});
    }
    for (const auto& f : model_.tokenizer_files) {
      std::ifstream in(f, std::ios::binary);
      std::ostringstream bytes;
      bytes << in.rdbuf();
      io::write_file_atomic((out_ / f.filename()).string(), bytes.str());
    }
    std::string labels;
    for (const auto& c : classes_) labels += c + "\n";
    io::write_file_atomic((out_ / "labels.txt").string(), labels);
  }
  // config.json last: once it names the final metrics, the folder is a complete model.
  io::write_file_atomic((out_ / "config.json").string(), config.dump(2) + "\n");
}

int Trainer::run() {
  pretrained::InterruptHandlers handlers;
  if (a_.threads > 0) set_num_threads(a_.threads);
  manual_seed(a_.seed);
  prepare_output();
  load_data();
  load_model();
  setup_training();
  if (a_.resume) {
    const auto checkpoint = find_resumable(out_, [](const std::string& m) { log_line("warning: " + m); });
    if (!checkpoint) throw CommandError(kIntegrity, "--resume: '" + out_.string() + "' has no complete checkpoint");
    restore(*checkpoint);
  } else {
    write_outputs(false);  // config.json first, so --resume can check its settings
  }
  const int64_t n_train = train_loader_->num_samples();
  log_line("fine-tuning '" + a_.model + "' (" + (model_.text ? model_.architecture : model_.architecture) + ") on " +
           std::to_string(n_train) + (lm() ? " blocks" : " samples") +
           (lm() ? "" : ", " + std::to_string(classes_.size()) + " classes") + (model_.head_replaced ? " (new head)" : "") +
           "; " + std::to_string(total_steps_) + " steps; output '" + out_.string() + "'");

  while (!s_.stopped && s_.epoch < a_.epochs) {
    train_epoch();
    json row = {{"epoch", s_.epoch + 1}, {"step", s_.step}};
    row["train_loss"] = s_.loss_sum / static_cast<double>(std::max<int64_t>(1, s_.seen));
    if (!lm()) row["train_accuracy"] = static_cast<double>(s_.correct) / static_cast<double>(std::max<int64_t>(1, s_.seen));
    row["lr"] = base_lrs_.empty() ? 0.0 : base_lrs_.front() * lr_multiplier(a_, std::max<int64_t>(0, s_.step - 1), total_steps_, steps_per_epoch_);
    row["train_seconds"] = s_.train_seconds;
    row[lm() ? "tokens_per_second" : "samples_per_second"] =
        s_.train_seconds > 0 ? static_cast<double>(s_.seen) / s_.train_seconds : 0.0;
    row["skipped"] = train_loader_->num_skipped();
    row.update(validate());
    bool best = false;
    if (row.contains("val_loss")) {
      const double score = lm() ? -row["val_loss"].get<double>() : row["val_accuracy"].get<double>();
      if (!std::isfinite(s_.best) || score > s_.best) {
        s_.best = score;
        s_.best_epoch = s_.epoch + 1;
        s_.bad_epochs = 0;
        best = true;
      } else {
        ++s_.bad_epochs;
        if (a_.early_stop > 0 && s_.bad_epochs >= a_.early_stop) {
          log_line("early stop: no improvement for " + std::to_string(s_.bad_epochs) + " epochs (best: epoch " +
                   std::to_string(s_.best_epoch) + ")");
          s_.stopped = true;
        }
      }
    }
    s_.history.push_back(row);
    {
      std::ostringstream line;
      line << "epoch " << s_.epoch + 1 << "/" << a_.epochs << std::fixed << std::setprecision(4) << ": train loss "
           << row["train_loss"].get<double>();
      if (row.contains("val_loss")) line << ", val loss " << row["val_loss"].get<double>();
      if (row.contains("val_accuracy")) line << ", val acc " << row["val_accuracy"].get<double>();
      if (row.contains("val_perplexity")) line << ", val ppl " << row["val_perplexity"].get<double>();
      log_line(line.str());
    }
    ++s_.epoch;
    s_.batch = 0;
    s_.loss_sum = 0;
    s_.correct = s_.seen = 0;
    s_.train_seconds = 0;
    if (s_.step >= total_steps_) s_.stopped = true;
    save_checkpoint(best);
    write_outputs(false);
  }
  write_outputs(true);
  const json& last = s_.history.empty() ? json::object() : s_.history.back();
  std::cout << "saved the fine-tuned model to '" << out_.string() << "'";
  if (last.contains("val_accuracy")) std::cout << " (val accuracy " << last["val_accuracy"].get<double>() << ")";
  std::cout << "\n";
  return kOk;
}

}  // namespace

void add_finetune(CLI::App& app) {
  auto args = std::make_shared<FinetuneArgs>();
  auto* cmd = app.add_subcommand("finetune", "Fine-tune a pretrained model on your data (images or texts)");
  // A repeated option takes its last value (argparse's rule), so a script can append overrides.
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_option("model", args->model, "Registry name, hf:ORG/NAME, Hugging Face folder, weights file (with --arch) or a run folder")->required();
  cmd->add_option("--data", args->data, "Training data: a folder of class folders, a CSV/TSV/JSONL manifest, IDX or HDF5 (lm: text)")->required();
  cmd->add_option("--val-data", args->val_data, "Validation data (else --val-split of --data, or its split column)");
  cmd->add_option("--val-split", args->val_split, "Fraction of --data held out for validation, stratified (default 0.1)")->check(CLI::Range(0.0, 0.9));
  cmd->add_option("--arch", args->arch, "Architecture of a bare weights file");
  cmd->add_option("--task", args->task, "classification, or lm (causal language modelling on plain text)")->check(CLI::IsMember({"classification", "lm"}));
  cmd->add_option("--out", args->out, "Run folder (default runs/<model>-<time>)");
  cmd->add_flag("--resume", args->resume, "Continue the run in --out from its last complete checkpoint");
  cmd->add_option("--freeze", args->freeze, "none, backbone, or a module name: freeze the backbone up to it");
  cmd->add_option("--unfreeze-at", args->unfreeze_at, "Unfreeze everything from this epoch (1-based)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--lr", args->lr, "Learning rate (of the head, and of the backbone unless set apart)")->check(CLI::PositiveNumber);
  auto* blr = cmd->add_option_function<double>("--backbone-lr", [args](double v) { args->backbone_lr = v; }, "Learning rate of the backbone")->check(CLI::NonNegativeNumber);
  cmd->add_option_function<double>("--layer-decay", [args](double v) { args->layer_decay = v; }, "Backbone lr = lr * decay^depth from the head")->check(CLI::Range(0.0, 1.0))->excludes(blr);
  cmd->add_option("--optimizer", args->optimizer, "adamw or sgd")->check(CLI::IsMember({"adamw", "sgd"}));
  cmd->add_option("--momentum", args->momentum, "SGD momentum (default 0.9)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option_function<double>("--weight-decay", [args](double v) { args->weight_decay = v; }, "Weight decay (default: 0.01 adamw, 1e-4 sgd; none on biases and norms)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--epochs", args->epochs, "Epochs (default 5)")->check(CLI::PositiveNumber);
  cmd->add_option("--max-steps", args->max_steps, "Stop after this many optimizer steps")->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch-size", args->batch_size, "Batch size (default 32)")->check(CLI::PositiveNumber);
  cmd->add_option("--grad-accum", args->grad_accum, "Batches per optimizer step (default 1)")->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", args->warmup, "Linear warmup steps (default 0)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--scheduler", args->scheduler, "cosine, step, onecycle or constant")->check(CLI::IsMember({"cosine", "step", "onecycle", "constant"}));
  cmd->add_option("--step-size", args->step_size, "step scheduler: epochs between decays (default epochs/3)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--gamma", args->gamma, "step scheduler: decay factor (default 0.1)")->check(CLI::PositiveNumber);
  cmd->add_option("--label-smoothing", args->label_smoothing, "Label smoothing (default 0)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--early-stop", args->early_stop, "Stop after this many epochs without a better validation score")->check(CLI::NonNegativeNumber);
  cmd->add_option("--clip-grad", args->clip_grad, "Clip the gradient norm to this value")->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", args->seed, "Seed of the data order, augmentation, new heads and dropout (default 0)");
  cmd->add_option("--threads", args->threads, "Compute threads (results are bit-identical for a given seed and thread count)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--workers", args->workers, "Data-loading threads (default 2; results do not depend on it)")->check(CLI::Range(0, 64));
  cmd->add_option("--save-every", args->save_every, "Also checkpoint every N optimizer steps")->check(CLI::NonNegativeNumber);
  cmd->add_option("--input-size", args->input_size, "Image side (default: the model's)")->check(CLI::PositiveNumber);
  cmd->add_option("--crop-pct", args->crop_pct, "Eval resize = input size / crop-pct (default: the model's)")->check(CLI::Range(0.1, 1.0));
  cmd->add_flag("--no-augment", args->no_augment, "Train on the evaluation transform (no random crop, flip, jitter)");
  cmd->add_option("--max-length", args->max_length, "Texts: truncate to this many tokens (default min(512, model))")->check(CLI::PositiveNumber);
  cmd->add_option("--block-size", args->block_size, "lm: tokens per training sequence (default min(256, model))")->check(CLI::PositiveNumber);
  cmd->add_option("--text-column", args->text_column, "Manifest column of the text (default text)");
  cmd->add_option("--text-pair-column", args->text_pair_column, "Manifest column of the second text (default text_pair)");
  cmd->add_option("--label-column", args->label_column, "Manifest column of the label (default label)");
  cmd->add_option("--path-column", args->path_column, "Manifest column of the image path (default path)");
  cmd->add_option("--max-samples", args->max_samples, "Use the first N training samples")->check(CLI::NonNegativeNumber);
  cmd->add_option("--val-max-samples", args->val_max_samples, "Use the first N samples of --val-data")->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-bad-fraction", args->max_bad_fraction, "Stop when more than this fraction of files cannot be read (default 0.05)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option_function<double>("--bn-momentum", [args](double v) { args->bn_momentum = v; },
                                   "BatchNorm running-stat momentum, PyTorch's convention (Keras models keep 0.001: "
                                   "too slow to adapt to new data in a short fine-tune)")->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--offline", args->offline, "No network: use the cache only");
  cmd->callback([args] {
    FinetuneArgs a = *args;
    if (!a.weight_decay) a.weight_decay = a.optimizer == "sgd" ? 1e-4 : 0.01;
    if (a.step_size == 0) a.step_size = std::max<int64_t>(1, a.epochs / 3);
    if (a.offline) setenv("ARK_OFFLINE", "1", 1);
    Trainer trainer(a);
    const int code = trainer.run();
    if (code != kOk) throw CommandError(static_cast<ExitCode>(code), "finetune failed");
  });
}

}  // namespace ark::cli
