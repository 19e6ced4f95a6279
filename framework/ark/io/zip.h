// A read-only, validating ZIP central-directory reader for PyTorch checkpoints (the format of
// torch.save since 1.6, written by PyTorch's miniz-based PyTorchStreamWriter). It indexes an
// archive that is already in memory (a mapping or a buffer) and hands out views of STORED
// records; it never inflates, never extracts and never touches the file system, so entry names
// are only ever compared, not opened. Validation follows APPNOTE 6.3: end-of-central-directory
// record (with ZIP64), central directory entries, the matching local headers, and a layout in
// which no two records overlap. Left out on purpose: compression, encryption, multi-disk
// archives, writing.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ark::io {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;         // 0 = stored, 8 = deflate, ...
  uint16_t flags = 0;          // general-purpose bit flags
  uint32_t crc32 = 0;          // from the central directory
  uint64_t header_offset = 0;  // of the local file header
  uint64_t data_offset = 0;    // of the record's first byte
  uint64_t compressed_size = 0;
  uint64_t size = 0;           // uncompressed
};

class ZipArchive {
 public:
  /// Hard caps: archives beyond them are refused with "limit exceeded".
  static constexpr size_t kMaxEntries = 1 << 20;
  static constexpr size_t kMaxNameLength = 4096;

  /// Indexes the archive image `data[0, size)`, which must outlive this object. `name` (the file
  /// path) appears in every error. Throws ark::Error("<name>: truncated or corrupted archive: …")
  /// and friends for anything malformed.
  static ZipArchive parse(const void* data, size_t size, std::string name);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  /// The entry named exactly `name`, or nullptr.
  const ZipEntry* find(std::string_view name) const;
  /// The bytes of a STORED record (a view into the image). Refuses compressed or encrypted
  /// entries; with `verify_crc32`, checks the record against its CRC-32.
  std::string_view stored(const ZipEntry& entry, bool verify_crc32 = true) const;
  const std::string& name() const { return name_; }

 private:
  ZipArchive(const unsigned char* data, size_t size, std::string name) : data_(data), size_(size), name_(std::move(name)) {}
  const unsigned char* data_;
  size_t size_;
  std::string name_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

/// True when `prefix` starts like a ZIP archive (a local file header, or an empty archive).
bool looks_like_zip(std::string_view prefix);

}  // namespace ark::io
