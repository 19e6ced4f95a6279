// The recipe of `ark finetune`: its settings, and the pure functions that turn them into a
// schedule, parameter groups and an optimizer (finetune.cpp runs them). Kept apart from the
// trainer so the numbers a run depends on are in one short file.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ark/ark.h"

namespace ark::cli {

struct FinetuneArgs {
  std::string model, data, val_data, arch, out, task = "classification";
  double val_split = 0.1;
  std::string freeze = "none";
  int64_t unfreeze_at = 0;
  double lr = 1e-3;
  std::optional<double> backbone_lr, layer_decay, weight_decay;
  std::string optimizer = "adamw";
  double momentum = 0.9;
  int64_t epochs = 5, max_steps = 0, batch_size = 32, grad_accum = 1, warmup = 0;
  std::string scheduler = "cosine";
  int64_t step_size = 0;
  double gamma = 0.1;
  double label_smoothing = 0;
  int64_t early_stop = 0;
  uint64_t seed = 0;
  int threads = 0, workers = 2;
  bool resume = false;
  int64_t save_every = 0;
  int64_t input_size = 0;
  double crop_pct = 0;
  bool no_augment = false;
  int64_t max_length = 0, block_size = 0;
  std::string text_column = "text", text_pair_column = "text_pair", label_column = "label", path_column = "path";
  int64_t max_samples = 0, val_max_samples = 0;
  double max_bad_fraction = 0.05;
  double clip_grad = 0;
  std::optional<double> bn_momentum;
  bool offline = false;
};

/// Everything that changes the numbers of a run: recorded in config.json and compared on --resume.
nlohmann::json hyperparameters(const FinetuneArgs& a);

/// The multiplier of every group's base lr at optimizer step t (0-based) of T (see recipe.cpp).
double lr_multiplier(const FinetuneArgs& a, int64_t t, int64_t T, int64_t steps_per_epoch);

struct ParamInfo {
  std::string name;
  Tensor param;
  bool head = false;
  int64_t layer = 0;  // depth for --layer-decay
};

/// Every parameter of `module`, marked head or backbone, with its depth for --layer-decay.
std::vector<ParamInfo> describe_params(nn::Module& module, const std::vector<std::string>& head_prefixes);

/// --freeze: which parameters start frozen (throws a usage error naming the modules for a bad name).
std::vector<bool> frozen_mask(const std::vector<ParamInfo>& params, const std::string& freeze);

struct GroupSpec {
  std::vector<Tensor> params;
  double lr = 0, weight_decay = 0;
};

/// Param groups by (lr, weight decay or not), in the order of their first parameter.
std::vector<GroupSpec> make_groups(const std::vector<ParamInfo>& params, const FinetuneArgs& a);

std::unique_ptr<optim::Optimizer> make_optimizer(const std::vector<GroupSpec>& groups, const FinetuneArgs& a);

}  // namespace ark::cli
