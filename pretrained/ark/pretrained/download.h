// The downloader: fetch() puts one verified file into the content-addressed cache (cache.h), from
// http(s) through libcurl or from a local folder/file:// URL, and never leaves anything half-done
// behind. One streaming pass writes, hashes (sha256) and counts into a unique temp file beside the
// blobs; the file is fsynced and renamed in only when its size and sha256 match. Interrupted
// transfers resume inside one fetch() only when the server proves it is the same file (If-Range
// with the first reply's ETag or Last-Modified) and the 206's Content-Range starts where we are;
// anything else restarts cleanly. Retries are bounded, with exponential backoff and jitter on
// timeouts, resets, 408/429/5xx and a capped Retry-After; other 4xx fail at once. TLS verification
// is always on (a CA bundle can be named, never switched off); proxies come from libcurl's usual
// variables (http_proxy, HTTPS_PROXY, NO_PROXY). Concurrent fetches of one file (threads or
// processes) serialise on a flock, and the waiter finds the first one's blob.
// A file larger than the cache's free space is refused before any request.
// Left out: cross-run resume (a killed process's partial file is deleted, not continued), HTTP
// content decoding (a Content-Encoding other than identity is refused), and snapshots of symlinks
// (entries point at blobs through their manifests, see cache.h).
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ark/core/error.h"

namespace ark::pretrained {

class Cache;

/// What went wrong, and the CLI exit code it maps to (exit_code()).
enum class ErrorKind {
  Network,      // 3: unreachable, timed out, HTTP error, too many redirects, gave up after retries
  Integrity,    // 4: size or sha256 mismatch, corrupted cache entry, lying Content-Range/Length
  BadFile,      // 5: a spec or manifest that cannot be right (invalid file name, malformed sha256)
  Io,           // 6: the cache cannot be written (disk full, permissions), lock timeout
  Offline,      // 3: offline mode is on and the file is not in the cache
  Interrupted,  // 130: SIGINT/SIGTERM (or request_interrupt()) during the transfer
};
const char* to_string(ErrorKind kind);
/// 3, 4, 5, 6, 3, 130 for the kinds above.
int exit_code(ErrorKind kind);

class DownloadError : public ark::Error {
 public:
  /// `msg` names the URL or file and what was wrong; `url` (may be empty) is kept for callers.
  DownloadError(ErrorKind kind, std::string msg, std::string url = {}, int http_status = 0);
  ErrorKind kind() const noexcept { return kind_; }
  const std::string& url() const noexcept { return url_; }
  /// The last HTTP status seen (0 when none: connection failures, local files).
  int http_status() const noexcept { return http_status_; }

 private:
  ErrorKind kind_;
  std::string url_;
  int http_status_;
};

/// One file of a registry entry or Hugging Face repository.
struct FileSpec {
  std::string name;  // relative file name inside its entry ("model.safetensors", "onnx/x.bin"); validated
  std::optional<uint64_t> size;  // expected bytes; unknown = X-Linked-Size, else Content-Length
  /// 64 hex digits; or a prefix of at least 8 the publisher pins (torchvision's file names); or
  /// empty: trust the server's X-Linked-Etag (the sha256 the Hugging Face Hub sends for LFS
  /// files), and when there is none, verify the size only (HF's own behaviour for small files).
  std::string sha256;
  /// Tried in order (put ARK_ENDPOINT-derived URLs first). http://, https://, file:// or an
  /// absolute local path. A URL that fails (404, unreachable, bad bytes) moves on to the next.
  std::vector<std::string> urls;
};

enum class Progress {
  Auto,   // Bar when stderr is a terminal, else None
  Bar,    // one \r-updated line on stderr: bytes, rate, ETA
  Lines,  // a plain line on stderr every few seconds (logs, CI)
  None,
};

struct DownloadOptions {
  bool offline = env_offline();  // ARK_OFFLINE=1: no network call at all (local sources still work)
  bool force = false;            // download again and atomically replace the cached blob
  bool verify_cached = false;    // re-hash a cached blob before returning it (Integrity error if bad)
  bool require_sha256 = false;   // refuse files whose sha256 is neither in the spec nor sent by the server
  std::string ca_bundle = env_or("ARK_CA_BUNDLE");  // PEM file of trusted CAs; empty = system store
  int max_retries = 5;                                // retries after the first attempt, per URL
  int max_redirects = 5;
  double connect_timeout_s = 10;
  double low_speed_time_s = 30;   // abort (and retry) after this long below low_speed_limit
  long low_speed_limit = 1024;    // bytes per second
  double max_retry_after_s = 60;  // a longer Retry-After fails at once ("rate limited")
  double backoff_initial_s = 1;   // first backoff; doubles per retry, with +-50% jitter
  double backoff_max_s = 30;
  double lock_timeout_s = 3600;  // how long to wait for another process fetching the same file
  /// Test hook: false skips the lock, as on a file system whose flock() is a no-op (RELIABILITY
  /// A26); concurrent fetches then download twice but still publish one correct blob.
  bool use_lock = true;
  Progress progress = Progress::Auto;
  std::string progress_label;  // shown before the bar; default: the file name
  /// Called from the transfer with bytes written so far and the expected total.
  std::function<void(uint64_t done, std::optional<uint64_t> total)> on_progress;
  /// Extra request headers ("Authorization: Bearer ..."); their values are never put in messages.
  std::vector<std::string> headers;
  std::string user_agent = "ark/0.1";
  /// How backoff waits; tests inject a fake clock that records the durations.
  std::function<void(std::chrono::milliseconds)> sleep;

  static bool env_offline();
  static std::string env_or(const char* name, const std::string& fallback = {});
};

/// Ensures the file is in the cache and verified; returns its blob path
/// (`<cache>/blobs/sha256/<full hex>`: the file name is the full sha256, its size the file's size).
/// A cached blob is returned without a network call. Throws DownloadError.
std::filesystem::path fetch(const FileSpec& spec, Cache& cache, const DownloadOptions& options = {});

/// GETs a small text resource (a Hub API JSON listing, a config) with the same timeouts, retries,
/// TLS and proxy rules as fetch(), into memory, refusing more than `max_bytes`. Not cached.
/// Offline mode throws Offline. Local paths and file:// are read directly.
std::string fetch_text(const std::string& url, const DownloadOptions& options = {}, size_t max_bytes = 16u << 20);

/// What a server says about a URL without sending its body (HEAD, following redirects): the
/// Hugging Face resolve endpoint's X-Linked-Etag/X-Linked-Size/X-Repo-Commit, or plain ETag and
/// Content-Length.
struct RemoteInfo {
  int status = 0;                  // of the final response
  std::optional<uint64_t> size;    // X-Linked-Size, else Content-Length of the final response
  std::string sha256;              // X-Linked-Etag when it is 64 hex digits, else empty
  std::string etag;                // ETag of the first response (quotes kept)
  std::string repo_commit;         // X-Repo-Commit (the Hub: the revision's commit sha1)
  std::string final_url;
};
RemoteInfo head(const std::string& url, const DownloadOptions& options = {});

// ---- interruption (SIGINT/SIGTERM) ----
// A handler may only set a flag: fetch() polls it from libcurl's progress callback, aborts the
// transfer, deletes its temp file and throws Interrupted. The CLI installs the handlers once
// (InterruptHandlers) and exits 130 on Interrupted.

/// Sets the flag (async-signal-safe).
void request_interrupt() noexcept;
bool interrupt_requested() noexcept;
void clear_interrupt() noexcept;
/// Installs SIGINT and SIGTERM handlers that call request_interrupt(); restores the previous
/// handlers when destroyed. The signal number received is kept (0 = none).
class InterruptHandlers {
 public:
  InterruptHandlers();
  ~InterruptHandlers();
  InterruptHandlers(const InterruptHandlers&) = delete;
  InterruptHandlers& operator=(const InterruptHandlers&) = delete;
  static int last_signal() noexcept;

 private:
  struct Saved;
  Saved* saved_;
};

/// Throws DownloadError(BadFile) unless `name` is a safe relative path: no empty, "." or ".."
/// components, no leading '/', no backslash, no drive letter, no NUL or control characters.
void validate_filename(const std::string& name);
/// Lower-cases and checks a sha256 or a prefix (8-64 hex digits) or empty; throws BadFile.
std::string normalize_sha256(const std::string& sha256);

}  // namespace ark::pretrained
