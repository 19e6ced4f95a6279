#include "checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "ark/core/error.h"
#include "ark/io/file.h"
#include "ark/pretrained/sha256.h"

namespace fs = std::filesystem;

namespace ark::cli {
namespace {

constexpr const char* kManifest = "manifest.json";

std::string step_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%09lld", static_cast<long long>(step));
  return buf;
}

bool is_step_folder(const fs::path& p) {
  const std::string name = p.filename().string();
  return name.rfind("step-", 0) == 0 && fs::is_directory(p) && !fs::is_symlink(p);
}

/// Replaces the symbolic link `link` by one to `target` (relative) atomically.
void point_link(const fs::path& link, const fs::path& target) {
  std::string name = ".";  // appends, not "." + ...: GCC 12 misreads that as an overlapping copy (-Wrestrict)
  name += link.filename().string();
  name += ".new";
  const fs::path tmp = link.parent_path() / name;
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_directory_symlink(target.filename(), tmp, ec);
  ARK_CHECK(!ec, "cannot create the link '", tmp.string(), "': ", ec.message());
  fs::rename(tmp, link, ec);
  if (ec) {
    fs::remove(tmp);
    ARK_CHECK(false, "cannot update '", link.string(), "': ", ec.message());
  }
}

}  // namespace

void fsync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ARK_CHECK(fd >= 0, "cannot open '", path.string(), "' to sync it: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  ARK_CHECK(rc == 0, "cannot sync '", path.string(), "': ", std::strerror(err));
}

CheckpointWriter::CheckpointWriter(fs::path run) : dir_(std::move(run) / "checkpoints") {
  fs::create_directories(dir_);
  // Temp folders of a writer that died: never complete, safe to remove.
  for (const auto& e : fs::directory_iterator(dir_)) {
    if (e.path().filename().string().rfind(".tmp-", 0) == 0) fs::remove_all(e.path());
  }
}

fs::path CheckpointWriter::write(int64_t step, const std::function<void(const fs::path&)>& write_files, bool best) {
  static std::atomic<int> counter{0};
  const fs::path tmp = dir_ / (".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  const fs::path final_dir = dir_ / step_name(step);
  try {
    fs::create_directories(tmp);
    write_files(tmp);
    nlohmann::json files = nlohmann::json::object();
    std::vector<fs::path> names;
    for (const auto& e : fs::directory_iterator(tmp)) names.push_back(e.path());
    std::sort(names.begin(), names.end());
    for (const auto& p : names) {
      fsync_path(p);
      uint64_t size = 0;
      const std::string sha = pretrained::sha256_file(p, &size);
      files[p.filename().string()] = {{"size", size}, {"sha256", sha}};
    }
    nlohmann::json manifest = {{"format", "ark-checkpoint/1"}, {"step", step}, {"files", files}};
    io::write_file_atomic((tmp / kManifest).string(), manifest.dump(2) + "\n");
    fsync_path(tmp);
    if (fs::exists(final_dir)) fs::remove_all(final_dir);  // a checkpoint of the same step (resumed run)
    fs::rename(tmp, final_dir);
    fsync_path(dir_);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  point_link(dir_ / "last", final_dir);
  if (best) point_link(dir_ / "best", final_dir);
  fsync_path(dir_);
  prune();
  return final_dir;
}

void CheckpointWriter::mark_best(const fs::path& folder) {
  point_link(dir_ / "best", folder);
  fsync_path(dir_);
  prune();
}

void CheckpointWriter::prune() {
  std::error_code ec;
  std::vector<std::string> keep;
  for (const char* link : {"last", "best"}) {
    const fs::path target = fs::read_symlink(dir_ / link, ec);
    if (!ec) keep.push_back(target.filename().string());
  }
  for (const auto& e : fs::directory_iterator(dir_)) {
    if (!is_step_folder(e.path())) continue;
    if (std::find(keep.begin(), keep.end(), e.path().filename().string()) == keep.end()) fs::remove_all(e.path(), ec);
  }
}

void verify_checkpoint(const fs::path& folder) {
  const fs::path manifest_path = folder / kManifest;
  ARK_CHECK(fs::is_regular_file(manifest_path), "checkpoint '", folder.string(),
            "' is incomplete: it has no manifest.json (interrupted while being written)");
  nlohmann::json manifest;
  try {
    std::ifstream in(manifest_path);
    manifest = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    ARK_CHECK(false, "checkpoint '", folder.string(), "': manifest.json is not valid JSON: ", e.what());
  }
  ARK_CHECK(manifest.is_object() && manifest.value("format", "") == "ark-checkpoint/1" &&
                manifest.contains("files") && manifest["files"].is_object(),
            "checkpoint '", folder.string(), "': manifest.json is not an ark checkpoint manifest");
  for (const auto& [name, info] : manifest["files"].items()) {
    const fs::path p = folder / name;
    ARK_CHECK(fs::is_regular_file(p), "checkpoint '", folder.string(), "' is missing '", name, "'");
    uint64_t size = 0;
    const std::string sha = pretrained::sha256_file(p, &size);
    ARK_CHECK(info.is_object() && size == info.value("size", uint64_t{0}) && sha == info.value("sha256", ""),
              "checkpoint '", folder.string(), "': '", name, "' does not match its manifest (damaged)");
  }
}

std::optional<fs::path> find_resumable(const fs::path& run, const std::function<void(const std::string&)>& log) {
  const fs::path dir = run / "checkpoints";
  if (!fs::is_directory(dir)) return std::nullopt;
  std::error_code ec;
  const fs::path last = dir / "last";
  if (fs::is_symlink(last)) {
    const fs::path target = dir / fs::read_symlink(last, ec).filename();
    if (!ec) {
      try {
        verify_checkpoint(target);
        return target;
      } catch (const Error& e) {
        if (log) log(e.msg() + "; looking for an older checkpoint");
      }
    }
  }
  std::vector<fs::path> steps;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (is_step_folder(e.path())) steps.push_back(e.path());
  }
  std::sort(steps.rbegin(), steps.rend());
  for (const auto& p : steps) {
    try {
      verify_checkpoint(p);
      return p;
    } catch (const Error& e) {
      if (log) log(e.msg());
    }
  }
  return std::nullopt;
}

}  // namespace ark::cli
