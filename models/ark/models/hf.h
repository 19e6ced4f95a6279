// Hugging Face model folders: config.json, the weights (model.safetensors, a sharded
// model.safetensors.index.json, pytorch_model.bin or its sharded index), the strict loader that
// applies a model's key handling (base_model_prefix, tied weights, old names, ignored buffers),
// and the table of architectures by their HF class name ("BertForMaskedLM") that
// from_pretrained builds from.
//
// Registration is an explicit table, not static initialisers (a static build would drop them):
// each family file defines `void register_<family>_hf_architectures()` which calls
// register_architecture(...) for its classes, and hf.cpp's builtin list calls every one of them
// once, on first use of architecture()/from_pretrained(). Users may call register_architecture
// at any time for their own classes (a second registration of a name replaces the first).
//
// Weights are memory-mapped: safetensors and .bin tensors view a private (copy-on-write) mapping
// of the file, and load_strict makes a parameter adopt that storage (Tensor::set_data) when the
// dtype already matches the model's and the tensor is contiguous, so loading a float32 checkpoint
// copies nothing; other dtypes (float16/bfloat16 into a float32 model) are converted, one tensor
// at a time.
//
// Deliberately left out: downloads (pretrained/), tokenizers (datasets/), TF/Flax checkpoints,
// GGUF, quantised weights, and HF's device_map/offloading.
#pragma once
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ark/ark.h"
#include "ark/io/safetensors.h"

namespace ark::models::hf {

/// How a class's state dict relates to the checkpoints people have (HF's base_model_prefix,
/// _tied_weights_keys, _keys_to_ignore_on_load_unexpected, _fix_key).
struct LoadSpec {
  /// The attribute that holds the base model in task classes: "bert", "distilbert",
  /// "transformer" (GPT-2), "model" (LLaMA). A checkpoint saved from the base model ("h.0.*")
  /// gains the prefix when loaded into a task class; one saved from a task class loses it (and
  /// its head keys) when loaded into the base model. Empty: no prefix handling.
  std::string base_model_prefix{};
  /// (key, source): `key` is the same tensor as `source` (an MLM decoder or LM head tied to the
  /// word embeddings). A model that does not register `key` itself (it reads `source`) ignores
  /// the file's `key` (using it as `source` when the file lacks that); a model that registers
  /// both gets `key` from `source` when the file lacks `key`. Keys are the model's (prefixed).
  std::vector<std::pair<std::string, std::string>> tied{};
  /// fnmatch patterns of file keys dropped silently: non-persistent buffers that old files hold
  /// ("*embeddings.position_ids", "*.attn.bias", "*.attn.masked_bias", "*rotary_emb.inv_freq").
  std::vector<std::string> ignore{};
  /// (from, to) renames of a key suffix, applied to the file's keys before matching. Always
  /// applied as well: ".gamma" -> ".weight" and ".beta" -> ".bias" (TF-era LayerNorm names), when
  /// the model has the new key.
  std::vector<std::pair<std::string, std::string>> renames{};
  /// fnmatch patterns of model keys inside the base model that still count as head, i.e. may be
  /// freshly initialised under LoadOptions::allow_new_head (BERT's "bert.pooler.*", which
  /// masked-LM checkpoints lack).
  std::vector<std::string> head{};
};

/// What load_strict did besides loading: HF's warnings, for the caller to show.
struct LoadReport {
  std::vector<std::string> initialised{};  // head keys absent from the file, left freshly initialised
  std::vector<std::string> unused{};       // file keys outside the base model that this class has no use for
  std::vector<std::string> converted{};    // keys whose dtype was converted (e.g. "x.weight: BFloat16 -> Float")
  int64_t adopted = 0;                   // tensors that now view the file's mapping (no copy)
  int64_t copied = 0;                    // tensors copied or converted into the parameter
  /// One line per category ("Some weights of BertForSequenceClassification were newly initialised: ..."), empty when clean.
  std::vector<std::string> warnings() const;
};

struct LoadOptions {
  /// Tolerate keys outside base_model_prefix: missing ones stay freshly initialised (reported
  /// in LoadReport::initialised) and unexpected ones are dropped (LoadReport::unused). Keys of the
  /// base model are always strict. from_pretrained sets it when it builds another class than the
  /// checkpoint's (a classification head on a base or MLM checkpoint), as HF does.
  bool allow_new_head = false;
  /// Let parameters view the file's mapping when dtype and layout allow (else every tensor is copied).
  bool adopt = true;
};

/// Reads `folder`/config.json; errors name the file (missing, not JSON, not an object).
nlohmann::json read_config(const std::filesystem::path& folder);

/// The folder's weights, by the file's own keys: model.safetensors, else
/// model.safetensors.index.json (its weight_map's shards), else pytorch_model.bin, else
/// pytorch_model.bin.index.json. Tensors view the files' mappings. A missing shard, a tensor
/// found in two shards, or a weight_map entry its shard lacks is an error naming the file.
io::TensorDict read_weights(const std::filesystem::path& folder);

/// Strict load: applies `spec` (prefix add/strip, renames, ignored keys, tied keys), then
/// checks every key and shape and throws one ark::Error naming `source` that lists every
/// missing, unexpected and mis-shaped key; loads nothing unless everything fits. dtypes are
/// converted to the parameter's; matching float tensors are adopted without a copy.
LoadReport load_strict(nn::Module& model, io::TensorDict weights, const std::string& source, const LoadSpec& spec,
                       const LoadOptions& options = {});

/// Builds a model from config.json (the json's other fields are the factory's to check).
using Factory = std::function<std::shared_ptr<nn::Module>(const nlohmann::json& config)>;
/// Registers (or replaces) an HF class name, e.g. "BertForMaskedLM".
void register_architecture(const std::string& hf_class_name, Factory factory, LoadSpec spec);
bool is_architecture(const std::string& hf_class_name);
std::vector<std::string> list_architectures();

struct Architecture {
  Factory factory;
  LoadSpec spec;
};
/// The registered entry; an unknown name is an error listing the closest known names.
const Architecture& architecture(const std::string& hf_class_name);

struct FromPretrainedOptions {
  /// The class to build; empty: config.json's "architectures"[0]. Another class than the
  /// checkpoint's (BertForSequenceClassification on a BertModel or BertForMaskedLM folder) loads
  /// the base model strictly and initialises the new head (LoadOptions::allow_new_head).
  std::string architecture{};
  /// Sets config.json's num_labels (and drops its id2label/label2id) before the factory runs; a
  /// count other than the checkpoint's draws the classifier afresh (HF's ignore_mismatched_sizes,
  /// for head keys only).
  std::optional<int64_t> num_labels{};
  /// Any other edit of the config before the factory sees it.
  std::function<void(nlohmann::json& config)> edit_config{};
  /// The model's dtype (float32 by default; kHalf/kBFloat16 keep such checkpoints unconverted).
  std::optional<ScalarType> dtype{};
  /// Where the load's warnings go (nothing below apps/ prints); may be null.
  LoadReport* report = nullptr;
};

/// config.json + weights -> the registered class, loaded strictly, in eval mode (as HF).
std::shared_ptr<nn::Module> from_pretrained(const std::filesystem::path& folder, const FromPretrainedOptions& options = {});

// ---- weight initialisation (HF's _init_weights and _fast_init) ----
/// False while from_pretrained builds a model: its random draws would be overwritten by the
/// checkpoint (seconds for bert-base), so family constructors skip their init when it is false
/// (only random draws: computed buffers such as rotary tables are still built). from_pretrained
/// then initialises only what the checkpoint lacks (LoadReport::initialised), with init_weights.
bool init_enabled();
/// Turns init_enabled() off in this thread for its lifetime.
class SkipInitGuard {
 public:
  SkipInitGuard();
  ~SkipInitGuard();
  SkipInitGuard(const SkipInitGuard&) = delete;
  SkipInitGuard& operator=(const SkipInitGuard&) = delete;

 private:
  bool previous_;
};
/// HF's _init_weights for `module` and its descendants: Linear weights and Embeddings
/// N(0, initializer_range) (an Embedding's padding row zeroed), Linear biases 0, LayerNorm (1, 0).
void init_weights(nn::Module& module, double initializer_range);

// ---- pieces the text models share ----
/// HF's ACT2FN by name: "gelu" (erf), "gelu_new" / "gelu_pytorch_tanh" (tanh approximation),
/// "relu", "silu" / "swish", "tanh". check_activation throws for any other name.
Tensor activation(const std::string& name, const Tensor& x);
void check_activation(const std::string& name);
/// HF's get_extended_attention_mask for an encoder: a (N, S) mask of 1 (attend) / 0 (padding),
/// of any dtype, -> (N, 1, 1, S) additive mask in `dtype`: 0 where attended, the dtype's lowest
/// finite value where padded (finite, so a fully padded row stays defined, as in HF).
Tensor extended_attention_mask(const Tensor& attention_mask, ScalarType dtype);
/// HF's sequence-classification loss: problem_type "regression" (MSE), "single_label_classification"
/// (cross-entropy) or "multi_label_classification" (BCE with logits); empty: regression for one
/// label, single-label for integer labels, multi-label otherwise (HF's inference rule).
Tensor sequence_classification_loss(const Tensor& logits, const Tensor& labels, const std::string& problem_type,
                                    int64_t num_labels);
/// What a sequence-classification head's forward returns (HF's SequenceClassifierOutput).
struct SequenceClassifierOutput {
  Tensor loss;    // undefined without labels
  Tensor logits;  // (N, num_labels)
  std::vector<Tensor> hidden_states;  // with output_hidden_states: embeddings, then every layer
};

// ---- config.json helpers for factories: errors name the field and what was expected ----
/// config[key] as an integer in [min, max]; `fallback` when absent (nullopt: the field is required).
int64_t config_int(const nlohmann::json& config, const std::string& key, std::optional<int64_t> fallback,
                   int64_t min = 0, int64_t max = int64_t{1} << 40);
double config_double(const nlohmann::json& config, const std::string& key, std::optional<double> fallback);
std::string config_string(const nlohmann::json& config, const std::string& key, std::optional<std::string> fallback);
bool config_bool(const nlohmann::json& config, const std::string& key, std::optional<bool> fallback);

}  // namespace ark::models::hf
