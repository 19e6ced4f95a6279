// A per-process scratch folder under the system temp dir, removed when the test process exits,
// so test binaries (one process per test under ctest) leave nothing behind in /tmp.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

namespace ark::test {

// `prefix` + pid, created on first use; `scratch_file(prefix, name)` is a path inside it.
inline std::filesystem::path scratch_dir(const std::string& prefix) {
  struct Owned {
    std::filesystem::path path;
    ~Owned() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static Owned dir{std::filesystem::temp_directory_path() / (prefix + std::to_string(::getpid()))};
  std::filesystem::create_directories(dir.path);
  return dir.path;
}

inline std::string scratch_file(const std::string& prefix, const std::string& name) {
  return (scratch_dir(prefix) / name).string();
}

}  // namespace ark::test
