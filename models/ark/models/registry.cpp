#include "ark/models/registry.h"

#include <fnmatch.h>

#include <algorithm>
#include <map>
#include <mutex>

namespace ark::models {

// Each family file defines its register function; register_all() calls them once.
void register_resnet_models();
void register_vit_models();
void register_mobilenet_models();
void register_keras_resnet_models();

namespace {
std::map<std::string, ArchInfo>& table() {
  static std::map<std::string, ArchInfo> t;
  return t;
}

void register_all() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_resnet_models();
    register_vit_models();
    register_mobilenet_models();
    register_keras_resnet_models();
  });
}

}  // namespace

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

void register_model(ArchInfo info) {
  ARK_CHECK(!table().count(info.name), "model '", info.name, "' is registered twice");
  std::string name = info.name;
  table().emplace(std::move(name), std::move(info));
}

bool is_model(const std::string& name) {
  register_all();
  return table().count(name) != 0;
}

const ArchInfo& arch_info(const std::string& name) {
  register_all();
  auto it = table().find(name);
  if (it == table().end()) {
    std::vector<std::pair<size_t, std::string>> near;
    for (const auto& [n, _] : table()) near.emplace_back(edit_distance(name, n), n);
    std::sort(near.begin(), near.end());
    std::string hint;
    for (size_t i = 0; i < std::min<size_t>(3, near.size()); ++i) hint += (i ? ", " : "") + near[i].second;
    ARK_ERROR("unknown model '", name, "'", hint.empty() ? "" : "; did you mean: " + hint + "?");
  }
  return it->second;
}

std::shared_ptr<VisionModel> create(const std::string& name, const ModelOptions& options) {
  ARK_CHECK(options.num_classes >= 0, "create(", name, "): num_classes must be >= 0, got ", options.num_classes);
  ARK_CHECK(options.in_chans > 0, "create(", name, "): in_chans must be positive, got ", options.in_chans);
  ARK_CHECK(options.drop_rate >= 0 && options.drop_rate < 1, "create(", name, "): drop_rate must be in [0, 1), got ",
            options.drop_rate);
  ARK_CHECK(options.drop_path_rate >= 0 && options.drop_path_rate < 1, "create(", name,
            "): drop_path_rate must be in [0, 1), got ", options.drop_path_rate);
  return arch_info(name).factory(options);
}

std::vector<std::string> list_models(const std::string& pattern) {
  register_all();
  std::vector<std::string> out;
  for (const auto& [n, _] : table())
    if (fnmatch(pattern.c_str(), n.c_str(), 0) == 0) out.push_back(n);
  return out;
}

}  // namespace ark::models
