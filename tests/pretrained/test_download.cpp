// The downloader against loopback fault servers (RELIABILITY §5.A, one test per case id): each
// test asserts the outcome (the blob, or the named ErrorKind and message) and that the cache is
// left clean (no temp files, no unexpected blobs, earlier blobs byte-identical). Backoff waits go
// through an injected sleep that records them, so retries cost no wall-clock time; the timeouts
// that must be real (low-speed, connect) are set to 1 s.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include "ark/io/file.h"
#include "ark/pretrained/cache.h"
#include "ark/pretrained/download.h"
#include "ark/pretrained/sha256.h"
#include "support/http_fault_server.h"

namespace fs = std::filesystem;
using namespace ark::pretrained;
using ark_test::FaultServer;
using ark_test::make_blob;
using ark_test::RawServer;
using ark_test::Step;

namespace {

constexpr size_t kSize = 65536;

std::string read_all(const fs::path& p) { return ark::io::read_file(p.string()); }

// Polls `cond` every 5 ms for at most `ms`.
template <class F>
bool wait_for(F cond, int ms) {
  for (int i = 0; i < ms / 5; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

class Download : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root = fs::temp_directory_path() / ("ark-dl-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(root);
    cache.emplace(root);
    // Loopback only: a proxy from the environment must not see these requests (A38 sets its own).
    for (const char* v : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) ::unsetenv(v);
    srv.start();
    ASSERT_TRUE(srv.running());
    clear_interrupt();
    opt.offline = false;
    opt.force = false;
    opt.ca_bundle.clear();
    opt.progress = Progress::None;
    opt.connect_timeout_s = 1;
    opt.low_speed_time_s = 1;
    opt.low_speed_limit = 1000;
    opt.max_retries = 5;
    opt.lock_timeout_s = 10;
    opt.sleep = [this](std::chrono::milliseconds ms) {
      std::lock_guard<std::mutex> g(sleep_m);
      sleeps.push_back(ms);
    };
  }
  void TearDown() override {
    srv.stop();
    std::error_code ec;
    fs::remove_all(root, ec);
  }

  FileSpec spec(const std::string& target, std::optional<uint64_t> size = kSize, std::optional<std::string> want = std::nullopt) {
    return FileSpec{"model.bin", size, want ? *want : sha, {srv.url(target)}};
  }

  DownloadError expect_error(const FileSpec& s, ErrorKind kind, const std::string& needle) {
    try {
      fetch(s, *cache, opt);
    } catch (const DownloadError& e) {
      EXPECT_EQ(to_string(e.kind()), std::string(to_string(kind))) << e.what();
      EXPECT_NE(e.msg().find(needle), std::string::npos) << "message: " << e.msg() << "\nexpected to contain: " << needle;
      return e;
    }
    ADD_FAILURE() << "expected a " << to_string(kind) << " error containing '" << needle << "'";
    return DownloadError(kind, "none");
  }

  // CLEAN: no temp files anywhere, blobs/sha256 holds exactly `blobs`, each hashing to its name.
  void expect_clean(const std::set<std::string>& blobs) {
    std::error_code ec;
    if (fs::exists(cache->temp_dir(), ec))
      for (const auto& de : fs::directory_iterator(cache->temp_dir())) ADD_FAILURE() << "temp file left: " << de.path();
    std::set<std::string> have;
    const fs::path dir = root / "blobs" / "sha256";
    if (fs::exists(dir, ec))
      for (const auto& de : fs::directory_iterator(dir)) {
        have.insert(de.path().filename().string());
        EXPECT_EQ(sha256_file(de.path()), de.path().filename().string()) << "blob content does not match its name";
      }
    EXPECT_EQ(have, blobs);
    for (const char* sub : {"manifests", "refs/sha256-prefix"}) {
      if (!fs::exists(root / sub, ec)) continue;
      for (const auto& de : fs::directory_iterator(root / sub))
        EXPECT_EQ(de.path().filename().string().find(".tmp."), std::string::npos) << de.path();
    }
  }

  std::string blob = make_blob(kSize);
  std::string sha = sha256_hex(blob);
  FaultServer srv{blob};
  fs::path root;
  std::optional<Cache> cache;
  DownloadOptions opt;
  std::mutex sleep_m;
  std::vector<std::chrono::milliseconds> sleeps;
};

TEST_F(Download, A01_OkFileOneGetClean) {
  const fs::path p = fetch(spec("/ok/model.bin"), *cache, opt);
  EXPECT_EQ(p, root / "blobs" / "sha256" / sha);
  EXPECT_EQ(read_all(p), blob);
  EXPECT_EQ(srv.count("/ok/"), 1u);
  cache->write_manifest("test.entry", {{"model.bin", kSize, sha}});
  EXPECT_EQ(cache->entry_file("test.entry", "model.bin"), p);
  // Cached: no second request.
  EXPECT_EQ(fetch(spec("/ok/model.bin"), *cache, opt), p);
  EXPECT_EQ(srv.count("/ok/"), 1u);
  expect_clean({sha});
}

TEST_F(Download, A02_TruncatedEveryTimeGivesUpAfterResuming) {
  expect_error(spec("/truncate?at=32768"), ErrorKind::Network, "incomplete: 32768 of 65536 bytes");
  const auto seen = srv.seen();
  ASSERT_EQ(seen.size(), 6u);  // max_retries + 1
  EXPECT_EQ(seen[0].range, "");
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].range, "bytes=32768-");
    EXPECT_EQ(seen[i].if_range, "\"v1\"");
  }
  EXPECT_EQ(sleeps.size(), 5u);
  expect_clean({});
}

TEST_F(Download, A02_TruncatedOnceResumesWithIfRange) {
  const fs::path p = fetch(spec("/truncate-once?at=20000"), *cache, opt);
  EXPECT_EQ(read_all(p), blob);
  const auto seen = srv.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].range, "bytes=20000-");
  EXPECT_EQ(seen[1].if_range, "\"v1\"");
  expect_clean({sha});
}

TEST_F(Download, A03_BodyLongerThanExpected) {
  expect_error(spec("/longer"), ErrorKind::Integrity, "size mismatch");
  expect_clean({});
}

TEST_F(Download, A03_DeclaredLengthDiffersFromManifest) {
  expect_error(spec("/ok/model.bin", kSize - 1), ErrorKind::Integrity, "size mismatch: the server declares 65536 bytes, expected 65535");
  EXPECT_EQ(srv.count("/ok/"), 1u);  // no retry
  expect_clean({});
}

TEST_F(Download, A04_WrongBytesKeepsOtherBlobs) {
  const std::string other = make_blob(1000, 7), other_sha = sha256_hex(other);
  srv.files["other.bin"] = other;
  const fs::path op = fetch(FileSpec{"other.bin", other.size(), other_sha, {srv.url("/file/other.bin")}}, *cache, opt);
  expect_error(spec("/wrong-bytes"), ErrorKind::Integrity, "sha256 mismatch: expected " + sha + " got ");
  EXPECT_EQ(read_all(op), other);
  EXPECT_EQ(srv.count("/wrong-bytes"), 1u);
  expect_clean({other_sha});
}

TEST_F(Download, A05_NotFoundNoRetry) {
  const auto e = expect_error(spec("/status/404"), ErrorKind::Network, "not found (HTTP 404)");
  EXPECT_NE(e.msg().find(srv.url("/status/404")), std::string::npos) << e.msg();
  EXPECT_EQ(e.http_status(), 404);
  EXPECT_EQ(exit_code(e.kind()), 3);
  EXPECT_EQ(srv.seen().size(), 1u);
  EXPECT_TRUE(sleeps.empty());
  expect_clean({});
}

TEST_F(Download, A06_AuthErrorsNoRetryNoTokenInMessage) {
  opt.headers = {"Authorization: Bearer hf_secret_token_123"};
  for (const char* code : {"401", "403"}) {
    srv.clear();
    const auto e = expect_error(spec(std::string("/status/") + code), ErrorKind::Network, "authentication");
    EXPECT_EQ(e.msg().find("hf_secret_token_123"), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find("hf_secret_token_123"), std::string::npos);
    const auto seen = srv.seen();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_TRUE(seen[0].authorization);
  }
  expect_clean({});
}

TEST_F(Download, A07_FlakyThenOkWithBackoff) {
  const fs::path p = fetch(spec("/flaky?fail=2&code=503"), *cache, opt);
  EXPECT_EQ(read_all(p), blob);
  EXPECT_EQ(srv.count("/flaky"), 3u);
  ASSERT_EQ(sleeps.size(), 2u);  // exponential with +-50% jitter: 1 s then 2 s nominal
  EXPECT_GE(sleeps[0].count(), 500);
  EXPECT_LE(sleeps[0].count(), 1500);
  EXPECT_GE(sleeps[1].count(), 1000);
  EXPECT_LE(sleeps[1].count(), 3000);
  expect_clean({sha});
}

TEST_F(Download, A08_FlakyForeverGivesUp) {
  expect_error(spec("/flaky?fail=99&code=503"), ErrorKind::Network, "gave up after 6 attempts: server error (HTTP 503)");
  EXPECT_EQ(srv.count("/flaky"), 6u);
  EXPECT_EQ(sleeps.size(), 5u);
  expect_clean({});
}

TEST_F(Download, A09_RetryAfterHonouredAndCapped) {
  const fs::path p = fetch(spec("/flaky?fail=1&code=429&retry_after=2"), *cache, opt);
  EXPECT_EQ(read_all(p), blob);
  ASSERT_EQ(sleeps.size(), 1u);
  EXPECT_EQ(sleeps[0].count(), 2000);
  srv.clear();
  sleeps.clear();
  fs::remove(p);
  expect_error(spec("/status/429?retry_after=86400"), ErrorKind::Network, "rate limited");
  EXPECT_EQ(srv.seen().size(), 1u);
  EXPECT_TRUE(sleeps.empty());
  expect_clean({});
}

TEST_F(Download, A10_StallTimesOutThenResumes) {
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path p = fetch(spec("/stall?after=16384"), *cache, opt);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_EQ(read_all(p), blob);
  const auto seen = srv.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].range, "bytes=16384-");
  expect_clean({sha});
}

TEST_F(Download, A11_NoAnswerTimesOut) {
  RawServer raw([](const std::string&, int) { return std::vector<Step>{ark_test::sleep_ms(3000)}; });
  opt.max_retries = 1;
  const auto t0 = std::chrono::steady_clock::now();
  FileSpec s{"model.bin", kSize, sha, {raw.url("/no-headers")}};
  expect_error(s, ErrorKind::Network, "timed out");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(8));
  EXPECT_EQ(raw.seen().size(), 2u);
  expect_clean({});
}

TEST_F(Download, A12_ConnectionRefusedBoundedRetries) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);  // nobody listens there now
  opt.max_retries = 2;
  FileSpec s{"model.bin", kSize, sha, {"http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/model.bin"}};
  expect_error(s, ErrorKind::Network, "connection refused");
  EXPECT_EQ(sleeps.size(), 2u);
  expect_clean({});
}

TEST_F(Download, A13_KilledMidDownloadThenRerunStartsClean) {
  srv.slow_chunk = 2048;
  srv.slow_pause_ms = 30;  // 32 chunks: ~1 s, time enough to see the temp file grow under load
  const FileSpec s = spec("/slow/model.bin");
  const pid_t child = ::fork();
  if (child == 0) {
    try {
      fetch(s, *cache, opt);
    } catch (...) {
    }
    ::_exit(0);
  }
  // Kill it once its temp file holds some bytes.
  const bool started = wait_for(
      [&] {
        std::error_code ec;
        if (!fs::exists(cache->temp_dir(), ec)) return false;
        for (const auto& de : fs::directory_iterator(cache->temp_dir(), ec))
          if (de.path().extension() == ".part" && fs::file_size(de.path(), ec) > 0) return true;
        return false;
      },
      5000);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ASSERT_TRUE(started);
  EXPECT_FALSE(fs::exists(cache->blob_path(sha)));  // a partial is never published
  srv.clear();
  const fs::path p = fetch(s, *cache, opt);
  EXPECT_EQ(read_all(p), blob);
  const auto seen = srv.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].range, "");  // cross-run resume is off: the dead process's partial is deleted
  expect_clean({sha});
}

TEST_F(Download, A14_IgnoredRangeRestartsFromZero) {
  const fs::path p = fetch(spec("/ignore-range?at=32768"), *cache, opt);
  EXPECT_EQ(read_all(p), blob);  // not "prefix + whole file"
  const auto seen = srv.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].range, "bytes=32768-");
  expect_clean({sha});
}

TEST_F(Download, A15_WrongContentRangeNeverSpliced) {
  const std::string b = blob;
  RawServer raw([&b](const std::string& req, int n) {
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 65536\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n";
    if (n == 1) return std::vector<Step>{ark_test::send(head + b.substr(0, 16384)), ark_test::close_conn()};
    if (req.find("Range: bytes=16384-") != std::string::npos)  // lies: sends the file from 0
      return std::vector<Step>{ark_test::send("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-65535/65536\r\n"
                                              "Content-Length: 65536\r\nConnection: close\r\n\r\n" + b),
                               ark_test::close_conn()};
    return std::vector<Step>{ark_test::send(head + b), ark_test::close_conn()};
  });
  FileSpec s{"model.bin", kSize, sha, {raw.url("/bad-content-range")}};
  const fs::path p = fetch(s, *cache, opt);
  EXPECT_EQ(read_all(p), blob);
  const auto seen = raw.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[1].range, "bytes=16384-");
  EXPECT_EQ(seen[2].range, "");  // restarted from 0
  expect_clean({sha});
}

TEST_F(Download, A16_Range416DiscardsPartial) {
  const fs::path p = fetch(spec("/range-416?at=32768"), *cache, opt);
  EXPECT_EQ(read_all(p), blob);
  const auto seen = srv.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[1].range, "bytes=32768-");
  EXPECT_EQ(seen[2].range, "");
  expect_clean({sha});
}

TEST_F(Download, A17_ContentEncodingRefused) {
  expect_error(spec("/gzip"), ErrorKind::Integrity, "unexpected content-encoding 'gzip'");
  EXPECT_EQ(srv.count("/gzip"), 1u);
  expect_clean({});
}

TEST_F(Download, A18_RedirectFollowed) {
  const fs::path p = fetch(spec("/redirect?to=/ok/model.bin"), *cache, opt);
  EXPECT_EQ(read_all(p), blob);
  EXPECT_EQ(srv.count("/ok/"), 1u);
  expect_clean({sha});
}

TEST_F(Download, A19_RedirectLoopAndLongChain) {
  expect_error(spec("/loop"), ErrorKind::Network, "too many redirects (more than 5)");
  EXPECT_EQ(srv.count("/loop"), 6u);
  expect_error(spec("/chain/20"), ErrorKind::Network, "too many redirects");
  EXPECT_EQ(srv.count("/ok/"), 0u);
  expect_clean({});
}

TEST_F(Download, A20_RedirectToFileOrFtpRefused) {
  expect_error(spec("/redirect?to=file:///etc/passwd"), ErrorKind::Network, "only http and https");
  expect_error(spec("/redirect?to=ftp://127.0.0.1/model.bin"), ErrorKind::Network, "only http and https");
  FileSpec s{"model.bin", kSize, sha, {"ftp://127.0.0.1/model.bin"}};
  expect_error(s, ErrorKind::BadFile, "no usable URL");
  expect_clean({});
}

TEST_F(Download, A21_HtmlPageInsteadOfWeights) {
  const auto e = expect_error(spec("/html", std::nullopt), ErrorKind::Integrity, "sha256 mismatch");
  EXPECT_NE(e.msg().find("HTML"), std::string::npos) << e.msg();
  expect_clean({});
}

TEST_F(Download, A22_ChunkedWithoutLength) {
  const fs::path p = fetch(spec("/chunked"), *cache, opt);
  EXPECT_EQ(read_all(p), blob);
  fs::remove(p);
  EXPECT_EQ(read_all(fetch(spec("/chunked", std::nullopt), *cache, opt)), blob);  // sha only
  fs::remove(p);
  // One byte short every time: retried (a proxy may have cut it), then a clear failure.
  expect_error(spec("/chunked", kSize + 1), ErrorKind::Network, "gave up after 6 attempts");
  expect_clean({});
}

TEST_F(Download, A23_NotEnoughDiskSpaceBeforeAnyRequest) {
  expect_error(spec("/ok/model.bin", uint64_t(1) << 60), ErrorKind::Io, "not enough disk space");
  EXPECT_EQ(srv.seen().size(), 0u);
  expect_clean({});
}

TEST_F(Download, A24_DiskFullIsAnIoError) {
  const FileSpec s = spec("/ok/model.bin");
  const pid_t child = ::fork();
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit r{40 * 1024, 40 * 1024};
    ::setrlimit(RLIMIT_FSIZE, &r);
    try {
      fetch(s, *cache, opt);
      ::_exit(0);
    } catch (const DownloadError& e) {
      const bool names = e.msg().find("write failed") != std::string::npos && e.msg().find(".part") != std::string::npos;
      ::_exit(names ? exit_code(e.kind()) : 1);
    } catch (...) {
      ::_exit(1);
    }
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 6);
  expect_clean({});
}

TEST_F(Download, A25_FourProcessesOneBlob) {
  srv.slow_chunk = 4096;
  srv.slow_pause_ms = 15;  // 16 chunks: ~0.25 s
  const FileSpec s = spec("/slow/model.bin");
  std::vector<pid_t> kids;
  for (int i = 0; i < 4; ++i) {
    const pid_t c = ::fork();
    if (c == 0) {
      try {
        const fs::path p = fetch(s, *cache, opt);
        ::_exit(p == cache->blob_path(sha) ? 0 : 2);
      } catch (...) {
        ::_exit(1);
      }
    }
    kids.push_back(c);
  }
  for (pid_t c : kids) {
    int status = -1;
    ::waitpid(c, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  }
  EXPECT_EQ(read_all(cache->blob_path(sha)), blob);
  EXPECT_GE(srv.count("/slow/"), 1u);
  EXPECT_EQ(srv.count("/slow/"), 1u);  // the waiters found the first one's blob
  expect_clean({sha});
}

TEST_F(Download, A25_FourThreadsOneBlob) {
  srv.slow_chunk = 8192;
  srv.slow_pause_ms = 10;
  const FileSpec s = spec("/slow/model.bin");
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&] {
      Cache c(root);
      if (fetch(s, c, opt) == c.blob_path(sha)) ++ok;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_EQ(srv.count("/slow/"), 1u);
  expect_clean({sha});
}

TEST_F(Download, A26_WithoutTheLockStillOneCorrectBlob) {
  srv.slow_chunk = 4096;
  srv.slow_pause_ms = 5;
  opt.use_lock = false;  // a file system whose flock() does nothing
  const FileSpec s = spec("/slow/model.bin");
  std::vector<pid_t> kids;
  for (int i = 0; i < 4; ++i) {
    const pid_t c = ::fork();
    if (c == 0) {
      try {
        ::_exit(fetch(s, *cache, opt) == cache->blob_path(sha) ? 0 : 2);
      } catch (...) {
        ::_exit(1);
      }
    }
    kids.push_back(c);
  }
  for (pid_t c : kids) {
    int status = -1;
    ::waitpid(c, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  }
  EXPECT_GE(srv.count("/slow/"), 1u);
  EXPECT_LE(srv.count("/slow/"), 4u);
  EXPECT_EQ(read_all(cache->blob_path(sha)), blob);  // unique temp files + atomic rename: no interleaving
  expect_clean({sha});
}

TEST_F(Download, A27_LockWaitIsBounded) {
  CacheLock held(*cache, sha, 1);
  opt.lock_timeout_s = 0.3;
  expect_error(spec("/ok/model.bin"), ErrorKind::Io, "lock timeout");
  EXPECT_EQ(srv.seen().size(), 0u);
}

TEST_F(Download, A28_SigintExits130AndLeavesNothing) {
  srv.slow_chunk = 1024;
  srv.slow_pause_ms = 40;  // 64 chunks: ~2.6 s (the test ends at the SIGINT)
  const FileSpec s = spec("/slow/model.bin");
  const pid_t child = ::fork();
  if (child == 0) {
    InterruptHandlers handlers;
    try {
      fetch(s, *cache, opt);
      ::_exit(0);
    } catch (const DownloadError& e) {
      const bool said = e.msg().find("interrupted") != std::string::npos;
      ::_exit(said && InterruptHandlers::last_signal() == SIGINT ? exit_code(e.kind()) : 1);
    }
  }
  const bool started = wait_for(
      [&] {
        std::error_code ec;
        if (!fs::exists(cache->temp_dir(), ec)) return false;
        for (const auto& de : fs::directory_iterator(cache->temp_dir(), ec))
          if (fs::file_size(de.path(), ec) > 4096) return true;
        return false;
      },
      5000);
  ::kill(child, SIGINT);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(started);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  expect_clean({});
}

TEST_F(Download, A29_OfflineWithCompleteCache) {
  const fs::path p = fetch(spec("/ok/model.bin"), *cache, opt);
  srv.clear();
  opt.offline = true;
  EXPECT_EQ(fetch(spec("/ok/model.bin"), *cache, opt), p);
  EXPECT_EQ(srv.seen().size(), 0u);
  expect_clean({sha});
}

TEST_F(Download, A30_OfflineNotCached) {
  opt.offline = true;
  const auto e = expect_error(spec("/ok/model.bin"), ErrorKind::Offline, "not in cache and offline mode is on");
  EXPECT_EQ(exit_code(e.kind()), 3);
  EXPECT_EQ(srv.seen().size(), 0u);
  const char* before = std::getenv("ARK_OFFLINE");
  const std::optional<std::string> saved = before ? std::optional<std::string>(before) : std::nullopt;
  ::setenv("ARK_OFFLINE", "1", 1);
  EXPECT_TRUE(DownloadOptions().offline);
  ::setenv("ARK_OFFLINE", "0", 1);
  EXPECT_FALSE(DownloadOptions().offline);
  ::unsetenv("ARK_OFFLINE");
  EXPECT_FALSE(DownloadOptions().offline);
  if (saved) ::setenv("ARK_OFFLINE", saved->c_str(), 1);
  expect_clean({});
}

TEST_F(Download, A31_BitFlippedBlobDetectedAndReplacedByForce) {
  const fs::path p = fetch(spec("/ok/model.bin"), *cache, opt);
  cache->write_manifest("test.entry", {{"model.bin", kSize, sha}});
  {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1000);
    f.put(static_cast<char>(blob[1000] ^ 0x10));
  }
  const VerifyReport r = cache->verify();
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].problem.find("sha256 mismatch"), std::string::npos) << r.problems[0].problem;
  EXPECT_EQ(r.problems[0].entry, "test.entry");
  opt.verify_cached = true;
  expect_error(spec("/ok/model.bin"), ErrorKind::Integrity, "cache corrupted");
  opt.verify_cached = false;
  opt.force = true;
  EXPECT_EQ(fetch(spec("/ok/model.bin"), *cache, opt), p);
  EXPECT_EQ(read_all(p), blob);
  EXPECT_TRUE(cache->verify().ok());
  expect_clean({sha});
}

TEST_F(Download, A32_TruncatedBlobDetectedBySize) {
  const fs::path p = fetch(spec("/ok/model.bin"), *cache, opt);
  cache->write_manifest("test.entry", {{"model.bin", kSize, sha}});
  fs::resize_file(p, kSize / 2);
  srv.clear();
  expect_error(spec("/ok/model.bin"), ErrorKind::Integrity, "cache corrupted: " + p.string() + " has 32768 bytes, expected 65536");
  EXPECT_EQ(srv.seen().size(), 0u);
  const VerifyReport r = cache->verify({}, /*hash=*/false);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].problem.find("32768 bytes, expected 65536"), std::string::npos);
  opt.force = true;
  fetch(spec("/ok/model.bin"), *cache, opt);
  EXPECT_EQ(read_all(p), blob);
  expect_clean({sha});
}

TEST_F(Download, A34_InvalidFilenamesRefusedBeforeAnyFsCall) {
  for (const std::string bad : {"../../x", "/etc/x", "C:\\x", "\\\\host\\share\\x", "a/../../b", "a//b", "./x", "x\n", ""}) {
    FileSpec s{bad, kSize, sha, {srv.url("/ok/model.bin")}};
    expect_error(s, ErrorKind::BadFile, "invalid filename");
    EXPECT_THROW(cache->write_manifest("e", {{bad, kSize, sha}}), DownloadError);
  }
  EXPECT_EQ(srv.seen().size(), 0u);
  EXPECT_FALSE(fs::exists(root));
}

// TLS is always verified: a self-signed loopback server fails with a hint, and works once its
// certificate is named as the CA bundle. There is no switch to turn verification off.
TEST_F(Download, A39_TlsVerifiedCaBundleOption) {
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
  const fs::path cert = root / "tls" / "cert.pem", key = root / "tls" / "key.pem";
  fs::create_directories(cert.parent_path());
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=127.0.0.1 "
                          "-addext subjectAltName=IP:127.0.0.1 -keyout " + key.string() + " -out " + cert.string() + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "openssl CLI cannot make a test certificate";
  httplib::SSLServer tls(cert.c_str(), key.c_str());
  tls.Get("/model.bin", [this](const httplib::Request&, httplib::Response& res) { res.set_content(blob, "application/octet-stream"); });
  const int port = tls.bind_to_any_port("127.0.0.1");
  std::thread th([&] { tls.listen_after_bind(); });
  for (int i = 0; i < 200 && !tls.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const std::string url = "https://127.0.0.1:" + std::to_string(port) + "/model.bin";
  FileSpec s{"model.bin", kSize, sha, {url}};
  expect_error(s, ErrorKind::Network, "TLS certificate verify failed");
  expect_error(s, ErrorKind::Network, "ARK_CA_BUNDLE");
  expect_clean({});
  opt.ca_bundle = cert.string();
  EXPECT_EQ(read_all(fetch(s, *cache, opt)), blob);
  tls.stop();
  th.join();
  fs::remove_all(cert.parent_path());
  expect_clean({sha});
#else
  GTEST_SKIP() << "cpp-httplib was built without OpenSSL";
#endif
}

// Proxies come from libcurl's usual variables: a proxy answering 407 is a clear error, and
// NO_PROXY bypasses it.
TEST_F(Download, A38_ProxyAuthRequiredAndNoProxyBypass) {
  RawServer proxy([](const std::string&, int) {
    return std::vector<Step>{ark_test::send("HTTP/1.1 407 Proxy Authentication Required\r\n"
                                            "Proxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                             ark_test::close_conn()};
  });
  const std::string old_no_proxy = DownloadOptions::env_or("no_proxy"), old_NO_PROXY = DownloadOptions::env_or("NO_PROXY");
  ::unsetenv("no_proxy");
  ::unsetenv("NO_PROXY");
  ::setenv("http_proxy", proxy.url("").c_str(), 1);
  expect_error(spec("/ok/model.bin"), ErrorKind::Network, "proxy authentication required");
  EXPECT_EQ(proxy.seen().size(), 1u);
  EXPECT_EQ(srv.seen().size(), 0u);
  ::setenv("NO_PROXY", "127.0.0.1", 1);
  EXPECT_EQ(read_all(fetch(spec("/ok/model.bin"), *cache, opt)), blob);
  EXPECT_EQ(proxy.seen().size(), 1u);
  ::unsetenv("http_proxy");
  ::unsetenv("NO_PROXY");
  if (!old_no_proxy.empty()) ::setenv("no_proxy", old_no_proxy.c_str(), 1);
  if (!old_NO_PROXY.empty()) ::setenv("NO_PROXY", old_NO_PROXY.c_str(), 1);
  expect_clean({sha});
}

TEST_F(Download, A42_ZeroByteFile) {
  srv.files["empty"] = "";
  const std::string empty_sha = sha256_hex("");
  const fs::path p = fetch(FileSpec{"empty", 0, empty_sha, {srv.url("/file/empty")}}, *cache, opt);
  EXPECT_EQ(fs::file_size(p), 0u);
  FileSpec wrong{"other", 10, sha, {srv.url("/file/empty")}};
  expect_error(wrong, ErrorKind::Integrity, "size mismatch: the server declares 0 bytes, expected 10");
  expect_clean({empty_sha});
}

// ---- beyond the numbered cases ----

TEST_F(Download, HubLinkedEtagVerifiesWithoutPinnedSha) {
  FileSpec s{"model.bin", std::nullopt, "", {srv.url("/hf/model.bin?etag=" + sha)}};
  const fs::path p = fetch(s, *cache, opt);
  EXPECT_EQ(p, cache->blob_path(sha));
  // Again: the redirect's X-Linked-Etag names a blob we have, so the body is not downloaded.
  srv.clear();
  EXPECT_EQ(fetch(s, *cache, opt), p);
  EXPECT_EQ(srv.count("/hf/"), 1u);
  // A hub that says another sha256 than the bytes have.
  fs::remove(p);
  const std::string other = sha256_hex("other");
  FileSpec bad{"model.bin", std::nullopt, "", {srv.url("/hf/model.bin?etag=" + other)}};
  expect_error(bad, ErrorKind::Integrity, "sha256 mismatch: expected " + other);
  FileSpec lying_size{"model.bin", std::nullopt, "", {srv.url("/hf/model.bin?etag=" + sha + "&size=100")}};
  expect_error(lying_size, ErrorKind::Integrity, "X-Linked-Size says 100");
  expect_clean({});
}

TEST_F(Download, RequireSha256RefusesUnverifiableFiles) {
  opt.require_sha256 = true;
  expect_error(FileSpec{"model.bin", kSize, "", {srv.url("/ok/model.bin")}}, ErrorKind::Integrity, "no sha256");
  expect_clean({});
}

TEST_F(Download, PinnedPrefixResolvesThroughRefs) {
  const FileSpec s = spec("/ok/model.bin", kSize, sha.substr(0, 8));
  const fs::path p = fetch(s, *cache, opt);
  EXPECT_EQ(p, cache->blob_path(sha));
  EXPECT_EQ(cache->find(s), p);
  srv.clear();
  opt.offline = true;
  EXPECT_EQ(fetch(s, *cache, opt), p);
  expect_error(spec("/ok/model.bin", kSize, "deadbeef"), ErrorKind::Offline, "offline");
  opt.offline = false;
  fs::remove(p);
  expect_error(spec("/ok/model.bin", kSize, "deadbeef"), ErrorKind::Integrity, "sha256 mismatch: expected deadbeef...");
}

TEST_F(Download, MirrorFirstThenFallback) {
  const fs::path mirror = root / "mirror";
  fs::create_directories(mirror / "entry");
  // A local-folder mirror (ARK_ENDPOINT=<folder>) without the file, then the origin.
  FileSpec s{"model.bin", kSize, sha, {(mirror / "entry" / "model.bin").string(), srv.url("/status/404"), srv.url("/ok/model.bin")}};
  EXPECT_EQ(read_all(fetch(s, *cache, opt)), blob);
  fs::remove(cache->blob_path(sha));
  // The mirror has it: no request at all, even offline.
  { std::ofstream(mirror / "entry" / "model.bin", std::ios::binary) << blob; }
  srv.clear();
  opt.offline = true;
  s.urls[0] = "file://" + (mirror / "entry" / "model.bin").string();
  EXPECT_EQ(read_all(fetch(s, *cache, opt)), blob);
  EXPECT_EQ(srv.seen().size(), 0u);
  fs::remove_all(mirror);
  expect_clean({sha});
}

TEST_F(Download, EveryUrlFailingReportsEach) {
  FileSpec s{"model.bin", kSize, sha, {srv.url("/status/404"), srv.url("/wrong-bytes")}};
  const auto e = expect_error(s, ErrorKind::Integrity, "every source failed");
  EXPECT_NE(e.msg().find("not found"), std::string::npos);
  EXPECT_NE(e.msg().find("sha256 mismatch"), std::string::npos);
  expect_clean({});
}

TEST_F(Download, ResetMidBodyAndGarbageStatusLineRetry) {
  const std::string b = blob;
  RawServer raw([&b](const std::string&, int n) {
    if (n == 1)
      return std::vector<Step>{ark_test::send("HTTP/1.1 200 OK\r\nContent-Length: 65536\r\nETag: \"v1\"\r\n\r\n" + b.substr(0, 30000)),
                               ark_test::reset_conn()};
    if (n == 2) return std::vector<Step>{ark_test::send("HTTQ/9 garbage\r\n\r\n"), ark_test::close_conn()};
    return std::vector<Step>{ark_test::send("HTTP/1.1 200 OK\r\nContent-Length: 65536\r\nConnection: close\r\n\r\n" + b),
                             ark_test::close_conn()};
  });
  FileSpec s{"model.bin", kSize, sha, {raw.url("/reset")}};
  EXPECT_EQ(read_all(fetch(s, *cache, opt)), blob);
  EXPECT_EQ(raw.seen().size(), 3u);
  expect_clean({sha});
}

TEST_F(Download, ProgressReportsBytes) {
  uint64_t last = 0;
  std::optional<uint64_t> total;
  opt.on_progress = [&](uint64_t done, std::optional<uint64_t> t) {
    EXPECT_GE(done, last);
    last = done;
    total = t;
  };
  fetch(spec("/ok/model.bin"), *cache, opt);
  EXPECT_EQ(last, kSize);
  EXPECT_EQ(total, kSize);
}

TEST_F(Download, FetchTextAndHead) {
  srv.files["config.json"] = "{\"model_type\": \"bert\"}";
  EXPECT_EQ(fetch_text(srv.url("/file/config.json"), opt), "{\"model_type\": \"bert\"}");
  EXPECT_THROW(fetch_text(srv.url("/file/config.json"), opt, 4), DownloadError);
  const RemoteInfo info = head(srv.url("/hf/model.bin?etag=" + sha), opt);
  EXPECT_EQ(info.status, 200);
  EXPECT_EQ(info.sha256, sha);
  EXPECT_EQ(info.size, kSize);
  EXPECT_EQ(info.repo_commit, "0123456789abcdef0123456789abcdef01234567");
  opt.offline = true;
  EXPECT_THROW(fetch_text(srv.url("/file/config.json"), opt), DownloadError);
}

}  // namespace
