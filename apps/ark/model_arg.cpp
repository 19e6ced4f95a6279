// The MODEL argument of `finetune`, `eval` and `predict` (model_arg.h). One resolution order for
// the three commands, so that whatever `ark finetune` wrote, `ark eval` and `ark predict` read:
//   1. an existing folder: a run folder (config.json with "ark_run"), else a Hugging Face folder;
//   2. an existing file: a weights file, which needs --arch (the file alone does not say which
//      architecture it belongs to);
//   3. a pretrained name (registry entry, bare architecture, hf:ORG/NAME), pulled if needed;
//   4. anything else: a path that does not exist (I/O) or an unknown name (usage, with the
//      closest names).
#include "model_arg.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>

#include "ark/core/error.h"
#include "ark/models/bert.h"
#include "ark/models/distilbert.h"
#include "ark/models/generation.h"
#include "ark/models/gpt2.h"
#include "ark/models/hf.h"
#include "ark/models/llama.h"
#include "ark/models/registry.h"
#include "ark/pretrained/hub.h"
#include "ark/pretrained/load_weights.h"
#include "ark/pretrained/pretrained.h"
#include "ark/pretrained/registry.h"
#include "ark/pretrained/remap.h"
#include "ark/pretrained/sha256.h"
#include "cli.h"

namespace ark::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Tokenizer files a Hugging Face folder may hold (AutoTokenizer's inputs and their settings):
// what a run folder copies so that it is a complete Hugging Face folder itself.
const char* const kTokenizerFileNames[] = {"tokenizer.json",     "tokenizer_config.json", "special_tokens_map.json",
                                           "added_tokens.json",  "vocab.txt",             "vocab.json",
                                           "merges.txt",         "encoder.json",          "vocab.bpe",
                                           "tokenizer.model",    "spiece.model",          "sentencepiece.bpe.model"};

void log_line(const ModelArgOptions& o, const std::string& line) {
  if (o.log) o.log(line);
}

std::string read_text(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  ARK_CHECK(f.good(), "cannot read ", path.string());
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

json read_json_file(const fs::path& path) {
  const std::string text = read_text(path);
  json j = json::parse(text, nullptr, false);
  ARK_CHECK(!j.is_discarded(), path.string(), ": not valid JSON");
  ARK_CHECK(j.is_object(), path.string(), ": expected a JSON object, got ", j.type_name());
  return j;
}

pretrained::PullOptions pull_options(const ModelArgOptions& o) {
  pretrained::PullOptions p;
  if (o.offline) p.download.offline = true;
  p.log = o.log;
  return p;
}

datasets::PreprocessConfig to_config(const pretrained::Preprocess& p) {
  datasets::PreprocessConfig c;
  c.input_size = {p.input_size[0], p.input_size[1], p.input_size[2]};
  // A registry entry's resize_size is H / crop_pct rounded down (torchvision's resize_size);
  // the eval transform derives it from crop_pct, so crop_pct carries both.
  c.crop_pct = p.crop_pct;
  c.interpolation = datasets::interpolation_mode(p.interpolation);
  c.mean = p.mean;
  c.std = p.std;
  return c;
}

// The architecture's default preprocessing: its default registry entry's (which knows e.g. the
// Keras models' mean/std), else the registry's input size with ImageNet statistics.
datasets::PreprocessConfig default_preprocess(const std::string& arch) {
  if (const pretrained::Entry* e = pretrained::find_entry(arch); e && e->preprocess) return to_config(*e->preprocess);
  datasets::PreprocessConfig c;
  const auto& size = models::arch_info(arch).input_size;
  if (size.size() == 3) c.input_size = {size[0], size[1], size[2]};
  return c;
}

// An architecture name given by the user: an unknown one is a usage error listing the closest.
std::shared_ptr<models::VisionModel> create_vision(const std::string& arch, const models::ModelOptions& options,
                                                   const std::string& what) {
  if (!models::is_model(arch)) {
    try {
      models::arch_info(arch);  // its message names the closest architectures
    } catch (const Error& e) {
      throw CommandError(kUsage, what + ": " + e.msg());
    }
  }
  return models::create(arch, options);
}

// ---- text models ----

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The HF class to build for the task from a folder's config.json: the saved class when it already
// fits the task, else the model_type's class for it (a BertForMaskedLM checkpoint becomes
// BertForSequenceClassification with a new head, as AutoModelForSequenceClassification does).
std::string text_class_for(const json& config, const std::string& task, const std::string& source) {
  std::string saved;
  if (auto it = config.find("architectures"); it != config.end() && it->is_array() && !it->empty() && (*it)[0].is_string())
    saved = (*it)[0].get<std::string>();
  const bool want_lm = task == "lm";
  if (!task.empty() && task != "lm" && task != "classification")
    throw CommandError(kUsage, "unknown text task '" + task + "' (expected classification or lm)");
  if (!saved.empty() && models::hf::is_architecture(saved)) {
    if (want_lm ? (ends_with(saved, "ForCausalLM") || ends_with(saved, "LMHeadModel"))
                : ends_with(saved, "ForSequenceClassification"))
      return saved;
  }
  const std::string type = config.value("model_type", "");
  static const std::map<std::string, std::pair<std::string, std::string>> kByType = {
      {"bert", {"BertForSequenceClassification", ""}},
      {"distilbert", {"DistilBertForSequenceClassification", ""}},
      {"gpt2", {"GPT2ForSequenceClassification", "GPT2LMHeadModel"}},
      {"llama", {"LlamaForSequenceClassification", "LlamaForCausalLM"}},
  };
  auto it = kByType.find(type);
  if (it == kByType.end())
    throw Error(source + ": model_type '" + type + "' is not a text model ark can build (bert, distilbert, gpt2, llama)");
  const std::string& cls = want_lm ? it->second.second : it->second.first;
  if (cls.empty())
    throw CommandError(kUsage, source + ": a " + type + " model is not a causal language model (the lm task needs gpt2 or llama)");
  return cls;
}

bool is_decoder_class(const std::string& cls) { return cls.rfind("GPT2", 0) == 0 || cls.rfind("Llama", 0) == 0; }

std::optional<int64_t> json_int(const json& j, const std::string& key) {
  if (auto it = j.find(key); it != j.end() && it->is_number_integer()) return it->get<int64_t>();
  return std::nullopt;
}

// The longest input the model takes: the run's max_length, else tokenizer_config.json's
// model_max_length, capped by the position table (HF's sentinel 1e30 means "unset").
int64_t text_max_length(const json& config, const fs::path& folder, std::optional<int64_t> run_max) {
  int64_t positions = 512;
  for (const char* k : {"max_position_embeddings", "n_positions"})
    if (auto v = json_int(config, k)) {
      positions = *v;
      break;
    }
  if (run_max && *run_max > 0) return std::min(*run_max, positions);
  std::error_code ec;
  if (fs::is_regular_file(folder / "tokenizer_config.json", ec)) {
    json t = json::parse(read_text(folder / "tokenizer_config.json"), nullptr, false);
    if (t.is_object())
      if (auto v = json_int(t, "model_max_length"); v && *v > 0) return std::min(*v, positions);
  }
  return positions;
}

std::vector<std::string> id2label_names(const json& config) {
  auto it = config.find("id2label");
  if (it == config.end() || !it->is_object() || it->empty()) return {};
  std::vector<std::string> names(it->size());
  for (auto& [k, v] : it->items()) {
    char* end = nullptr;
    const long i = std::strtol(k.c_str(), &end, 10);
    if (*end != '\0' || i < 0 || static_cast<size_t>(i) >= names.size() || !v.is_string()) return {};
    names[static_cast<size_t>(i)] = v.get<std::string>();
  }
  return names;
}

// A Hugging Face folder (a run folder of a text model is one too): the class for the task, the
// head for num_classes, the tokenizer and its files.
void load_text_folder(ModelArg& m, const fs::path& folder, const std::string& forced_class, std::optional<int64_t> run_max,
                      const ModelArgOptions& o) {
  m.text = true;
  const json saved = models::hf::read_config(folder);
  const std::string cls = forced_class.empty() ? text_class_for(saved, o.text_task, folder.string()) : forced_class;
  std::string saved_class;
  if (auto it = saved.find("architectures"); it != saved.end() && it->is_array() && !it->empty() && (*it)[0].is_string())
    saved_class = (*it)[0].get<std::string>();
  const bool classifier = ends_with(cls, "ForSequenceClassification");
  const int64_t saved_labels = models::detail::config_num_labels(saved, 2);

  std::error_code ec;
  for (const char* f : kTokenizerFileNames)
    if (fs::is_regular_file(folder / f, ec)) m.tokenizer_files.push_back(folder / f);
  bool has_vocab = false;
  for (const auto& p : m.tokenizer_files) has_vocab = has_vocab || p.filename() != "tokenizer_config.json";
  if (!has_vocab)
    throw Error(folder.string() + ": no tokenizer files (tokenizer.json, vocab.txt, vocab.json + merges.txt or a "
                                  "SentencePiece .model): a text model needs its tokenizer");
  m.tokenizer = std::shared_ptr<tokenizers::Tokenizer>(tokenizers::from_folder(folder.string()));

  models::hf::FromPretrainedOptions fo;
  fo.architecture = cls;
  if (classifier && o.num_classes) fo.num_labels = *o.num_classes;
  const auto tok = m.tokenizer;
  json built;
  fo.edit_config = [&](json& c) {
    c["architectures"] = json::array({cls});
    // GPT-2 and LLaMA classify from the last token that is not padding, so they need a pad id;
    // HF's recipe for checkpoints without one is the tokenizer's pad token, else its EOS.
    if (classifier && is_decoder_class(cls) && !json_int(c, "pad_token_id")) {
      if (auto id = tok->pad_id() ? tok->pad_id() : tok->eos_id()) c["pad_token_id"] = *id;
    }
    built = c;
  };
  models::hf::LoadReport report;
  fo.report = &report;
  m.text_model = models::hf::from_pretrained(folder, fo);
  for (const auto& w : report.warnings()) log_line(o, w);
  m.architecture = cls;
  m.hf_config = built;
  const int64_t labels = classifier ? models::detail::config_num_labels(built, 2) : 0;
  m.head_replaced = classifier && (saved_class != cls || labels != saved_labels);
  if (classifier && !m.head_replaced) m.labels = id2label_names(saved);
  if (auto v = json_int(built, "pad_token_id"); v && *v >= 0) m.pad_id = *v;
  else if (tok->pad_id()) m.pad_id = *tok->pad_id();
  m.max_length = text_max_length(built, folder, run_max);
}

// ---- vision models ----

// The number of classes the weights file's head has (nullopt when it has no head): the file is
// read through its format's default remap, so Keras and TF.js names count too.
std::optional<int64_t> head_classes_in_file(const std::string& path, models::VisionModel& probe) {
  const pretrained::WeightsReader& reader = pretrained::detect_reader(path);
  const io::TensorDict source = pretrained::read_weights(path);
  const io::TensorDict target = probe.state_dict();
  const io::TensorDict sd = pretrained::find_remap(reader.default_remap)->apply(source, {target, path});
  const Tensor* w = sd.find(probe.classifier() + ".weight");
  if (!w || w->dim() < 1) return std::nullopt;
  return w->size(0);
}

void apply_num_classes(ModelArg& m, const ModelArgOptions& o) {
  if (!o.num_classes || *o.num_classes == m.vision->num_classes()) return;
  log_line(o, m.arg + ": the head has " + std::to_string(m.vision->num_classes()) + " classes; a new one is drawn for " +
                  std::to_string(*o.num_classes));
  m.vision->reset_classifier(*o.num_classes);
  m.vision_options.num_classes = *o.num_classes;
  m.head_replaced = true;
  m.labels.clear();
}

void load_weights_file(ModelArg& m, const std::string& path, const ModelArgOptions& o) {
  if (o.arch.empty())
    throw CommandError(kUsage, path + " is a weights file: name its architecture with --arch (e.g. --arch resnet50; "
                                      "`ark list` shows them)");
  if (models::hf::is_architecture(o.arch) && !models::is_model(o.arch))
    throw CommandError(kUsage, "--arch " + o.arch + " is a Hugging Face text class: give the model's folder "
                                                    "(config.json, weights and tokenizer files) instead of a weights file");
  models::ModelOptions options;
  auto probe = create_vision(o.arch, options, "--arch");
  const std::optional<int64_t> head = head_classes_in_file(path, *probe);
  options.num_classes = head.value_or(0);
  m.vision = options.num_classes == probe->num_classes() ? probe : models::create(o.arch, options);
  load_weights(*m.vision, path);
  m.architecture = o.arch;
  m.vision_options = options;
  m.preprocess = default_preprocess(o.arch);
  // A 1000-way head of an ImageNet architecture is ImageNet-1k's (what torchvision/timm files
  // hold); any other head's names are not in the file.
  if (options.num_classes == 1000) m.labels = pretrained::label_set("imagenet-1k");
  m.base_name = path;
  if (o.hash_weights) m.base_sha256 = pretrained::sha256_file(path);
  apply_num_classes(m, o);
}

datasets::PreprocessConfig parse_preprocess(const json& p, const std::string& source) {
  datasets::PreprocessConfig c;
  try {
    if (p.contains("input_size")) {
      const auto v = p.at("input_size").get<std::vector<int64_t>>();
      ARK_CHECK(v.size() == 3, source, ": preprocess.input_size must be [C, H, W], got ", p.at("input_size").dump());
      c.input_size = {v[0], v[1], v[2]};
    }
    if (p.contains("crop_pct")) c.crop_pct = p.at("crop_pct").get<double>();
    if (p.contains("interpolation")) c.interpolation = datasets::interpolation_mode(p.at("interpolation").get<std::string>());
    for (const char* key : {"mean", "std"}) {
      if (!p.contains(key)) continue;
      const auto v = p.at(key).get<std::vector<double>>();
      ARK_CHECK(v.size() == 3, source, ": preprocess.", key, " must have 3 values, got ", p.at(key).dump());
      (std::string(key) == "mean" ? c.mean : c.std) = {v[0], v[1], v[2]};
    }
  } catch (const json::exception& e) {
    throw Error(source + ": preprocess: " + e.what());
  }
  return c;
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::vector<std::string> lines;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

// ---- run folders ----

void load_run(ModelArg& m, const fs::path& folder, json config, const ModelArgOptions& o) {
  const std::string source = (folder / "config.json").string();
  m.run_folder = folder;
  const json run = config.at("ark_run");
  m.run_config = std::move(config);
  ARK_CHECK(run.is_object(), source, ": \"ark_run\" must be an object");
  const int64_t version = run.value("version", int64_t{0});
  ARK_CHECK(version == 1, source, ": ark_run version ", version, " is not one this ark reads (1)");
  const std::string kind = run.value("kind", "");
  ARK_CHECK(kind == "vision" || kind == "text", source, ": ark_run.kind must be \"vision\" or \"text\", got '", kind, "'");
  const std::string arch = run.value("architecture", "");
  ARK_CHECK(!arch.empty(), source, ": ark_run.architecture is missing");
  std::vector<std::string> classes;
  if (auto it = run.find("classes"); it != run.end()) {
    ARK_CHECK(it->is_array(), source, ": ark_run.classes must be a list of names");
    for (const auto& c : *it) {
      ARK_CHECK(c.is_string(), source, ": ark_run.classes must be a list of names, got ", c.dump());
      classes.push_back(c.get<std::string>());
    }
  }
  std::error_code ec;
  if (classes.empty() && fs::is_regular_file(folder / "labels.txt", ec)) classes = read_lines(folder / "labels.txt");
  if (auto b = run.find("base_model"); b != run.end() && b->is_object()) {
    m.base_name = b->value("name", "");
    m.license = b->value("license", "");
  }
  const fs::path weights = folder / "model.safetensors";
  if (!fs::is_regular_file(weights, ec)) throw CommandError(kIo, folder.string() + " is a run folder without model.safetensors");
  if (o.hash_weights) m.base_sha256 = pretrained::sha256_file(weights);

  if (kind == "vision") {
    models::ModelOptions options;
    if (auto mo = run.find("model_options"); mo != run.end() && mo->is_object()) {
      if (auto v = json_int(*mo, "num_classes")) options.num_classes = *v;
      if (auto v = json_int(*mo, "in_chans")) options.in_chans = *v;
      if (auto v = json_int(*mo, "image_size")) options.image_size = *v;
    }
    m.vision = create_vision(arch, options, source);
    load_weights(*m.vision, weights.string());
    m.architecture = arch;
    m.vision_options = options;
    m.preprocess = run.contains("preprocess") ? parse_preprocess(run.at("preprocess"), source) : default_preprocess(arch);
    if (!classes.empty())
      ARK_CHECK(static_cast<int64_t>(classes.size()) == m.vision->num_classes(), source, ": ", classes.size(),
                " classes but the model's head has ", m.vision->num_classes());
    m.labels = classes;
    apply_num_classes(m, o);
    return;
  }
  std::optional<int64_t> max_length;
  if (auto t = run.find("tokenizer"); t != run.end() && t->is_object()) max_length = json_int(*t, "max_length");
  load_text_folder(m, folder, arch, max_length, o);
  // The run's own class names win over HF's id2label (they are the same when finetune wrote both).
  if (!m.head_replaced && !classes.empty()) m.labels = classes;
}

}  // namespace

ModelArg load_model_arg(const std::string& arg, const ModelArgOptions& o) {
  ModelArg m;
  m.arg = arg;
  if (arg.empty()) throw CommandError(kUsage, "MODEL is empty");
  if (o.num_classes && *o.num_classes < 1)
    throw CommandError(kUsage, "the number of classes must be positive, got " + std::to_string(*o.num_classes));
  std::error_code ec;
  const fs::path path(arg);
  const auto status = fs::status(path, ec);
  if (fs::is_directory(status)) {
    const fs::path config = path / "config.json";
    if (!fs::is_regular_file(config, ec))
      throw CommandError(kIo, arg + " is a folder without config.json (expected a run folder written by `ark finetune` "
                                    "or a Hugging Face model folder)");
    json j = read_json_file(config);
    if (j.contains("ark_run")) {
      load_run(m, path, std::move(j), o);
    } else {
      load_text_folder(m, path, "", std::nullopt, o);
      m.base_name = path.string();
      // One weights file is hashed; a sharded checkpoint has no single sha256 to record.
      for (const char* f : {"model.safetensors", "pytorch_model.bin"})
        if (o.hash_weights && m.base_sha256.empty() && fs::is_regular_file(path / f, ec))
          m.base_sha256 = pretrained::sha256_file(path / f);
    }
    return m;
  }
  if (fs::exists(status)) {
    load_weights_file(m, arg, o);
    return m;
  }
  if (!pretrained::is_pretrained_name(arg)) {
    // A name with a path separator or a weights extension was meant as a file.
    const std::string ext = path.extension().string();
    if (arg.find('/') != std::string::npos || ext == ".pth" || ext == ".pt" || ext == ".bin" || ext == ".safetensors" ||
        ext == ".h5" || ext == ".json")
      throw CommandError(kIo, "cannot open " + arg + ": no such file or folder");
    std::string hint;
    const auto close = pretrained::closest_names(arg);
    for (size_t i = 0; i < close.size(); ++i) hint += (i ? ", " : "") + close[i];
    throw CommandError(kUsage, "'" + arg + "' is not a file, a folder or a pretrained model name" +
                                   (hint.empty() ? std::string() : "; did you mean: " + hint + "?"));
  }

  // A pretrained name: pulled into the verified cache (or found there).
  const pretrained::PullOptions po = pull_options(o);
  pretrained::Pulled pulled;
  try {
    pretrained::InterruptHandlers handlers;  // Ctrl-C during a download: clean cache, exit 130
    pulled = pretrained::pull(arg, po);
  } catch (const pretrained::DownloadError& e) {
    // The transfer's message names the file; say which model it was for.
    if (e.msg().find(arg) != std::string::npos) throw;
    throw pretrained::DownloadError(e.kind(), arg + ": " + e.msg(), e.url(), e.http_status());
  }
  const pretrained::Entry* entry = pretrained::is_hf_ref(arg) ? nullptr : pretrained::find_entry(arg);
  m.base_name = pulled.entry;
  if (entry) m.license = entry->license;
  if (entry && !entry->text) {
    pretrained::LoadPretrainedOptions lo;
    lo.pull = po;
    lo.tokenizer = false;
    pretrained::Pretrained p = pretrained::load(arg, lo);
    m.vision = p.vision;
    m.architecture = entry->architecture;
    m.vision_options = entry->options;
    m.preprocess = p.preprocess ? to_config(*p.preprocess) : default_preprocess(entry->architecture);
    m.labels = p.labels;
    if (const auto* f = pulled.manifest.file(entry->weights)) m.base_sha256 = f->sha256;
    apply_num_classes(m, o);
    return m;
  }
  auto view = std::make_shared<pretrained::FolderView>(pulled.files);
  m.holder = view;
  load_text_folder(m, view->path(), "", std::nullopt, o);
  if (const auto* f = pulled.manifest.file("model.safetensors")) m.base_sha256 = f->sha256;
  else if (const auto* b = pulled.manifest.file("pytorch_model.bin")) m.base_sha256 = b->sha256;
  return m;
}

Tensor text_logits(ModelArg& model, const Tensor& input_ids, const Tensor& attention_mask, const Tensor& token_type_ids) {
  nn::Module* mod = model.text_model.get();
  ARK_CHECK(mod, model.arg, " is not a text model");
  if (auto* b = dynamic_cast<models::BertForSequenceClassificationImpl*>(mod))
    return b->forward(input_ids, attention_mask, token_type_ids).logits;
  if (auto* d = dynamic_cast<models::DistilBertForSequenceClassificationImpl*>(mod))
    return d->forward(input_ids, attention_mask).logits;
  if (auto* g = dynamic_cast<models::GPT2ForSequenceClassification*>(mod)) return g->forward(input_ids, attention_mask);
  if (auto* l = dynamic_cast<models::LlamaForSequenceClassification*>(mod)) return l->forward(input_ids, attention_mask);
  ARK_ERROR(model.arg, ": a ", model.architecture, " is not a sequence classifier (BertForSequenceClassification, "
            "DistilBertForSequenceClassification, GPT2ForSequenceClassification, LlamaForSequenceClassification)");
}

Tensor lm_logits(ModelArg& model, const Tensor& input_ids, const Tensor& attention_mask) {
  auto* lm = dynamic_cast<models::CausalLM*>(model.text_model.get());
  ARK_CHECK(lm, model.arg, ": a ", model.architecture, " is not a causal language model (GPT2LMHeadModel, LlamaForCausalLM)");
  return lm->forward(input_ids, nullptr, attention_mask);
}

}  // namespace ark::cli
