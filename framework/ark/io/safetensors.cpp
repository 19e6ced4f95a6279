// safetensors reader and writer. The reader mirrors the checks of the format's reference
// implementation (safetensors/src/tensor.rs `validate`): header at most 100 MB, valid UTF-8 JSON
// object, unique names, known dtypes, shapes whose byte size does not overflow, and offsets that
// tile the data section exactly. The writer produces the same bytes as the reference library
// (tensors sorted by dtype then name, header padded with spaces to a multiple of 8).
#include "ark/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "ark/io/file.h"
#include "ark/io/utf8.h"
#include "ark/ops/ops.h"

namespace ark::io {

namespace {

constexpr uint64_t kMaxHeaderSize = 100'000'000;  // as the reference implementation
constexpr size_t kMaxTensors = 1 << 20;
constexpr size_t kMaxRank = 8;

struct DtypeInfo {
  const char* name;
  ScalarType dtype;
  int order;  // the reference implementation's Dtype enum order (for write sorting)
};
constexpr DtypeInfo kDtypes[] = {
    {"BOOL", kBool, 0}, {"U8", kByte, 1}, {"F16", kHalf, 7}, {"BF16", kBFloat16, 8},
    {"I32", kInt, 9},   {"F32", kFloat, 11}, {"F64", kDouble, 12}, {"I64", kLong, 13},
};
// Valid safetensors dtypes that ark has no tensor type for.
constexpr const char* kUnsupported[] = {"I8", "I16", "U16", "U32", "U64", "F8_E5M2", "F8_E4M3", "F8_E4M3FN",
                                        "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64"};

const DtypeInfo& info_of(ScalarType t) {
  for (const auto& d : kDtypes)
    if (d.dtype == t) return d;
  ARK_ERROR("safetensors: dtype ", dtype_name(t), " has no safetensors name");
}

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw Error("safetensors file " + name + ": " + what);
}

struct Entry {
  std::string name;
  ScalarType dtype;
  DimVector shape;
  uint64_t begin, end;
};

// Parses and validates the header; `data_size` is the size of the data section.
std::pair<std::vector<Entry>, Metadata> parse_header(const char* header, uint64_t n, uint64_t data_size,
                                                     const std::string& name) {
  if (!valid_utf8(reinterpret_cast<const unsigned char*>(header), n)) fail(name, "header is not valid UTF-8");
  // Duplicate keys are an error (JSON allows them; nlohmann would keep the last silently).
  std::set<std::string> seen;
  std::string dup;
  nlohmann::json::parser_callback_t cb = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (event == nlohmann::json::parse_event_t::key && depth == 1) {
      const std::string k = parsed.get<std::string>();
      if (!seen.insert(k).second && dup.empty()) dup = k;
    }
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header, header + n, cb);
  } catch (const nlohmann::json::exception& e) {
    fail(name, std::string("header is not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) fail(name, "header is not a JSON object");
  if (!dup.empty()) fail(name, "duplicate tensor name '" + dup + "' in header");
  if (j.size() > kMaxTensors) fail(name, "too many tensors (" + std::to_string(j.size()) + ", limit " +
                                             std::to_string(kMaxTensors) + ")");
  Metadata meta;
  std::vector<Entry> entries;
  entries.reserve(j.size());
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const auto& v = it.value();
    if (key == "__metadata__") {
      if (!v.is_object()) fail(name, "__metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail(name, "__metadata__ value for '" + m.key() + "' is not a string");
        meta[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      fail(name, "tensor '" + key + "' must have dtype, shape and data_offsets");
    const auto& jd = v["dtype"];
    if (!jd.is_string()) fail(name, "tensor '" + key + "': dtype is not a string");
    const std::string ds = jd.get<std::string>();
    Entry e{key, kFloat, {}, 0, 0};
    bool found = false;
    for (const auto& d : kDtypes)
      if (ds == d.name) { e.dtype = d.dtype; found = true; }
    if (!found) {
      for (const char* u : kUnsupported)
        if (ds == u) fail(name, "tensor '" + key + "': dtype " + ds + " is not supported by ark");
      fail(name, "tensor '" + key + "': unknown dtype '" + ds + "'");
    }
    const auto& js = v["shape"];
    if (!js.is_array()) fail(name, "tensor '" + key + "': shape is not an array");
    if (js.size() > kMaxRank) fail(name, "tensor '" + key + "': rank " + std::to_string(js.size()) + " exceeds " +
                                             std::to_string(kMaxRank));
    uint64_t numel = 1;
    for (const auto& s : js) {
      if (!s.is_number_unsigned()) fail(name, "tensor '" + key + "': shape entries must be non-negative integers");
      const uint64_t d = s.get<uint64_t>();
      if (d > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, d, &numel))
        fail(name, "tensor '" + key + "': shape overflows");
      e.shape.push_back(static_cast<int64_t>(d));
    }
    uint64_t nbytes;
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(element_size(e.dtype)), &nbytes) ||
        nbytes > static_cast<uint64_t>(INT64_MAX))
      fail(name, "tensor '" + key + "': byte size overflows");
    const auto& jo = v["data_offsets"];
    if (!jo.is_array() || jo.size() != 2 || !jo[0].is_number_unsigned() || !jo[1].is_number_unsigned())
      fail(name, "tensor '" + key + "': data_offsets must be two non-negative integers");
    e.begin = jo[0].get<uint64_t>();
    e.end = jo[1].get<uint64_t>();
    if (e.end < e.begin) fail(name, "tensor '" + key + "': invalid offset [" + std::to_string(e.begin) + ", " +
                                        std::to_string(e.end) + "]");
    if (e.end - e.begin != nbytes)
      fail(name, "tensor '" + key + "': tensor size mismatch: offsets cover " + std::to_string(e.end - e.begin) +
                     " bytes but shape and dtype need " + std::to_string(nbytes));
    entries.push_back(std::move(e));
  }
  // The tensors must tile [0, data_size) exactly: no holes, no overlaps, nothing left over.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : (a.end != b.end ? a.end < b.end : a.name < b.name);
  });
  uint64_t pos = 0;
  for (const Entry& e : entries) {
    if (e.begin != pos)
      fail(name, "tensor '" + e.name + "': invalid offset: starts at " + std::to_string(e.begin) + ", expected " +
                     std::to_string(pos) + (e.begin < pos ? " (overlaps the previous tensor)" : " (a hole before it)"));
    pos = e.end;
  }
  if (pos != data_size)
    fail(name, "file not fully covered: tensors cover " + std::to_string(pos) + " bytes of a " +
                   std::to_string(data_size) + "-byte data section" +
                   (pos < data_size ? " (trailing bytes)" : " (file is truncated)"));
  return {std::move(entries), std::move(meta)};
}

uint64_t read_le64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Builds the tensors over `base` (the start of the data section), owned by `owner`.
SafetensorsFile build(const std::vector<Entry>& entries, Metadata meta, char* base, std::shared_ptr<void> owner) {
  SafetensorsFile f;
  f.metadata = std::move(meta);
  for (const Entry& e : entries) {
    char* p = base + e.begin;
    const size_t nbytes = static_cast<size_t>(e.end - e.begin);
    Tensor t;
    if (reinterpret_cast<uintptr_t>(p) % element_size(e.dtype) != 0) {
      // The header length need not be a multiple of 8: copy misaligned data instead of viewing it.
      t = empty(e.shape, e.dtype);
      if (nbytes) std::memcpy(t.data_ptr(), p, nbytes);
    } else {
      t = from_blob(p, e.shape, [owner](void*) {}, TensorOptions().dtype(e.dtype));
    }
    f.tensors.insert(e.name, t);
  }
  return f;
}

std::pair<std::vector<Entry>, Metadata> parse_image(const unsigned char* data, uint64_t size, const std::string& name,
                                                    uint64_t& data_start) {
  if (size < 8) fail(name, "header too small: the file has " + std::to_string(size) + " bytes, expected at least 8");
  const uint64_t n = read_le64(data);
  if (n > kMaxHeaderSize) fail(name, "header too large: " + std::to_string(n) + " bytes (limit " +
                                        std::to_string(kMaxHeaderSize) + ")");
  if (n > size - 8) fail(name, "invalid header length " + std::to_string(n) + ": the file has only " +
                                   std::to_string(size - 8) + " bytes after the length field");
  data_start = 8 + n;
  return parse_header(reinterpret_cast<const char*>(data) + 8, n, size - data_start, name);
}

}  // namespace

SafetensorsFile parse_safetensors(const void* data, size_t size, const std::string& name) {
  uint64_t start = 0;
  auto [entries, meta] = parse_image(static_cast<const unsigned char*>(data), size, name, start);
  // Copy the data section into owned, aligned memory.
  const size_t nbytes = size - static_cast<size_t>(start);
  std::shared_ptr<char> buf(static_cast<char*>(std::aligned_alloc(64, (nbytes + 63) & ~size_t{63})), std::free);
  if (!buf && nbytes) ARK_ERROR("out of memory reading ", name);
  if (nbytes) std::memcpy(buf.get(), static_cast<const char*>(data) + start, nbytes);
  return build(entries, std::move(meta), buf.get(), buf);
}

SafetensorsFile load_safetensors(const std::string& path) {
  const MappedFile file = map_file(path);  // private mapping: tensors may be changed in place
  if (file.size < 8)
    fail(path, "header too small: the file has " + std::to_string(file.size) + " bytes, expected at least 8");
  uint64_t start = 0;
  auto [entries, meta] = parse_image(static_cast<const unsigned char*>(file.data.get()), file.size, path, start);
  return build(entries, std::move(meta), static_cast<char*>(file.data.get()) + start, file.data);
}

namespace {

// A file's parts: the 8-byte length and header, then each tensor's bytes (contiguous CPU
// tensors, viewed where they lie: a writer streams them out without gathering a copy).
struct Layout {
  std::string head;
  std::vector<Tensor> data;
};

Layout layout_of(const TensorDict& tensors, const Metadata& metadata) {
  struct Item {
    std::string name;
    Tensor t;
    int order;
  };
  std::vector<Item> items;
  for (const auto& kv : tensors) {
    ARK_CHECK(kv.value().defined(), "save_safetensors: tensor '", kv.key(), "' is undefined");
    ARK_CHECK(kv.key() != "__metadata__", "save_safetensors: '__metadata__' is reserved");
    Tensor c = kv.value().detach().to(Device(kCPU)).contiguous();
    items.push_back({kv.key(), c, info_of(c.dtype()).order});
  }
  // The reference writer's order: dtype (descending) then name; data in the same order.
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return a.order != b.order ? a.order > b.order : a.name < b.name;
  });
  // Hand-written JSON so the bytes match the reference writer exactly (no spaces, this key order).
  std::string header = "{";
  auto sep = [&header](bool& first) {
    if (!first) header.push_back(',');
    first = false;
  };
  bool first = true;
  if (!metadata.empty()) {
    sep(first);
    header.append("\"__metadata__\":{");
    bool f2 = true;
    for (const auto& [k, v] : metadata) {
      sep(f2);
      header.append(nlohmann::json(k).dump()).append(":").append(nlohmann::json(v).dump());
    }
    header.push_back('}');
  }
  uint64_t offset = 0;
  Layout out;
  for (const Item& it : items) {
    const uint64_t nb = it.t.nbytes();
    sep(first);
    header.append(nlohmann::json(it.name).dump()).append(":{\"dtype\":\"").append(info_of(it.t.dtype()).name);
    header.append("\",\"shape\":[");
    for (int64_t d = 0; d < it.t.dim(); ++d) {
      if (d) header.push_back(',');
      header.append(std::to_string(it.t.size(d)));
    }
    header.append("],\"data_offsets\":[").append(std::to_string(offset)).append(",");
    header.append(std::to_string(offset + nb)).append("]}");
    offset += nb;
    out.data.push_back(it.t);
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.head.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out.head += header;
  return out;
}

std::string_view bytes_of(const Tensor& t) { return {static_cast<const char*>(t.data_ptr()), t.nbytes()}; }

}  // namespace

std::string serialize_safetensors(const TensorDict& tensors, const Metadata& metadata) {
  const Layout l = layout_of(tensors, metadata);
  std::string out = l.head;
  for (const Tensor& t : l.data) out.append(bytes_of(t));
  return out;
}

// Streamed from the tensors' own memory: saving a model or an optimizer's state adds no copy of
// it to the process's peak (a fine-tuning run's checkpoint held 140 MB more while it was written).
void save_safetensors(const std::string& path, const TensorDict& tensors, const Metadata& metadata) {
  const Layout l = layout_of(tensors, metadata);
  std::vector<std::string_view> pieces{l.head};
  for (const Tensor& t : l.data) pieces.push_back(bytes_of(t));
  write_file_atomic(path, pieces);
}

}  // namespace ark::io
