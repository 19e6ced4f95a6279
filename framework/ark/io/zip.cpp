// ZIP central-directory reader (APPNOTE.TXT 6.3.x). Every length and offset read from the file is
// checked against the image before it is used, in 64-bit arithmetic that cannot overflow (each
// operand is at most the image size, itself far below 2^63). The layout must be the plain one
// that writers produce: records back to back, then the central directory, then the end records;
// overlapping records (zip bombs that reuse bytes, polyglots) and names that a careless extractor
// would write outside its folder are refused even though ark never extracts.
#include "ark/io/zip.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "ark/core/error.h"

namespace ark::io {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50, kEnd64LocatorSig = 0x07064b50;
constexpr size_t kLocalSize = 30, kCentralSize = 46, kEndSize = 22, kEnd64Size = 56, kLocatorSize = 20;

uint16_t rd16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t rd32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t rd64(const unsigned char* p) { return static_cast<uint64_t>(rd32(p)) | (static_cast<uint64_t>(rd32(p + 4)) << 32); }

// Printable form of an untrusted name for messages.
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 200)) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  if (s.size() > 200) out += "...";
  return out;
}

bool safe_name(std::string_view n) {
  if (n.empty() || n.front() == '/') return false;
  for (unsigned char c : n)
    if (c < 0x20 || c == '\\' || c == 0x7f) return false;
  size_t start = 0;
  while (start <= n.size()) {
    size_t end = n.find('/', start);
    if (end == std::string_view::npos) end = n.size();
    if (n.substr(start, end - start) == "..") return false;
    start = end + 1;
  }
  return !(n.size() >= 2 && n[1] == ':');  // no drive letters ("C:x")
}

// ZIP64 "extended information" extra field (id 1): the 64-bit values of the fields that are
// 0xFFFFFFFF (0xFFFF for the disk) in the fixed header, in this order.
struct Zip64Fields {
  uint64_t* usize = nullptr;
  uint64_t* csize = nullptr;
  uint64_t* offset = nullptr;
  uint32_t* disk = nullptr;
};

}  // namespace

bool looks_like_zip(std::string_view p) {
  return p.size() >= 4 && p[0] == 'P' && p[1] == 'K' &&
         ((p[2] == 3 && p[3] == 4) || (p[2] == 5 && p[3] == 6));
}

ZipArchive ZipArchive::parse(const void* data, size_t size, std::string name) {
  ZipArchive z(static_cast<const unsigned char*>(data), size, std::move(name));
  const unsigned char* d = z.data_;
  const std::string& nm = z.name_;
  auto corrupt = [&nm](const std::string& what) -> void {
    throw Error("zip archive " + nm + ": truncated or corrupted archive (" + what + ")");
  };
  auto bad = [&nm](const std::string& what) -> void { throw Error("zip archive " + nm + ": " + what); };

  // ---- end of central directory: the last 22-byte record whose comment reaches the end ----
  if (size < kEndSize) corrupt("no end of central directory record: the file has only " + std::to_string(size) + " bytes");
  uint64_t eocd = UINT64_MAX;
  const uint64_t lowest = size - kEndSize > 0xffff ? size - kEndSize - 0xffff : 0;
  for (uint64_t pos = size - kEndSize + 1; pos-- > lowest;) {
    if (rd32(d + pos) == kEndSig && rd16(d + pos + 20) == size - pos - kEndSize) {
      eocd = pos;
      break;
    }
  }
  if (eocd == UINT64_MAX) corrupt("no end of central directory record");
  const unsigned char* e = d + eocd;
  uint64_t disk = rd16(e + 4), cd_disk = rd16(e + 6), n_disk = rd16(e + 8), n_total = rd16(e + 10);
  uint64_t cd_size = rd32(e + 12), cd_offset = rd32(e + 16);
  uint64_t records_end = eocd;  // everything before the end records

  if (eocd >= kLocatorSize && rd32(d + eocd - kLocatorSize) == kEnd64LocatorSig) {
    const unsigned char* loc = d + eocd - kLocatorSize;
    const uint64_t e64 = rd64(loc + 8);
    if (rd32(loc + 4) != 0 || rd32(loc + 16) > 1) bad("multi-disk archives are not supported");
    if (e64 > eocd - kLocatorSize || eocd - kLocatorSize - e64 < kEnd64Size)
      corrupt("ZIP64 end record offset " + std::to_string(e64) + " is out of range");
    const unsigned char* r = d + e64;
    if (rd32(r) != kEnd64Sig) corrupt("bad ZIP64 end record signature");
    const uint64_t rec_size = rd64(r + 4);
    if (rec_size < kEnd64Size - 12 || rec_size > eocd - kLocatorSize - e64 - 12)
      corrupt("bad ZIP64 end record size " + std::to_string(rec_size));
    const uint64_t disk64 = rd32(r + 16), cd_disk64 = rd32(r + 20), n_disk64 = rd64(r + 24), n_total64 = rd64(r + 32);
    const uint64_t cd_size64 = rd64(r + 40), cd_offset64 = rd64(r + 48);
    // The 16/32-bit fields either say "see ZIP64" or agree with it, so two readers cannot see two archives.
    auto agree = [&](uint64_t small, uint64_t max, uint64_t big, const char* what) {
      if (small != max && small != big) corrupt(std::string("ZIP64 and classic end records disagree on ") + what);
    };
    agree(disk, 0xffff, disk64, "the disk number");
    agree(cd_disk, 0xffff, cd_disk64, "the central directory disk");
    agree(n_disk, 0xffff, n_disk64, "the entry count");
    agree(n_total, 0xffff, n_total64, "the entry count");
    agree(cd_size, 0xffffffff, cd_size64, "the central directory size");
    agree(cd_offset, 0xffffffff, cd_offset64, "the central directory offset");
    disk = disk64, cd_disk = cd_disk64, n_disk = n_disk64, n_total = n_total64, cd_size = cd_size64, cd_offset = cd_offset64;
    records_end = e64;
  } else if (n_total == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) {
    corrupt("ZIP64 end record missing");
  }
  if (disk != 0 || cd_disk != 0 || n_disk != n_total) bad("multi-disk archives are not supported");
  if (n_total > kMaxEntries)
    bad("limit exceeded: " + std::to_string(n_total) + " entries (at most " + std::to_string(kMaxEntries) + ")");
  if (cd_offset > records_end || cd_size > records_end - cd_offset)
    corrupt("central directory [" + std::to_string(cd_offset) + ", +" + std::to_string(cd_size) +
            ") lies outside the file");
  if (n_total * kCentralSize > cd_size) corrupt("central directory too small for " + std::to_string(n_total) + " entries");

  // ---- central directory ----
  z.entries_.reserve(static_cast<size_t>(n_total));
  uint64_t pos = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < n_total; ++i) {
    if (cd_end - pos < kCentralSize) corrupt("central directory entry " + std::to_string(i) + " is truncated");
    const unsigned char* c = d + pos;
    if (rd32(c) != kCentralSig) corrupt("bad central directory signature at entry " + std::to_string(i));
    ZipEntry ent;
    ent.flags = rd16(c + 8);
    ent.method = rd16(c + 10);
    ent.crc32 = rd32(c + 16);
    ent.compressed_size = rd32(c + 20);
    ent.size = rd32(c + 24);
    const uint64_t name_len = rd16(c + 28), extra_len = rd16(c + 30), comment_len = rd16(c + 32);
    uint32_t start_disk = rd16(c + 34);
    ent.header_offset = rd32(c + 42);
    if (cd_end - pos - kCentralSize < name_len + extra_len + comment_len)
      corrupt("central directory entry " + std::to_string(i) + " is truncated");
    ent.name.assign(reinterpret_cast<const char*>(c + kCentralSize), static_cast<size_t>(name_len));
    if (name_len > kMaxNameLength) bad("limit exceeded: entry name of " + std::to_string(name_len) + " bytes");
    if (!safe_name(ent.name)) bad("invalid entry name '" + printable(ent.name) + "'");
    if (ent.flags & 0x0041) bad("entry '" + printable(ent.name) + "' is encrypted");
    // ZIP64 extended information.
    const unsigned char* x = c + kCentralSize + name_len;
    const unsigned char* x_end = x + extra_len;
    const bool need64 = ent.size == 0xffffffff || ent.compressed_size == 0xffffffff ||
                        ent.header_offset == 0xffffffff || start_disk == 0xffff;
    bool have64 = false;
    while (x_end - x >= 4) {
      const uint16_t id = rd16(x), len = rd16(x + 2);
      if (x_end - x - 4 < len) corrupt("extra field of '" + printable(ent.name) + "' is truncated");
      if (id == 1 && need64 && !have64) {
        have64 = true;
        const unsigned char* f = x + 4;
        const unsigned char* f_end = f + len;
        auto take64 = [&](uint64_t& v) {
          if (f_end - f < 8) corrupt("ZIP64 extra field of '" + printable(ent.name) + "' is too short");
          v = rd64(f);
          f += 8;
        };
        if (ent.size == 0xffffffff) take64(ent.size);
        if (ent.compressed_size == 0xffffffff) take64(ent.compressed_size);
        if (ent.header_offset == 0xffffffff) take64(ent.header_offset);
        if (start_disk == 0xffff) {
          if (f_end - f < 4) corrupt("ZIP64 extra field of '" + printable(ent.name) + "' is too short");
          start_disk = rd32(f);
        }
      }
      x += 4 + len;
    }
    if (need64 && !have64) corrupt("entry '" + printable(ent.name) + "' needs a ZIP64 extra field");
    if (start_disk != 0) bad("multi-disk archives are not supported");
    if (ent.method == 0 && ent.compressed_size != ent.size)
      corrupt("stored entry '" + printable(ent.name) + "' has compressed size " + std::to_string(ent.compressed_size) +
              " but size " + std::to_string(ent.size));

    // The local header must agree with the central directory.
    if (ent.header_offset > cd_offset || cd_offset - ent.header_offset < kLocalSize)
      corrupt("local header of '" + printable(ent.name) + "' lies outside the file");
    const unsigned char* l = d + ent.header_offset;
    if (rd32(l) != kLocalSig) corrupt("bad local header signature for '" + printable(ent.name) + "'");
    const uint64_t l_name = rd16(l + 26), l_extra = rd16(l + 28);
    if (cd_offset - ent.header_offset - kLocalSize < l_name + l_extra)
      corrupt("local header of '" + printable(ent.name) + "' is truncated");
    if (std::string_view(reinterpret_cast<const char*>(l + kLocalSize), static_cast<size_t>(l_name)) != ent.name)
      corrupt("local header name differs from the central directory for '" + printable(ent.name) + "'");
    if (rd16(l + 8) != ent.method || ((rd16(l + 6) ^ ent.flags) & 0x0049))
      corrupt("local header of '" + printable(ent.name) + "' disagrees with the central directory");
    if (!(ent.flags & 0x0008)) {  // no data descriptor: the local sizes and CRC are the real ones
      uint64_t l_csize = rd32(l + 18), l_usize = rd32(l + 22);
      if (l_csize == 0xffffffff || l_usize == 0xffffffff) {
        const unsigned char* lx = l + kLocalSize + l_name;
        const unsigned char* lx_end = lx + l_extra;
        bool found = false;
        while (lx_end - lx >= 4 && !found) {
          const uint16_t id = rd16(lx), len = rd16(lx + 2);
          if (lx_end - lx - 4 < len) break;
          if (id == 1) {
            const unsigned char* f = lx + 4;
            uint64_t left = len;
            if (l_usize == 0xffffffff && left >= 8) l_usize = rd64(f), f += 8, left -= 8;
            if (l_csize == 0xffffffff && left >= 8) l_csize = rd64(f);
            found = true;
          }
          lx += 4 + len;
        }
      }
      if (rd32(l + 14) != ent.crc32 || l_csize != ent.compressed_size || l_usize != ent.size)
        corrupt("local header of '" + printable(ent.name) + "' disagrees with the central directory");
    }
    ent.data_offset = ent.header_offset + kLocalSize + l_name + l_extra;
    if (ent.compressed_size > cd_offset - ent.data_offset)
      corrupt("entry '" + printable(ent.name) + "' (" + std::to_string(ent.compressed_size) +
              " bytes) runs past the central directory");
    if (!z.index_.emplace(ent.name, z.entries_.size()).second) bad("duplicate entry name '" + printable(ent.name) + "'");
    z.entries_.push_back(std::move(ent));
    pos += kCentralSize + name_len + extra_len + comment_len;
  }
  if (pos != cd_end) corrupt("central directory has " + std::to_string(cd_end - pos) + " unexplained bytes");

  // ---- layout: records must not overlap (each record's bytes belong to it alone) ----
  std::vector<const ZipEntry*> order;
  order.reserve(z.entries_.size());
  for (const ZipEntry& en : z.entries_) order.push_back(&en);
  std::sort(order.begin(), order.end(),
            [](const ZipEntry* a, const ZipEntry* b) { return a->header_offset < b->header_offset; });
  for (size_t i = 1; i < order.size(); ++i) {
    const ZipEntry& prev = *order[i - 1];
    if (prev.data_offset + prev.compressed_size > order[i]->header_offset)
      bad("overlapping entries '" + printable(prev.name) + "' and '" + printable(order[i]->name) + "'");
  }
  return z;
}

const ZipEntry* ZipArchive::find(std::string_view n) const {
  auto it = index_.find(std::string(n));
  return it == index_.end() ? nullptr : &entries_[it->second];
}

std::string_view ZipArchive::stored(const ZipEntry& e, bool verify_crc32) const {
  if (e.method != 0)
    throw Error("zip archive " + name_ + ": compressed entries not allowed ('" + printable(e.name) + "' uses method " +
                std::to_string(e.method) + (e.method == 8 ? " (deflate)" : "") + "; PyTorch stores every record uncompressed)");
  const char* p = reinterpret_cast<const char*>(data_ + e.data_offset);
  if (verify_crc32) {
    uLong crc = ::crc32(0L, Z_NULL, 0);
    for (uint64_t done = 0; done < e.size;) {
      const uInt chunk = static_cast<uInt>(std::min<uint64_t>(e.size - done, uint64_t{1} << 30));
      crc = ::crc32(crc, reinterpret_cast<const Bytef*>(p + done), chunk);
      done += chunk;
    }
    if (static_cast<uint32_t>(crc) != e.crc32)
      throw Error("zip archive " + name_ + ": CRC-32 mismatch in '" + printable(e.name) + "' (the file is corrupted)");
  }
  return {p, static_cast<size_t>(e.size)};
}

}  // namespace ark::io
