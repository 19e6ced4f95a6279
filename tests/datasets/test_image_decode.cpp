// Image decoding: every colour type and format against PIL's convert("RGB"), EXIF orientation,
// the real photos against PIL, and the bad inputs of RELIABILITY.md §5 C1-C4, C7, C8.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "datasets/test_image_common.h"
#include "support/errors.h"

namespace ark {
namespace {

using test::error_of;

namespace fs = std::filesystem;
using datasets::decode_image;
using datasets::DecodeOptions;
using datasets::load_image;

// A scratch directory removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "ark-image-test-XXXXXX").string();
    ARK_CHECK(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& bytes) const {
    const fs::path p = path / name;
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p.string();
  }
};

Tensor decode_bytes(const std::string& bytes, const DecodeOptions& options = {}) {
  return decode_image(bytes.data(), bytes.size(), "<test>", options);
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// ---- formats and colour types vs PIL ----

TEST(ImageDecode, EveryColourTypeMatchesPil) {
  int checked = 0;
  for (const auto& item : test::image_reference().tensors) {
    const std::string& key = item.key();
    if (key.rfind("conv.", 0) != 0 || key.size() < 6 || key.substr(key.size() - 6) != ".bytes") continue;
    const std::string kind = key.substr(5, key.size() - 11);
    SCOPED_TRACE(kind);
    const Tensor ours = decode_bytes(test::tensor_bytes(item.value()));
    const Tensor& pil = test::image_ref("conv." + kind + ".rgb");
    const test::AbsDiff d = test::abs_diff(ours, pil);
    // OpenCV converts CMYK itself ((255-C)(255-K)/256 in integers); PIL rounds (.../255): off by 1.
    const double tolerance = kind == "jpeg_cmyk" ? 1 : 0;
    EXPECT_LE(d.max, tolerance) << kind << ": " << d.differing << " of " << ours.numel() << " values differ";
    ++checked;
  }
  EXPECT_GE(checked, 29);
}

TEST(ImageDecode, HeaderReportsFormatAndSize) {
  const std::vector<std::pair<std::string, datasets::ImageFormat>> kinds = {
      {"png_rgb", datasets::ImageFormat::kPng}, {"jpeg_rgb_420", datasets::ImageFormat::kJpeg},
      {"webp_lossy", datasets::ImageFormat::kWebp}, {"webp_rgba_lossless", datasets::ImageFormat::kWebp},
      {"webp_lossless", datasets::ImageFormat::kWebp}, {"tiff_rgb", datasets::ImageFormat::kTiff},
      {"bmp_rgb", datasets::ImageFormat::kBmp}};
  for (const auto& [kind, format] : kinds) {
    const std::string bytes = test::tensor_bytes(test::image_ref("conv." + kind + ".bytes"));
    const datasets::ImageHeader h = datasets::read_image_header(bytes.data(), bytes.size());
    EXPECT_EQ(h.format, format) << kind;
    EXPECT_EQ(h.width, 61) << kind;
    EXPECT_EQ(h.height, 37) << kind;
    EXPECT_EQ(h.orientation, 1) << kind;
  }
}

TEST(ImageDecode, SixteenBitGreyPolicy) {
  const std::string bytes = test::tensor_bytes(test::image_ref("conv.png_grey16_small.bytes"));
  // Pillow clips 16-bit grey to 255 (checked against PIL above); kHighByte keeps v >> 8 instead.
  const Tensor pil = decode_bytes(bytes);
  DecodeOptions o;
  o.sixteen_bit = datasets::SixteenBit::kHighByte;
  const Tensor high = decode_bytes(bytes, o);
  EXPECT_EQ(high.max().item<int64_t>(), 1275 >> 8);  // the fixture's samples are at most 1275
  EXPECT_EQ(pil.max().item<int64_t>(), 255);
}

TEST(ImageDecode, ExifOrientationAppliedLikeExifTranspose) {
  for (const std::string fmt : {"jpeg", "png", "webp", "tiff"})
    for (int o = 1; o <= 8; ++o) {
      SCOPED_TRACE(fmt + " orientation " + std::to_string(o));
      const std::string bytes = test::tensor_bytes(test::image_ref("exif." + fmt + "." + std::to_string(o) + ".bytes"));
      EXPECT_EQ(datasets::read_image_header(bytes.data(), bytes.size()).orientation, o);
      const Tensor ours = decode_bytes(bytes);
      const Tensor& expected = test::image_ref("exif." + fmt + "." + std::to_string(o) + ".rgb");
      ASSERT_EQ(ours.sizes(), expected.sizes());
      // Lossy JPEG: the same pixels were encoded 8 times, so decoding is identical; 0 everywhere.
      EXPECT_EQ(test::abs_diff(ours, expected).max, 0);
      // Off: the stored (unrotated) pixels, as torchvision's PIL loader returns them.
      DecodeOptions off;
      off.apply_exif_orientation = false;
      EXPECT_EQ(test::abs_diff(decode_bytes(bytes, off), test::image_ref("exif." + fmt + ".1.rgb")).max, 0);
    }
}

TEST(ImageDecode, RealPhotosMatchPil) {
  int photos = 0;
  for (const auto& [key, path] : test::image_reference().metadata) {
    if (key.rfind("photo.", 0) != 0 || !test::has_image_ref(key + ".rgb")) continue;
    const std::string name = key.substr(6);
    const Tensor ours = load_image(path);
    const test::AbsDiff d = test::abs_diff(ours, test::image_ref(key + ".rgb"));
    std::printf("[ decode ] %-10s %4ld x %4ld  %ld of %ld values differ from PIL (max %g)\n", name.c_str(),
                static_cast<long>(ours.size(1)), static_cast<long>(ours.size(0)), static_cast<long>(d.differing),
                static_cast<long>(ours.numel()), d.max);
    // OpenCV and PIL both use Debian's libjpeg-turbo 2.1.5 (islow DCT, fancy upsampling): identical.
    EXPECT_EQ(d.max, 0) << name;
    ++photos;
  }
  if (photos == 0) GTEST_SKIP() << "no sample photos: scripts/setup.sh installs darknet and python3-skimage";
}

// ---- bad inputs (RELIABILITY.md §5 C) ----

TEST(ImageDecode, C1EmptyFile) {
  TempDir dir;
  const std::string path = dir.write("empty.jpg", "");
  const std::string msg = error_of([&] { load_image(path); });
  EXPECT_NE(msg.find("cannot decode image"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("empty"), std::string::npos) << msg;
}

TEST(ImageDecode, C2TruncatedFilesAreErrorsAtEveryLength) {
  TempDir dir;
  // Real photos cut in half: PIL raises "image file is truncated"; so do we, naming the file.
  for (const char* kind : {"jpeg_rgb_420", "jpeg_progressive", "png_rgb", "webp_lossy", "tiff_rgb", "bmp_rgb"}) {
    const std::string bytes = test::tensor_bytes(test::image_ref(std::string("conv.") + kind + ".bytes"));
    const std::string path = dir.write(std::string("half ") + kind, bytes.substr(0, bytes.size() / 2));
    const std::string msg = error_of([&] { load_image(path); });
    EXPECT_NE(msg.find("cannot decode image '" + path + "'"), std::string::npos) << msg;
  }
  const std::string dog = test::image_meta("photo.dog");
  if (!dog.empty()) {
    const std::string bytes = file_bytes(dog);
    const std::string msg = error_of([&] { decode_bytes(bytes.substr(0, bytes.size() - 100)); });
    EXPECT_NE(msg.find("truncated JPEG"), std::string::npos) << msg;
  }
  // Every prefix of small files of each format: always an ark::Error, never a crash or garbage.
  for (const char* kind : {"jpeg_rgb_420", "jpeg_progressive", "png_palette", "png_rgb16", "webp_lossless",
                           "webp_rgba_lossy", "tiff_rgb_lzw", "bmp_palette"}) {
    const std::string bytes = test::tensor_bytes(test::image_ref(std::string("conv.") + kind + ".bytes"));
    int refused = 0, decoded = 0;
    for (size_t n = 0; n < bytes.size(); ++n) {
      try {
        const Tensor t = decode_bytes(bytes.substr(0, n));
        ++decoded;  // some formats end with bytes the decoder never needs (e.g. TIFF's trailing IFD data)
        EXPECT_EQ(t.size(2), 3);
      } catch (const Error&) {
        ++refused;
      }
    }
    EXPECT_GT(refused, 0) << kind;
    std::printf("[ prefix ] %-16s %zu prefixes: %d refused, %d decoded\n", kind, bytes.size(), refused, decoded);
    if (std::string(kind).rfind("jpeg", 0) == 0 || std::string(kind).rfind("png", 0) == 0) {
      EXPECT_EQ(decoded, 0) << kind << ": a cut JPEG/PNG must never decode";
    }
  }
}

// A PNG whose header claims `w` x `h`, with a tiny valid IDAT and IEND.
std::string png_claiming(uint32_t w, uint32_t h) {
  auto be32 = [](uint32_t v) {
    return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  };
  std::string ihdr = "IHDR" + be32(w) + be32(h) + std::string("\x08\x02\x00\x00\x00", 5);
  // The CRC is not checked before our size check; the chunk layout is what matters.
  std::string png = std::string("\x89PNG\r\n\x1A\n", 8) + be32(13) + ihdr + be32(0);
  png += be32(11) + "IDAT" + std::string("\x78\x9c\x63\x60\x00\x00\x00\x02\x00\x01\x00", 11) + be32(0);
  png += be32(0) + "IEND" + be32(0xAE426082);
  return png;
}

TEST(ImageDecode, C3PixelCapRefusesBeforeDecoding) {
  TempDir dir;
  const std::string path = dir.write("bomb.png", png_claiming(100000, 100000));
  const auto t0 = std::chrono::steady_clock::now();
  const std::string msg = error_of([&] { load_image(path); });
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(msg.find("image too large"), std::string::npos) << msg;
  EXPECT_NE(msg.find("100000 x 100000"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_LT(ms, 100) << "refused in " << ms << " ms: the 30 GB image must never be allocated";

  // Each format's header is read for the cap: JPEG SOF, WebP VP8X canvas, TIFF tags, BMP header.
  auto patch = [](std::string s, size_t at, const std::string& with) { return s.replace(at, with.size(), with); };
  const std::string jpeg = test::tensor_bytes(test::image_ref("conv.jpeg_rgb_444.bytes"));
  const datasets::ImageHeader jh = datasets::read_image_header(jpeg.data(), jpeg.size());
  DecodeOptions tiny;
  tiny.max_pixels = jh.width * jh.height - 1;
  EXPECT_NE(error_of([&] { decode_bytes(jpeg, tiny); }).find("image too large"), std::string::npos);
  tiny.max_pixels = jh.width * jh.height;
  EXPECT_EQ(decode_bytes(jpeg, tiny).size(0), 37);

  const std::string bmp = test::tensor_bytes(test::image_ref("conv.bmp_rgb.bytes"));
  const std::string bmp_bomb = patch(patch(bmp, 18, std::string("\x40\x9c\x00\x00", 4)), 22, std::string("\x40\x9c\x00\x00", 4));
  EXPECT_NE(error_of([&] { decode_bytes(bmp_bomb); }).find("40000 x 40000"), std::string::npos);

  const std::string tiff = test::tensor_bytes(test::image_ref("conv.tiff_rgb.bytes"));
  datasets::ImageHeader th = datasets::read_image_header(tiff.data(), tiff.size());
  EXPECT_EQ(th.width * th.height, 61 * 37);
  DecodeOptions cap;
  cap.max_pixels = 61 * 37 - 1;
  EXPECT_NE(error_of([&] { decode_bytes(tiff, cap); }).find("image too large"), std::string::npos);

  // WebP VP8X canvas of 16384 x 16384 (268 MP) in front of a tiny frame.
  std::string webp = "RIFF" + std::string(4, '\0') + "WEBPVP8X" + std::string("\x0A\0\0\0", 4) +
                     std::string("\0\0\0\0", 4) + std::string("\xFF\x3F\x00\xFF\x3F\x00", 6) + std::string(16, '\0');
  EXPECT_NE(error_of([&] { decode_bytes(webp); }).find("16384 x 16384"), std::string::npos);
}

TEST(ImageDecode, C4FormatByContentNotName) {
  TempDir dir;
  const std::string png = test::tensor_bytes(test::image_ref("conv.png_rgb.bytes"));
  const std::string path = dir.write("actually a png.jpg", png);
  EXPECT_EQ(test::abs_diff(load_image(path), test::image_ref("conv.png_rgb.rgb")).max, 0);

  const std::string heic = std::string("\0\0\0\x18", 4) + "ftypheic" + std::string("\0\0\0\0", 4) + "mif1heic" +
                           std::string(64, '\0');
  const std::string heic_path = dir.write("photo.heic", heic);
  std::string msg = error_of([&] { load_image(heic_path); });
  EXPECT_NE(msg.find("unsupported format: HEIF/HEIC"), std::string::npos) << msg;
  EXPECT_NE(msg.find(heic_path), std::string::npos) << msg;
  msg = error_of([&] { decode_bytes(std::string("GIF89a") + std::string(32, '\0')); });
  EXPECT_NE(msg.find("unsupported format: GIF"), std::string::npos) << msg;
  msg = error_of([&] { decode_bytes("just some text, not an image"); });
  EXPECT_NE(msg.find("unsupported format"), std::string::npos) << msg;
  msg = error_of([&] { decode_bytes(std::string("II+\0", 4) + std::string(32, '\0')); });
  EXPECT_NE(msg.find("BigTIFF"), std::string::npos) << msg;
}

TEST(ImageDecode, CorruptDataIsAnErrorNamingTheFile) {
  TempDir dir;
  // Valid headers, garbage pixels.
  for (const char* kind : {"jpeg_rgb_420", "png_rgb", "webp_lossy", "tiff_rgb_lzw"}) {
    std::string bytes = test::tensor_bytes(test::image_ref(std::string("conv.") + kind + ".bytes"));
    for (size_t i = bytes.size() / 3; i < bytes.size() - 16; ++i) bytes[i] = static_cast<char>(i * 151);
    const std::string path = dir.write(std::string("corrupt_") + kind, bytes);
    try {
      const Tensor t = load_image(path);  // some decoders accept garbage as pixels; it must still be an image
      EXPECT_EQ(t.size(2), 3);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

TEST(ImageDecode, C7PathsUnicodeSpacesDirectoriesLoops) {
  TempDir dir;
  const std::string png = test::tensor_bytes(test::image_ref("conv.png_rgb.bytes"));
  const std::string unicode = dir.write("фото ñ 画像 with spaces.png", png);
  EXPECT_EQ(load_image(unicode).size(1), 61);

  const std::string missing = (dir.path / "нет такого файла.jpg").string();
  std::string msg = error_of([&] { load_image(missing); });
  EXPECT_NE(msg.find("cannot read image '" + missing + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no such file"), std::string::npos) << msg;

  fs::create_directory(dir.path / "a folder.jpg");
  msg = error_of([&] { load_image((dir.path / "a folder.jpg").string()); });
  EXPECT_NE(msg.find("is a directory"), std::string::npos) << msg;
  EXPECT_NE(msg.find("a folder.jpg"), std::string::npos) << msg;

  fs::create_symlink(dir.path / "loop_b", dir.path / "loop_a");
  fs::create_symlink(dir.path / "loop_a", dir.path / "loop_b");
  msg = error_of([&] { load_image((dir.path / "loop_a").string()); });
  EXPECT_NE(msg.find("loop_a"), std::string::npos) << msg;
  EXPECT_NE(msg.find("symbolic links"), std::string::npos) << msg;

  msg = error_of([&] { load_image("/dev/null"); });
  EXPECT_NE(msg.find("not a regular file"), std::string::npos) << msg;

  DecodeOptions small;
  small.max_file_bytes = 100;
  msg = error_of([&] { load_image(unicode, small); });
  EXPECT_NE(msg.find("file too large"), std::string::npos) << msg;
}

TEST(ImageDecode, C7PermissionDenied) {
  TempDir dir;
  const std::string path = dir.write("secret.png", test::tensor_bytes(test::image_ref("conv.png_rgb.bytes")));
  ::chmod(path.c_str(), 0);
  if (::geteuid() != 0) {
    const std::string msg = error_of([&] { load_image(path); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("Permission denied"), std::string::npos) << msg;
    return;
  }
  // Root reads anything: check it as "nobody" in a child process (the directory must be searchable).
  fs::permissions(dir.path, fs::perms::all);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string msg = "setuid failed";
    if (::setgid(65534) == 0 && ::setuid(65534) == 0) {
      try {
        load_image(path);
        msg = "no error";
      } catch (const Error& e) {
        msg = e.what();
      }
    }
    (void)!::write(fds[1], msg.data(), msg.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string msg;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) msg.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (msg == "setuid failed") GTEST_SKIP() << "cannot drop to uid 65534 here";
  EXPECT_NE(msg.find("cannot read image '" + path + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Permission denied"), std::string::npos) << msg;
}

TEST(ImageDecode, C8FileDeletedBeforeReading) {
  TempDir dir;
  const std::string path = dir.write("gone.png", test::tensor_bytes(test::image_ref("conv.png_rgb.bytes")));
  fs::remove(path);
  const std::string msg = error_of([&] { load_image(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
}

}  // namespace
}  // namespace ark
