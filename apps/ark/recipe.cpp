#include "recipe.h"

#include <cmath>
#include <map>
#include <set>

#include "cli.h"

using json = nlohmann::json;

namespace ark::cli {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

/// The block a parameter belongs to, for layer decay: its name up to the first numbered
/// component ("layer3.1", "features.4", "bert.encoder.layer.5", "encoder.layers.encoder_layer_5");
/// empty when it has none (stem, final norms).
std::string block_of(const std::string& name) {
  std::string prefix;
  size_t begin = 0;
  while (begin < name.size()) {
    size_t end = name.find('.', begin);
    if (end == std::string::npos) break;  // the last component is the tensor's own name
    const std::string part = name.substr(begin, end - begin);
    prefix += (prefix.empty() ? "" : ".") + part;
    if (!part.empty() && std::isdigit(static_cast<unsigned char>(part.back()))) return prefix;
    begin = end + 1;
  }
  return {};
}

}  // namespace

json hyperparameters(const FinetuneArgs& a) {
  return {{"task", a.task},
          {"val_split", a.val_data.empty() ? a.val_split : 0.0},
          {"freeze", a.freeze},
          {"unfreeze_at", a.unfreeze_at},
          {"lr", a.lr},
          {"backbone_lr", a.backbone_lr ? json(*a.backbone_lr) : json()},
          {"layer_decay", a.layer_decay ? json(*a.layer_decay) : json()},
          {"optimizer", a.optimizer},
          {"momentum", a.optimizer == "sgd" ? json(a.momentum) : json()},
          {"weight_decay", *a.weight_decay},
          {"epochs", a.epochs},
          {"max_steps", a.max_steps},
          {"batch_size", a.batch_size},
          {"grad_accum", a.grad_accum},
          {"warmup", a.warmup},
          {"scheduler", a.scheduler},
          {"step_size", a.step_size},
          {"gamma", a.gamma},
          {"label_smoothing", a.label_smoothing},
          {"early_stop", a.early_stop},
          {"seed", a.seed},
          {"augment", !a.no_augment},
          {"input_size", a.input_size},
          {"crop_pct", a.crop_pct},
          {"max_length", a.max_length},
          {"block_size", a.block_size},
          {"max_samples", a.max_samples},
          {"val_max_samples", a.val_max_samples},
          {"clip_grad", a.clip_grad},
          {"bn_momentum", a.bn_momentum ? json(*a.bn_momentum) : json()}};
}

// ---- the learning-rate schedule: a pure function of the optimizer step ----

/// The multiplier of every group's base lr at optimizer step t (0-based) of T.
/// cosine / constant: Hugging Face's get_{cosine,constant}_schedule_with_warmup (linear warmup
/// from 0 over W steps); step: warmup, then gamma^(epoch / step_size); onecycle: torch's
/// OneCycleLR (pct_start 0.3, div_factor 25, final_div_factor 1e4, cosine), which has its own
/// warmup (W is ignored; momentum is not cycled).
double lr_multiplier(const FinetuneArgs& a, int64_t t, int64_t T, int64_t steps_per_epoch) {
  const double W = static_cast<double>(a.warmup);
  if (a.scheduler == "onecycle") {
    const double max_lr = 1.0, initial = max_lr / 25.0, min_lr = initial / 1e4;
    const double end_up = 0.3 * static_cast<double>(T) - 1.0, end_down = static_cast<double>(T) - 1.0;
    const auto anneal = [](double start, double end, double pct) {
      return end + (start - end) / 2.0 * (std::cos(M_PI * pct) + 1.0);
    };
    const double s = static_cast<double>(t);
    if (s <= end_up) return anneal(initial, max_lr, end_up > 0 ? s / end_up : 1.0);
    return anneal(max_lr, min_lr, end_down > end_up ? (s - end_up) / (end_down - end_up) : 1.0);
  }
  if (static_cast<double>(t) < W) return static_cast<double>(t) / std::max(1.0, W);
  if (a.scheduler == "constant") return 1.0;
  if (a.scheduler == "step") {
    const int64_t epoch = t / std::max<int64_t>(1, steps_per_epoch);
    return std::pow(a.gamma, static_cast<double>(epoch / std::max<int64_t>(1, a.step_size)));
  }
  const double progress = (static_cast<double>(t) - W) / std::max(1.0, static_cast<double>(T) - W);
  return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
}

// ---- parameters: head, backbone, freezing, groups ----



std::vector<ParamInfo> describe_params(nn::Module& module, const std::vector<std::string>& head_prefixes) {
  std::vector<ParamInfo> out;
  std::vector<std::string> blocks;
  for (const auto& item : module.named_parameters()) {
    ParamInfo p{item.key(), item.value()};
    for (const auto& h : head_prefixes) p.head = p.head || starts_with(p.name, h + ".") || p.name == h;
    out.push_back(std::move(p));
  }
  // Layer ids: 0 for what comes before the first block, 1.. per block in order, and one more
  // for what follows the last block (final norms); the head sits above all.
  int64_t layer = 0;
  std::string current;
  bool seen_block = false;
  for (auto& p : out) {
    if (p.head) continue;
    const std::string block = block_of(p.name);
    if (!block.empty() && block != current) {
      current = block;
      ++layer;
      seen_block = true;
    } else if (block.empty() && seen_block && !current.empty()) {
      current.clear();
      ++layer;
    }
    p.layer = layer;
  }
  for (auto& p : out) {
    if (p.head) p.layer = layer + 1;
  }
  return out;
}

/// --freeze: "none", "backbone" (everything but the head), or a module name: every backbone
/// parameter up to and including that module's is frozen.
std::vector<bool> frozen_mask(const std::vector<ParamInfo>& params, const std::string& freeze) {
  std::vector<bool> frozen(params.size(), false);
  if (freeze == "none") return frozen;
  if (freeze == "backbone") {
    for (size_t i = 0; i < params.size(); ++i) frozen[i] = !params[i].head;
    return frozen;
  }
  int64_t last = -1;
  for (size_t i = 0; i < params.size(); ++i) {
    if (starts_with(params[i].name, freeze + ".")) last = static_cast<int64_t>(i);
  }
  if (last < 0) {
    std::set<std::string> stages;
    for (const auto& p : params) {
      if (!p.head) stages.insert(p.name.substr(0, p.name.find('.')));
    }
    std::string list;
    for (const auto& s : stages) list += (list.empty() ? "" : ", ") + s;
    throw CommandError(kUsage, "--freeze '" + freeze + "' names no module of the model; use none, backbone or a module: " + list);
  }
  for (int64_t i = 0; i <= last; ++i) frozen[static_cast<size_t>(i)] = !params[static_cast<size_t>(i)].head;
  return frozen;
}


/// Param groups: per (lr scale, decay or not). Parameters with ndim <= 1 (biases, norm scales)
/// get no weight decay (timm's and Hugging Face's rule). The head trains at --lr; the backbone
/// at --backbone-lr, or --lr * layer_decay^(depth of the head - its depth) (BEiT / timm).
std::vector<GroupSpec> make_groups(const std::vector<ParamInfo>& params, const FinetuneArgs& a) {
  std::map<std::pair<double, bool>, GroupSpec> groups;
  int64_t head_layer = 0;
  for (const auto& p : params) head_layer = std::max(head_layer, p.layer);
  for (const auto& p : params) {
    double lr = a.lr;
    if (!p.head) {
      if (a.layer_decay) lr = a.lr * std::pow(*a.layer_decay, static_cast<double>(head_layer - p.layer));
      else if (a.backbone_lr) lr = *a.backbone_lr;
    }
    const bool decay = p.param.dim() > 1;
    auto& g = groups[{lr, decay}];
    g.lr = lr;
    g.weight_decay = decay ? *a.weight_decay : 0.0;
    g.params.push_back(p.param);
  }
  std::vector<GroupSpec> out;
  // Deterministic order: by first appearance of each group's first parameter.
  for (const auto& p : params) {
    for (auto it = groups.begin(); it != groups.end(); ++it) {
      if (!it->second.params.empty() && it->second.params.front().unsafeGetTensorImpl() == p.param.unsafeGetTensorImpl()) {
        out.push_back(std::move(it->second));
        groups.erase(it);
        break;
      }
    }
  }
  return out;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const std::vector<GroupSpec>& groups, const FinetuneArgs& a) {
  std::vector<optim::OptimizerParamGroup> param_groups;
  if (a.optimizer == "sgd") {
    for (const auto& g : groups) {
      param_groups.emplace_back(g.params, optim::SGDOptions(g.lr).momentum(a.momentum).weight_decay(g.weight_decay));
    }
    return std::make_unique<optim::SGD>(param_groups, optim::SGDOptions(a.lr).momentum(a.momentum));
  }
  for (const auto& g : groups) {
    param_groups.emplace_back(g.params, optim::AdamWOptions(g.lr).weight_decay(g.weight_decay));
  }
  return std::make_unique<optim::AdamW>(param_groups, optim::AdamWOptions(a.lr));
}

}  // namespace ark::cli
