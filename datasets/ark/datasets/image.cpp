// Image decoding: our own header parser (format by content, size for the pixel cap, EXIF
// orientation, truncation checks for JPEG/PNG), then cv::imdecode(IMREAD_UNCHANGED) for the
// pixels, then one pass that applies the orientation and converts to RGB uint8 as PIL's
// convert("RGB") does. Policy and its reasons: image.h.
//
// Why IMREAD_UNCHANGED and not IMREAD_COLOR: IMREAD_COLOR turns 16-bit grey into 8 bits by
// scaling, where PIL clips, and applies EXIF orientation only to JPEG in OpenCV 4.6; decoding the
// stored samples and converting ourselves gives PIL's pixels for every format (tested).
// Why our own header parser: OpenCV checks only its own 2^30-pixel limit (read once from the
// environment at start-up), reports nothing about the format, and decodes truncated JPEGs
// without an error (libjpeg pads the missing rows with grey and prints a warning).
#include "ark/datasets/image.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>  // flags only; the functions come from opencv_codecs.h

#include "ark/datasets/opencv_codecs.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "ark/core/error.h"
#include "ark/core/parallel.h"
#include "ark/ops/ops.h"

namespace ark::datasets {

namespace {

// A progressive JPEG's scans are each a pass over the whole image; thousands of tiny scans are a
// known CPU bomb (libjpeg-turbo's djpeg -maxscans). Real files have about 10.
constexpr int kMaxJpegScans = 1000;

[[noreturn]] void decode_error(const std::string& name, const std::string& why) {
  ARK_ERROR("cannot decode image '", name, "': ", why);
}

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }
uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[1] << 8 | p[0]); }
uint32_t le24(const uint8_t* p) { return uint32_t{p[2]} << 16 | uint32_t{p[1]} << 8 | p[0]; }
uint32_t le32(const uint8_t* p) { return uint32_t{p[3]} << 24 | uint32_t{p[2]} << 16 | uint32_t{p[1]} << 8 | p[0]; }
bool starts_with(const uint8_t* p, size_t n, const char* sig, size_t len) {
  return n >= len && std::memcmp(p, sig, len) == 0;
}

// The first directory of a TIFF structure (a TIFF file, or the EXIF block inside JPEG/PNG/WebP).
struct TiffTags {
  std::optional<uint32_t> width, height;
  int orientation = 1;
  bool valid = false;
  bool little_endian = true;
  size_t orientation_at = 0;   // byte offset of the inline Orientation value (0: none)
  size_t extra_samples_at = 0; // byte offset of the inline ExtraSamples values (0: none)
  uint32_t extra_samples = 0;  // how many (1 or 2 when inline)
};

TiffTags read_tiff_ifd0(const uint8_t* p, size_t n) {
  TiffTags t;
  if (n < 8) return t;
  bool le;
  if (p[0] == 'I' && p[1] == 'I') le = true;
  else if (p[0] == 'M' && p[1] == 'M') le = false;
  else return t;
  auto u16 = [&](size_t o) { return le ? le16(p + o) : be16(p + o); };
  auto u32 = [&](size_t o) { return le ? le32(p + o) : be32(p + o); };
  if (u16(2) != 42) return t;
  const size_t ifd = u32(4);
  if (ifd < 8 || ifd > n - 2) return t;
  t.valid = true;
  t.little_endian = le;
  const size_t count = u16(ifd);
  for (size_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + 12 * i;  // no overflow: ifd < 2^32, i < 2^16
    if (e > n - 12) break;
    const uint16_t tag = u16(e), type = u16(e + 2);
    const uint32_t cnt = u32(e + 4);
    if (cnt < 1 || (type != 3 && type != 4)) continue;  // SHORT or LONG, inline
    const uint32_t v = type == 3 ? u16(e + 8) : u32(e + 8);
    if (tag == 256) t.width = v;
    else if (tag == 257) t.height = v;
    else if (tag == 274) {
      t.orientation = (v >= 1 && v <= 8) ? static_cast<int>(v) : 1;  // PIL ignores others
      if (type == 3 && cnt == 1) t.orientation_at = e + 8;
    } else if (tag == 338 && type == 3 && cnt <= 2) {
      t.extra_samples_at = e + 8;
      t.extra_samples = cnt;
    }
  }
  return t;
}

// EXIF payloads may carry the "Exif\0\0" prefix of the JPEG APP1 segment (PIL strips it too).
int exif_orientation(const uint8_t* p, size_t n) {
  if (starts_with(p, n, "Exif\0\0", 6)) {
    p += 6;
    n -= 6;
  }
  return read_tiff_ifd0(p, n).orientation;
}

ImageHeader parse_jpeg(const uint8_t* p, size_t n, const std::string& name) {
  ImageHeader h;
  h.format = ImageFormat::kJpeg;
  bool have_sof = false, have_exif = false;
  size_t pos = 2;
  for (;;) {
    // libjpeg skips garbage before a marker (with a warning); so do we.
    while (pos < n && p[pos] != 0xFF) ++pos;
    while (pos < n && p[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= n) decode_error(name, "truncated JPEG (the file ends before the image data)");
    const uint8_t m = p[pos++];
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) continue;  // TEM, RSTn, SOI: no length
    if (m == 0xD9) decode_error(name, "corrupt JPEG (end-of-image marker before any image data)");
    if (n - pos < 2) decode_error(name, "truncated JPEG (the file ends inside a marker)");
    const size_t len = be16(p + pos);
    if (len < 2) decode_error(name, "corrupt JPEG (marker segment shorter than its length field)");
    if (n - pos < len) decode_error(name, "truncated JPEG (the file ends inside a marker segment)");
    const uint8_t* seg = p + pos + 2;
    const size_t seg_len = len - 2;
    const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (sof && !have_sof) {  // libjpeg uses the first frame header (a second one is an error there)
      if (seg_len < 6) decode_error(name, "corrupt JPEG (short frame header)");
      h.height = be16(seg + 1);
      h.width = be16(seg + 3);
      if (h.width == 0 || h.height == 0)
        decode_error(name, "unsupported JPEG: zero width or height (DNL-defined height is not supported)");
      have_sof = true;
    } else if (m == 0xE1 && !have_exif && starts_with(seg, seg_len, "Exif\0\0", 6)) {
      h.orientation = exif_orientation(seg, seg_len);
      have_exif = true;
    } else if (m == 0xDA) {
      if (!have_sof) decode_error(name, "corrupt JPEG (scan before the frame header)");
      // The entropy-coded data escapes 0xFF as FF 00, so FF D9 after the first scan is the
      // end-of-image marker; without it the file was cut short.
      int scans = 1;
      for (size_t q = pos + len; q + 1 < n; ++q) {
        const void* ff = std::memchr(p + q, 0xFF, n - q - 1);
        if (!ff) break;
        q = static_cast<size_t>(static_cast<const uint8_t*>(ff) - p);
        if (p[q + 1] == 0xD9) return h;
        if (p[q + 1] == 0xDA && ++scans > kMaxJpegScans)
          decode_error(name, "corrupt JPEG (more than " + std::to_string(kMaxJpegScans) + " scans)");
      }
      decode_error(name, "truncated JPEG (no end-of-image marker; the file was cut short)");
    }
    pos += len;
  }
}

ImageHeader parse_png(const uint8_t* p, size_t n, const std::string& name) {
  ImageHeader h;
  h.format = ImageFormat::kPng;
  if (n < 33) decode_error(name, "truncated PNG (" + std::to_string(n) + " bytes, shorter than a PNG header)");
  if (be32(p + 8) != 13 || std::memcmp(p + 12, "IHDR", 4) != 0) decode_error(name, "corrupt PNG (no IHDR chunk first)");
  h.width = be32(p + 16);
  h.height = be32(p + 20);
  if (h.width == 0 || h.height == 0 || h.width > INT32_MAX || h.height > INT32_MAX)
    decode_error(name, "corrupt PNG (invalid size " + std::to_string(h.width) + " x " + std::to_string(h.height) + ")");
  bool have_exif = false;
  size_t pos = 8;
  while (n - pos >= 12) {
    const size_t len = be32(p + pos);
    const uint8_t* type = p + pos + 4;
    if (len > INT32_MAX) decode_error(name, "corrupt PNG (chunk length over 2^31)");
    if (n - pos - 12 < len) break;
    if (!have_exif && std::memcmp(type, "eXIf", 4) == 0) {
      h.orientation = exif_orientation(p + pos + 8, len);
      have_exif = true;
    }
    if (std::memcmp(type, "IEND", 4) == 0) return h;
    pos += 12 + len;
  }
  decode_error(name, "truncated PNG (no IEND chunk; the file was cut short)");
}

ImageHeader parse_bmp(const uint8_t* p, size_t n, const std::string& name) {
  ImageHeader h;
  h.format = ImageFormat::kBmp;
  if (n < 26) decode_error(name, "truncated BMP header");
  const uint32_t dib = le32(p + 14);
  if (dib == 12) {  // OS/2 BITMAPCOREHEADER: unsigned 16-bit sizes
    h.width = le16(p + 18);
    h.height = le16(p + 20);
  } else if (dib >= 40) {
    h.width = static_cast<int32_t>(le32(p + 18));
    h.height = static_cast<int32_t>(le32(p + 22));
    h.height = h.height < 0 ? -h.height : h.height;  // negative: top-down rows
  } else {
    decode_error(name, "unsupported BMP header size " + std::to_string(dib));
  }
  if (h.width <= 0 || h.height <= 0)
    decode_error(name, "corrupt BMP (invalid size " + std::to_string(h.width) + " x " + std::to_string(h.height) + ")");
  return h;
}

ImageHeader parse_webp(const uint8_t* p, size_t n, const std::string& name) {
  ImageHeader h;
  h.format = ImageFormat::kWebp;
  if (n < 30) decode_error(name, "truncated WebP header");
  const uint8_t* d = p + 20;  // the first chunk's payload
  if (std::memcmp(p + 12, "VP8X", 4) == 0) {
    if (d[0] & 0x02) decode_error(name, "unsupported format: animated WebP");
    h.width = int64_t{le24(d + 4)} + 1;
    h.height = int64_t{le24(d + 7)} + 1;
    for (size_t pos = 12; n - pos >= 8;) {
      const size_t len = le32(p + pos + 4);
      if (n - pos - 8 < len) break;
      if (std::memcmp(p + pos, "EXIF", 4) == 0) {
        h.orientation = exif_orientation(p + pos + 8, len);
        break;
      }
      pos += 8 + len + (len & 1);
      if (pos > n) break;
    }
  } else if (std::memcmp(p + 12, "VP8 ", 4) == 0) {
    if (d[3] != 0x9D || d[4] != 0x01 || d[5] != 0x2A) decode_error(name, "corrupt WebP (bad VP8 start code)");
    h.width = le16(d + 6) & 0x3FFF;
    h.height = le16(d + 8) & 0x3FFF;
  } else if (std::memcmp(p + 12, "VP8L", 4) == 0) {
    if (d[0] != 0x2F) decode_error(name, "corrupt WebP (bad VP8L signature)");
    const uint32_t bits = le32(d + 1);
    h.width = int64_t{bits & 0x3FFF} + 1;
    h.height = int64_t{(bits >> 14) & 0x3FFF} + 1;
  } else {
    decode_error(name, "corrupt WebP (unknown first chunk)");
  }
  if (h.width == 0 || h.height == 0) decode_error(name, "corrupt WebP (zero width or height)");
  return h;
}

ImageHeader parse_tiff(const uint8_t* p, size_t n, const std::string& name, TiffTags* tags = nullptr) {
  ImageHeader h;
  h.format = ImageFormat::kTiff;
  const TiffTags t = read_tiff_ifd0(p, n);
  if (tags) *tags = t;
  if (!t.valid) decode_error(name, "corrupt or truncated TIFF (first directory outside the file)");
  if (!t.width || !t.height || *t.width == 0 || *t.height == 0)
    decode_error(name, "corrupt TIFF (no image width/height in the first directory)");
  h.width = *t.width;
  h.height = *t.height;
  h.orientation = t.orientation;
  return h;
}

// Names of formats we recognise but do not decode, for the error message.
const char* other_format(const uint8_t* p, size_t n) {
  if (starts_with(p, n, "GIF87a", 6) || starts_with(p, n, "GIF89a", 6)) return "GIF";
  if (n >= 12 && std::memcmp(p + 4, "ftyp", 4) == 0) {
    if (std::memcmp(p + 8, "avif", 4) == 0 || std::memcmp(p + 8, "avis", 4) == 0) return "AVIF";
    if (std::memcmp(p + 8, "hei", 3) == 0 || std::memcmp(p + 8, "hev", 3) == 0 || std::memcmp(p + 8, "mif1", 4) == 0 ||
        std::memcmp(p + 8, "msf1", 4) == 0)
      return "HEIF/HEIC";
    return "ISO media (MP4/MOV/HEIF family)";
  }
  if (starts_with(p, n, "II+\0", 4) || starts_with(p, n, "MM\0+", 4)) return "BigTIFF";
  if (starts_with(p, n, "\0\0\0\x0CjP  \r\n\x87\n", 12) || starts_with(p, n, "\xFF\x4F\xFF\x51", 4)) return "JPEG 2000";
  if (starts_with(p, n, "\xFF\x0A", 2) || starts_with(p, n, "\0\0\0\x0CJXL \r\n\x87\n", 12)) return "JPEG XL";
  if (starts_with(p, n, "\x76\x2F\x31\x01", 4)) return "OpenEXR";
  if (starts_with(p, n, "#?RADIANCE", 10) || starts_with(p, n, "#?RGBE", 6)) return "Radiance HDR";
  if (starts_with(p, n, "\x59\xA6\x6A\x95", 4)) return "Sun raster";
  if (starts_with(p, n, "8BPS", 4)) return "Photoshop PSD";
  if (starts_with(p, n, "\0\0\1\0", 4)) return "ICO";
  if (starts_with(p, n, "%PDF", 4)) return "PDF";
  if (starts_with(p, n, "RIFF", 4)) return "RIFF (not WebP)";
  if (n >= 2 && p[0] == 'P' && ((p[1] >= '1' && p[1] <= '7') || p[1] == 'F' || p[1] == 'f')) return "PNM/PAM/PFM";
  return nullptr;
}

// ---- samples -> RGB uint8, with the orientation applied in the same pass ----

// Where output pixel (oy, ox) comes from: base + oy * ystep + ox * xstep bytes into the decoded
// image, for the eight EXIF orientations (PIL's exif_transpose: 2 FLIP_LEFT_RIGHT, 3 ROTATE_180,
// 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE, 6 ROTATE_270, 7 TRANSVERSE, 8 ROTATE_90).
struct Walk {
  ptrdiff_t base, ystep, xstep;
  int64_t out_h, out_w;
};

Walk orientation_walk(int orientation, int64_t h, int64_t w, ptrdiff_t row, ptrdiff_t px) {
  const ptrdiff_t last_row = (h - 1) * row, last_col = (w - 1) * px;
  switch (orientation) {
    case 2: return {last_col, row, -px, h, w};
    case 3: return {last_row + last_col, -row, -px, h, w};
    case 4: return {last_row, -row, px, h, w};
    case 5: return {0, px, row, w, h};
    case 6: return {last_row, px, -row, w, h};
    case 7: return {last_row + last_col, -px, -row, w, h};
    case 8: return {last_col, -px, row, w, h};
    default: return {0, row, px, h, w};
  }
}

template <class T>
uint8_t to_u8(T v, bool clip) {
  if constexpr (sizeof(T) == 1) {
    (void)clip;
    return v;
  } else {
    return clip ? static_cast<uint8_t>(std::min<T>(v, 255)) : static_cast<uint8_t>(v >> 8);
  }
}

// cn: 1 grey, 2 grey+alpha, 3 BGR, 4 BGRA (OpenCV's order). `clip_grey`: Pillow's 16-bit grey rule.
template <class T, int CN>
void convert_rows(const uint8_t* src, const Walk& wk, bool clip_grey, uint8_t* dst, int64_t y0, int64_t y1) {
  for (int64_t y = y0; y < y1; ++y) {
    const uint8_t* s = src + wk.base + y * wk.ystep;
    uint8_t* d = dst + y * wk.out_w * 3;
    for (int64_t x = 0; x < wk.out_w; ++x, s += wk.xstep, d += 3) {
      const T* px = reinterpret_cast<const T*>(s);
      if constexpr (CN <= 2) {
        d[0] = d[1] = d[2] = to_u8<T>(px[0], CN == 1 && clip_grey);
      } else {
        d[0] = to_u8<T>(px[2], false);
        d[1] = to_u8<T>(px[1], false);
        d[2] = to_u8<T>(px[0], false);
      }
    }
  }
}

template <class T>
void convert(const cv::Mat& m, const Walk& wk, bool clip_grey, uint8_t* dst) {
  const int cn = m.channels();
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(wk.out_w, 1));
  parallel_for(wk.out_h, grain, [&](int64_t y0, int64_t y1) {
    switch (cn) {
      case 1: convert_rows<T, 1>(m.data, wk, clip_grey, dst, y0, y1); break;
      case 2: convert_rows<T, 2>(m.data, wk, clip_grey, dst, y0, y1); break;
      case 3: convert_rows<T, 3>(m.data, wk, clip_grey, dst, y0, y1); break;
      default: convert_rows<T, 4>(m.data, wk, clip_grey, dst, y0, y1); break;
    }
  });
}

}  // namespace

const char* image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg: return "JPEG";
    case ImageFormat::kPng: return "PNG";
    case ImageFormat::kBmp: return "BMP";
    case ImageFormat::kWebp: return "WebP";
    case ImageFormat::kTiff: return "TIFF";
  }
  return "?";
}

namespace {

ImageHeader parse_header(const void* data, size_t size, const std::string& name, TiffTags* tiff) {
  const auto* p = static_cast<const uint8_t*>(data);
  if (size == 0 || p == nullptr) decode_error(name, "empty file (0 bytes)");
  if (starts_with(p, size, "\xFF\xD8\xFF", 3)) return parse_jpeg(p, size, name);
  if (starts_with(p, size, "\x89PNG\r\n\x1A\n", 8)) return parse_png(p, size, name);
  if (starts_with(p, size, "BM", 2)) return parse_bmp(p, size, name);
  if (starts_with(p, size, "RIFF", 4) && size >= 12 && std::memcmp(p + 8, "WEBP", 4) == 0) return parse_webp(p, size, name);
  if (starts_with(p, size, "II*\0", 4) || starts_with(p, size, "MM\0*", 4)) return parse_tiff(p, size, name, tiff);
  if (const char* other = other_format(p, size))
    decode_error(name, std::string("unsupported format: ") + other + " (supported: JPEG, PNG, BMP, WebP, TIFF)");
  decode_error(name, "unsupported format: not a JPEG, PNG, BMP, WebP or TIFF image (" + std::to_string(size) + " bytes)");
}

// OpenCV 4.6 reads 8-bit TIFFs through libtiff's TIFFRGBAImage interface, which applies the
// Orientation tag itself (16-bit ones are read raw, unrotated) and premultiplies unassociated
// alpha into the colours (PIL keeps them). So that every TIFF follows the same policy as the other
// formats, OpenCV gets a copy that says Orientation = 1 and ExtraSamples = unspecified; we then
// orient the pixels ourselves and drop the extra channel.
std::string neutral_tiff(const void* data, size_t size, const TiffTags& t) {
  std::string copy(static_cast<const char*>(data), size);
  auto put16 = [&](size_t at, uint16_t v) {
    copy[at] = static_cast<char>(t.little_endian ? v & 0xFF : v >> 8);
    copy[at + 1] = static_cast<char>(t.little_endian ? v >> 8 : v & 0xFF);
  };
  if (t.orientation_at) put16(t.orientation_at, 1);
  for (uint32_t i = 0; i < t.extra_samples && t.extra_samples_at; ++i) put16(t.extra_samples_at + 2 * i, 0);
  return copy;
}

}  // namespace

ImageHeader read_image_header(const void* data, size_t size, const std::string& name) {
  return parse_header(data, size, name, nullptr);
}

Tensor decode_image(const void* data, size_t size, const std::string& name, const DecodeOptions& options) {
  TiffTags tiff;
  const ImageHeader h = parse_header(data, size, name, &tiff);
  ARK_CHECK(options.max_pixels > 0, "decode_image: max_pixels must be positive, got ", options.max_pixels);
  if (h.width > options.max_pixels / h.height)
    decode_error(name, "image too large: " + std::to_string(h.width) + " x " + std::to_string(h.height) + " = " +
                           std::to_string(h.width * h.height) + " pixels exceeds the limit of " +
                           std::to_string(options.max_pixels) + " (DecodeOptions::max_pixels)");
  if (size > static_cast<size_t>(INT_MAX)) decode_error(name, "encoded image over 2 GiB");

  std::string tiff_copy;
  if (h.format == ImageFormat::kTiff && (tiff.orientation_at || tiff.extra_samples_at)) {
    tiff_copy = neutral_tiff(data, size, tiff);
    data = tiff_copy.data();
  }
  cv::Mat m;
  try {
    const cv::Mat raw(1, static_cast<int>(size), CV_8UC1, const_cast<void*>(data));
    m = detail::imdecode(raw, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    decode_error(name, std::string(image_format_name(h.format)) + " decoder failed: " + e.what());
  }
  const std::string fmt = image_format_name(h.format);
  if (m.empty()) decode_error(name, "the " + fmt + " data is corrupt, truncated or uses an unsupported feature");
  if (m.cols != h.width || m.rows != h.height)
    decode_error(name, "the " + fmt + " decoder produced " + std::to_string(m.cols) + " x " + std::to_string(m.rows) +
                           " pixels where the header says " + std::to_string(h.width) + " x " + std::to_string(h.height));
  if (m.depth() != CV_8U && m.depth() != CV_16U)
    decode_error(name, "unsupported " + fmt + " sample type (OpenCV depth " + std::to_string(m.depth()) +
                           "): only 8- and 16-bit integer samples are converted to RGB");
  if (m.channels() < 1 || m.channels() > 4)
    decode_error(name, "unsupported " + fmt + " channel count " + std::to_string(m.channels()));
  if (!m.isContinuous()) m = m.clone();

  const int orientation = options.apply_exif_orientation ? h.orientation : 1;
  const Walk wk = orientation_walk(orientation, m.rows, m.cols, static_cast<ptrdiff_t>(m.step[0]),
                                   static_cast<ptrdiff_t>(m.elemSize()));
  Tensor out = empty({wk.out_h, wk.out_w, 3}, kUInt8);
  const bool clip_grey = options.sixteen_bit == SixteenBit::kPillow;
  if (m.depth() == CV_8U) convert<uint8_t>(m, wk, clip_grey, out.data_ptr<uint8_t>());
  else convert<uint16_t>(m, wk, clip_grey, out.data_ptr<uint8_t>());
  return out;
}

std::string read_image_file(const std::string& path, int64_t max_file_bytes) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path p(path);
  const fs::file_status st = fs::status(p, ec);
  if (st.type() == fs::file_type::not_found) ARK_ERROR("cannot read image '", path, "': no such file");
  if (ec) ARK_ERROR("cannot read image '", path, "': ", ec.message());
  if (fs::is_directory(st)) ARK_ERROR("cannot read image '", path, "': is a directory, not an image file");
  if (!fs::is_regular_file(st)) ARK_ERROR("cannot read image '", path, "': not a regular file");
  const uintmax_t size = fs::file_size(p, ec);
  if (ec) ARK_ERROR("cannot read image '", path, "': ", ec.message());
  if (size > static_cast<uintmax_t>(max_file_bytes))
    ARK_ERROR("cannot read image '", path, "': file too large (", size, " bytes; the limit is ", max_file_bytes, ")");
  std::ifstream in(p, std::ios::binary);
  if (!in) ARK_ERROR("cannot read image '", path, "': ", std::strerror(errno));
  std::string bytes(static_cast<size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<uintmax_t>(in.gcount()) != size)
    ARK_ERROR("cannot read image '", path, "': read ", in.gcount(), " of ", size, " bytes (file changed while reading?)");
  return bytes;
}

Tensor load_image(const std::string& path, const DecodeOptions& options) {
  const std::string bytes = read_image_file(path, options.max_file_bytes);
  return decode_image(bytes.data(), bytes.size(), path, options);
}

}  // namespace ark::datasets
