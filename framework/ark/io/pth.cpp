// torch.save checkpoints: format detection, the zip and legacy layouts, storage resolution and
// the tensors' views. The pickle itself is run by ark/io/unpickler.cpp; this file turns its
// symbolic storages and tensors into ark tensors over the file's bytes.
// ref: torch/serialization.py (_load, _legacy_load), caffe2/serialize/inline_container.cc.
#include "ark/io/pth.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <unordered_map>

#include "ark/io/file.h"
#include "ark/io/zip.h"
#include "ark/ops/ops.h"

namespace ark::io {

namespace {

// The legacy format's first pickle: LONG1 0x1950a86a20f9469cfc6c (torch/serialization.py MAGIC_NUMBER).
constexpr unsigned char kLegacyMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
constexpr int64_t kLegacyProtocolVersion = 1001;
constexpr int64_t kMaxZipVersion = 10;  // PyTorch writes 3; its readers accept up to 10 (kMaxSupportedFileFormatVersion)

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw Error("PyTorch checkpoint " + name + ": " + what);
}

std::string hex_prefix(const unsigned char* d, size_t n) {
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < std::min<size_t>(n, 8); ++i) {
    if (i) s.push_back(' ');
    s.push_back(hex[d[i] >> 4]);
    s.push_back(hex[d[i] & 15]);
  }
  return s;
}

bool is_legacy(const unsigned char* d, size_t n) {
  return n >= 14 && d[0] == 0x80 && d[1] >= 2 && d[1] <= 5 && d[2] == 0x8a && d[3] == 10 &&
         std::memcmp(d + 4, kLegacyMagic, sizeof kLegacyMagic) == 0;
}
bool is_tar(const unsigned char* d, size_t n) { return n >= 262 && std::memcmp(d + 257, "ustar", 5) == 0; }

void byteswap(char* p, size_t nbytes, size_t elem) {
  if (elem == 1) return;
  for (size_t i = 0; i + elem <= nbytes; i += elem)
    for (size_t a = 0, b = elem - 1; a < b; ++a, --b) std::swap(p[i + a], p[i + b]);
}

// An ark storage over `nbytes` at `p`: a view that keeps `owner` alive when the bytes are aligned
// for the element type and in native order, otherwise an aligned copy (memcpy: never an
// unaligned typed access), byte-swapped when the file is big-endian.
std::shared_ptr<Storage> make_storage(const char* p, size_t nbytes, ScalarType dtype, bool big_endian,
                                      const std::shared_ptr<void>& owner) {
  const size_t elem = element_size(dtype);
  if (!big_endian && reinterpret_cast<uintptr_t>(p) % elem == 0)
    return Storage::wrap(const_cast<char*>(p), nbytes, Device(kCPU), [owner](void*) {});
  std::shared_ptr<Storage> st = empty({static_cast<int64_t>(nbytes)}, TensorOptions().dtype(kByte)).storage();
  if (nbytes) std::memcpy(st->data(), p, nbytes);
  if (big_endian) byteswap(static_cast<char*>(st->data()), nbytes, elem);
  return st;
}

// A bool element is one byte that must be 0 or 1: any other value would be read as a C++ bool
// that is neither true nor false (undefined behaviour), so such files are refused.
void check_bool_storage(const std::string& name, const std::string& key, const char* p, size_t nbytes) {
  for (size_t i = 0; i < nbytes; ++i)
    if (static_cast<unsigned char>(p[i]) > 1)
      fail(name, "bool storage '" + key + "' holds the byte " + std::to_string(static_cast<unsigned char>(p[i])) +
                     " at element " + std::to_string(i) + " (bools must be 0 or 1)");
}

std::string scalar_text(const pickle::Object& o) {
  using pickle::Kind;
  switch (o.kind) {
    case Kind::None: return "None";
    case Kind::Bool: return o.i ? "True" : "False";
    case Kind::Int: return std::to_string(o.i);
    case Kind::Float: {  // the shortest text that reads back exactly, as Python's repr
      char buf[32];
      for (int prec = 1; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*g", prec, o.f);
        if (std::strtod(buf, nullptr) == o.f) break;
      }
      return buf;
    }
    case Kind::Str: case Kind::Device: case Kind::Global: return o.s;
    default: return {};
  }
}

// Builds the result from the unpickled root once every storage has its bytes.
PthFile collect(const pickle::Object* root, const std::vector<std::shared_ptr<Storage>>& storages,
                const std::string& name, Metadata info) {
  PthFile out;
  std::unordered_map<const pickle::Object*, Tensor> built;  // one handle per pickled tensor (tied weights)
  size_t n_meta = 0;
  pickle::for_each_leaf(root, [&](const std::string& path, const pickle::Object& o) {
    if (o.kind != pickle::Kind::Tensor) {
      const std::string text = scalar_text(o);
      if (!path.empty() && n_meta < 10000 && (!text.empty() || o.kind == pickle::Kind::Str)) {
        out.metadata[path] = text;
        ++n_meta;
      }
      return;
    }
    const std::string key = path.empty() ? "tensor" : path;
    if (out.tensors.contains(key)) fail(name, "two tensors have the key '" + key + "' once nested keys are joined");
    auto it = built.find(&o);
    if (it == built.end()) {
      const pickle::TensorInfo& t = *o.tensor;
      const pickle::StorageInfo& s = *t.storage->storage;
      auto impl = std::make_shared<TensorImpl>(storages.at(s.index), t.sizes, t.strides, t.offset, s.dtype);
      it = built.emplace(&o, Tensor(std::move(impl))).first;
    }
    out.tensors.insert(key, it->second);
  }, "PyTorch checkpoint " + name);
  // Where the model's own state dict is: training checkpoints nest it ({'state_dict': sd,
  // 'optimizer': ...} from Lightning and timm, {'model': sd, ...} from torchvision's recipes).
  info["pth.state_dict"] = "";
  for (const char* k : {"state_dict", "model"}) {
    const pickle::Object* v = root->get(k);
    if (v && v->kind == pickle::Kind::Dict) {
      info["pth.state_dict"] = k;
      break;
    }
  }
  for (auto& [k, v] : info) out.metadata[k] = v;
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.remove_suffix(1);
  return std::string(s);
}

PthFile read_zip(const unsigned char* d, size_t size, const std::string& name, const PthOptions& opt,
                 const std::shared_ptr<void>& owner) {
  ZipArchive zip = ZipArchive::parse(d, size, name);
  if (zip.entries().empty()) fail(name, "empty zip archive: not a torch.save checkpoint");
  // All records live in one folder named after the file torch.save wrote ("archive/" for buffers).
  const std::string& first = zip.entries().front().name;
  const size_t slash = first.find('/');
  if (slash == std::string::npos || slash == 0) fail(name, "zip record '" + first + "' is not inside a folder: not a torch.save checkpoint");
  const std::string prefix = first.substr(0, slash + 1);
  bool torchscript = false;
  for (const ZipEntry& e : zip.entries()) {
    if (e.name.compare(0, prefix.size(), prefix) != 0)
      fail(name, "zip records are in two folders ('" + prefix + "' and '" + e.name + "'): not a torch.save checkpoint");
    const std::string rest = e.name.substr(prefix.size());
    if (rest == "constants.pkl" || rest.compare(0, 5, "code/") == 0) torchscript = true;
  }
  if (torchscript)
    fail(name, "TorchScript archives are not weights (this is torch.jit.save output); load it in Python and "
               "torch.save(model.state_dict()), or export safetensors");
  for (const ZipEntry& e : zip.entries())
    if (e.method != 0)
      fail(name, "compressed entries not allowed ('" + e.name + "' uses method " + std::to_string(e.method) +
                     "; torch.save stores every record uncompressed)");
  const ZipEntry* pkl = zip.find(prefix + "data.pkl");
  if (!pkl) fail(name, "no " + prefix + "data.pkl record: not a torch.save checkpoint");

  Metadata info{{"pth.format", "zip"}, {"pth.archive", prefix.substr(0, prefix.size() - 1)}};
  const ZipEntry* ver = zip.find(prefix + "version");
  if (!ver) ver = zip.find(prefix + ".data/version");
  if (!ver) fail(name, "no " + prefix + "version record: not a torch.save checkpoint");
  const std::string vtext = trim(zip.stored(*ver, opt.verify_crc32));
  char* endp = nullptr;
  const long long version = vtext.empty() || vtext.size() > 8 ? -1 : std::strtoll(vtext.c_str(), &endp, 10);
  if (version < 1 || !endp || *endp != '\0') fail(name, "invalid version record '" + vtext.substr(0, 16) + "'");
  if (version > kMaxZipVersion)
    fail(name, "written by a newer version of PyTorch (record format version " + vtext + ", at most " +
                   std::to_string(kMaxZipVersion) + " is supported)");
  info["pth.version"] = vtext;
  bool big_endian = false;
  if (const ZipEntry* bo = zip.find(prefix + "byteorder")) {
    const std::string order = trim(zip.stored(*bo, opt.verify_crc32));
    if (order == "big") big_endian = true;
    else if (order != "little") fail(name, "invalid byteorder record '" + order.substr(0, 16) + "'");
  }
  info["pth.byteorder"] = big_endian ? "big" : "little";

  pickle::Unpickler vm("data.pkl in " + name, opt.limits);
  const std::string_view pk = zip.stored(*pkl, opt.verify_crc32);
  const pickle::Object* root = vm.load(pk.data(), pk.size());

  std::vector<std::shared_ptr<Storage>> storages;
  for (const pickle::Object* so : vm.storages()) {
    const pickle::StorageInfo& s = *so->storage;
    const ZipEntry* rec = zip.find(prefix + "data/" + s.key);
    if (!rec) fail(name, "storage '" + s.key + "' has no record " + prefix + "data/" + s.key);
    const uint64_t need = static_cast<uint64_t>(s.numel) * element_size(s.dtype);  // checked by the VM
    if (rec->size != need)
      fail(name, "record " + rec->name + " has " + std::to_string(rec->size) + " bytes but its " + std::to_string(s.numel) +
                     " " + dtype_name(s.dtype) + " elements need " + std::to_string(need));
    const std::string_view bytes = zip.stored(*rec, opt.verify_crc32);
    if (s.dtype == kBool) check_bool_storage(name, s.key, bytes.data(), bytes.size());
    storages.push_back(make_storage(bytes.data(), bytes.size(), s.dtype, big_endian, owner));
  }
  return collect(root, storages, name, std::move(info));
}

PthFile read_legacy(const unsigned char* d, size_t size, const std::string& name, const PthOptions& opt,
                    const std::shared_ptr<void>& owner) {
  pickle::Unpickler vm("legacy pickle in " + name, opt.limits);
  size_t pos = 0, used = 0;
  auto next = [&]() {
    const pickle::Object* o = vm.load(d + pos, size - pos, &used);
    pos += used;
    return o;
  };
  const pickle::Object* magic = next();
  if (magic->kind != pickle::Kind::BigInt || magic->s != std::string(reinterpret_cast<const char*>(kLegacyMagic), 10))
    fail(name, "legacy magic number mismatch: not a torch.save checkpoint");
  const pickle::Object* proto = next();
  if (proto->kind != pickle::Kind::Int || proto->i != kLegacyProtocolVersion)
    fail(name, "unsupported legacy protocol version " + (proto->kind == pickle::Kind::Int ? std::to_string(proto->i) : "?"));
  const pickle::Object* sys_info = next();
  const pickle::Object* le = sys_info->get("little_endian");
  if (!le || le->kind != pickle::Kind::Bool) fail(name, "legacy sys_info has no little_endian flag");
  const bool big_endian = le->i == 0;
  const pickle::Object* root = next();
  const pickle::Object* keys = next();
  if (keys->kind != pickle::Kind::List) fail(name, "legacy storage key list is not a list");

  // The storages follow in key-list order, each an int64 element count then its bytes.
  std::vector<std::shared_ptr<Storage>> storages(vm.storages().size());
  std::unordered_map<std::string, const pickle::Object*> by_key;
  for (const pickle::Object* so : vm.storages()) by_key.emplace(so->storage->key, so);
  for (const pickle::Object* k : keys->items) {
    if (k->kind != pickle::Kind::Str) fail(name, "legacy storage key is not a string");
    auto it = by_key.find(k->s);
    if (it == by_key.end()) fail(name, "legacy storage '" + k->s + "' is not used by any tensor");
    const pickle::StorageInfo& s = *it->second->storage;
    if (storages[s.index]) fail(name, "legacy storage '" + k->s + "' is listed twice");
    if (size - pos < 8) fail(name, "truncated: storage '" + k->s + "' has no size field");
    uint64_t numel = 0;
    for (int b = 0; b < 8; ++b) numel |= static_cast<uint64_t>(d[pos + (big_endian ? 7 - b : b)]) << (8 * b);
    pos += 8;
    if (numel != static_cast<uint64_t>(s.numel))
      fail(name, "legacy storage '" + k->s + "' has " + std::to_string(numel) + " elements but its tensors declare " +
                     std::to_string(s.numel));
    const uint64_t nbytes = numel * element_size(s.dtype);  // checked by the VM
    if (nbytes > size - pos)
      fail(name, "truncated: storage '" + k->s + "' needs " + std::to_string(nbytes) + " bytes, " +
                     std::to_string(size - pos) + " left");
    if (s.dtype == kBool) check_bool_storage(name, k->s, reinterpret_cast<const char*>(d + pos), nbytes);
    storages[s.index] = make_storage(reinterpret_cast<const char*>(d + pos), nbytes, s.dtype, big_endian, owner);
    pos += nbytes;
  }
  for (const pickle::Object* so : vm.storages())
    if (!storages[so->storage->index]) fail(name, "legacy storage '" + so->storage->key + "' has no data");
  if (pos != size) fail(name, std::to_string(size - pos) + " bytes after the last storage");
  return collect(root, storages, name,
                 {{"pth.format", "legacy"}, {"pth.version", "1001"}, {"pth.byteorder", big_endian ? "big" : "little"}});
}

PthFile read_image(const unsigned char* d, size_t size, const std::string& name, const PthOptions& opt,
                   const std::shared_ptr<void>& owner) {
  const std::string_view head(reinterpret_cast<const char*>(d), std::min<size_t>(size, 4));
  if (looks_like_zip(head)) return read_zip(d, size, name, opt, owner);
  if (is_legacy(d, size)) return read_legacy(d, size, name, opt, owner);
  if (is_tar(d, size))
    fail(name, "legacy tar format (PyTorch < 0.4) is not supported; load it with an old PyTorch and re-save it, "
               "or convert it to safetensors");
  if (size > 0 && d[0] == 0x80)
    fail(name, "a pickle without torch.save's magic number: not a PyTorch zip checkpoint or legacy checkpoint");
  fail(name, "not a PyTorch zip checkpoint or legacy checkpoint (" +
                 (size ? "the file starts with " + hex_prefix(d, size) : std::string("the file is empty")) + ")");
}

}  // namespace

bool looks_like_pth(std::string_view p) {
  const auto* d = reinterpret_cast<const unsigned char*>(p.data());
  if (is_legacy(d, p.size()) || is_tar(d, p.size())) return true;
  if (p.size() < 30 || !looks_like_zip(p) || p[2] != 3) return false;
  // The first local header's name: "<folder>/data.pkl" for torch.save, "<folder>/data/0" for
  // TorchScript (recognised so the refusal names it).
  const size_t n = static_cast<unsigned char>(p[26]) | (static_cast<unsigned char>(p[27]) << 8);
  if (p.size() < 30 + n) return false;
  const std::string_view first = p.substr(30, n);
  const size_t slash = first.find('/');
  if (slash == std::string_view::npos) return false;
  const std::string_view rest = first.substr(slash + 1);
  return rest == "data.pkl" || rest == "version" || rest == "byteorder" || rest == "constants.pkl" ||
         rest.substr(0, 5) == "data/" || rest.substr(0, 5) == "code/" || rest.substr(0, 6) == ".data/";
}

PthFile parse_pth(const void* data, size_t size, const std::string& name, const PthOptions& options) {
  // A private aligned copy, so tensors can view it like a mapping.
  std::shared_ptr<char> buf(static_cast<char*>(std::aligned_alloc(64, (size + 64) & ~size_t{63})), std::free);
  if (!buf) ARK_ERROR("out of memory reading ", name);
  if (size) std::memcpy(buf.get(), data, size);
  return read_image(reinterpret_cast<const unsigned char*>(buf.get()), size, name, options, buf);
}

PthFile load_pth(const std::string& path, const PthOptions& options) {
  const MappedFile file = map_file(path);  // private mapping, as for safetensors
  if (file.size == 0) fail(path, "not a PyTorch zip checkpoint or legacy checkpoint (the file is empty)");
  return read_image(static_cast<const unsigned char*>(file.data.get()), file.size, path, options, file.data);
}

}  // namespace ark::io
