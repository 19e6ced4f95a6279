// pull_bench: ark's downloader against `curl -o` on one large file from a loopback server (issue 5's
// goal: fetch() within 1.2x of curl, hashing included). The server is a sendfile() loop in this
// process, so it is not what is measured; each run gets a fresh cache (fetch: unique temp file,
// sha256 while writing, fsync, rename) or a fresh output file (curl: write only; and curl followed
// by `sync --data` of the file, the same durability as fetch()). Reports every run and the medians.
//   pull_bench [--size-mb 1024] [--runs 3] [--dir /tmp/ark-pull-bench] [--ark-cli PATH]
// With --ark-cli, `ark pull` of a test entry (ARK_REGISTRY_EXTRA) is timed as a third column.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "ark/pretrained/cache.h"
#include "ark/pretrained/download.h"
#include "ark/pretrained/sha256.h"

namespace fs = std::filesystem;
using namespace ark::pretrained;

namespace {

class SendfileServer {
 public:
  explicit SendfileServer(fs::path file) : file_(std::move(file)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    th_ = std::thread([this] { loop(); });
  }
  ~SendfileServer() {
    stop_ = true;
    th_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/" + file_.filename().string(); }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::thread([this, c] { serve(c); }).detach();
    }
  }
  void serve(int c) {
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      const ssize_t r = ::recv(c, buf, sizeof buf, 0);
      if (r <= 0) {
        ::close(c);
        return;
      }
      head.append(buf, static_cast<size_t>(r));
    }
    const int f = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    ::fstat(f, &st);
    const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(st.st_size) +
                              "\r\nContent-Type: application/octet-stream\r\nETag: \"bench\"\r\nConnection: close\r\n\r\n";
    ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
    off_t off = 0;
    while (off < st.st_size) {
      const ssize_t n = ::sendfile(c, f, &off, static_cast<size_t>(st.st_size - off));
      if (n <= 0) break;
    }
    ::close(f);
    ::shutdown(c, SHUT_WR);
    ::close(c);
  }
  fs::path file_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread th_;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The CPU seconds (user + sys) of the last child reaped by run()/in_child(): a steadier measure
// than wall time on a shared machine.
double g_child_cpu = 0;

int reap(pid_t pid) {
  int status = 0;
  rusage ru{};
  ::wait4(pid, &status, 0, &ru);
  g_child_cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execvp(a[0], a.data());
    ::_exit(127);
  }
  return reap(pid);
}

// Runs f() in a child process (so its CPU time is its own, not the server's).
template <class F>
int in_child(F f) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(f());
  return reap(pid);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  size_t size_mb = 1024;
  int runs = 3;
  fs::path dir = "/tmp/ark-pull-bench";
  std::string ark_cli;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--size-mb") size_mb = std::stoul(argv[i + 1]);
    else if (a == "--runs") runs = std::stoi(argv[i + 1]);
    else if (a == "--dir") dir = argv[i + 1];
    else if (a == "--ark-cli") ark_cli = argv[i + 1];
  }
  fs::create_directories(dir);
  const fs::path src = dir / "weights.bin";
  const uint64_t size = static_cast<uint64_t>(size_mb) << 20;
  if (!fs::exists(src) || fs::file_size(src) != size) {
    std::fprintf(stderr, "pull_bench: writing %zu MB of test data to %s\n", size_mb, src.c_str());
    std::ofstream out(src, std::ios::binary);
    std::vector<uint64_t> block(1 << 17);
    uint64_t x = 88172645463325252ull;
    for (uint64_t done = 0; done < size; done += block.size() * 8) {
      for (auto& v : block) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v = x;
      }
      out.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(std::min<uint64_t>(block.size() * 8, size - done)));
    }
  }
  const std::string sha = sha256_file(src);
  SendfileServer server(src);
  std::printf("file: %zu MB, sha256 %s, url %s\n", size_mb, sha.c_str(), server.url().c_str());

  std::vector<double> t_curl, t_curl_sync, t_fetch, t_cli, c_curl, c_fetch;
  for (int r = 0; r < runs; ++r) {
    const fs::path out = dir / "curl.out";
    fs::remove(out);
    auto t0 = std::chrono::steady_clock::now();
    const int rc = run({"curl", "-s", "-f", "-o", out.string(), server.url()});
    t_curl.push_back(seconds_since(t0));
    c_curl.push_back(g_child_cpu);
    if (rc != 0 || fs::file_size(out) != size) std::fprintf(stderr, "curl failed (%d)\n", rc);
    fs::remove(out);
    // The same with the durability fetch() gives (fsync before publishing): curl -o, then sync the file.
    t0 = std::chrono::steady_clock::now();
    run({"curl", "-s", "-f", "-o", out.string(), server.url()});
    run({"sync", "--data", out.string()});
    t_curl_sync.push_back(seconds_since(t0));
    fs::remove(out);

    const fs::path cache_root = dir / "cache";
    fs::remove_all(cache_root);
    t0 = std::chrono::steady_clock::now();
    const int frc = in_child([&] {
      Cache cache(cache_root);
      DownloadOptions opt;
      opt.progress = Progress::None;
      const fs::path blob = fetch(FileSpec{"weights.bin", size, sha, {server.url()}}, cache, opt);
      return fs::file_size(blob) == size ? 0 : 1;
    });
    t_fetch.push_back(seconds_since(t0));
    c_fetch.push_back(g_child_cpu);
    if (frc != 0) std::fprintf(stderr, "fetch failed (%d)\n", frc);
    fs::remove_all(cache_root);

    if (!ark_cli.empty()) {
      const fs::path extra = dir / "extra.json";
      std::ofstream(extra) << R"({"entries": [{"name": "bench.file", "architecture": "resnet18", "config": {"num_classes": 2},
          "labels": ["a", "b"], "format": "safetensors", "weights": "weights.bin",
          "preprocess": {"input_size": [3, 224, 224], "crop_pct": 0.875, "interpolation": "bilinear",
                         "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
          "tasks": ["image-classification"], "license": "test", "source": "pull_bench",
          "files": [{"name": "weights.bin", "size": )" << size << R"(, "sha256": ")" << sha << R"(", "urls": [")"
                           << server.url() << R"("]}]}]})";
      t0 = std::chrono::steady_clock::now();
      const int prc = run({ark_cli, "pull", "bench.file"}, {"ARK_HOME=" + cache_root.string(), "ARK_REGISTRY_EXTRA=" + extra.string()});
      t_cli.push_back(seconds_since(t0));
      if (prc != 0) std::fprintf(stderr, "ark pull failed (%d)\n", prc);
      fs::remove_all(cache_root);
    }
    std::printf("run %d: curl -o %.3f s, curl -o + sync %.3f s, fetch() %.3f s%s\n", r + 1, t_curl.back(), t_curl_sync.back(), t_fetch.back(),
                t_cli.empty() ? "" : (", ark pull " + std::to_string(t_cli.back()) + " s").c_str());
  }
  const double mc = median(t_curl), mf = median(t_fetch);
  std::printf("median of %d: curl -o %.3f s (%.0f MB/s), fetch() %.3f s (%.0f MB/s), ratio %.2fx (goal <= 1.2x)\n", runs, mc,
              static_cast<double>(size) / 1e6 / mc, mf, static_cast<double>(size) / 1e6 / mf, mf / mc);
  std::printf("median curl -o + sync --data %.3f s; fetch() / that %.2fx\n", median(t_curl_sync), mf / median(t_curl_sync));
  std::printf("median CPU (user+sys): curl -o %.3f s, fetch() %.3f s (sha256 of every byte included)\n", median(c_curl), median(c_fetch));
  if (!t_cli.empty()) std::printf("median ark pull %.3f s, ratio %.2fx\n", median(t_cli), median(t_cli) / mc);
  return 0;
}
