// Loopback HTTP servers for the downloader tests (RELIABILITY §6), both bound to 127.0.0.1 on a
// port the kernel picks, both with bounded waits only:
// - FaultServer: cpp-httplib with one route per fault (truncation, stalls, status codes with
//   "fail the first n times" counters, redirects, wrong bytes, HTML pages, chunked bodies, the
//   Hugging Face X-Linked-* redirect). Range requests are served by httplib itself.
// - RawServer: a few lines of POSIX sockets for what httplib cannot say: lying Content-Range or
//   Content-Length, replies that never come, resets mid-body, malformed status lines. A test gives
//   it a function from (request, connection number) to a script of send/sleep/close/reset steps.
// Both record every request (method, target, Range, If-Range, whether Authorization was sent).
#pragma once
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ark_test {

struct Seen {
  std::string method, target, range, if_range;
  bool authorization = false;
};

/// Deterministic pseudo-random bytes (not compressible, so nothing can be "accidentally right").
inline std::string make_blob(size_t n, uint32_t seed = 1) {
  std::string s(n, '\0');
  uint64_t x = 0x9E3779B97F4A7C15ull ^ seed;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

class FaultServer {
 public:
  /// `blob` is what /ok/<any> serves; more files go in `files`.
  explicit FaultServer(std::string blob) : blob_(std::move(blob)) {
    svr_.set_keep_alive_timeout(1);
    svr_.set_read_timeout(2, 0);
    svr_.set_write_timeout(2, 0);
    svr_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
      std::lock_guard<std::mutex> g(m_);
      std::string target = req.path;
      if (!req.params.empty()) {
        target += '?';
        bool first = true;
        for (const auto& [k, v] : req.params) {
          target += (first ? "" : "&") + k + "=" + v;
          first = false;
        }
      }
      seen_.push_back({req.method, target, req.get_header_value("Range"), req.get_header_value("If-Range"),
                       req.has_header("Authorization")});
      return httplib::Server::HandlerResponse::Unhandled;
    });
    routes();
  }
  ~FaultServer() { stop(); }

  void start() {
    port_ = svr_.bind_to_any_port("127.0.0.1");
    th_ = std::thread([this] { svr_.listen_after_bind(); });
    for (int i = 0; i < 200 && !svr_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  void stop() {
    stopping_ = true;
    svr_.stop();
    if (th_.joinable()) th_.join();
  }
  bool running() { return svr_.is_running(); }
  int port() const { return port_; }
  std::string url(const std::string& target) const { return "http://127.0.0.1:" + std::to_string(port_) + target; }

  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> g(m_);
    return seen_;
  }
  size_t count(const std::string& path_prefix) {
    std::lock_guard<std::mutex> g(m_);
    return static_cast<size_t>(std::count_if(seen_.begin(), seen_.end(), [&](const Seen& s) {
      return s.target.rfind(path_prefix, 0) == 0;
    }));
  }
  void clear() {
    std::lock_guard<std::mutex> g(m_);
    seen_.clear();
    counters_.clear();
  }

  const std::string& blob() const { return blob_; }
  /// Extra files: /file/<name> serves them (with Range), ETag "<name>-v1".
  std::map<std::string, std::string> files;
  /// Bytes per chunk and pause between chunks of /slow (bounded by the body size).
  std::atomic<size_t> slow_chunk{16384};
  std::atomic<int> slow_pause_ms{20};
  httplib::Server& raw() { return svr_; }

 private:
  // The n-th request (1-based) to a counter key.
  int bump(const std::string& key) {
    std::lock_guard<std::mutex> g(m_);
    return ++counters_[key];
  }
  static size_t param(const httplib::Request& req, const char* name, size_t fallback) {
    return req.has_param(name) ? std::stoul(req.get_param_value(name)) : fallback;
  }
  void serve_sized(httplib::Response& res, const std::string* data, size_t stop_at) {
    if (data->empty()) return res.set_content("", "application/octet-stream");  // providers need a length > 0
    res.set_content_provider(data->size(), "application/octet-stream",
                             [data, stop_at](size_t off, size_t len, httplib::DataSink& sink) {
                               if (off >= stop_at) return false;  // abort: short body
                               sink.write(data->data() + off, std::min(len, stop_at - off));
                               return true;
                             });
  }

  void routes() {
    // A1: the file, with Range support and a strong ETag.
    svr_.Get(R"(/ok/.*)", [this](const httplib::Request&, httplib::Response& res) {
      res.set_header("ETag", "\"v1\"");
      serve_sized(res, &blob_, blob_.size());
    });
    svr_.Get(R"(/file/(.*))", [this](const httplib::Request& req, httplib::Response& res) {
      const auto it = files.find(req.matches[1].str());
      if (it == files.end()) {
        res.status = 404;
        return;
      }
      res.set_header("ETag", "\"" + it->first + "-v1\"");
      serve_sized(res, &it->second, it->second.size());
    });
    // A2: declares the full size, sends `at` bytes, drops the connection (every time).
    svr_.Get("/truncate", [this](const httplib::Request& req, httplib::Response& res) {
      res.set_header("ETag", "\"v1\"");
      serve_sized(res, &blob_, param(req, "at", blob_.size() / 2));
    });
    // Truncates the first `fail` requests, then serves normally (resume succeeds).
    svr_.Get("/truncate-once", [this](const httplib::Request& req, httplib::Response& res) {
      const int n = bump("/truncate-once");
      res.set_header("ETag", "\"v1\"");
      serve_sized(res, &blob_, n <= static_cast<int>(param(req, "fail", 1)) ? param(req, "at", blob_.size() / 2) : blob_.size());
    });
    // A3: no Content-Length, a body longer than the file.
    svr_.Get("/longer", [this](const httplib::Request&, httplib::Response& res) {
      res.status = 200;
      res.set_content_provider("application/octet-stream", [this](size_t off, httplib::DataSink& sink) {
        if (off > 0) {
          sink.done();
          return true;
        }
        const std::string body = blob_ + std::string(4096, 'x');
        sink.write(body.data(), body.size());
        sink.done();
        return true;
      });
    });
    // A4: same size, other content; A21: an HTML page.
    svr_.Get("/wrong-bytes", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(make_blob(blob_.size(), 99), "application/octet-stream");
    });
    svr_.Get("/html", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("<!DOCTYPE html><html><body>Sign in to view this file</body></html>\n", "text/html; charset=utf-8");
    });
    // A5, A6, A9: /status/<code>[?retry_after=s]
    svr_.Get(R"(/status/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
      res.status = std::stoi(req.matches[1].str());
      if (req.has_param("retry_after")) res.set_header("Retry-After", req.get_param_value("retry_after"));
      res.set_content("error " + req.matches[1].str() + "\n", "text/plain");
    });
    // A7, A8: the first `fail` requests answer `code`, then the file.
    svr_.Get("/flaky", [this](const httplib::Request& req, httplib::Response& res) {
      const int n = bump("/flaky");
      if (n <= static_cast<int>(param(req, "fail", 2))) {
        res.status = static_cast<int>(param(req, "code", 503));
        if (req.has_param("retry_after")) res.set_header("Retry-After", req.get_param_value("retry_after"));
        res.set_content("busy\n", "text/plain");
        return;
      }
      serve_sized(res, &blob_, blob_.size());
    });
    // A10: sends `after` bytes then stalls (bounded: at most 25 x 100 ms), the first time only.
    svr_.Get("/stall", [this](const httplib::Request& req, httplib::Response& res) {
      const int n = bump("/stall");
      const size_t after = param(req, "after", 16384);
      res.set_header("ETag", "\"v1\"");
      if (n > 1) return serve_sized(res, &blob_, blob_.size());
      res.set_content_provider(blob_.size(), "application/octet-stream",
                               [this, after](size_t off, size_t len, httplib::DataSink& sink) {
                                 if (off >= after) {
                                   for (int i = 0; i < 25 && !stopping_ && sink.is_writable(); ++i)
                                     std::this_thread::sleep_for(std::chrono::milliseconds(100));
                                   return false;
                                 }
                                 sink.write(blob_.data() + off, std::min(len, after - off));
                                 return true;
                               });
    });
    // A14: truncated first, then Range is ignored (200 + the whole file, no length).
    svr_.Get("/ignore-range", [this](const httplib::Request& req, httplib::Response& res) {
      const int n = bump("/ignore-range");
      res.set_header("ETag", "\"v1\"");
      if (n == 1) return serve_sized(res, &blob_, param(req, "at", blob_.size() / 2));
      res.status = 200;
      res.set_content_provider("application/octet-stream", [this](size_t off, httplib::DataSink& sink) {
        if (off >= blob_.size()) {
          sink.done();
          return true;
        }
        sink.write(blob_.data() + off, std::min<size_t>(16384, blob_.size() - off));
        return true;
      });
    });
    // A16: truncated first; the resume gets 416; then the whole file.
    svr_.Get("/range-416", [this](const httplib::Request& req, httplib::Response& res) {
      const int n = bump("/range-416");
      res.set_header("ETag", "\"v1\"");
      if (n == 1) return serve_sized(res, &blob_, param(req, "at", blob_.size() / 2));
      if (!req.get_header_value("Range").empty()) {
        res.status = 416;
        res.set_header("Content-Range", "bytes */" + std::to_string(blob_.size()));
        return;
      }
      serve_sized(res, &blob_, blob_.size());
    });
    // A18, A19, A20: redirects.
    svr_.Get("/redirect", [](const httplib::Request& req, httplib::Response& res) {
      res.set_redirect(req.has_param("to") ? req.get_param_value("to") : "/ok/model.bin", 302);
    });
    svr_.Get("/loop", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/loop", 302); });
    svr_.Get(R"(/chain/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
      const int n = std::stoi(req.matches[1].str());
      res.set_redirect(n <= 0 ? "/ok/model.bin" : "/chain/" + std::to_string(n - 1), 302);
    });
    // A22: chunked transfer encoding, no Content-Length.
    svr_.Get("/chunked", [this](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("application/octet-stream", [this](size_t off, httplib::DataSink& sink) {
        if (off >= blob_.size()) {
          sink.done();
          return true;
        }
        sink.write(blob_.data() + off, std::min<size_t>(10000, blob_.size() - off));
        return true;
      });
    });
    // A25, A28: slow but steady (slow_chunk bytes every slow_pause_ms), with Range support.
    svr_.Get(R"(/slow/.*)", [this](const httplib::Request&, httplib::Response& res) {
      res.set_header("ETag", "\"v1\"");
      res.set_content_provider(blob_.size(), "application/octet-stream",
                               [this](size_t off, size_t len, httplib::DataSink& sink) {
                                 if (stopping_) return false;
                                 std::this_thread::sleep_for(std::chrono::milliseconds(slow_pause_ms.load()));
                                 sink.write(blob_.data() + off, std::min(len, slow_chunk.load()));
                                 return true;
                               });
    });
    // A17: a Content-Encoding the client did not ask for (the bytes are not really gzip).
    svr_.Get("/gzip", [this](const httplib::Request&, httplib::Response& res) {
      res.set_header("Content-Encoding", "gzip");
      res.set_content(blob_, "application/octet-stream");
    });
    // The Hugging Face resolve endpoint: a 302 carrying X-Linked-Etag/X-Linked-Size to the CDN.
    svr_.Get(R"(/hf/(.*))", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string sha = req.has_param("etag") ? req.get_param_value("etag") : std::string();
      if (!sha.empty()) res.set_header("X-Linked-Etag", "\"" + sha + "\"");
      res.set_header("X-Linked-Size", req.has_param("size") ? req.get_param_value("size") : std::to_string(blob_.size()));
      res.set_header("X-Repo-Commit", "0123456789abcdef0123456789abcdef01234567");
      res.set_redirect("/ok/" + req.matches[1].str(), 302);
    });
  }

  std::string blob_;
  httplib::Server svr_;
  std::thread th_;
  int port_ = -1;
  std::atomic<bool> stopping_{false};
  std::mutex m_;
  std::vector<Seen> seen_;
  std::map<std::string, int> counters_;
};

/// One step of a raw reply.
struct Step {
  enum Kind { Send, SleepMs, Close, Reset } kind;
  std::string bytes;
  int ms = 0;
};
inline Step send(std::string b) { return {Step::Send, std::move(b), 0}; }
inline Step sleep_ms(int ms) { return {Step::SleepMs, {}, ms}; }
inline Step close_conn() { return {Step::Close, {}, 0}; }
inline Step reset_conn() { return {Step::Reset, {}, 0}; }

class RawServer {
 public:
  /// script(request head, 1-based connection number) -> steps.
  using Script = std::function<std::vector<Step>(const std::string& request, int n)>;
  explicit RawServer(Script script) : script_(std::move(script)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    th_ = std::thread([this] { accept_loop(); });
  }
  ~RawServer() {
    stopping_ = true;
    if (th_.joinable()) th_.join();
    for (auto& t : conns_)
      if (t.joinable()) t.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  std::string url(const std::string& target) const { return "http://127.0.0.1:" + std::to_string(port_) + target; }
  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> g(m_);
    return seen_;
  }

 private:
  static std::string header(const std::string& head, const std::string& name) {
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string key = "\r\n" + name + ":";
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto p = lower.find(key);
    if (p == std::string::npos) return {};
    const auto start = p + key.size();
    const auto end = head.find("\r\n", start);
    std::string v = head.substr(start, end - start);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    return v;
  }

  void accept_loop() {
    int n = 0;
    while (!stopping_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      const int number = ++n;
      conns_.emplace_back([this, c, number] { serve(c, number); });
    }
  }

  void serve(int c, int number) {
    std::string head;
    char buf[4096];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536 && !stopping_ &&
           std::chrono::steady_clock::now() < deadline) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t r = ::recv(c, buf, sizeof buf, 0);
      if (r <= 0) break;
      head.append(buf, static_cast<size_t>(r));
    }
    {
      std::lock_guard<std::mutex> g(m_);
      const auto sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
      seen_.push_back({head.substr(0, sp1), sp1 == std::string::npos ? "" : head.substr(sp1 + 1, sp2 - sp1 - 1),
                       header(head, "Range"), header(head, "If-Range"), !header(head, "Authorization").empty()});
    }
    bool closed = false;
    for (const Step& s : script_(head, number)) {
      if (stopping_) break;
      if (s.kind == Step::Send) {
        ::send(c, s.bytes.data(), s.bytes.size(), MSG_NOSIGNAL);
      } else if (s.kind == Step::SleepMs) {
        for (int t = 0; t < s.ms && !stopping_; t += 10) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      } else if (s.kind == Step::Reset) {
        linger l{1, 0};
        ::setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        ::close(c);
        closed = true;
        break;
      } else {
        ::shutdown(c, SHUT_RDWR);
        ::close(c);
        closed = true;
        break;
      }
    }
    if (!closed) ::close(c);
  }

  Script script_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread th_;
  std::vector<std::thread> conns_;
  std::mutex m_;
  std::vector<Seen> seen_;
};

}  // namespace ark_test
