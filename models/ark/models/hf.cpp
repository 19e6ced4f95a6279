// Hugging Face folders: config.json, weight files and indexes, the strict loader and the
// architecture table. ref: transformers' modeling_utils.py (4.x): _fix_key (gamma/beta),
// base_model_prefix add/strip in _load_pretrained_model, the sharded index format
// ({"metadata": {...}, "weight_map": {tensor: shard}}).
#include "ark/models/hf.h"

#include <fnmatch.h>
#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "ark/backend/cpu/cpu_backend.h"
#include "ark/io/file.h"
#include "ark/io/pth.h"
#include "ark/models/registry.h"

namespace ark::models {
// Each family defines its registration (see hf.h); a new family adds one line here and one in
// register_builtin().
void register_bert_hf_architectures();
void register_distilbert_hf_architectures();
void register_gpt2_hf_architectures();
void register_llama_hf_architectures();
}  // namespace ark::models

namespace ark::models::hf {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s + "]";
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

json parse_json_file(const fs::path& path, const char* what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) ARK_ERROR(path.string(), ": no such file (", what, ")");
  const std::string text = io::read_file(path.string());
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    ARK_ERROR(path.string(), ": not valid JSON (", what, "): ", e.what());
  }
  if (!j.is_object()) ARK_ERROR(path.string(), ": expected a JSON object (", what, "), got a ", j.type_name());
  return j;
}

// One weights file by its name: safetensors or a torch.save checkpoint (its state dict, nested or not).
io::TensorDict read_one(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) ARK_ERROR(path.string(), ": no such file");
  const std::string name = path.filename().string();
  if (ends_with(name, ".safetensors")) return io::load_safetensors(path.string()).tensors;
  io::PthFile f = io::load_pth(path.string());
  const std::string nest = f.metadata["pth.state_dict"];
  if (nest.empty()) return std::move(f.tensors);
  io::TensorDict sd;
  const std::string prefix = nest + ".";
  for (const auto& item : f.tensors)
    if (starts_with(item.key(), prefix)) sd.insert(item.key().substr(prefix.size()), item.value());
  return sd;
}

// A sharded checkpoint: every shard the weight_map names, each tensor where the map says it is.
io::TensorDict read_sharded(const fs::path& index_path) {
  const json index = parse_json_file(index_path, "sharded checkpoint index");
  const std::string where = index_path.string();
  auto it = index.find("weight_map");
  if (it == index.end() || !it->is_object())
    ARK_ERROR(where, ": expected a \"weight_map\" object mapping tensor names to shard files");
  if (it->empty()) ARK_ERROR(where, ": the weight_map is empty");
  std::vector<std::string> shards;  // in order of first mention
  std::map<std::string, std::string> shard_of;
  for (const auto& [tensor, file] : it->items()) {
    if (!file.is_string()) ARK_ERROR(where, ": weight_map[\"", tensor, "\"] must be a file name, got ", file.dump());
    const std::string f = file.get<std::string>();
    const fs::path rel(f);
    bool dotdot = false;
    for (const auto& part : rel) dotdot = dotdot || part == "..";
    if (f.empty() || rel.is_absolute() || dotdot)
      ARK_ERROR(where, ": weight_map[\"", tensor, "\"] names \"", f, "\", which is not a file inside the folder");
    if (std::find(shards.begin(), shards.end(), f) == shards.end()) shards.push_back(f);
    shard_of[tensor] = f;
  }
  const fs::path folder = index_path.parent_path();
  std::vector<std::string> absent;
  for (const std::string& s : shards) {
    std::error_code ec;
    if (!fs::is_regular_file(folder / s, ec)) absent.push_back(s);
  }
  if (!absent.empty())
    ARK_ERROR(where, ": missing shard file", absent.size() > 1 ? "s " : " ", join(absent), " in ", folder.string());
  io::TensorDict out;
  std::map<std::string, std::string> found_in;
  std::vector<std::string> problems;
  for (const std::string& s : shards) {
    io::TensorDict part = read_one(folder / s);
    for (const auto& item : part) {
      auto [pos, fresh] = found_in.emplace(item.key(), s);
      if (!fresh) {
        problems.push_back("tensor '" + item.key() + "' is in two shards, " + pos->second + " and " + s);
        continue;
      }
      out.insert(item.key(), item.value());
    }
  }
  for (const auto& [tensor, shard] : shard_of) {
    auto f = found_in.find(tensor);
    if (f == found_in.end()) problems.push_back("the weight_map puts '" + tensor + "' in " + shard + ", which lacks it");
    else if (f->second != shard)
      problems.push_back("the weight_map puts '" + tensor + "' in " + shard + " but it is in " + f->second);
  }
  if (!problems.empty()) {
    std::string msg = where + ": ";
    for (size_t i = 0; i < problems.size() && i < 20; ++i) msg += (i ? "; " : "") + problems[i];
    if (problems.size() > 20) msg += "; ... (" + std::to_string(problems.size()) + " problems)";
    throw Error(msg);
  }
  return out;
}

struct Table {
  std::mutex mu;
  std::map<std::string, Architecture> entries;
};

Table& table() {
  static Table* t = new Table;  // never destroyed: lookups may run during static destruction
  return *t;
}

void register_builtin() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_bert_hf_architectures();
    register_distilbert_hf_architectures();
    register_gpt2_hf_architectures();
    register_llama_hf_architectures();
  });
}

const json* config_field(const json& config, const std::string& key) {
  if (!config.is_object()) ARK_ERROR("config: expected a JSON object, got a ", config.type_name());
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

// ---- files ----

json read_config(const fs::path& folder) { return parse_json_file(folder / "config.json", "model config"); }

io::TensorDict read_weights(const fs::path& folder) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) ARK_ERROR(folder.string(), ": not a model folder (no such directory)");
  for (const char* single : {"model.safetensors", "pytorch_model.bin"}) {
    if (fs::exists(folder / single, ec)) return read_one(folder / single);
    const fs::path index = folder / (std::string(single) + ".index.json");
    if (fs::exists(index, ec)) return read_sharded(index);
  }
  ARK_ERROR(folder.string(), ": no weights found (expected model.safetensors, model.safetensors.index.json, "
            "pytorch_model.bin or pytorch_model.bin.index.json)");
}

// ---- strict loading ----

std::vector<std::string> LoadReport::warnings() const {
  std::vector<std::string> w;
  if (!initialised.empty())
    w.push_back("Some weights were not in the checkpoint and are newly initialised: " + join(initialised) +
                " (train the model on a downstream task before using it)");
  if (!unused.empty()) w.push_back("Some weights of the checkpoint were not used: " + join(unused));
  return w;
}

LoadReport load_strict(nn::Module& model, io::TensorDict weights, const std::string& source, const LoadSpec& spec,
                       const LoadOptions& options) {
  // The destinations: registered handles (so set_data reaches the module), persistent only.
  // (Only the keys of state_dict(): its tensors would keep the replaced storages alive.)
  std::set<std::string> persistent;
  for (const auto& item : model.state_dict()) persistent.insert(item.key());
  OrderedDict<std::string, Tensor> own;
  for (const auto& item : model.named_parameters())
    if (persistent.count(item.key())) own.insert(item.key(), item.value());
  for (const auto& item : model.named_buffers())
    if (persistent.count(item.key())) own.insert(item.key(), item.value());

  LoadReport report;
  // Renames (the spec's own, then the TF-era LayerNorm names where the model wants the new
  // name under any prefix form), then ignored keys.
  const std::string prefix = spec.base_model_prefix.empty() ? "" : spec.base_model_prefix + ".";
  auto wanted = [&](const std::string& k) {
    return own.contains(k) || (!prefix.empty() && (own.contains(prefix + k) ||
                                                   (starts_with(k, prefix) && own.contains(k.substr(prefix.size())))));
  };
  io::TensorDict sd;
  for (const auto& item : weights) {
    std::string key = item.key();
    for (const auto& [from, to] : spec.renames)
      if (ends_with(key, from)) key = key.substr(0, key.size() - from.size()) + to;
    for (const auto& [from, to] : {std::pair<std::string, std::string>{".gamma", ".weight"}, {".beta", ".bias"}}) {
      if (!ends_with(key, from)) continue;
      const std::string renamed = key.substr(0, key.size() - from.size()) + to;
      if (!wanted(key) && wanted(renamed)) key = renamed;
    }
    bool ignored = false;
    for (const auto& pattern : spec.ignore) ignored = ignored || fnmatch(pattern.c_str(), key.c_str(), 0) == 0;
    if (ignored) continue;
    if (sd.contains(key)) ARK_ERROR("loading ", source, ": two tensors map to '", key, "' (old and new names?)");
    sd.insert(key, item.value());
  }

  // base_model_prefix: add it (base checkpoint into a task class) or strip it (the reverse).
  std::vector<std::string> dropped_head;
  if (!prefix.empty()) {
    bool expects = false, has = false;
    for (const auto& item : own) expects = expects || starts_with(item.key(), prefix);
    for (const auto& item : sd) has = has || starts_with(item.key(), prefix);
    if (expects && !has) {
      io::TensorDict moved;
      for (const auto& item : sd) moved.insert(prefix + item.key(), item.value());
      sd = std::move(moved);
    } else if (!expects && has) {
      io::TensorDict moved;
      for (const auto& item : sd) {
        if (starts_with(item.key(), prefix)) moved.insert(item.key().substr(prefix.size()), item.value());
        else dropped_head.push_back(item.key());  // the task head of a checkpoint loaded into the base model
      }
      sd = std::move(moved);
    }
  }

  // Tied weights.
  for (const auto& [key, src] : spec.tied) {
    const bool model_has_key = own.contains(key);
    if (!model_has_key) {
      if (const Tensor* t = sd.find(key)) {
        if (!sd.contains(src) && own.contains(src)) sd.insert(src, *t);
        sd.erase(key);
      }
    } else if (!sd.contains(key)) {
      if (const Tensor* t = sd.find(src)) sd.insert(key, *t);
    }
  }

  // Check everything, report everything.
  const bool head_ok = options.allow_new_head && !prefix.empty();
  auto is_head = [&](const std::string& key) {
    if (!starts_with(key, prefix)) return true;
    for (const auto& pattern : spec.head)
      if (fnmatch(pattern.c_str(), key.c_str(), 0) == 0) return true;
    return false;
  };
  std::vector<std::string> missing, unexpected, mismatched;
  for (const auto& item : own) {
    const Tensor* src = sd.find(item.key());
    if (!src) {
      if (head_ok && is_head(item.key())) report.initialised.push_back(item.key());
      else missing.push_back(item.key());
      continue;
    }
    if (src->sizes() != item.value().sizes() && head_ok && is_head(item.key())) {
      // A head for another number of labels (HF's ignore_mismatched_sizes): drawn afresh.
      report.initialised.push_back(item.key());
      sd.erase(item.key());
      continue;
    }
    if (src->sizes() != item.value().sizes())
      mismatched.push_back(detail::str_cat(item.key(), " expected ", item.value().sizes(), " got ", src->sizes()));
  }
  for (const auto& item : sd) {
    if (own.contains(item.key())) continue;
    if (head_ok && !starts_with(item.key(), prefix)) report.unused.push_back(item.key());
    else unexpected.push_back(item.key());
  }
  report.unused.insert(report.unused.end(), dropped_head.begin(), dropped_head.end());
  std::vector<std::string> parts;
  if (!missing.empty()) parts.push_back("missing: " + join(missing));
  if (!unexpected.empty()) parts.push_back("unexpected: " + join(unexpected));
  for (const auto& m : mismatched) parts.push_back("shape mismatch: " + m);
  if (!parts.empty()) {
    std::string msg = "Error(s) in loading " + source + " into " + model.name() + ": ";
    for (size_t i = 0; i < parts.size(); ++i) msg += (i ? "; " : "") + parts[i];
    throw Error(msg);
  }

  // Load: adopt the file's storage where dtype and layout allow, else copy (converting).
  NoGradGuard no_grad;
  std::set<const Storage*> adopted;
  for (const auto& item : own) {
    const Tensor* found = sd.find(item.key());
    if (!found) continue;
    const Tensor& src = *found;
    Tensor dst = item.value();  // a handle to the registered tensor
    const bool whole_storage = src.storage_offset() == 0 && src.nbytes() == src.storage()->nbytes();
    if (options.adopt && src.dtype() == dst.dtype() && src.device() == dst.device() && src.is_contiguous() &&
        whole_storage && src.numel() > 0 && adopted.insert(src.storage().get()).second) {
      dst.set_data(src);
      ++report.adopted;
      continue;
    }
    if (src.dtype() != dst.dtype())
      report.converted.push_back(detail::str_cat(item.key(), ": ", src.dtype(), " -> ", dst.dtype()));
    dst.copy_(src);
    ++report.copied;
  }
  // The adopted parameters' own buffers were just freed into the CPU allocator's block cache;
  // give them back to the system now, or the process holds the weights twice once the mapping
  // is read (the cache keeps up to 512 MB; glibc's heap keeps the smaller blocks).
  if (report.adopted > 0) {
    const Device dev = own.is_empty() ? Device(kCPU) : own[0].value().device();
    if (dev.is_cpu()) cpu::release_cached_memory();
#ifdef __GLIBC__
    ::malloc_trim(0);
#endif
  }
  return report;
}

// ---- architectures ----

void register_architecture(const std::string& hf_class_name, Factory factory, LoadSpec spec) {
  ARK_CHECK(!hf_class_name.empty() && factory, "register_architecture: a name and a factory are required");
  Table& t = table();
  std::lock_guard<std::mutex> lock(t.mu);
  t.entries[hf_class_name] = Architecture{std::move(factory), std::move(spec)};
}

bool is_architecture(const std::string& name) {
  register_builtin();
  Table& t = table();
  std::lock_guard<std::mutex> lock(t.mu);
  return t.entries.count(name) != 0;
}

std::vector<std::string> list_architectures() {
  register_builtin();
  Table& t = table();
  std::lock_guard<std::mutex> lock(t.mu);
  std::vector<std::string> out;
  for (const auto& [n, _] : t.entries) out.push_back(n);
  return out;
}

const Architecture& architecture(const std::string& name) {
  register_builtin();
  Table& t = table();
  std::lock_guard<std::mutex> lock(t.mu);
  auto it = t.entries.find(name);
  if (it != t.entries.end()) return it->second;  // map nodes do not move on later insertions
  std::vector<std::pair<size_t, std::string>> near;
  for (const auto& [n, _] : t.entries) near.emplace_back(edit_distance(name, n), n);
  std::sort(near.begin(), near.end());
  std::string hint;
  for (size_t i = 0; i < std::min<size_t>(3, near.size()); ++i) hint += (i ? ", " : "") + near[i].second;
  ARK_ERROR("unknown Hugging Face architecture '", name, "'", hint.empty() ? "" : "; did you mean: " + hint + "?");
}

std::shared_ptr<nn::Module> from_pretrained(const fs::path& folder, const FromPretrainedOptions& options) {
  json config = read_config(folder);
  const fs::path config_path = folder / "config.json";
  std::string saved_class;
  if (auto it = config.find("architectures"); it != config.end() && !it->is_null()) {
    if (!it->is_array() || it->empty() || !(*it)[0].is_string())
      ARK_ERROR(config_path.string(), ": \"architectures\" must be a non-empty list of class names, got ", it->dump());
    saved_class = (*it)[0].get<std::string>();
  }
  const std::string cls = options.architecture.empty() ? saved_class : options.architecture;
  if (cls.empty())
    ARK_ERROR(config_path.string(), ": no \"architectures\" entry; name the class (FromPretrainedOptions::architecture)");
  const Architecture& arch = architecture(cls);
  // The checkpoint's label count: HF writes id2label (num_labels only when given explicitly).
  int64_t saved_labels = 2;
  if (auto it = config.find("id2label"); it != config.end() && it->is_object() && !it->empty())
    saved_labels = static_cast<int64_t>(it->size());
  else if (auto n = config.find("num_labels"); n != config.end() && n->is_number_integer())
    saved_labels = n->get<int64_t>();
  const bool new_labels = options.num_labels && *options.num_labels != saved_labels;
  if (options.num_labels) {
    ARK_CHECK(*options.num_labels > 0, "from_pretrained: num_labels must be positive, got ", *options.num_labels);
    config["num_labels"] = *options.num_labels;
    config.erase("id2label");
    config.erase("label2id");
  }
  if (options.edit_config) options.edit_config(config);
  std::shared_ptr<nn::Module> model;
  try {
    SkipInitGuard skip;  // the checkpoint overwrites the random draws; missing keys are drawn below
    model = arch.factory(config);
  } catch (const Error& e) {
    throw Error(config_path.string() + ": " + e.msg());
  } catch (const json::exception& e) {
    throw Error(config_path.string() + ": " + e.what());
  }
  if (options.dtype) model->to(*options.dtype);
  LoadOptions lo;
  lo.allow_new_head = saved_class.empty() || saved_class != cls || new_labels;
  LoadReport report = load_strict(*model, read_weights(folder), folder.string(), arch.spec, lo);
  // HF's _fast_init: initialise the modules whose parameters the checkpoint lacked.
  if (!report.initialised.empty()) {
    double range = 0.02;
    if (auto it = config.find("initializer_range"); it != config.end() && it->is_number()) range = it->get<double>();
    std::set<std::string> owners;
    for (const std::string& key : report.initialised) {
      const auto dot = key.rfind('.');
      owners.insert(dot == std::string::npos ? "" : key.substr(0, dot));
    }
    for (const std::string& owner : owners) {
      std::shared_ptr<nn::Module> m = owner.empty() ? model : model->get_submodule(owner);
      if (m) init_weights(*m, range);
    }
  }
  if (options.report) *options.report = std::move(report);
  model->eval();
  return model;
}

// ---- initialisation ----

namespace {
thread_local bool g_init_enabled = true;
}

bool init_enabled() { return g_init_enabled; }
SkipInitGuard::SkipInitGuard() : previous_(g_init_enabled) { g_init_enabled = false; }
SkipInitGuard::~SkipInitGuard() { g_init_enabled = previous_; }

void init_weights(nn::Module& module, double range) {
  NoGradGuard no_grad;
  module.apply([&](nn::Module& m) {
    if (auto* l = m.as<nn::Linear>()) {
      nn::init::normal_(l->weight, 0.0, range);
      if (l->bias.defined()) nn::init::zeros_(l->bias);
    } else if (auto* e = m.as<nn::Embedding>()) {
      nn::init::normal_(e->weight, 0.0, range);
      if (e->options.padding_idx()) e->weight.select(0, *e->options.padding_idx()).zero_();
    } else if (auto* n = m.as<nn::LayerNorm>()) {
      if (n->weight.defined()) nn::init::ones_(n->weight);
      if (n->bias.defined()) nn::init::zeros_(n->bias);
    }
  });
}

// ---- pieces the text models share ----

void check_activation(const std::string& name) {
  static const std::set<std::string> known = {"gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish", "tanh"};
  if (!known.count(name))
    ARK_ERROR("config: unsupported activation \"", name, "\" (supported: gelu, gelu_new, gelu_pytorch_tanh, relu, "
              "silu, swish, tanh)");
}

Tensor activation(const std::string& name, const Tensor& x) {
  if (name == "gelu") return ark::gelu(x);
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return ark::gelu(x, "tanh");
  if (name == "relu") return ark::relu(x);
  if (name == "silu" || name == "swish") return ark::silu(x);
  if (name == "tanh") return ark::tanh(x);
  check_activation(name);
  return x;
}

Tensor extended_attention_mask(const Tensor& attention_mask, ScalarType dtype) {
  ARK_CHECK(attention_mask.dim() == 2, "attention_mask: expected (batch, sequence), got ", attention_mask.sizes());
  double lowest = -3.4028234663852886e38;  // torch.finfo(dtype).min
  if (dtype == kDouble) lowest = std::numeric_limits<double>::lowest();
  else if (dtype == kHalf) lowest = -65504.0;
  else if (dtype == kBFloat16) lowest = -3.3895313892515355e38;
  const int64_t N = attention_mask.size(0), S = attention_mask.size(1);
  Tensor keep = attention_mask.to(dtype);
  return ((1.0 - keep) * lowest).view({N, 1, 1, S});
}

Tensor sequence_classification_loss(const Tensor& logits, const Tensor& labels, const std::string& problem_type,
                                    int64_t num_labels) {
  std::string kind = problem_type;
  if (kind.empty()) {
    if (num_labels == 1) kind = "regression";
    else if (labels.dtype() == kLong || labels.dtype() == kInt) kind = "single_label_classification";
    else kind = "multi_label_classification";
  }
  if (kind == "regression") {
    Tensor y = labels.to(logits.dtype());
    if (num_labels == 1) return ark::mse_loss(logits.reshape({-1}), y.reshape({-1}));
    return ark::mse_loss(logits, y);
  }
  if (kind == "single_label_classification") {
    ARK_CHECK(labels.dtype() == kLong || labels.dtype() == kInt,
              "single_label_classification: labels must be integer class ids, got ", labels.dtype());
    return ark::cross_entropy_loss(logits.reshape({-1, num_labels}), labels.reshape({-1}).to(kLong));
  }
  if (kind == "multi_label_classification")
    return ark::binary_cross_entropy_with_logits(logits, labels.to(logits.dtype()));
  ARK_ERROR("problem_type must be regression, single_label_classification or multi_label_classification, got \"",
            problem_type, "\"");
}

// ---- config helpers ----

int64_t config_int(const json& config, const std::string& key, std::optional<int64_t> fallback, int64_t min,
                   int64_t max) {
  const json* v = config_field(config, key);
  if (!v) {
    if (!fallback) ARK_ERROR("config: missing required field \"", key, "\"");
    return *fallback;
  }
  int64_t x = 0;
  if (v->is_number_integer()) {
    x = v->get<int64_t>();
  } else if (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>() &&
             std::abs(v->get<double>()) < 9e15) {
    x = static_cast<int64_t>(v->get<double>());
  } else {
    ARK_ERROR("config: \"", key, "\" must be an integer, got ", v->dump());
  }
  if (x < min || x > max) ARK_ERROR("config: \"", key, "\" must be in [", min, ", ", max, "], got ", x);
  return x;
}

double config_double(const json& config, const std::string& key, std::optional<double> fallback) {
  const json* v = config_field(config, key);
  if (!v) {
    if (!fallback) ARK_ERROR("config: missing required field \"", key, "\"");
    return *fallback;
  }
  if (!v->is_number()) ARK_ERROR("config: \"", key, "\" must be a number, got ", v->dump());
  const double x = v->get<double>();
  if (!std::isfinite(x)) ARK_ERROR("config: \"", key, "\" must be finite, got ", v->dump());
  return x;
}

std::string config_string(const json& config, const std::string& key, std::optional<std::string> fallback) {
  const json* v = config_field(config, key);
  if (!v) {
    if (!fallback) ARK_ERROR("config: missing required field \"", key, "\"");
    return *fallback;
  }
  if (!v->is_string()) ARK_ERROR("config: \"", key, "\" must be a string, got ", v->dump());
  return v->get<std::string>();
}

bool config_bool(const json& config, const std::string& key, std::optional<bool> fallback) {
  const json* v = config_field(config, key);
  if (!v) {
    if (!fallback) ARK_ERROR("config: missing required field \"", key, "\"");
    return *fallback;
  }
  if (!v->is_boolean()) ARK_ERROR("config: \"", key, "\" must be true or false, got ", v->dump());
  return v->get<bool>();
}

}  // namespace ark::models::hf
