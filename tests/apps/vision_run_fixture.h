// The run folder the predict and eval tests read: torchvision's resnet18 weights with a 2-class
// head (written by tools/reference/predict_ref.py) through ark's .pth reader, saved as
// `ark finetune` saves a run (model.safetensors, config.json with "ark_run", labels.txt).
#pragma once
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "ark/ark.h"
#include "ark/models/registry.h"
#include "ark/pretrained/load_weights.h"

namespace ark::test {

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

/// Writes the run into `run` from the reference folder `ref` and its ref.json (`expected`);
/// `base_model` goes into config.json as given (null: left out).
inline void write_vision_run(const std::filesystem::path& run, const std::string& ref, const nlohmann::json& expected,
                             const nlohmann::json& base_model = nullptr) {
  std::filesystem::create_directories(run);
  auto model = models::create("resnet18", {.num_classes = 2});
  load_weights(*model, ref + "/resnet18_2.pth");
  io::save_safetensors((run / "model.safetensors").string(), model->state_dict());
  nlohmann::json meta = {{"version", 1},
                         {"kind", "vision"},
                         {"task", "classification"},
                         {"architecture", "resnet18"},
                         {"model_options", {{"num_classes", 2}, {"in_chans", 3}, {"image_size", nullptr}}},
                         {"classes", expected["classes"]},
                         {"preprocess", expected["preprocess"]}};
  if (!base_model.is_null()) meta["base_model"] = base_model;
  std::ofstream(run / "config.json") << nlohmann::json{{"ark_run", meta}}.dump(1);
  std::ofstream(run / "labels.txt") << "cat\ndog\n";
}

}  // namespace ark::test
