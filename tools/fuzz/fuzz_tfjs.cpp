// libFuzzer target: the TF.js reader (model.json + shards) on arbitrary bytes. The input is
// model.json's text, a NUL byte, then the bytes every shard path resolves to: the first shard gets
// them all and later shards none, so size checks, quantization and path checks all see fuzzed
// data. Any input must either parse or raise ark::Error; crashes, leaks and sanitizer reports are bugs.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ark/pretrained/tfjs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nul = in.find('\0');
  const std::string_view json = in.substr(0, nul);
  const std::string shard(nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1));
  ark::pretrained::TfjsOptions options;
  options.max_total_bytes = 1 << 24;  // keep allocations small: the checks are the same at any cap
  bool first = true;
  try {
    auto tensors = ark::pretrained::parse_tfjs(
        json, [&](const std::string&) { return first ? (first = false, shard) : std::string(); }, "fuzz", options);
    for (const auto& item : tensors)
      if (item.value().numel() > 0) (void)item.value().reshape({-1})[0].item();
  } catch (const ark::Error&) {
  }
  return 0;
}
