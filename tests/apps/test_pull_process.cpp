// `ark pull` as real processes against a loopback server (issue 5's process test): SIGKILLed
// halfway through a 64 MB file then run again ends with one verified blob; four concurrent pulls of
// one entry end with one blob, one download and four successes; SIGINT exits 130 with the cache
// clean. The entry comes from ARK_REGISTRY_EXTRA; every wait is bounded.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "ark/io/file.h"
#include "ark/pretrained/cache.h"
#include "ark/pretrained/sha256.h"
#include "support/http_fault_server.h"

namespace fs = std::filesystem;
using namespace ark::pretrained;

namespace {

constexpr size_t kBig = 64u << 20;

// The server outlives the tests (building and hashing 64 MB once is enough).
struct Shared {
  std::string blob = ark_test::make_blob(kBig, 5);
  std::string sha = sha256_hex(blob);
  ark_test::FaultServer srv{blob};
  Shared() {
    srv.slow_chunk = 1u << 20;
    srv.slow_pause_ms = 12;  // ~64 steps: about a second for the whole file
    srv.start();
  }
};
Shared& shared() {
  static Shared* s = new Shared;  // never destroyed: its server thread ends with the process
  return *s;
}

class PullProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir = fs::temp_directory_path() / ("ark-pullproc-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
    Shared& s = shared();
    ASSERT_TRUE(s.srv.running());
    s.srv.clear();
    std::ofstream(dir / "extra.json")
        << R"({"entries": [{"name": "test.big", "architecture": "resnet18", "config": {"num_classes": 2},
              "labels": ["a", "b"], "format": "safetensors", "weights": "big.bin",
              "preprocess": {"input_size": [3, 224, 224], "crop_pct": 0.875, "interpolation": "bilinear",
                             "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
              "tasks": ["image-classification"], "license": "test", "source": "test_pull_process",
              "files": [{"name": "big.bin", "size": )"
        << kBig << R"(, "sha256": ")" << s.sha << R"(", "urls": [")" << s.srv.url("/slow/big.bin") << R"("]}]}]})";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  // Starts `ark pull test.big` with the test's cache and registry; output to out<n>/err<n>.
  pid_t spawn(int n) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setenv("ARK_HOME", (dir / "cache").c_str(), 1);
      ::setenv("ARK_REGISTRY_EXTRA", (dir / "extra.json").c_str(), 1);
      ::unsetenv("ARK_ENDPOINT");
      ::unsetenv("ARK_OFFLINE");
      for (const char* v : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) ::unsetenv(v);
      const int out = ::open((dir / ("out" + std::to_string(n))).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = ::open((dir / ("err" + std::to_string(n))).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(out, 1);
      ::dup2(err, 2);
      ::execl(ARK_CLI, ARK_CLI, "pull", "test.big", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return pid;
  }
  // Exit code, or -signal; kills and fails after `seconds`.
  int wait_exit(pid_t pid, int seconds = 30) {
    int status = 0;
    for (int i = 0; i < seconds * 100; ++i) {
      if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    ADD_FAILURE() << "ark pull did not finish within " << seconds << " s";
    return -1;
  }
  uint64_t partial_bytes() {
    std::error_code ec;
    uint64_t most = 0;
    const fs::path tmp = dir / "cache" / "blobs" / ".tmp";
    if (fs::exists(tmp, ec))
      for (const auto& de : fs::directory_iterator(tmp, ec)) most = std::max<uint64_t>(most, fs::file_size(de.path(), ec));
    return most;
  }
  bool wait_partial(uint64_t bytes) {
    for (int i = 0; i < 2000; ++i) {  // <= 10 s
      if (partial_bytes() >= bytes) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
  std::string text(const std::string& name) { return ark::io::read_file((dir / name).string()); }
  // One verified blob, nothing else, no temp files; the entry complete.
  void expect_one_verified_blob() {
    const fs::path blobs = dir / "cache" / "blobs" / "sha256";
    std::vector<fs::path> all;
    for (const auto& de : fs::directory_iterator(blobs)) all.push_back(de.path());
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].filename().string(), shared().sha);
    EXPECT_EQ(sha256_file(all[0]), shared().sha);
    std::error_code ec;
    if (fs::exists(dir / "cache" / "blobs" / ".tmp", ec)) {
      EXPECT_TRUE(fs::is_empty(dir / "cache" / "blobs" / ".tmp"));
    }
    const auto m = Cache(dir / "cache").read_manifest("test.big");
    ASSERT_TRUE(m);
    ASSERT_EQ(m->files.size(), 1u);
    EXPECT_EQ(m->files[0].sha256, shared().sha);
  }

  fs::path dir;
};

TEST_F(PullProcess, KilledHalfwayThenRerunEndsWithOneVerifiedBlob) {
  shared().srv.slow_pause_ms = 25;  // ~1.6 s for the file: a wide window to kill it halfway
  const pid_t first = spawn(0);
  const bool halfway = wait_partial(kBig / 2);
  ::kill(first, SIGKILL);
  EXPECT_EQ(wait_exit(first), -SIGKILL);
  ASSERT_TRUE(halfway) << text("err0");
  EXPECT_FALSE(fs::exists(dir / "cache" / "blobs" / "sha256" / shared().sha));
  EXPECT_FALSE(Cache(dir / "cache").read_manifest("test.big"));
  shared().srv.slow_pause_ms = 12;
  const int rc = wait_exit(spawn(1));
  EXPECT_EQ(rc, 0) << text("err1");
  expect_one_verified_blob();
  EXPECT_NE(text("out1").find(shared().sha), std::string::npos) << text("out1");
}

TEST_F(PullProcess, FourConcurrentPullsOneBlobFourSuccesses) {
  std::vector<pid_t> pids;
  for (int i = 0; i < 4; ++i) pids.push_back(spawn(i));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(wait_exit(pids[i]), 0) << text("err" + std::to_string(i));
  expect_one_verified_blob();
  std::set<std::string> outs;
  for (int i = 0; i < 4; ++i) outs.insert(text("out" + std::to_string(i)));
  EXPECT_EQ(outs.size(), 1u);  // the same entry and blob path
  EXPECT_EQ(shared().srv.count("/slow/"), 1u);  // the lock: one download, three waiters
}

TEST_F(PullProcess, SigintExits130AndLeavesTheCacheClean) {
  shared().srv.slow_pause_ms = 25;
  const pid_t pid = spawn(0);
  const bool started = wait_partial(4u << 20);
  ::kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid), 130) << text("err0");
  ASSERT_TRUE(started);
  EXPECT_NE(text("err0").find("interrupted"), std::string::npos) << text("err0");
  EXPECT_EQ(partial_bytes(), 0u);
  std::error_code ec;
  EXPECT_FALSE(fs::exists(dir / "cache" / "blobs" / "sha256" / shared().sha, ec));
  EXPECT_FALSE(Cache(dir / "cache").read_manifest("test.big"));
  shared().srv.slow_pause_ms = 12;
}

}  // namespace
