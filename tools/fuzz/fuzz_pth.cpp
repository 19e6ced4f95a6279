// libFuzzer target: the .pth reader (zip central directory, local headers, torch.save's layout,
// data.pkl through the weights-only unpickler, storage records, the legacy format) on arbitrary
// bytes. CRC checks are off so mutations reach the layers behind them. Any input must either
// parse or raise ark::Error; crashes, leaks, hangs and sanitizer reports are bugs.
#include <cstddef>
#include <cstdint>

#include "ark/io/pth.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ark::io::PthOptions options;
  options.verify_crc32 = false;
  // Small caps keep each run fast; the checks are the same at any cap.
  options.limits.max_stack = 10'000;
  options.limits.max_memo = 10'000;
  options.limits.max_objects = 100'000;
  try {
    ark::io::PthFile f = ark::io::parse_pth(data, size, "fuzz.pth", options);
    // Read the first and last element of every tensor: the views must lie inside their storage.
    for (const auto& item : f.tensors) {
      const ark::Tensor& t = item.value();
      if (t.numel() == 0) continue;
      ark::Tensor flat = t.reshape({-1});
      (void)flat[0].item();
      (void)flat[t.numel() - 1].item();
    }
  } catch (const ark::Error&) {
  }
  return 0;
}
