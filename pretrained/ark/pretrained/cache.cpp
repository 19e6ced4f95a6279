#include "ark/pretrained/cache.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "ark/io/file.h"
#include "ark/pretrained/download.h"
#include "ark/pretrained/sha256.h"

namespace fs = std::filesystem;

namespace ark::pretrained {

namespace {

bool is_full_sha(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

// Entry names ("resnet50.tv_in1k", "hf:org/name@rev") as one file name: unreserved characters
// kept, everything else (and a leading '.') percent-encoded, so no entry can name a path.
std::string encode_entry(const std::string& entry) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < entry.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(entry[i]);
    const bool keep = std::isalnum(c) || c == '-' || c == '_' || c == '@' || c == '+' || (c == '.' && i != 0);
    if (keep) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void make_dirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw DownloadError(ErrorKind::Io, "cannot create cache folder " + dir.string() + ": " + ec.message());
}

void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void write_atomic(const fs::path& path, const std::string& bytes) {
  make_dirs(path.parent_path());
  try {
    io::write_file_atomic(path.string(), bytes);
  } catch (const Error& e) {
    throw DownloadError(ErrorKind::Io, e.msg());
  }
}

Manifest parse_manifest(const fs::path& path) {
  std::string text;
  try {
    text = io::read_file(path.string());
  } catch (const Error& e) {
    throw DownloadError(ErrorKind::Io, e.msg());
  }
  try {
    const auto j = nlohmann::json::parse(text);
    Manifest m;
    m.entry = j.at("entry").get<std::string>();
    m.created = j.value("created", std::string());
    for (const auto& f : j.at("files")) {
      ManifestFile mf{f.at("name").get<std::string>(), f.at("size").get<uint64_t>(), f.at("sha256").get<std::string>()};
      validate_filename(mf.name);
      if (!is_full_sha(mf.sha256)) throw std::runtime_error("file " + mf.name + " has no full sha256");
      m.files.push_back(std::move(mf));
    }
    if (j.contains("meta"))
      for (const auto& [k, v] : j.at("meta").items()) m.meta[k] = v.get<std::string>();
    return m;
  } catch (const DownloadError&) {
    throw;
  } catch (const std::exception& e) {
    throw DownloadError(ErrorKind::BadFile, "malformed cache manifest " + path.string() + ": " + e.what() +
                                                "; remove it with `ark cache rm` and pull again");
  }
}

// "<key>.<pid>.<rand>.part" and write_file_atomic's "<name>.tmp.<pid>.<rand>": the owner's pid.
std::optional<pid_t> temp_owner(const std::string& name) {
  auto digits = [](std::string_view s) {
    return !s.empty() && s.size() <= 20 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  std::string_view s = name;
  bool part = false;
  if (s.size() > 5 && s.substr(s.size() - 5) == ".part") {
    s.remove_suffix(5);
    part = true;
  }
  const auto r = s.rfind('.');
  if (r == std::string_view::npos || !digits(s.substr(r + 1))) return std::nullopt;
  s = s.substr(0, r);
  const auto p = s.rfind('.');
  if (p == std::string_view::npos || !digits(s.substr(p + 1))) return std::nullopt;
  if (!part && (p < 4 || s.substr(p - 4, 4) != ".tmp")) return std::nullopt;
  return static_cast<pid_t>(std::atol(std::string(s.substr(p + 1)).c_str()));
}

bool process_gone(pid_t pid) { return pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH); }

}  // namespace

// ---- Manifest ----

const ManifestFile* Manifest::file(const std::string& name) const {
  for (const auto& f : files)
    if (f.name == name) return &f;
  return nullptr;
}

// ---- Cache ----

fs::path Cache::default_root() {
  if (const char* h = std::getenv("ARK_HOME"); h && *h) return h;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "ark";
  if (const char* home = std::getenv("HOME"); home && *home) return fs::path(home) / ".cache" / "ark";
  return fs::path(".cache") / "ark";
}

Cache::Cache(fs::path root) : root_(std::move(root)) {}

fs::path Cache::blob_path(const std::string& sha256) const {
  const std::string s = normalize_sha256(sha256);
  if (s.size() != 64) throw DownloadError(ErrorKind::BadFile, "blob_path: expected a full sha256, got '" + sha256 + "'");
  return root_ / "blobs" / "sha256" / s;
}
fs::path Cache::temp_dir() const { return root_ / "blobs" / ".tmp"; }
fs::path Cache::lock_dir() const { return root_ / "blobs" / ".locks"; }
fs::path Cache::manifest_path(const std::string& entry) const {
  if (entry.empty()) throw DownloadError(ErrorKind::BadFile, "empty cache entry name");
  return root_ / "manifests" / (encode_entry(entry) + ".json");
}

std::optional<std::string> Cache::resolve_prefix(const std::string& prefix_in) const {
  const std::string prefix = normalize_sha256(prefix_in);
  if (prefix.empty()) return std::nullopt;
  if (prefix.size() == 64) return prefix;
  std::error_code ec;
  const fs::path ref = root_ / "refs" / "sha256-prefix" / prefix;
  if (fs::is_regular_file(ref, ec)) {
    try {
      std::string full = io::read_file(ref.string());
      while (!full.empty() && std::isspace(static_cast<unsigned char>(full.back()))) full.pop_back();
      if (is_full_sha(full) && full.compare(0, prefix.size(), prefix) == 0) return full;
    } catch (const Error&) {
    }
  }
  for (const auto& m : list())
    for (const auto& f : m.files)
      if (f.sha256.compare(0, prefix.size(), prefix) == 0) return f.sha256;
  return std::nullopt;
}

void Cache::write_prefix_ref(const std::string& prefix_in, const std::string& full) {
  const std::string prefix = normalize_sha256(prefix_in);
  if (prefix.size() >= 64 || prefix.empty()) return;
  write_atomic(root_ / "refs" / "sha256-prefix" / prefix, normalize_sha256(full) + "\n");
}

std::optional<fs::path> Cache::find(const FileSpec& spec) const {
  const std::string sha = normalize_sha256(spec.sha256);
  if (sha.empty()) return std::nullopt;
  const auto full = resolve_prefix(sha);
  if (!full) return std::nullopt;
  const fs::path p = blob_path(*full);
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return std::nullopt;
  const auto size = fs::file_size(p, ec);
  if (ec || (spec.size && size != *spec.size)) return std::nullopt;
  return p;
}

void Cache::write_manifest(const std::string& entry, const std::vector<ManifestFile>& files,
                           const std::map<std::string, std::string>& meta) {
  nlohmann::json j;
  j["entry"] = entry;
  j["format"] = 1;
  j["created"] = utc_now();
  j["files"] = nlohmann::json::array();
  std::set<std::string> names;
  for (const auto& f : files) {
    validate_filename(f.name);
    if (!names.insert(f.name).second) throw DownloadError(ErrorKind::BadFile, "entry " + entry + " lists " + f.name + " twice");
    const std::string sha = normalize_sha256(f.sha256);
    if (sha.size() != 64) throw DownloadError(ErrorKind::BadFile, "entry " + entry + ": " + f.name + " needs a full sha256");
    const fs::path blob = blob_path(sha);
    std::error_code ec;
    const auto size = fs::file_size(blob, ec);
    if (ec) throw DownloadError(ErrorKind::Integrity, "entry " + entry + ": blob of " + f.name + " is missing (" + blob.string() + ")");
    if (size != f.size)
      throw DownloadError(ErrorKind::Integrity, "entry " + entry + ": blob of " + f.name + " has " + std::to_string(size) +
                                                    " bytes, expected " + std::to_string(f.size));
    j["files"].push_back({{"name", f.name}, {"size", f.size}, {"sha256", sha}});
  }
  nlohmann::json jm = nlohmann::json::object();
  for (const auto& [k, v] : meta) jm[k] = v;
  j["meta"] = jm;
  write_atomic(manifest_path(entry), j.dump(1) + "\n");
}

std::optional<Manifest> Cache::read_manifest(const std::string& entry) const {
  const fs::path p = manifest_path(entry);
  std::error_code ec;
  if (!fs::exists(p, ec)) return std::nullopt;
  Manifest m = parse_manifest(p);
  if (m.entry != entry) throw DownloadError(ErrorKind::BadFile, "cache manifest " + p.string() + " names entry " + m.entry + ", not " + entry);
  return m;
}

std::optional<fs::path> Cache::entry_file(const std::string& entry, const std::string& name) const {
  const auto m = read_manifest(entry);
  if (!m) return std::nullopt;
  const ManifestFile* f = m->file(name);
  if (!f) return std::nullopt;
  return blob_path(f->sha256);
}

std::vector<Manifest> Cache::list() const {
  std::vector<Manifest> out;
  std::error_code ec;
  const fs::path dir = root_ / "manifests";
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& de : fs::directory_iterator(dir, ec)) {
    if (de.path().extension() != ".json" || !de.is_regular_file(ec)) continue;
    try {
      out.push_back(parse_manifest(de.path()));
    } catch (const DownloadError&) {
    }
  }
  std::sort(out.begin(), out.end(), [](const Manifest& a, const Manifest& b) { return a.entry < b.entry; });
  return out;
}

VerifyReport Cache::verify(const std::string& entry, bool hash) const {
  VerifyReport r;
  std::vector<Manifest> manifests;
  std::error_code ec;
  if (!entry.empty()) {
    try {
      auto m = read_manifest(entry);
      if (!m) {
        r.problems.push_back({entry, "", "not in the cache"});
        return r;
      }
      manifests.push_back(std::move(*m));
    } catch (const DownloadError& e) {
      r.problems.push_back({entry, "", e.msg()});
      return r;
    }
  } else {
    const fs::path dir = root_ / "manifests";
    if (fs::is_directory(dir, ec))
      for (const auto& de : fs::directory_iterator(dir, ec)) {
        if (de.path().extension() != ".json") continue;
        try {
          manifests.push_back(parse_manifest(de.path()));
        } catch (const DownloadError& e) {
          r.problems.push_back({"", de.path().string(), e.msg()});
        }
      }
  }
  std::set<std::string> referenced;
  std::map<std::string, std::string> hashed;  // sha -> problem ("" = fine), each blob read once
  for (const auto& m : manifests)
    for (const auto& f : m.files) {
      referenced.insert(f.sha256);
      const fs::path blob = blob_path(f.sha256);
      ++r.files_checked;
      const auto size = fs::file_size(blob, ec);
      if (ec) {
        r.problems.push_back({m.entry, f.name, "missing blob " + blob.string()});
        continue;
      }
      if (size != f.size) {
        r.problems.push_back({m.entry, f.name, "blob " + blob.string() + " has " + std::to_string(size) + " bytes, expected " +
                                                   std::to_string(f.size) + " (truncated or corrupted)"});
        continue;
      }
      if (!hash) continue;
      auto it = hashed.find(f.sha256);
      if (it == hashed.end()) {
        std::string problem;
        try {
          const std::string got = sha256_file(blob);
          r.bytes_checked += size;
          if (got != f.sha256) problem = "sha256 mismatch: expected " + f.sha256 + " got " + got + " (corrupted blob " + blob.string() + ")";
        } catch (const Error& e) {
          problem = e.msg();
        }
        it = hashed.emplace(f.sha256, problem).first;
      }
      if (!it->second.empty()) r.problems.push_back({m.entry, f.name, it->second});
    }
  if (!entry.empty()) return r;
  const fs::path blobs = root_ / "blobs" / "sha256";
  if (fs::is_directory(blobs, ec))
    for (const auto& de : fs::directory_iterator(blobs, ec)) {
      const std::string name = de.path().filename().string();
      if (!is_full_sha(name)) {
        r.problems.push_back({"", de.path().string(), "not a blob (name is not a sha256)"});
        continue;
      }
      if (referenced.count(name)) continue;
      r.orphans.push_back(de.path());
      if (hash) {
        try {
          uint64_t size = 0;
          const std::string got = sha256_file(de.path(), &size);
          r.bytes_checked += size;
          if (got != name) r.problems.push_back({"", de.path().string(), "sha256 mismatch: got " + got + " (corrupted orphan blob)"});
        } catch (const Error& e) {
          r.problems.push_back({"", de.path().string(), e.msg()});
        }
      }
    }
  if (fs::is_directory(temp_dir(), ec))
    for (const auto& de : fs::directory_iterator(temp_dir(), ec)) {
      const auto pid = temp_owner(de.path().filename().string());
      if (!pid || process_gone(*pid)) r.temp_files.push_back(de.path());
    }
  std::sort(r.orphans.begin(), r.orphans.end());
  std::sort(r.temp_files.begin(), r.temp_files.end());
  return r;
}

void Cache::remove(const std::string& entry) {
  const fs::path p = manifest_path(entry);
  std::error_code ec;
  if (!fs::exists(p, ec)) return;
  std::vector<std::string> shas;
  try {
    for (const auto& f : parse_manifest(p).files) shas.push_back(f.sha256);
  } catch (const DownloadError&) {
  }
  if (::unlink(p.c_str()) != 0 && errno != ENOENT)
    throw DownloadError(ErrorKind::Io, "cannot remove " + p.string() + ": " + std::strerror(errno));
  fsync_dir(p.parent_path());
  std::set<std::string> still;
  for (const auto& m : list())
    for (const auto& f : m.files) still.insert(f.sha256);
  for (const auto& s : shas)
    if (!still.count(s) && !lock_held(s)) ::unlink(blob_path(s).c_str());
}

bool Cache::lock_held(const std::string& key) const {
  const fs::path p = lock_dir() / (key + ".lock");
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return held;
}

PruneReport Cache::prune() {
  PruneReport r;
  std::error_code ec;
  std::set<std::string> referenced;
  for (const auto& m : list())
    for (const auto& f : m.files) referenced.insert(f.sha256);
  auto drop = [&](const fs::path& p) {
    std::error_code e;
    const auto size = fs::is_regular_file(p, e) ? fs::file_size(p, e) : 0;
    if (::unlink(p.c_str()) == 0) {
      r.removed.push_back(p);
      r.bytes_freed += e ? 0 : size;
    }
  };
  const fs::path blobs = root_ / "blobs" / "sha256";
  if (fs::is_directory(blobs, ec))
    for (const auto& de : fs::directory_iterator(blobs, ec)) {
      const std::string name = de.path().filename().string();
      if (referenced.count(name) || lock_held(name)) continue;
      drop(de.path());
    }
  for (const fs::path& dir : {temp_dir(), root_ / "manifests", root_ / "refs" / "sha256-prefix"})
    if (fs::is_directory(dir, ec))
      for (const auto& de : fs::directory_iterator(dir, ec)) {
        const auto pid = temp_owner(de.path().filename().string());
        if (pid ? process_gone(*pid) : dir == temp_dir()) drop(de.path());
      }
  const fs::path refs = root_ / "refs" / "sha256-prefix";
  if (fs::is_directory(refs, ec))
    for (const auto& de : fs::directory_iterator(refs, ec)) {
      if (temp_owner(de.path().filename().string())) continue;
      std::string full;
      try {
        full = io::read_file(de.path().string());
      } catch (const Error&) {
      }
      while (!full.empty() && std::isspace(static_cast<unsigned char>(full.back()))) full.pop_back();
      if (!is_full_sha(full) || !fs::exists(root_ / "blobs" / "sha256" / full, ec)) drop(de.path());
    }
  if (fs::is_directory(lock_dir(), ec))
    for (const auto& de : fs::directory_iterator(lock_dir(), ec)) {
      const int fd = ::open(de.path().c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      if (::flock(fd, LOCK_EX | LOCK_NB) == 0) drop(de.path());  // unlinked while we hold it
      ::close(fd);
    }
  return r;
}

uint64_t Cache::size_bytes() const {
  uint64_t total = 0;
  std::error_code ec;
  const fs::path blobs = root_ / "blobs" / "sha256";
  if (fs::is_directory(blobs, ec))
    for (const auto& de : fs::directory_iterator(blobs, ec)) {
      const auto s = de.file_size(ec);
      if (!ec) total += s;
    }
  return total;
}

// ---- CacheLock ----

CacheLock::CacheLock(const Cache& cache, const std::string& key, double timeout_s, bool (*cancelled)()) {
  make_dirs(cache.lock_dir());
  const fs::path p = cache.lock_dir() / (key + ".lock");
  fd_ = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw DownloadError(ErrorKind::Io, "cannot open lock file " + p.string() + ": " + std::strerror(errno));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
    if (errno != EWOULDBLOCK && errno != EINTR) {
      const std::string e = std::strerror(errno);
      ::close(fd_);
      fd_ = -1;
      throw DownloadError(ErrorKind::Io, "cannot lock " + p.string() + ": " + e);
    }
    if (cancelled && cancelled()) {
      ::close(fd_);
      fd_ = -1;
      throw DownloadError(ErrorKind::Interrupted, "interrupted while waiting for " + p.string());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::close(fd_);
      fd_ = -1;
      throw DownloadError(ErrorKind::Io, "lock timeout: another process has held " + p.string() + " for more than " +
                                             std::to_string(static_cast<long>(timeout_s)) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

CacheLock::~CacheLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

}  // namespace ark::pretrained
