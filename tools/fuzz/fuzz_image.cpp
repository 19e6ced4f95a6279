// libFuzzer target: image decoding (our header parser, then OpenCV's JPEG/PNG/BMP/WebP/TIFF
// decoders) and preprocessing on arbitrary bytes. Any input must either decode or raise
// ark::Error; crashes, leaks, sanitizer reports and timeouts are bugs. The pixel cap is lowered
// to 1 MP so every input stays fast (the cap itself is what keeps memory bounded).
// OpenCV is not instrumented: coverage guides through our parser, ASan still catches its crashes.
#include <cstddef>
#include <cstdint>

#include "ark/core/error.h"
#include "ark/datasets/image.h"
#include "ark/datasets/transforms.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ark::datasets;
  DecodeOptions options;
  options.max_pixels = 1 << 20;
  // The last byte picks the preprocessing variant, so each corpus file exercises several.
  const uint8_t knob = size ? data[size - 1] : 0;
  options.apply_exif_orientation = (knob & 1) == 0;
  options.sixteen_bit = (knob & 2) ? SixteenBit::kHighByte : SixteenBit::kPillow;
  try {
    (void)read_image_header(data, size, "fuzz");
    const ark::Tensor image = decode_image(data, size, "fuzz", options);
    PreprocessConfig cfg;
    cfg.input_size = {3, 16 + (knob >> 4), 16 + ((knob >> 2) & 3) * 8};
    cfg.crop_pct = (knob & 8) ? 1.25 : 0.875;  // > 1 takes center_crop's zero-padding path
    cfg.interpolation = static_cast<InterpolationMode>((knob >> 6) % 3);
    cfg.antialias = (knob & 4) == 0;
    (void)preprocess(image, cfg);
  } catch (const ark::Error&) {
  }
  return 0;
}
