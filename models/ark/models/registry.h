// The architecture registry: a model name maps to a factory and the model's default input
// size. Families register themselves explicitly in register_all_models() (no static
// initialisers that a linker could drop).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ark/models/model.h"

namespace ark::models {

using Factory = std::function<std::shared_ptr<VisionModel>(const ModelOptions&)>;

struct ArchInfo {
  std::string name;
  std::string family;          // "resnet", "vit", "mobilenetv2"
  std::vector<int64_t> input_size;  // default (C, H, W)
  Factory factory;
};

/// Builds a registered architecture. Unknown names raise ark::Error with the closest names.
std::shared_ptr<VisionModel> create(const std::string& name, const ModelOptions& options = {});
/// Registered names matching a shell-style pattern ("resnet*", "*vit*"), sorted.
std::vector<std::string> list_models(const std::string& pattern = "*");
const ArchInfo& arch_info(const std::string& name);
bool is_model(const std::string& name);

/// Adds an architecture (used by the family files' register functions).
void register_model(ArchInfo info);

/// Levenshtein distance, for the "did you mean" suggestions of every name lookup (architectures,
/// Hugging Face classes, registry entries).
size_t edit_distance(const std::string& a, const std::string& b);

}  // namespace ark::models
