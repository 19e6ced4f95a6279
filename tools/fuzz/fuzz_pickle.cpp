// libFuzzer target: the weights-only pickle VM alone, without a zip around it, so mutations spend
// their time on opcodes, the memo, marks, the allowlist and the rebuild calls. The first byte
// picks the mode: even bytes run one pickle that must end at the input's end (zip data.pkl),
// odd ones run pickles back to back as legacy checkpoints do. Every result is walked as
// load_pth walks it. Any input must either load or raise ark::Error.
#include <cstddef>
#include <cstdint>

#include "ark/io/unpickler.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool sequence = data[0] & 1;
  ++data, --size;
  ark::io::pickle::Limits limits;
  limits.max_stack = 10'000;
  limits.max_memo = 10'000;
  limits.max_objects = 100'000;
  ark::io::pickle::Unpickler vm("fuzz.pkl", limits);
  size_t leaves = 0;
  auto count = [&](const std::string&, const ark::io::pickle::Object&) { ++leaves; };
  try {
    if (!sequence) {
      const ark::io::pickle::Object* root = vm.load(data, size);
      ark::io::pickle::for_each_leaf(root, count, "fuzz.pkl", 64, 100'000);
    } else {
      size_t pos = 0;
      for (int n = 0; n < 8 && pos < size; ++n) {
        size_t used = 0;
        const ark::io::pickle::Object* root = vm.load(data + pos, size - pos, &used);
        ark::io::pickle::for_each_leaf(root, count, "fuzz.pkl", 64, 100'000);
        pos += used;
      }
    }
  } catch (const ark::Error&) {
  }
  return 0;
}
