// Reference data for tests: runs a tools/reference/*.py script with Debian's Python (PyTorch
// 1.13) once per build tree and returns the path of what it wrote. Safe under parallel ctest:
// generation holds a file lock and the script writes atomically; the output is regenerated when
// the script is newer than it.
#pragma once
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "ark/core/error.h"

namespace ark::test {

inline std::string reference_file(const std::string& script, const std::string& output, const std::string& args = "") {
  const std::string src = std::string(ARK_SOURCE_DIR) + "/tools/reference/" + script;
  const std::string out = std::string(ARK_TEST_DATA) + "/" + output;
  auto mtime = [](const std::string& p) -> long long {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? static_cast<long long>(st.st_mtime) : -1;
  };
  const std::string lock_path = out + ".lock";
  const int fd = ::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  ARK_CHECK(fd >= 0, "cannot create ", lock_path);
  ::flock(fd, LOCK_EX);
  if (mtime(out) < mtime(src)) {
    const std::string cmd = std::string(ARK_PYTHON) + " -W ignore " + src + " " + out + " " + args;
    const int rc = std::system(cmd.c_str());
    if (rc != 0) {
      ::flock(fd, LOCK_UN);
      ::close(fd);
      ARK_ERROR("reference generation failed (exit ", rc, "): ", cmd);
    }
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
  return out;
}

}  // namespace ark::test
