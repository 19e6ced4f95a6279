// libFuzzer target: the safetensors header and layout validator on arbitrary bytes. Any input
// must either parse or raise ark::Error; crashes, leaks and sanitizer reports are bugs.
#include <cstddef>
#include <cstdint>

#include "ark/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    ark::io::SafetensorsFile f = ark::io::parse_safetensors(data, size, "fuzz");
    // Touch every tensor so views of the data are exercised too.
    for (const auto& item : f.tensors)
      if (item.value().numel() > 0) (void)item.value().reshape({-1})[0].item();
  } catch (const ark::Error&) {
  }
  return 0;
}
