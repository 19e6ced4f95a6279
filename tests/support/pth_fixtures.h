// The PyTorch 1.13 checkpoints of tools/reference/pth_fixtures.py, shared by the .pth reader's
// tests and load_weights' tests: its JSON manifest (tensor values, shares, canary path, folder)
// and the path of each fixture file.
#pragma once
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "support/reference.h"

namespace ark::test {

inline const nlohmann::json& pth_manifest() {
  static const nlohmann::json m = [] {
    std::ifstream in(reference_file("pth_fixtures.py", "pth_fixtures.json"));
    return nlohmann::json::parse(in);
  }();
  return m;
}

inline std::string pth_fixture(const std::string& name) {
  return pth_manifest()["folder"].get<std::string>() + "/" + name;
}

}  // namespace ark::test
