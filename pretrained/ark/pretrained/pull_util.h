// Internal pieces shared by registry pulls (pretrained.cpp) and hf: pulls (hub.cpp): the
// ARK_ENDPOINT source, "complete cached entry" checks, and the rollback that leaves the cache as
// it was when a pull fails. Not part of the public API.
#pragma once
#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include "ark/pretrained/cache.h"
#include "ark/pretrained/download.h"

namespace ark::pretrained::detail {

/// ARK_ENDPOINT normalised (see normalize_source), or "" when unset.
std::string endpoint();
/// Strips trailing slashes; a file:// URL or relative path becomes an absolute local path.
std::string normalize_source(const std::string& source);
/// Not http:// or https://.
bool is_local_source(const std::string& source);
/// A local source's URL (absolute path or file://) as a path.
std::filesystem::path local_path(const std::string& url);

/// The entry's manifest when every blob it names is present with its size; nullopt otherwise.
std::optional<Manifest> complete_manifest(const Cache& cache, const std::string& entry);
/// {name, size, sha256} of a verified blob (named by its sha256).
ManifestFile manifest_file(const std::string& name, const std::filesystem::path& blob);
std::string human_bytes(uint64_t n);

/// fetch() through this records the blobs the pull added; unless commit() is called, the
/// destructor removes those that no manifest references (the cache is left as it was).
class Rollback {
 public:
  explicit Rollback(Cache& cache);
  ~Rollback();
  std::filesystem::path fetch(const FileSpec& spec, const DownloadOptions& options);
  void commit() { committed_ = true; }
  Rollback(const Rollback&) = delete;
  Rollback& operator=(const Rollback&) = delete;

 private:
  Cache& cache_;
  std::set<std::string> before_;  // blob names present when the pull started
  std::set<std::filesystem::path> added_;
  bool committed_ = false;
};

}  // namespace ark::pretrained::detail
