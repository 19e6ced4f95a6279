// Hand-assembly helpers for the .pth tests: a byte-exact ZIP writer (stored or "compressed"
// records, ZIP64, overlapping and mismatched entries on demand), a pickle builder with one method
// per opcode, and state-dict pickles in torch.save's shape. Used by test_pth.cpp and
// test_pth_malformed.cpp.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ark/ark.h"
#include "ark/io/pth.h"

namespace pth_test {

inline uint32_t crc32(std::string_view s) {
  uint32_t c = 0xffffffffu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

inline void put16(std::string& s, uint64_t v) { for (int i = 0; i < 2; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff)); }
inline void put32(std::string& s, uint64_t v) { for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff)); }
inline void put64(std::string& s, uint64_t v) { for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff)); }

struct Record {
  Record(std::string n, std::string d, uint16_t m = 0, uint64_t declared = UINT64_MAX)
      : name(std::move(n)), data(std::move(d)), method(m), declared_size(declared) {}
  std::string name;
  std::string data;
  uint16_t method = 0;                    // 8 = deflate (the bytes are not really compressed)
  uint64_t declared_size = UINT64_MAX;    // the uncompressed size to declare (default: data.size())
  std::string local_name;                 // a different name in the local header
  int point_into = -1;                    // no local header of its own: the central directory
                                          // entry points into record `point_into`'s data
};

inline std::string local_header(const std::string& name, const std::string& data, uint16_t method, uint64_t usize,
                                bool zip64) {
  std::string h;
  put32(h, 0x04034b50);
  put16(h, zip64 ? 45 : 20);
  put16(h, 0);
  put16(h, method);
  put32(h, 0);  // time, date
  put32(h, crc32(data));
  put32(h, zip64 ? 0xffffffffu : data.size());
  put32(h, zip64 ? 0xffffffffu : usize);
  put16(h, name.size());
  put16(h, zip64 ? 20 : 0);
  h += name;
  if (zip64) {
    put16(h, 1);
    put16(h, 16);
    put64(h, usize);
    put64(h, data.size());
  }
  return h + data;
}

/// A ZIP image of `records` (ZIP64 end records and extra fields when `zip64`).
inline std::string make_zip(const std::vector<Record>& records, bool zip64 = false) {
  std::string out;
  std::vector<uint64_t> offsets;
  for (const Record& r : records) {
    const uint64_t usize = r.declared_size == UINT64_MAX ? r.data.size() : r.declared_size;
    if (r.point_into >= 0) {
      const Record& host = records[static_cast<size_t>(r.point_into)];
      const uint64_t host_usize = host.declared_size == UINT64_MAX ? host.data.size() : host.declared_size;
      offsets.push_back(offsets[static_cast<size_t>(r.point_into)] +
                        local_header(host.local_name.empty() ? host.name : host.local_name, "", 0, host_usize, zip64).size());
      continue;
    }
    offsets.push_back(out.size());
    out += local_header(r.local_name.empty() ? r.name : r.local_name, r.data, r.method, usize, zip64);
  }
  const uint64_t cd_offset = out.size();
  for (size_t i = 0; i < records.size(); ++i) {
    const Record& r = records[i];
    const uint64_t usize = r.declared_size == UINT64_MAX ? r.data.size() : r.declared_size;
    put32(out, 0x02014b50);
    put16(out, 45);
    put16(out, zip64 ? 45 : 20);
    put16(out, 0);
    put16(out, r.method);
    put32(out, 0);
    put32(out, crc32(r.data));
    put32(out, zip64 ? 0xffffffffu : r.data.size());
    put32(out, zip64 ? 0xffffffffu : usize);
    put16(out, r.name.size());
    put16(out, zip64 ? 28 : 0);
    put16(out, 0);  // comment
    put16(out, 0);  // disk
    put16(out, 0);
    put32(out, 0);
    put32(out, zip64 ? 0xffffffffu : offsets[i]);
    out += r.name;
    if (zip64) {
      put16(out, 1);
      put16(out, 24);
      put64(out, usize);
      put64(out, r.data.size());
      put64(out, offsets[i]);
    }
  }
  const uint64_t cd_size = out.size() - cd_offset;
  if (zip64) {
    const uint64_t e64 = out.size();
    put32(out, 0x06064b50);
    put64(out, 44);
    put16(out, 45);
    put16(out, 45);
    put32(out, 0);
    put32(out, 0);
    put64(out, records.size());
    put64(out, records.size());
    put64(out, cd_size);
    put64(out, cd_offset);
    put32(out, 0x07064b50);
    put32(out, 0);
    put64(out, e64);
    put32(out, 1);
  }
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, zip64 ? 0xffff : records.size());
  put16(out, zip64 ? 0xffff : records.size());
  put32(out, zip64 ? 0xffffffffu : cd_size);
  put32(out, zip64 ? 0xffffffffu : cd_offset);
  put16(out, 0);
  return out;
}

/// Pickle bytes, one method per opcode.
class Pickle {
 public:
  Pickle& op(unsigned char c) { s_.push_back(static_cast<char>(c)); return *this; }
  Pickle& raw(std::string_view b) { s_.append(b); return *this; }
  Pickle& u32(uint64_t v) { put32(s_, v); return *this; }
  Pickle& proto(int v = 2) { return op(0x80).op(static_cast<unsigned char>(v)); }
  Pickle& global(std::string_view module, std::string_view name) {
    return op('c').raw(module).raw("\n").raw(name).raw("\n");
  }
  Pickle& str(std::string_view v) { return op('X').u32(v.size()).raw(v); }
  Pickle& i(int64_t v) {
    if (v >= INT32_MIN && v <= INT32_MAX) return op('J').u32(static_cast<uint32_t>(v));
    op(0x8a).op(8);
    put64(s_, static_cast<uint64_t>(v));
    return *this;
  }
  Pickle& ints(const std::vector<int64_t>& v) {
    mark();
    for (int64_t x : v) i(x);
    return tuple();
  }
  Pickle& mark() { return op('('); }
  Pickle& tuple() { return op('t'); }
  Pickle& empty_tuple() { return op(')'); }
  Pickle& empty_dict() { return op('}'); }
  Pickle& empty_list() { return op(']'); }
  Pickle& none() { return op('N'); }
  Pickle& boolean(bool b) { return op(b ? 0x88 : 0x89); }
  Pickle& setitem() { return op('s'); }
  Pickle& setitems() { return op('u'); }
  Pickle& append() { return op('a'); }
  Pickle& reduce() { return op('R'); }
  Pickle& build() { return op('b'); }
  Pickle& persid() { return op('Q'); }
  Pickle& put(uint32_t k) { return op('r').u32(k); }
  Pickle& get(uint32_t k) { return op('j').u32(k); }
  Pickle& stop() { return op('.'); }
  /// ('storage', torch.<type>, key, 'cpu', numel) BINPERSID
  Pickle& storage(const std::string& type, const std::string& key, int64_t numel) {
    return mark().str("storage").global("torch", type).str(key).str("cpu").i(numel).tuple().persid();
  }
  /// _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())
  Pickle& tensor(const std::string& type, const std::string& key, int64_t numel, int64_t offset,
                 const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides) {
    global("torch._utils", "_rebuild_tensor_v2").mark();
    storage(type, key, numel).i(offset).ints(sizes).ints(strides).boolean(false);
    return global("collections", "OrderedDict").empty_tuple().reduce().tuple().reduce();
  }
  const std::string& bytes() const { return s_; }

 private:
  std::string s_;
};

struct TensorSpec {
  std::string key, type, storage;
  int64_t numel, offset;
  std::vector<int64_t> sizes, strides;
};

/// {key: tensor, ...} as torch.save pickles a plain dict (protocol 2).
inline std::string sd_pickle(const std::vector<TensorSpec>& specs) {
  Pickle p;
  p.proto().empty_dict().mark();
  for (const TensorSpec& t : specs) p.str(t.key).tensor(t.type, t.storage, t.numel, t.offset, t.sizes, t.strides);
  return p.setitems().stop().bytes();
}

/// A zip-format checkpoint: archive/data.pkl, archive/data/<key> per storage, archive/version.
inline std::string make_pth(const std::string& pickle, const std::vector<std::pair<std::string, std::string>>& storages,
                            const std::string& byteorder = "", bool zip64 = false) {
  std::vector<Record> r{{"archive/data.pkl", pickle}};
  for (const auto& [key, data] : storages) r.push_back({"archive/data/" + key, data});
  r.push_back({"archive/version", "3\n"});
  if (!byteorder.empty()) r.push_back({"archive/byteorder", byteorder});
  return make_zip(r, zip64);
}

template <class T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

/// parse_pth(bytes) must throw an ark::Error naming "case.pth" and containing `fragment`.
inline void expect_error(const std::string& bytes, const std::string& fragment) {
  try {
    ark::io::parse_pth(bytes.data(), bytes.size(), "case.pth");
    ADD_FAILURE() << "expected an error containing '" << fragment << "'";
  } catch (const ark::Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("case.pth"), std::string::npos) << e.what();
  }
}

/// A checkpoint whose data.pkl is `pickle` and whose one storage "0" holds `nbytes` zero bytes.
inline std::string with_pickle(const std::string& pickle, size_t nbytes = 16) {
  return make_pth(pickle, {{"0", std::string(nbytes, '\0')}});
}

}  // namespace pth_test
