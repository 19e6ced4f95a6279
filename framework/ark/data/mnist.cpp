// MNIST: IDX reading (plain or gzip through zlib's gzread, which passes plain files through
// unchanged), with every defect reported as an ark::Error that names the file.
// IDX layout (big-endian): magic 0x00000803 (ubyte, 3 dims) | N | rows | cols | N*rows*cols bytes
// for images; magic 0x00000801 (ubyte, 1 dim) | N | N bytes for labels.
// ref: http://yann.lecun.com/exdb/mnist/ (file format section); torchvision mnist.py.
#include "ark/data/mnist.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "ark/ops/ops.h"

namespace ark::data::datasets {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kRows = 28;
constexpr int64_t kCols = 28;
constexpr uint32_t kImageMagic = 0x803;
constexpr uint32_t kLabelMagic = 0x801;

struct IdxFile {
  std::string path;
  std::vector<uint8_t> bytes;  // the decompressed file
};

std::string find_file(const fs::path& root, const std::string& name) {
  const fs::path plain = root / name, gz = root / (name + ".gz");
  std::error_code ec;
  if (fs::is_regular_file(plain, ec)) return plain.string();
  if (fs::is_regular_file(gz, ec)) return gz.string();
  ARK_ERROR("MNIST: cannot find ", plain.string(), " (nor ", gz.string(), "); root must hold the four IDX files "
            "of MNIST or Fashion-MNIST ({train,t10k}-{images-idx3,labels-idx1}-ubyte), plain or .gz");
}

// Reads the whole file, inflating it if it is gzip-compressed. Growing the buffer as data
// arrives (rather than trusting the header's count) keeps a corrupt header from asking for
// terabytes before we know the file is short.
IdxFile read_file(const std::string& path) {
  IdxFile f{path, {}};
  gzFile gz = gzopen(path.c_str(), "rb");
  ARK_CHECK(gz != nullptr, "MNIST: cannot open ", path, ": ", std::strerror(errno));
  struct Closer {
    gzFile g;
    ~Closer() { gzclose(g); }
  } closer{gz};
  gzbuffer(gz, 1 << 18);
  std::error_code ec;
  const auto on_disk = fs::file_size(path, ec);
  f.bytes.resize(std::max<size_t>(ec ? 0 : static_cast<size_t>(on_disk), 1 << 16));
  size_t got = 0;
  for (;;) {
    if (got == f.bytes.size()) f.bytes.resize(f.bytes.size() * 2);
    const unsigned want = static_cast<unsigned>(std::min<size_t>(f.bytes.size() - got, 1u << 30));
    const int n = gzread(gz, f.bytes.data() + got, want);
    int err = Z_OK;
    const char* msg = gzerror(gz, &err);
    // Z_BUF_ERROR is how gzread reports a gzip stream cut short; a bad CRC or bad deflate data
    // comes as Z_DATA_ERROR.
    ARK_CHECK(n >= 0 && err == Z_OK, "MNIST: ", path, ": corrupt or truncated gzip data (zlib: ",
              err == Z_ERRNO ? std::strerror(errno) : msg, ")");
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  const bool gz_suffix = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  ARK_CHECK(!(gz_suffix && gzdirect(gz)), "MNIST: ", path, ": not gzip-compressed (no gzip header) although its "
            "name ends in .gz");
  f.bytes.resize(got);
  return f;
}

void check_header(const IdxFile& f, size_t header_size, const char* what) {
  ARK_CHECK(f.bytes.size() >= header_size, "MNIST: ", f.path, ": truncated header: an IDX ", what, " file starts with ",
            header_size == 4 ? "a 4-byte magic number" : std::to_string(header_size) + " header bytes",
            " but the file has only ", f.bytes.size(), " bytes");
}

uint32_t read_be32(const IdxFile& f, size_t offset) {
  const uint8_t* p = f.bytes.data() + offset;
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

void check_magic(const IdxFile& f, uint32_t magic, uint32_t expected, const char* what) {
  ARK_CHECK(magic == expected, "MNIST: ", f.path, ": bad magic number ", hex(magic), ", expected ", hex(expected),
            " (IDX unsigned-byte ", what, " file)",
            magic == (expected == kImageMagic ? kLabelMagic : kImageMagic) ? "; the image and label files look swapped"
                                                                            : "");
}

void check_payload(const IdxFile& f, size_t header, size_t expected, uint32_t count, const char* unit) {
  const size_t payload = f.bytes.size() - header;
  ARK_CHECK(payload >= expected, "MNIST: ", f.path, ": truncated: the header announces ", count, " ", unit,
            " (", expected, " bytes of data) but the file holds only ", payload);
  ARK_CHECK(payload == expected, "MNIST: ", f.path, ": ", payload - expected, " unexpected bytes after the ", count,
            " ", unit, " the header announces");
}

/// (N, 1, 28, 28) float32 in [0, 1].
Tensor read_images(const std::string& path) {
  const IdxFile f = read_file(path);
  constexpr size_t kHeader = 16;
  // The magic first, so that a wrong kind of file is named as such even when it is short.
  check_header(f, 4, "image");
  check_magic(f, read_be32(f, 0), kImageMagic, "image (3-dim)");
  check_header(f, kHeader, "image");
  const uint32_t n = read_be32(f, 4), rows = read_be32(f, 8), cols = read_be32(f, 12);
  ARK_CHECK(rows == kRows && cols == kCols, "MNIST: ", f.path, ": expected ", kRows, "x", kCols, " images, got ", rows,
            "x", cols);
  check_payload(f, kHeader, size_t{n} * kRows * kCols, n, "images");
  Tensor bytes = ark::from_blob(const_cast<uint8_t*>(f.bytes.data() + kHeader), {int64_t{n}, 1, kRows, kCols}, kByte);
  // Division (not a multiply by 1/255) gives the same floats as torchvision's ToTensor and libtorch.
  return bytes.to(kFloat).div_(255);
}

/// (N) int64.
Tensor read_labels(const std::string& path) {
  const IdxFile f = read_file(path);
  constexpr size_t kHeader = 8;
  check_header(f, 4, "label");
  check_magic(f, read_be32(f, 0), kLabelMagic, "label (1-dim)");
  check_header(f, kHeader, "label");
  const uint32_t n = read_be32(f, 4);
  check_payload(f, kHeader, n, n, "labels");
  Tensor bytes = ark::from_blob(const_cast<uint8_t*>(f.bytes.data() + kHeader), {int64_t{n}}, kByte);
  return bytes.to(kLong);
}

}  // namespace

MNIST::MNIST(const std::string& root, Mode mode) : is_train_(mode == Mode::kTrain) {
  const std::string prefix = is_train_ ? "train" : "t10k";
  const std::string images_path = find_file(root, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_file(root, prefix + "-labels-idx1-ubyte");
  images_ = read_images(images_path);
  targets_ = read_labels(labels_path);
  ARK_CHECK(images_.size(0) == targets_.size(0), "MNIST: ", images_path, " holds ", images_.size(0), " images but ",
            labels_path, " holds ", targets_.size(0), " labels");
}

Example<> MNIST::get(size_t index) {
  ARK_CHECK(index < static_cast<size_t>(images_.size(0)), "MNIST::get: index ", index, " is out of range for a dataset of ",
            images_.size(0), " examples");
  const auto i = static_cast<int64_t>(index);
  return {images_[i], targets_[i]};
}

std::optional<size_t> MNIST::size() const { return static_cast<size_t>(images_.size(0)); }

}  // namespace ark::data::datasets
