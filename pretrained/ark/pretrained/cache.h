// The content-addressed weights cache under ARK_HOME (default $XDG_CACHE_HOME/ark, else
// ~/.cache/ark):
//   blobs/sha256/<hex>                 verified files, named by their full sha256, never edited
//   blobs/.tmp/<key>.<pid>.<rand>.part one per download attempt, renamed into sha256/ when verified
//   blobs/.locks/<key>.lock            flock()ed while a file is fetched (an optimisation only)
//   refs/sha256-prefix/<prefix>        full sha256 of a file fetched by a pinned prefix
//   manifests/<entry>.json             an entry's file names -> blobs, written last and atomically
// An entry (a registry name, or hf:org/name@rev) is complete only when its manifest exists; the
// manifest is the single pointer from names to blobs (no symlink snapshots). Blobs are shared
// between entries by content. Everything is written through tmp + fsync + rename + fsync(dir).
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ark::pretrained {

struct FileSpec;

struct ManifestFile {
  std::string name;    // relative file name in the entry (validated)
  uint64_t size = 0;
  std::string sha256;  // full, 64 lower-case hex digits
};

struct Manifest {
  std::string entry;
  std::vector<ManifestFile> files;
  std::map<std::string, std::string> meta;  // free-form (revision, commit, source); strings only
  std::string created;                      // UTC, ISO 8601
  /// The file's record, or nullptr.
  const ManifestFile* file(const std::string& name) const;
};

struct VerifyProblem {
  std::string entry;             // empty for orphans and temp files
  std::string file;              // the file name in the entry, or the path on disk
  std::string problem;           // "missing", "size 123, expected 456", "sha256 mismatch: got ...", "stale temp file", ...
};

struct VerifyReport {
  size_t files_checked = 0;
  uint64_t bytes_checked = 0;
  std::vector<VerifyProblem> problems;             // corruption: missing/short/wrong blobs, bad manifests
  std::vector<std::filesystem::path> orphans;      // blobs no manifest references (prune removes them)
  std::vector<std::filesystem::path> temp_files;   // partial downloads of processes that are gone
  bool ok() const { return problems.empty(); }
};

struct PruneReport {
  std::vector<std::filesystem::path> removed;  // blobs, temp files, unheld lock files
  uint64_t bytes_freed = 0;
};

class Cache {
 public:
  /// ARK_HOME, else $XDG_CACHE_HOME/ark, else $HOME/.cache/ark.
  static std::filesystem::path default_root();
  /// Creates nothing until something is written.
  explicit Cache(std::filesystem::path root = default_root());

  const std::filesystem::path& root() const { return root_; }
  /// blobs/sha256/<hex> for a full sha256 (lower-cased).
  std::filesystem::path blob_path(const std::string& sha256) const;
  std::filesystem::path temp_dir() const;   // blobs/.tmp
  std::filesystem::path lock_dir() const;   // blobs/.locks
  std::filesystem::path manifest_path(const std::string& entry) const;

  /// The cached blob for a spec, looked up by full sha256, or by a pinned prefix through
  /// refs/sha256-prefix and the manifests; nullopt when absent or (cheap check) of the wrong
  /// size. Blobs are verified when written; verify() re-hashes them.
  std::optional<std::filesystem::path> find(const FileSpec& spec) const;
  /// The full sha256 a prefix resolves to (refs, then manifests), or nullopt.
  std::optional<std::string> resolve_prefix(const std::string& prefix) const;
  /// Records prefix -> full sha256 (fetch() does it after a download by prefix).
  void write_prefix_ref(const std::string& prefix, const std::string& full_sha256);

  /// Writes manifests/<entry>.json atomically. Every file's blob must exist with its size
  /// (else throws DownloadError(Integrity)); names are validated (BadFile).
  void write_manifest(const std::string& entry, const std::vector<ManifestFile>& files,
                      const std::map<std::string, std::string>& meta = {});
  /// nullopt when the entry has no manifest; a malformed manifest throws DownloadError(BadFile).
  std::optional<Manifest> read_manifest(const std::string& entry) const;
  /// The blob path of `name` in a complete entry, or nullopt.
  std::optional<std::filesystem::path> entry_file(const std::string& entry, const std::string& name) const;
  /// Every complete entry, sorted by name (malformed manifests are skipped; verify() reports them).
  std::vector<Manifest> list() const;

  /// Checks every file of `entry` (all entries when empty): present, size, and (when `hash`)
  /// sha256. With all entries it also reports orphan blobs, stale temp files and malformed
  /// manifests. Reads only.
  VerifyReport verify(const std::string& entry = {}, bool hash = true) const;
  /// Removes the entry's manifest, then the blobs no other manifest references. Missing entry: no-op.
  void remove(const std::string& entry);
  /// Removes blobs no manifest references (unless their lock is held: a download in progress),
  /// temp files of processes that no longer run, unheld lock files and dangling prefix refs.
  PruneReport prune();

  /// Total bytes of blobs.
  uint64_t size_bytes() const;
  /// Whether the lock for `key` (a full sha256 for blobs) is held by someone now.
  bool lock_held(const std::string& key) const;

 private:
  std::filesystem::path root_;
};

/// An exclusive flock() on blobs/.locks/<key>.lock, released on destruction or when the process
/// dies. It only saves duplicate downloads: correctness never depends on it (unique temp files and
/// atomic renames do that), so a file system whose flock is a no-op stays safe.
class CacheLock {
 public:
  /// Waits up to `timeout_s` (polling, so `cancelled` is honoured); throws DownloadError(Io) on
  /// timeout, DownloadError(Interrupted) when `cancelled` returns true.
  CacheLock(const Cache& cache, const std::string& key, double timeout_s, bool (*cancelled)() = nullptr);
  ~CacheLock();
  CacheLock(CacheLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  CacheLock(const CacheLock&) = delete;
  CacheLock& operator=(const CacheLock&) = delete;
  CacheLock& operator=(CacheLock&&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace ark::pretrained
