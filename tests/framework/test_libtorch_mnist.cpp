// The classic libtorch MNIST program (tests/libtorch/mnist_classic.cpp, compiled with only its
// include changed) trains one epoch on Fashion-MNIST: its accuracy must be within 2 points of the
// same recipe in PyTorch 1.13, and its resident memory must stay flat during the run.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "support/reference.h"

namespace fs = std::filesystem;

namespace {
const char* kFashionMnist = "/usr/share/datasets/fashion-mnist";

size_t rss_kb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/statm");
  size_t pages = 0, rss = 0;
  f >> pages >> rss;
  return rss * static_cast<size_t>(sysconf(_SC_PAGESIZE) / 1024);
}
}  // namespace

TEST(LibtorchMnist, ReachesPyTorchAccuracyInFlatMemory) {
  if (!fs::exists(kFashionMnist)) GTEST_SKIP() << "Fashion-MNIST is not installed (scripts/setup.sh installs it)";
  const std::string ref_path = ark::test::reference_file("mnist_reference.py", "mnist_reference.json", kFashionMnist);
  nlohmann::json ref = nlohmann::json::parse(std::ifstream(ref_path));
  const double torch_accuracy = ref["accuracy"].get<double>();

  const fs::path dir = fs::temp_directory_path() / ("ark_mnist_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::create_directory_symlink(kFashionMnist, dir / "data");
  const fs::path log = dir / "log.txt";
  const std::string program = std::string(ARK_BINARY_DIR) + "/tests/libtorch_mnist";

  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (chdir(dir.c_str()) != 0) _exit(127);
    FILE* out = freopen(log.c_str(), "w", stdout);
    if (!out) _exit(127);
    execl(program.c_str(), program.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Sample resident memory while it trains, tagged with how far training got (the number of
  // progress lines logged, one per 100 batches), bounded at 30 minutes.
  auto progress = [&] {
    std::ifstream f(log);
    std::string line;
    int n = 0;
    while (std::getline(f, line)) n += line.rfind("Train Epoch", 0) == 0;
    return n;
  };
  std::vector<std::pair<int, size_t>> samples;
  int status = 0;
  for (int i = 0; i < 30 * 60 * 10; ++i) {
    if (waitpid(pid, &status, WNOHANG) == pid) break;
    samples.emplace_back(progress(), rss_kb(pid));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (waitpid(pid, &status, WNOHANG) == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    FAIL() << "the MNIST program did not finish in 30 minutes";
  }
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the MNIST program failed; see " << log;
  std::ifstream in(log);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, std::regex("Accuracy: ([0-9.]+)"))) << text;
  const double accuracy = std::stod(m[1]);
  std::cout << "ark accuracy " << accuracy << ", PyTorch " << torch_accuracy << "\n";
  EXPECT_GT(accuracy, 0.70);
  EXPECT_NEAR(accuracy, torch_accuracy, 0.02);

  // Memory: once warm (batches 100-500), RSS must not grow over later training (500-900).
  size_t warm = 0, late = 0;
  for (const auto& [lines, kb] : samples) {
    if (lines >= 2 && lines <= 5) warm = std::max(warm, kb);
    if (lines >= 6 && lines <= 9) late = std::max(late, kb);
  }
  ASSERT_GT(warm, 0u) << "no memory samples during training";
  std::cout << "RSS: warm " << warm / 1024 << " MB, later peak " << late / 1024 << " MB\n";
  EXPECT_LT(late, warm + 32 * 1024) << "resident memory grew during training";
  fs::remove_all(dir);
}
