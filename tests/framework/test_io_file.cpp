// io/file.h: atomic writes from one buffer or several pieces, and atomic copies through a small
// buffer; failures name the path, leave the target as it was and leave no temp file behind.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "ark/core/error.h"
#include "ark/io/file.h"
#include "support/scratch_dir.h"
#include "support/errors.h"

namespace fs = std::filesystem;
using namespace ark;

namespace {

using test::error_of;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string random_bytes(size_t n) {
  std::mt19937 rng(3);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// Every file in `dir` other than `keep`.
std::vector<std::string> others(const fs::path& dir, const std::set<std::string>& keep) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (!keep.count(e.path().filename().string())) out.push_back(e.path().filename().string());
  return out;
}

}  // namespace

TEST(AtomicFile, PiecesAreWrittenBackToBack) {
  const fs::path dir = test::scratch_dir("ark_io_file_") / "pieces";
  fs::create_directories(dir);
  const std::string big = random_bytes(3 << 20);
  io::write_file_atomic((dir / "f").string(), {std::string_view("head"), std::string_view(), std::string_view(big)});
  EXPECT_EQ(slurp(dir / "f"), "head" + big);
  io::write_file_atomic((dir / "f").string(), std::string_view("replaced"));
  EXPECT_EQ(slurp(dir / "f"), "replaced");
  EXPECT_TRUE(others(dir, {"f"}).empty());
}

TEST(AtomicFile, CopyGoesThroughChunksAndReplacesTheTarget) {
  const fs::path dir = test::scratch_dir("ark_io_file_") / "copy";
  fs::create_directories(dir);
  const std::string bytes = random_bytes((5 << 20) / 2 + 7);  // not a whole number of 1 MB chunks
  io::write_file_atomic((dir / "src").string(), bytes);
  io::write_file_atomic((dir / "dst").string(), std::string_view("old"));
  io::copy_file_atomic((dir / "src").string(), (dir / "dst").string());
  EXPECT_EQ(slurp(dir / "dst"), bytes);
  io::write_file_atomic((dir / "empty").string(), std::string_view());
  io::copy_file_atomic((dir / "empty").string(), (dir / "dst").string());
  EXPECT_EQ(slurp(dir / "dst"), "");
  EXPECT_TRUE(others(dir, {"src", "dst", "empty"}).empty());
}

TEST(AtomicFile, FailedCopyNamesThePathAndKeepsTheTarget) {
  const fs::path dir = test::scratch_dir("ark_io_file_") / "fail";
  fs::create_directories(dir);
  io::write_file_atomic((dir / "dst").string(), std::string_view("kept"));
  const std::string missing = (dir / "missing").string();
  EXPECT_NE(error_of([&] { io::copy_file_atomic(missing, (dir / "dst").string()); }).find(missing), std::string::npos);
  // A source that cannot be read as a file (a folder): the temp target is removed again.
  fs::create_directories(dir / "folder");
  const std::string folder = (dir / "folder").string();
  EXPECT_NE(error_of([&] { io::copy_file_atomic(folder, (dir / "dst").string()); }).find(folder), std::string::npos);
  const std::string nowhere = (dir / "no" / "such" / "dir" / "f").string();
  EXPECT_NE(error_of([&] { io::copy_file_atomic((dir / "dst").string(), nowhere); }).find(nowhere), std::string::npos);
  EXPECT_EQ(slurp(dir / "dst"), "kept");
  EXPECT_TRUE(others(dir, {"dst", "folder"}).empty());
}
