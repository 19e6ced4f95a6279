// Image decoding for every app: a file or an in-memory buffer -> an RGB uint8 tensor (H, W, 3),
// the pixels torchvision's default loader (PIL's Image.open(f).convert("RGB")) gives its users.
//
// Policy, decided once here so that training and inference see the same pixels:
// - Formats: JPEG, PNG, BMP, WebP, TIFF, recognised by their content, never by the file name (a
//   PNG called .jpg decodes). Anything else (GIF, HEIC/AVIF, JPEG 2000, PNM, BigTIFF, animated
//   WebP, ...) is refused with "unsupported format" and the format's name when it is recognised.
// - Our own header parser reads the size first and refuses images over DecodeOptions::max_pixels
//   (100 megapixels) before any pixel memory is allocated; OpenCV's own limit (2^30) is far higher.
// - EXIF orientation (JPEG APP1, PNG eXIf, WebP EXIF, TIFF tag 274) is applied, as OpenCV's imread
//   and every image viewer do. This differs from torchvision's pil_loader, which ignores it; set
//   apply_exif_orientation = false to get PIL's unrotated pixels.
// - Alpha is dropped, not composited (PIL's convert("RGB") drops it; so does palette transparency).
//   Grey and palette images are expanded to RGB.
// - 16-bit samples follow Pillow (see SixteenBit): colour keeps the high byte, grey is clipped.
// - CMYK JPEGs are converted by OpenCV; they can differ from PIL's conversion by 1 in a channel.
// - TIFF: the first page; 8- and 16-bit integer samples (float TIFFs are refused). libtiff's own
//   handling of the Orientation tag and of unassociated alpha is neutralised (image.cpp) so TIFFs
//   follow the same rules as the other formats.
// - OpenCV and libpng print warnings to stderr for some files (e.g. "iCCP: known incorrect sRGB
//   profile"); the pixels are unaffected and the messages cannot be turned off per call.
// - Truncated files are errors (PIL raises "image file is truncated"; libjpeg alone would pad the
//   missing rows with grey). Skipping bad files and counting them is the dataset reader's job.
// Errors are ark::Error naming the file: "cannot read image '<path>': ..." for file-system
// problems, "cannot decode image '<path>': ..." for the bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "ark/core/tensor.h"

namespace ark::datasets {

enum class ImageFormat { kJpeg, kPng, kBmp, kWebp, kTiff };
const char* image_format_name(ImageFormat format);

/// How 16-bit samples (PNG, TIFF) become 8-bit.
enum class SixteenBit {
  /// Pillow's convert("RGB"), i.e. what torchvision users get: RGB/RGBA/grey+alpha keep the high
  /// byte (v >> 8); plain grey (mode "I"/"I;16") is clipped to 255, so most 16-bit grey images
  /// come out nearly white. Faithful, not pretty.
  kPillow,
  /// v >> 8 for every image, grey included.
  kHighByte,
};

/// 100 megapixels: above PIL's DecompressionBombWarning (89.5 MP), under its error (179 MP).
constexpr int64_t kDefaultMaxImagePixels = 100'000'000;
/// Files larger than this are refused before they are read (an uncompressed 100 MP BMP is 300 MB).
constexpr int64_t kDefaultMaxImageFileBytes = int64_t{1} << 30;

struct DecodeOptions {
  int64_t max_pixels = kDefaultMaxImagePixels;
  int64_t max_file_bytes = kDefaultMaxImageFileBytes;
  bool apply_exif_orientation = true;
  SixteenBit sixteen_bit = SixteenBit::kPillow;
};

/// What the header says, read without decoding: format, stored size and EXIF orientation (1-8,
/// 1 when absent). The decoded image is (height, width) for orientations 1-4, transposed for 5-8.
struct ImageHeader {
  ImageFormat format = ImageFormat::kJpeg;
  int64_t width = 0;
  int64_t height = 0;
  int orientation = 1;
};

/// Parses the header of an encoded image. Throws "cannot decode image '<name>': ..." for empty,
/// unrecognised, unsupported, truncated or corrupt headers. Does not apply the pixel cap.
ImageHeader read_image_header(const void* data, size_t size, const std::string& name = "<memory>");

/// Decodes an encoded image to RGB uint8 (H, W, 3), contiguous. `name` goes into error messages.
Tensor decode_image(const void* data, size_t size, const std::string& name = "<memory>",
                    const DecodeOptions& options = {});

/// Reads and decodes a file (any path the OS accepts: spaces, UTF-8). Errors name the path:
/// missing, a directory, not a regular file, permission denied, symlink loop, too large, empty.
Tensor load_image(const std::string& path, const DecodeOptions& options = {});

/// Reads a whole image file with the checks of load_image (used by load_image; exposed for
/// readers that want the bytes, e.g. to cache them).
std::string read_image_file(const std::string& path, int64_t max_file_bytes = kDefaultMaxImageFileBytes);

}  // namespace ark::datasets
