// The MODEL argument of `finetune`, `eval` and `predict`, resolved once for all three:
//   - a run folder written by `ark finetune` (has config.json with "ark_run"),
//   - a registry name or bare architecture ("resnet18.tv_in1k", "resnet18", "bert-base-uncased"),
//   - an hf: reference ("hf:ORG/NAME[@REV]"),
//   - a Hugging Face folder (config.json + weights + tokenizer files),
//   - a weights file (.pth, .safetensors, .h5, model.json) with --arch NAME.
// The result holds the model (vision or text), its preprocessing or tokenizer, its class names
// and what config.json of a run records about where it came from.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ark/ark.h"
#include "ark/datasets/transforms.h"
#include "ark/models/model.h"
#include "ark/tokenizers/tokenizer.h"

namespace ark::cli {

struct ModelArgOptions {
  std::string arch;                      // --arch, for a bare weights file
  /// Text models: "classification" (a *ForSequenceClassification class) or "lm" (causal LM).
  std::string text_task = "classification";
  /// Build the classifier for this many classes: a head of another size is replaced by a fresh
  /// one (timm's and HF's fine-tuning rule); nullopt keeps the model's own head.
  std::optional<int64_t> num_classes;
  bool offline = false;                  // no network (also ARK_OFFLINE=1)
  /// Compute base_sha256 of local weights files (a run's model.safetensors, a weights file, a
  /// Hugging Face folder's model.safetensors): finetune records it; predict and eval skip the read.
  bool hash_weights = true;
  std::function<void(const std::string&)> log;  // progress lines (stderr)
};

struct ModelArg {
  std::string arg;                       // as given
  bool text = false;
  std::shared_ptr<models::VisionModel> vision;
  std::shared_ptr<nn::Module> text_model;  // models/hf.h classes (BertForSequenceClassification, GPT2LMHeadModel, ...)
  std::string architecture;              // vision: ark::models name; text: HF class name ("BertForSequenceClassification")
  models::ModelOptions vision_options;   // vision: what the model was built with
  nlohmann::json hf_config;              // text: the config.json the model was built from (num_labels updated)
  std::shared_ptr<tokenizers::Tokenizer> tokenizer;   // text
  std::vector<std::filesystem::path> tokenizer_files; // text: files to copy into a run folder
  int64_t max_length = 512;              // text: longest input (run's max_length, else the model's positions)
  int64_t pad_id = 0;                    // text: the id to pad batches with (config pad_token_id, else the tokenizer's)
  datasets::PreprocessConfig preprocess; // vision
  std::vector<std::string> labels;       // class names of the head (may be empty: unknown)
  bool head_replaced = false;            // num_classes differed and a fresh head was built
  // Provenance, recorded in a run's config.json:
  std::string base_name;                 // registry entry / hf: id / file path / the run's own base
  std::string base_sha256;               // of the weights file (a run: its model.safetensors)
  std::string license;
  std::optional<std::filesystem::path> run_folder;  // set when arg was a run folder
  nlohmann::json run_config;             // that run's config.json
  std::shared_ptr<void> holder;          // keeps FolderViews alive
};

ModelArg load_model_arg(const std::string& arg, const ModelArgOptions& options = {});

/// Logits (N, num_labels) of a text classification model for a batch (input_ids, attention_mask,
/// token_type_ids as the loader collates them). Throws for a model that is not a classifier.
Tensor text_logits(ModelArg& model, const Tensor& input_ids, const Tensor& attention_mask,
                   const Tensor& token_type_ids);
/// Logits (N, T, vocab) of a causal LM (GPT-2, LLaMA) for the lm task.
Tensor lm_logits(ModelArg& model, const Tensor& input_ids, const Tensor& attention_mask);

}  // namespace ark::cli
