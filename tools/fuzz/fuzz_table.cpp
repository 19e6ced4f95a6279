// libFuzzer target: the user-table parsers (table.h) and the manifest reader above them
// (labeled.h) on arbitrary bytes. The first byte picks the path: CSV with ',' or tab, JSON Lines,
// or the bytes written as a CSV/JSONL manifest of texts and read with read_labeled. Any input must
// parse or raise ark::Error; a crash, hang, sanitizer report or a broken invariant (a row whose
// width differs from the header, a line number out of order) is a bug.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "ark/core/error.h"
#include "ark/datasets/labeled.h"
#include "ark/datasets/table.h"

namespace {

std::string scratch(const std::string& name) {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("ark_fuzz_table_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return (dir / name).string();
}

void check(const ark::datasets::Table& t) {
  int64_t last = 0;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    if (t.rows[i].size() != t.columns.size()) __builtin_trap();
    if (t.lines.size() != t.rows.size() || t.lines[i] <= last) __builtin_trap();
    last = t.lines[i];
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string in(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 5) {
      case 0:
        check(ark::datasets::parse_csv(in, ',', "fuzz.csv"));
        break;
      case 1:
        check(ark::datasets::parse_csv(in, '\t', "fuzz.tsv"));
        break;
      case 2:
        check(ark::datasets::parse_jsonl(in, "fuzz.jsonl"));
        break;
      default: {
        const std::string path = scratch(data[0] % 5 == 3 ? "manifest.csv" : "manifest.jsonl");
        std::ofstream(path, std::ios::binary | std::ios::trunc).write(in.data(), static_cast<std::streamsize>(in.size()));
        const auto d = ark::datasets::read_labeled(path);
        const auto counts = d.class_counts();
        if (d.classes.size() < 2 || counts.size() != d.classes.size()) __builtin_trap();
        (void)ark::datasets::stratified_split(d, 0.25, 1);
        break;
      }
    }
  } catch (const ark::Error&) {
  }
  return 0;
}
