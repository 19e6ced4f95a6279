// fetch(): one file into the cache through libcurl (or from a local path), verified before it is
// published. Layout of this file: errors and helpers -> progress display -> one
// libcurl transfer (callbacks check every reply before a byte is kept) -> the retry loop ->
// fetch(), fetch_text(), head(). The temp file and the hash beside the transfer: download_io.h.
#include "ark/pretrained/download.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "ark/pretrained/cache.h"
#include "ark/pretrained/download_io.h"
#include "ark/pretrained/http.h"
#include "ark/pretrained/sha256.h"

namespace fs = std::filesystem;

namespace ark::pretrained {

// ---- errors, names ----

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Network: return "network";
    case ErrorKind::Integrity: return "integrity";
    case ErrorKind::BadFile: return "bad file";
    case ErrorKind::Io: return "I/O";
    case ErrorKind::Offline: return "offline";
    case ErrorKind::Interrupted: return "interrupted";
  }
  return "?";
}

int exit_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Network: return 3;
    case ErrorKind::Integrity: return 4;
    case ErrorKind::BadFile: return 5;
    case ErrorKind::Io: return 6;
    case ErrorKind::Offline: return 3;
    case ErrorKind::Interrupted: return 130;
  }
  return 1;
}

DownloadError::DownloadError(ErrorKind kind, std::string msg, std::string url, int http_status)
    : Error(std::move(msg)), kind_(kind), url_(std::move(url)), http_status_(http_status) {}

bool DownloadOptions::env_offline() {
  const char* v = std::getenv("ARK_OFFLINE");
  if (!v) return false;
  const std::string s(v);
  return !(s.empty() || s == "0" || s == "false" || s == "no" || s == "off");
}

std::string DownloadOptions::env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

void validate_filename(const std::string& name) {
  auto bad = [&](const char* why) {
    throw DownloadError(ErrorKind::BadFile, "invalid filename '" + name + "': " + why);
  };
  if (name.empty()) bad("empty");
  if (name.size() > 1024) bad("longer than 1024 bytes");
  if (name.front() == '/') bad("absolute path");
  if (name.find('\\') != std::string::npos) bad("backslash");
  if (name.size() >= 2 && std::isalpha(static_cast<unsigned char>(name[0])) && name[1] == ':') bad("drive letter");
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) bad("control character");
  size_t start = 0;
  while (start <= name.size()) {
    const size_t end = std::min(name.find('/', start), name.size());
    const std::string part = name.substr(start, end - start);
    if (part.empty()) bad("empty path component");
    if (part == "." || part == "..") bad("'.' or '..' component");
    start = end + 1;
  }
}

std::string normalize_sha256(const std::string& sha) {
  std::string s = sha;
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s.empty()) return s;
  const bool hex = std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
  if (!hex || s.size() < 8 || s.size() > 64)
    throw DownloadError(ErrorKind::BadFile, "invalid sha256 '" + sha + "': expected 64 hex digits or a prefix of at least 8");
  return s;
}

// ---- interruption ----

namespace {
std::atomic<bool> g_interrupt{false};
std::atomic<int> g_signal{0};
extern "C" void ark_on_signal(int sig) {
  g_signal.store(sig);
  g_interrupt.store(true);
}
bool interrupted_cb() { return g_interrupt.load(); }
}  // namespace

void request_interrupt() noexcept { g_interrupt.store(true); }
bool interrupt_requested() noexcept { return g_interrupt.load(); }
void clear_interrupt() noexcept {
  g_interrupt.store(false);
  g_signal.store(0);
}

struct InterruptHandlers::Saved {
  struct sigaction old_int {}, old_term {};
};

InterruptHandlers::InterruptHandlers() : saved_(new Saved) {
  struct sigaction sa {};
  sa.sa_handler = ark_on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, &saved_->old_int);
  ::sigaction(SIGTERM, &sa, &saved_->old_term);
}

InterruptHandlers::~InterruptHandlers() {
  ::sigaction(SIGINT, &saved_->old_int, nullptr);
  ::sigaction(SIGTERM, &saved_->old_term, nullptr);
  delete saved_;
}

int InterruptHandlers::last_signal() noexcept { return g_signal.load(); }

namespace {

using detail::HashPipe;
using detail::remove_stale_temp;
using detail::TempFile;

[[noreturn]] void throw_interrupted(const std::string& what) {
  throw DownloadError(ErrorKind::Interrupted, "interrupted: " + what + " (nothing was kept)");
}

void ensure_curl() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw DownloadError(ErrorKind::Network, "libcurl initialisation failed");
  });
}

bool is_http(const std::string& url) { return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0; }

// file:///x/y or /x/y -> a local path (percent-decoded); nullopt for anything else.
std::optional<fs::path> local_path(const std::string& url) {
  std::string p;
  if (url.rfind("file://", 0) == 0) {
    p = url.substr(7);
    if (!p.empty() && p[0] != '/') {  // file://localhost/x
      const auto slash = p.find('/');
      if (slash == std::string::npos || p.substr(0, slash) != "localhost") return std::nullopt;
      p = p.substr(slash);
    }
    std::string d;
    for (size_t i = 0; i < p.size(); ++i) {
      if (p[i] == '%' && i + 2 < p.size() && std::isxdigit(static_cast<unsigned char>(p[i + 1])) &&
          std::isxdigit(static_cast<unsigned char>(p[i + 2]))) {
        d += static_cast<char>(std::stoi(p.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        d += p[i];
      }
    }
    p = d;
  } else if (!url.empty() && url[0] == '/') {
    p = url;
  } else {
    return std::nullopt;
  }
  return fs::path(p);
}

std::string fmt_bytes(double b) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) {
    b /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

std::string fmt_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  const long t = std::lround(s);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

// ---- progress display ----

class ProgressMeter {
 public:
  ProgressMeter(const DownloadOptions& opt, std::string label) : opt_(opt), label_(std::move(label)) {
    mode_ = opt.progress;
    if (mode_ == Progress::Auto) mode_ = ::isatty(STDERR_FILENO) ? Progress::Bar : Progress::None;
    start_ = last_ = std::chrono::steady_clock::now();
  }
  void update(uint64_t done, std::optional<uint64_t> total, bool final = false) {
    if (opt_.on_progress) opt_.on_progress(done, total);
    if (mode_ == Progress::None) return;
    const auto now = std::chrono::steady_clock::now();
    const double since = std::chrono::duration<double>(now - last_).count();
    if (!final && since < (mode_ == Progress::Bar ? 0.1 : 5.0)) return;
    last_ = now;
    shown_ = true;
    const double elapsed = std::max(1e-3, std::chrono::duration<double>(now - start_).count());
    const double rate = static_cast<double>(done) / elapsed;
    std::string line = label_ + "  ";
    if (total && *total > 0) {
      const double frac = std::min(1.0, static_cast<double>(done) / static_cast<double>(*total));
      char pct[16];
      std::snprintf(pct, sizeof pct, "%3d%% ", static_cast<int>(frac * 100));
      line += pct;
      if (mode_ == Progress::Bar) {
        const int w = 24, filled = static_cast<int>(frac * w);
        line += "|" + std::string(filled, '#') + std::string(w - filled, ' ') + "| ";
      }
      line += fmt_bytes(static_cast<double>(done)) + " / " + fmt_bytes(static_cast<double>(*total)) + "  " +
              fmt_bytes(rate) + "/s  ETA " + fmt_duration(rate > 0 ? static_cast<double>(*total - std::min(done, *total)) / rate : NAN);
    } else {
      line += fmt_bytes(static_cast<double>(done)) + "  " + fmt_bytes(rate) + "/s";
    }
    if (mode_ == Progress::Bar)
      std::fprintf(stderr, "\r%s\033[K", line.c_str());
    else
      std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
  }
  void finish() {
    if (mode_ == Progress::Bar && shown_) {
      std::fprintf(stderr, "\n");
      std::fflush(stderr);
    }
  }

 private:
  const DownloadOptions& opt_;
  std::string label_;
  Progress mode_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

// ---- one attempt's outcome and the retry loop ----

struct Outcome {
  enum What { Done, Retry, Fatal } what = Done;
  ErrorKind kind = ErrorKind::Network;
  std::string msg;
  int status = 0;
  std::optional<double> retry_after;  // seconds, from Retry-After
};

Outcome retry(std::string msg, int status = 0) { return {Outcome::Retry, ErrorKind::Network, std::move(msg), status, {}}; }
Outcome fatal(ErrorKind k, std::string msg, int status = 0) { return {Outcome::Fatal, k, std::move(msg), status, {}}; }

void backoff_wait(const DownloadOptions& opt, double seconds, const std::string& what) {
  const auto ms = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  if (opt.sleep) {
    opt.sleep(ms);
  } else {
    const auto until = std::chrono::steady_clock::now() + ms;
    while (std::chrono::steady_clock::now() < until && !g_interrupt.load())
      std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(std::chrono::milliseconds(50), ms));
  }
  if (g_interrupt.load()) throw_interrupted(what);
}

// Runs attempt(i) up to 1 + max_retries times, with backoff between.
template <class Attempt>
void with_retries(const DownloadOptions& opt, const std::string& what, const std::string& url, Attempt&& attempt) {
  thread_local std::mt19937 rng(std::random_device{}());
  std::string last;
  int last_status = 0;
  const int attempts = 1 + std::max(0, opt.max_retries);
  for (int i = 0; i < attempts; ++i) {
    if (g_interrupt.load()) throw_interrupted(what);
    Outcome o = attempt(i);
    if (o.what == Outcome::Done) return;
    if (o.what == Outcome::Fatal) throw DownloadError(o.kind, what + ": " + o.msg, url, o.status);
    last = o.msg;
    last_status = o.status;
    if (i + 1 == attempts) break;
    double delay;
    if (o.retry_after) {
      if (*o.retry_after > opt.max_retry_after_s) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.0f s, more than the %.0f s cap", *o.retry_after, opt.max_retry_after_s);
        throw DownloadError(ErrorKind::Network, what + ": " + o.msg + "; the server asks to retry after " + buf, url, o.status);
      }
      delay = *o.retry_after;
    } else {
      const double base = std::min(opt.backoff_max_s, opt.backoff_initial_s * std::pow(2.0, i));
      delay = base * std::uniform_real_distribution<double>(0.5, 1.5)(rng);
    }
    backoff_wait(opt, delay, what);
  }
  throw DownloadError(ErrorKind::Network,
                      what + ": gave up after " + std::to_string(attempts) + " attempt" + (attempts == 1 ? "" : "s") + ": " + last,
                      url, last_status);
}

// ---- libcurl ----

struct CurlEasy {
  CURL* h;
  CurlEasy() : h(curl_easy_init()) {
    if (!h) throw DownloadError(ErrorKind::Network, "libcurl: cannot create a handle");
  }
  ~CurlEasy() { curl_easy_cleanup(h); }
};

struct CurlList {
  curl_slist* l = nullptr;
  ~CurlList() { curl_slist_free_all(l); }
  void add(const std::string& s) { l = curl_slist_append(l, s.c_str()); }
};

// Options every request shares: protocols, redirects, timeouts, TLS, progress polling.
void common_setup(CURL* h, const std::string& url, const DownloadOptions& opt, char* errbuf) {
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, static_cast<long>(opt.max_redirects));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opt.connect_timeout_s * 1000));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, opt.low_speed_limit);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, std::max(1L, static_cast<long>(std::lround(opt.low_speed_time_s))));
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!opt.ca_bundle.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, opt.ca_bundle.c_str());
  curl_easy_setopt(h, CURLOPT_USERAGENT, opt.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
}

// What a failed libcurl transfer means: retry (transient) or fail (permanent, or policy).
Outcome classify_curl(CURLcode rc, const char* errbuf, const DownloadOptions& opt) {
  const std::string detail = errbuf && *errbuf ? std::string(errbuf) : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return retry("timed out (" + detail + ")");
    case CURLE_COULDNT_CONNECT: return retry("connection refused or failed (" + detail + ")");
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return retry("cannot resolve host (" + detail + ")");
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_RANGE_ERROR:
    case CURLE_BAD_CONTENT_ENCODING: return retry("connection broken (" + detail + ")");
    case CURLE_TOO_MANY_REDIRECTS: return fatal(ErrorKind::Network, "too many redirects (more than " + std::to_string(opt.max_redirects) + ")");
    case CURLE_UNSUPPORTED_PROTOCOL:
      if (detail.find("HTTP/0.9") != std::string::npos) return retry("malformed reply (" + detail + ")");
      return fatal(ErrorKind::Network, "refused redirect or URL: only http and https are allowed (" + detail + ")");
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
      return fatal(ErrorKind::Network, "TLS certificate verify failed (" + detail +
                                           "); set ARK_CA_BUNDLE to a PEM file of the CAs to trust");
    default: return fatal(ErrorKind::Network, detail);
  }
}

// An HTTP status other than 200/206 as the final reply.
Outcome classify_status(long status, const http::Headers& h) {
  const std::string s = std::to_string(status);
  if (status == 404 || status == 410) return fatal(ErrorKind::Network, "not found (HTTP " + s + ")", static_cast<int>(status));
  if (status == 401 || status == 403)
    return fatal(ErrorKind::Network,
                 "authentication required or refused (HTTP " + s + "); check the token (HF_TOKEN) or your access to the file",
                 static_cast<int>(status));
  if (status == 407) return fatal(ErrorKind::Network, "proxy authentication required (HTTP 407)", 407);
  if (status == 408 || status == 429 || status >= 500) {
    Outcome o = retry(status == 429 ? "rate limited (HTTP 429)" : "server error (HTTP " + s + ")", static_cast<int>(status));
    if (auto it = h.find("retry-after"); it != h.end())
      o.retry_after = http::parse_retry_after(it->second, static_cast<int64_t>(std::time(nullptr)));
    return o;
  }
  return fatal(ErrorKind::Network, "HTTP " + s, static_cast<int>(status));
}

// ---- download of one URL into a temp file ----

struct Expected {
  std::string name;
  std::optional<uint64_t> size;
  std::string sha;  // full, prefix or empty
};

class UrlDownload {
 public:
  UrlDownload(const Expected& exp, Cache& cache, const DownloadOptions& opt, std::string url, std::string key)
      : exp_(exp), cache_(cache), opt_(opt), url_(std::move(url)), shown_url_(http::redact_url(url_)), key_(std::move(key)),
        meter_(opt, opt.progress_label.empty() ? exp.name : opt.progress_label) {}

  fs::path run() {
    tmp_.emplace(cache_.temp_dir(), key_);
    const std::string what = exp_.name + " from " + shown_url_;
    fs::path result;
    bool restarted_after_mismatch = false;
    with_retries(opt_, what, shown_url_, [&](int) -> Outcome {
      Outcome o = attempt();
      if (o.what != Outcome::Done) return o;
      if (already_cached_) {
        result = *already_cached_;
        return o;
      }
      // Complete: the size is right (checked in attempt()); now the content.
      const std::string got = hash_.hex_digest();
      const std::string want = !exp_.sha.empty() ? exp_.sha : linked_sha_;
      if (want.empty() && opt_.require_sha256)
        return fatal(ErrorKind::Integrity, "no sha256 to verify against (none pinned, none sent by the server)");
      if (!want.empty() && got.compare(0, want.size(), want) != 0) {
        if (resumed_ && !restarted_after_mismatch) {  // a splice of two versions? once more from zero
          restarted_after_mismatch = true;
          restart();
          return retry("sha256 mismatch after a resumed transfer; restarting from 0");
        }
        std::string msg = "sha256 mismatch: expected " + want + (want.size() < 64 ? "..." : "") + " got " + got;
        if (looks_html_) msg += "; the URL returned HTML (an error or login page, or a web page instead of the raw file)";
        return fatal(ErrorKind::Integrity, msg);
      }
      meter_.update(written_, total(), true);
      meter_.finish();
      result = cache_.blob_path(got);
      tmp_->publish(result);
      if (!exp_.sha.empty() && exp_.sha.size() < 64) cache_.write_prefix_ref(exp_.sha, got);
      return o;
    });
    return result;
  }

 private:
  std::optional<uint64_t> total() const { return exp_.size ? exp_.size : size_from_server_; }

  void restart() {
    tmp_->truncate();
    hash_.reset();
    written_ = 0;
    validator_.clear();
    looks_html_ = false;
  }

  // One request. Resumes from written_ when there is something to resume and a way to prove the
  // server's file is the same (a validator from the first reply, or a pinned full sha256).
  Outcome attempt() {
    ensure_curl();
    if (!curl_) curl_.emplace();
    CURL* h = curl_->h;
    curl_easy_reset(h);
    char errbuf[CURL_ERROR_SIZE] = {0};
    common_setup(h, url_, opt_, errbuf);
    CurlList headers;
    for (const auto& hd : opt_.headers) headers.add(hd);
    const bool can_prove = !validator_.empty() || exp_.sha.size() == 64 || linked_sha_.size() == 64;
    if (written_ > 0 && !can_prove) restart();
    range_from_ = written_;
    std::string range;
    if (written_ > 0) {
      range = std::to_string(written_) + "-";
      curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());
      if (!validator_.empty()) headers.add("If-Range: " + validator_);
      resumed_ = true;
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.l);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &UrlDownload::on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &UrlDownload::on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &UrlDownload::on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, this);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    reply_ = {};
    status_ = 0;
    body_started_ = false;
    abort_.reset();
    io_error_.reset();
    const CURLcode rc = curl_easy_perform(h);
    if (g_interrupt.load()) throw_interrupted(exp_.name + " from " + shown_url_);
    if (io_error_) throw *io_error_;
    if (already_cached_) return {};
    if (abort_) return *abort_;
    if (rc != CURLE_OK) {
      Outcome o = classify_curl(rc, errbuf, opt_);
      const auto want = total();
      if (o.what == Outcome::Retry && want && written_ < *want && (written_ > 0 || (body_started_ && (status_ == 200 || status_ == 206))))
        o.msg = "incomplete: " + std::to_string(written_) + " of " + std::to_string(*want) + " bytes (" + o.msg + ")";
      return o;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status == 416 && range_from_ > 0) {  // our partial is longer than the server's file
      restart();
      return retry("HTTP 416 for a resume from byte " + std::to_string(range_from_) + "; restarting from 0", 416);
    }
    if (status != 200 && status != 206) return classify_status(status, reply_);
    if (!body_started_) {
      const Outcome o = begin_body();  // an empty body: the checks still apply
      if (o.what != Outcome::Done) return o;
    }
    const auto want = total();
    if (want && written_ < *want)
      return retry("incomplete: " + std::to_string(written_) + " of " + std::to_string(*want) + " bytes", static_cast<int>(status));
    return {};
  }

  // First body byte of a 200/206: every header is checked before anything is written.
  Outcome begin_body() {
    body_started_ = true;
    curl_easy_getinfo(curl_->h, CURLINFO_RESPONSE_CODE, &status_);
    if (status_ != 200 && status_ != 206) return {};  // an error page: discarded, status classified later
    if (auto it = reply_.find("content-encoding"); it != reply_.end() && it->second != "identity")
      return fatal(ErrorKind::Integrity, "unexpected content-encoding '" + it->second + "' for a weights file");
    // The Hub's X-Linked-* come on the first reply (the 302 to the CDN); any reply may carry them.
    if (linked_sha_.empty())
      if (auto it = linked_.find("x-linked-etag"); it != linked_.end())
        if (auto s = http::linked_sha256(it->second)) linked_sha_ = *s;
    if (!exp_.sha.empty() && !linked_sha_.empty() && linked_sha_.compare(0, exp_.sha.size(), exp_.sha) != 0)
      return fatal(ErrorKind::Integrity, "sha256 mismatch: expected " + exp_.sha + " but the server says the file is " + linked_sha_);
    if (!size_from_server_)
      if (auto it = linked_.find("x-linked-size"); it != linked_.end()) {
        char* end = nullptr;
        const uint64_t v = std::strtoull(it->second.c_str(), &end, 10);
        if (end != it->second.c_str() && *end == '\0') size_from_server_ = v;
      }
    if (exp_.sha.empty() && linked_sha_.size() == 64 && !opt_.force) {  // already have it under its hash?
      FileSpec probe{exp_.name, total(), linked_sha_, {}};
      if (auto p = cache_.find(probe)) {
        already_cached_ = *p;
        return fatal(ErrorKind::Network, "cached");  // stops the transfer; run() returns the blob
      }
    }
    std::optional<uint64_t> declared;  // the full file size this reply claims
    if (status_ == 206) {
      const auto it = reply_.find("content-range");
      const auto cr = it == reply_.end() ? std::nullopt : http::parse_content_range(it->second);
      const auto want = total();
      if (!cr || cr->first != range_from_ || (want && cr->total && *cr->total != *want)) {
        const std::string got = it == reply_.end() ? "none" : "'" + it->second + "'";
        restart();
        return retry("206 reply with Content-Range " + got + " for a request from byte " + std::to_string(range_from_) +
                         "; restarting from 0",
                     206);
      }
      declared = cr->total;
    } else {
      if (written_ > 0) restart();  // the server ignored the Range (or If-Range failed): whole file follows
      curl_off_t cl = -1;
      curl_easy_getinfo(curl_->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
      if (cl >= 0) declared = static_cast<uint64_t>(cl);
      // Remember how to ask for the rest of this exact file.
      if (auto e = reply_.find("etag"); e != reply_.end() && http::is_strong_etag(e->second))
        validator_ = e->second;
      else if (auto lm = reply_.find("last-modified"); lm != reply_.end())
        validator_ = lm->second;
      else
        validator_.clear();
      if (auto ct = reply_.find("content-type"); ct != reply_.end() && ct->second.find("text/html") != std::string::npos) looks_html_ = true;
    }
    if (declared) {
      if (exp_.size && *declared != *exp_.size)
        return fatal(ErrorKind::Integrity, "size mismatch: the server declares " + std::to_string(*declared) + " bytes, expected " +
                                               std::to_string(*exp_.size));
      if (size_from_server_ && *declared != *size_from_server_)
        return fatal(ErrorKind::Integrity, "size mismatch: the server declares " + std::to_string(*declared) +
                                               " bytes, X-Linked-Size says " + std::to_string(*size_from_server_));
      if (!exp_.size && !size_from_server_) size_from_server_ = declared;
    }
    return {};
  }

  static size_t on_header(char* data, size_t size, size_t n, void* self_) {
    auto* self = static_cast<UrlDownload*>(self_);
    const std::string_view line(data, size * n);
    if (line.rfind("HTTP/", 0) == 0) self->reply_.clear();  // a new reply (after a redirect or 100)
    http::parse_header_line(line, self->reply_);
    http::parse_header_line(line, self->linked_);  // first value across all replies
    return size * n;
  }

  static size_t on_body(char* data, size_t size, size_t n, void* self_) {
    auto* self = static_cast<UrlDownload*>(self_);
    const size_t len = size * n;
    if (!self->body_started_) {
      Outcome o = self->begin_body();
      if (o.what != Outcome::Done) {
        self->abort_ = std::move(o);
        return 0;
      }
    }
    if (self->status_ != 200 && self->status_ != 206) return len;  // error page
    const auto want = self->total();
    if (want && self->written_ + len > *want) {
      self->abort_ = fatal(ErrorKind::Integrity, "size mismatch: the server sent more than the expected " + std::to_string(*want) + " bytes");
      return 0;
    }
    if (self->written_ == 0 && len > 0) {
      const std::string_view head(data, std::min<size_t>(len, 256));
      const auto first = head.find_first_not_of(" \t\r\n");
      if (first != std::string_view::npos && head[first] == '<' &&
          (head.find("<html") != std::string_view::npos || head.find("<!DOCTYPE") != std::string_view::npos ||
           head.find("<!doctype") != std::string_view::npos))
        self->looks_html_ = true;
    }
    try {
      self->tmp_->write(data, len);
    } catch (const DownloadError& e) {
      self->io_error_ = e;
      return 0;
    }
    self->hash_.update(data, len);
    self->written_ += len;
    return len;
  }

  static int on_progress(void* self_, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* self = static_cast<UrlDownload*>(self_);
    if (g_interrupt.load()) return 1;
    if (self->body_started_ && (self->status_ == 200 || self->status_ == 206)) self->meter_.update(self->written_, self->total());
    return 0;
  }

  const Expected& exp_;
  Cache& cache_;
  const DownloadOptions& opt_;
  std::string url_, shown_url_, key_;
  ProgressMeter meter_;
  std::optional<TempFile> tmp_;
  std::optional<CurlEasy> curl_;
  HashPipe hash_;
  uint64_t written_ = 0, range_from_ = 0;
  std::optional<uint64_t> size_from_server_;
  std::string validator_, linked_sha_;
  bool resumed_ = false, looks_html_ = false, body_started_ = false;
  long status_ = 0;
  http::Headers reply_, linked_;
  std::optional<Outcome> abort_;
  std::optional<DownloadError> io_error_;
  std::optional<fs::path> already_cached_;
};

// A local file (ARK_ENDPOINT folder, file://): copied, hashed and counted in one pass, no retries.
fs::path copy_local(const Expected& exp, Cache& cache, const DownloadOptions& opt, const fs::path& src, const std::string& key) {
  const std::string what = exp.name + " from " + src.string();
  const int fd = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    throw DownloadError(e == ENOENT ? ErrorKind::Network : ErrorKind::Io,
                        what + ": " + (e == ENOENT ? std::string("not found") : std::strerror(e)), src.string());
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) throw DownloadError(ErrorKind::Network, what + ": not a regular file", src.string());
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (exp.size && size != *exp.size)
    throw DownloadError(ErrorKind::Integrity, what + ": size mismatch: " + std::to_string(size) + " bytes, expected " + std::to_string(*exp.size),
                        src.string());
  if (exp.sha.empty() && opt.require_sha256) throw DownloadError(ErrorKind::Integrity, what + ": no sha256 to verify against", src.string());
  TempFile tmp(cache.temp_dir(), key);
  ProgressMeter meter(opt, opt.progress_label.empty() ? exp.name : opt.progress_label);
  Sha256 hash;
  std::vector<char> buf(1 << 20);
  uint64_t done = 0;
  for (;;) {
    if (g_interrupt.load()) throw_interrupted(what);
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw DownloadError(ErrorKind::Io, what + ": read failed: " + std::strerror(errno), src.string());
    }
    if (n == 0) break;
    tmp.write(buf.data(), static_cast<size_t>(n));
    hash.update(buf.data(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
    meter.update(done, size);
  }
  if (done != size)
    throw DownloadError(ErrorKind::Integrity, what + ": size changed while reading (" + std::to_string(done) + " of " + std::to_string(size) + ")",
                        src.string());
  const std::string got = hash.hex_digest();
  if (!exp.sha.empty() && got.compare(0, exp.sha.size(), exp.sha) != 0)
    throw DownloadError(ErrorKind::Integrity, what + ": sha256 mismatch: expected " + exp.sha + " got " + got, src.string());
  meter.update(done, size, true);
  meter.finish();
  const fs::path dest = cache.blob_path(got);
  tmp.publish(dest);
  if (!exp.sha.empty() && exp.sha.size() < 64) cache.write_prefix_ref(exp.sha, got);
  return dest;
}

// The cached blob for the spec, or nullopt; a cached blob of the wrong size, or (verify_cached)
// of the wrong content, is an Integrity error unless `force`.
std::optional<fs::path> cached(const FileSpec& spec, const std::string& sha, const Cache& cache, const DownloadOptions& opt) {
  if (sha.empty()) return std::nullopt;
  const auto full = cache.resolve_prefix(sha);
  if (!full) return std::nullopt;
  const fs::path blob = cache.blob_path(*full);
  std::error_code ec;
  if (!fs::exists(blob, ec)) return std::nullopt;
  const auto size = fs::file_size(blob, ec);
  const auto hint = "; run `ark pull --force " + spec.name + "` (or fetch with force) to replace it";
  if (ec || (spec.size && size != *spec.size))
    throw DownloadError(ErrorKind::Integrity, "cache corrupted: " + blob.string() + " has " + std::to_string(size) + " bytes, expected " +
                                                  std::to_string(spec.size.value_or(0)) + hint);
  if (opt.verify_cached) {
    const std::string got = sha256_file(blob);
    if (got != *full) throw DownloadError(ErrorKind::Integrity, "cache corrupted: " + blob.string() + " hashes to " + got + hint);
  }
  return blob;
}

}  // namespace

// ---- fetch ----

fs::path fetch(const FileSpec& spec, Cache& cache, const DownloadOptions& opt) {
  validate_filename(spec.name);
  const Expected exp{spec.name, spec.size, normalize_sha256(spec.sha256)};
  if (!opt.force)
    if (auto p = cached(spec, exp.sha, cache, opt)) return *p;

  std::vector<std::string> usable;
  for (const auto& u : spec.urls)
    if (local_path(u) || (is_http(u) && !opt.offline)) usable.push_back(u);
  if (usable.empty()) {
    if (opt.offline)
      throw DownloadError(ErrorKind::Offline, spec.name + " (sha256 " + (exp.sha.empty() ? "unknown" : exp.sha) +
                                                  ") is not in cache and offline mode is on (ARK_OFFLINE); pull it with network access first");
    throw DownloadError(ErrorKind::BadFile, spec.name + ": no usable URL (only http, https, file:// and absolute paths are fetched)");
  }

  // One lock per file; without a full sha256 the first URL names it.
  const std::string key = exp.sha.size() == 64 ? exp.sha
                          : !exp.sha.empty()  ? "prefix-" + exp.sha
                                              : "url-" + sha256_hex(usable.front()).substr(0, 32);
  // Refuse before any request when the file cannot fit (huggingface_hub only warns).
  if (spec.size) {
    std::error_code ec;
    fs::path probe = cache.root();
    while (!probe.empty() && !fs::exists(probe, ec) && probe != probe.parent_path()) probe = probe.parent_path();
    struct statvfs vfs {};
    if (!probe.empty() && ::statvfs(probe.c_str(), &vfs) == 0) {
      const uint64_t avail = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
      if (*spec.size > avail)
        throw DownloadError(ErrorKind::Io, spec.name + ": not enough disk space in " + probe.string() + ": need " +
                                               std::to_string(*spec.size) + " bytes, have " + std::to_string(avail));
    }
  }
  std::optional<CacheLock> lock;
  if (opt.use_lock) lock.emplace(cache, key, opt.lock_timeout_s, &interrupted_cb);
  if (!opt.force)  // whoever held the lock may have fetched it
    if (auto p = cached(spec, exp.sha, cache, opt)) return *p;
  remove_stale_temp(cache, key);

  std::vector<DownloadError> errors;
  for (const auto& url : usable) {
    try {
      if (auto p = local_path(url)) return copy_local(exp, cache, opt, *p, key);
      return UrlDownload(exp, cache, opt, url, key).run();
    } catch (const DownloadError& e) {
      if (e.kind() == ErrorKind::Interrupted || e.kind() == ErrorKind::Io || e.kind() == ErrorKind::BadFile) throw;
      errors.push_back(e);
    }
  }
  if (opt.offline)
    throw DownloadError(ErrorKind::Offline, spec.name + " is not in cache and offline mode is on (ARK_OFFLINE); the local sources failed: " +
                                                errors.front().msg());
  if (errors.size() == 1) throw errors.front();
  // Several sources failed: the most telling kind (a bad file beats an unreachable mirror), every message.
  ErrorKind kind = ErrorKind::Network;
  int status = 0;
  std::string msg = spec.name + ": every source failed:";
  for (const auto& e : errors) {
    if (e.kind() == ErrorKind::Integrity) kind = ErrorKind::Integrity;
    status = e.http_status();
    msg += "\n  " + e.msg();
  }
  throw DownloadError(kind, msg, errors.back().url(), status);
}

// ---- fetch_text / head ----

std::string fetch_text(const std::string& url, const DownloadOptions& opt, size_t max_bytes) {
  if (auto p = local_path(url)) {
    std::error_code ec;
    const auto size = fs::file_size(*p, ec);
    if (ec) throw DownloadError(ErrorKind::Network, p->string() + ": not found", url);
    if (size > max_bytes) throw DownloadError(ErrorKind::Integrity, p->string() + ": larger than " + std::to_string(max_bytes) + " bytes", url);
    FILE* f = std::fopen(p->c_str(), "rb");
    if (!f) throw DownloadError(ErrorKind::Io, "cannot open " + p->string() + ": " + std::strerror(errno), url);
    std::string s(size, '\0');
    const size_t got = std::fread(s.data(), 1, size, f);
    std::fclose(f);
    s.resize(got);
    return s;
  }
  const std::string shown = http::redact_url(url);
  if (!is_http(url)) throw DownloadError(ErrorKind::BadFile, shown + ": only http, https, file:// and absolute paths are fetched", url);
  if (opt.offline) throw DownloadError(ErrorKind::Offline, shown + ": offline mode is on (ARK_OFFLINE)", url);
  ensure_curl();
  struct Sink {
    std::string body;
    http::Headers reply;
    size_t max;
    bool too_big = false;
  } sink{{}, {}, max_bytes};
  with_retries(opt, shown, shown, [&](int) -> Outcome {
    CurlEasy c;
    char errbuf[CURL_ERROR_SIZE] = {0};
    common_setup(c.h, url, opt, errbuf);
    CurlList headers;
    for (const auto& hd : opt.headers) headers.add(hd);
    curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, headers.l);
    sink.body.clear();
    sink.reply.clear();
    curl_easy_setopt(c.h, CURLOPT_HEADERFUNCTION, +[](char* d, size_t s, size_t n, void* p) -> size_t {
      auto* k = static_cast<Sink*>(p);
      const std::string_view line(d, s * n);
      if (line.rfind("HTTP/", 0) == 0) k->reply.clear();
      http::parse_header_line(line, k->reply);
      return s * n;
    });
    curl_easy_setopt(c.h, CURLOPT_HEADERDATA, &sink);
    curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, +[](char* d, size_t s, size_t n, void* p) -> size_t {
      auto* k = static_cast<Sink*>(p);
      if (k->body.size() + s * n > k->max) {
        k->too_big = true;
        return 0;
      }
      k->body.append(d, s * n);
      return s * n;
    });
    curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c.h, CURLOPT_XFERINFOFUNCTION, +[](void*, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
      return g_interrupt.load() ? 1 : 0;
    });
    curl_easy_setopt(c.h, CURLOPT_NOPROGRESS, 0L);
    const CURLcode rc = curl_easy_perform(c.h);
    if (g_interrupt.load()) throw_interrupted(shown);
    if (sink.too_big) return fatal(ErrorKind::Integrity, "reply larger than " + std::to_string(max_bytes) + " bytes");
    if (rc != CURLE_OK) return classify_curl(rc, errbuf, opt);
    long status = 0;
    curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) return classify_status(status, sink.reply);
    return {};
  });
  return sink.body;
}

RemoteInfo head(const std::string& url, const DownloadOptions& opt) {
  const std::string shown = http::redact_url(url);
  if (!is_http(url)) throw DownloadError(ErrorKind::BadFile, shown + ": head() needs an http or https URL", url);
  if (opt.offline) throw DownloadError(ErrorKind::Offline, shown + ": offline mode is on (ARK_OFFLINE)", url);
  ensure_curl();
  RemoteInfo info;
  with_retries(opt, shown, shown, [&](int) -> Outcome {
    CurlEasy c;
    char errbuf[CURL_ERROR_SIZE] = {0};
    common_setup(c.h, url, opt, errbuf);
    curl_easy_setopt(c.h, CURLOPT_NOBODY, 1L);
    CurlList headers;
    for (const auto& hd : opt.headers) headers.add(hd);
    curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, headers.l);
    struct H {
      http::Headers first, all, last;
      int replies = 0;
    } h;
    curl_easy_setopt(c.h, CURLOPT_HEADERFUNCTION, +[](char* d, size_t s, size_t n, void* p) -> size_t {
      auto* k = static_cast<H*>(p);
      const std::string_view line(d, s * n);
      if (line.rfind("HTTP/", 0) == 0) {
        ++k->replies;
        k->last.clear();
      }
      if (k->replies == 1) http::parse_header_line(line, k->first);
      http::parse_header_line(line, k->all);
      http::parse_header_line(line, k->last);
      return s * n;
    });
    curl_easy_setopt(c.h, CURLOPT_HEADERDATA, &h);
    const CURLcode rc = curl_easy_perform(c.h);
    if (rc != CURLE_OK) return classify_curl(rc, errbuf, opt);
    long status = 0;
    curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 400) return classify_status(status, h.last);
    info = {};
    info.status = static_cast<int>(status);
    if (auto it = h.all.find("x-linked-etag"); it != h.all.end())
      if (auto s = http::linked_sha256(it->second)) info.sha256 = *s;
    if (auto it = h.all.find("x-linked-size"); it != h.all.end()) info.size = std::strtoull(it->second.c_str(), nullptr, 10);
    if (!info.size)
      if (auto it = h.last.find("content-length"); it != h.last.end()) info.size = std::strtoull(it->second.c_str(), nullptr, 10);
    if (auto it = h.first.find("etag"); it != h.first.end()) info.etag = it->second;
    if (auto it = h.all.find("x-repo-commit"); it != h.all.end()) info.repo_commit = it->second;
    char* eff = nullptr;
    curl_easy_getinfo(c.h, CURLINFO_EFFECTIVE_URL, &eff);
    if (eff) info.final_url = eff;
    return {};
  });
  return info;
}

}  // namespace ark::pretrained
