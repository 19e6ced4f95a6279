// The weights-reader registry, the built-in readers (safetensors, .pth) and load_weights itself.
#include "ark/pretrained/load_weights.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>

#include "ark/io/pth.h"
#include "ark/io/zip.h"
#include "ark/models/layers.h"
#include "ark/pretrained/remap_keras.h"
#include "ark/ops/ops.h"

namespace ark {
namespace pretrained {

namespace {

WeightsReader safetensors_reader() {
  return {"safetensors", looks_like_safetensors,
          [](const std::string& path) { return io::load_safetensors(path).tensors; }, "identity"};
}

// torch.save checkpoints, training ones included: the model's state dict is the file's top-level
// dict, or the one under its "state_dict" / "model" key (io::PthFile's "pth.state_dict").
WeightsReader pth_reader() {
  return {"pth", [](std::string_view prefix, uint64_t) { return io::looks_like_pth(prefix); },
          [](const std::string& path) {
            io::PthFile f = io::load_pth(path);
            const std::string nest = f.metadata["pth.state_dict"];
            if (nest.empty()) return std::move(f.tensors);
            io::TensorDict sd;
            const std::string prefix = nest + ".";
            for (const auto& item : f.tensors)
              if (item.key().compare(0, prefix.size(), prefix) == 0) sd.insert(item.key().substr(prefix.size()), item.value());
            return sd;
          },
          "torchvision"};
}

// The built-in formats, in detection order. A new format adds one line here (and its files).
std::vector<WeightsReader> builtin_readers() {
  return {
      safetensors_reader(),
      pth_reader(),
  };
}

struct Registry {
  std::mutex mu;
  std::vector<WeightsReader> readers;
};

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry;  // never destroyed: lookups may run during static destruction
    reg->readers = builtin_readers();
    return reg;
  }();
  return *r;
}

// The Keras formats (HDF5, TF.js) and their remaps live in remap_keras.cpp; they are registered
// on first use of any public entry point, outside registry()'s initialiser (register_reader
// takes the registry itself).
void ensure_keras_formats() {
  static std::once_flag once;
  std::call_once(once, register_keras_weights);
}

std::string reader_list(const Registry& r) {
  std::string s;
  for (const WeightsReader& w : r.readers) s += (s.empty() ? "" : ", ") + w.name;
  return s;
}

std::string join(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s + "]";
}

// Reads up to kDetectPrefixBytes of `path`; the file's size goes to `size`.
std::string read_prefix(const std::string& path, uint64_t& size) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error("cannot open " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw Error("cannot read " + path + ": not a regular file");
  size = static_cast<uint64_t>(st.st_size);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path + ": " + std::strerror(errno));
  std::string buf(static_cast<size_t>(std::min<uint64_t>(size, kDetectPrefixBytes)), '\0');
  in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
  buf.resize(static_cast<size_t>(in.gcount()));
  return buf;
}

// reader.read(path), without the "module." prefix that nn.DataParallel and
// DistributedDataParallel checkpoints put on every key.
io::TensorDict read_with(const WeightsReader& reader, const std::string& path) {
  io::TensorDict sd = reader.read(path);
  bool all = !sd.empty();
  for (const auto& item : sd) all = all && item.key().compare(0, 7, "module.") == 0;
  if (!all) return sd;
  io::TensorDict stripped;
  for (const auto& item : sd) stripped.insert(item.key().substr(7), item.value());
  return stripped;
}

}  // namespace

bool looks_like_safetensors(std::string_view p, uint64_t file_size) {
  if (p.size() < 10 || file_size < 10) return false;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(p[static_cast<size_t>(i)]);
  if (n < 2 || n > file_size - 8) return false;
  size_t i = 8;
  while (i < p.size() && i < 8 + n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) ++i;
  return i < p.size() && p[i] == '{';
}

bool looks_like_hdf5(std::string_view p) {
  static constexpr char kSig[] = "\x89HDF\r\n\x1a\n";
  // The superblock sits at 0 or after a user block of 512, 1024, 2048, ... bytes.
  for (size_t off = 0; off + 8 <= p.size(); off = off ? off * 2 : 512)
    if (p.compare(off, 8, std::string_view(kSig, 8)) == 0) return true;
  return false;
}

bool looks_like_tfjs_model_json(std::string_view p) {
  size_t i = 0;
  while (i < p.size() && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) ++i;
  if (i >= p.size() || p[i] != '{') return false;
  return p.find("\"modelTopology\"") != std::string_view::npos || p.find("\"weightsManifest\"") != std::string_view::npos;
}

void register_reader(WeightsReader reader) {
  ARK_CHECK(!reader.name.empty() && reader.detect && reader.read, "register_reader: a reader needs a name, detect and read");
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (WeightsReader& w : r.readers)
    if (w.name == reader.name) {
      w = std::move(reader);
      return;
    }
  r.readers.push_back(std::move(reader));
}

const WeightsReader& find_reader(const std::string& name) {
  ensure_keras_formats();
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (const WeightsReader& w : r.readers)
    if (w.name == name) return w;  // vector elements move only on registration, which loads must not race
  throw Error("unknown weights format '" + name + "' (known: " + reader_list(r) + ")");
}

std::vector<std::string> reader_names() {
  ensure_keras_formats();
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> v;
  for (const WeightsReader& w : r.readers) v.push_back(w.name);
  return v;
}

const WeightsReader& detect_reader(const std::string& path) {
  ensure_keras_formats();
  uint64_t size = 0;
  const std::string prefix = read_prefix(path, size);
  Registry& r = registry();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    for (const WeightsReader& w : r.readers)
      if (w.detect(prefix, size)) return w;
  }
  // Formats ark knows by sight but that have no reader in this build.
  if (looks_like_hdf5(prefix)) throw Error(path + ": a Keras HDF5 file, but no reader for it is registered (formats: " + reader_list(r) + ")");
  if (looks_like_tfjs_model_json(prefix))
    throw Error(path + ": a TF.js model.json, but no reader for it is registered (formats: " + reader_list(r) + ")");
  if (io::looks_like_zip(prefix))
    throw Error(path + ": a zip archive that is not a PyTorch checkpoint (no <folder>/data.pkl record first)");
  throw Error(path + ": unrecognised weights format (" + (size ? "not " : "an empty file, not ") + reader_list(r) + ")");
}

io::TensorDict read_weights(const std::string& path, std::string* format) {
  const WeightsReader& reader = detect_reader(path);
  if (format) *format = reader.name;
  return read_with(reader, path);
}

}  // namespace pretrained

nn::LoadStateDictResult load_weights(nn::Module& module, const std::string& path, const LoadOptions& options) {
  pretrained::ensure_keras_formats();
  const pretrained::WeightsReader& reader =
      options.format.empty() ? pretrained::detect_reader(path) : pretrained::find_reader(options.format);
  const io::TensorDict source = pretrained::read_with(reader, path);
  const std::string remap_name = options.remap.empty() ? reader.default_remap : options.remap;
  const io::TensorDict target = module.state_dict();
  io::TensorDict sd = pretrained::find_remap(remap_name)->apply(source, {target, path});
  // The model's own adaptations of a foreign-sized checkpoint (ViT position embeddings for another
  // image_size, a first conv for other in_chans, old torchvision key names).
  if (const auto* adapter = dynamic_cast<const models::StateDictAdapter*>(&module)) adapter->adapt_state_dict(sd);

  // Check everything first and report it all at once (as Module::load_state_dict does), adding
  // dtype mismatches and the file's name.
  std::vector<std::string> missing, unexpected, parts;
  for (const auto& item : target) {
    if (sd.contains(item.key())) continue;
    // Checkpoints from before BatchNorm counted batches lack num_batches_tracked; PyTorch's
    // _NormBase fills it in rather than failing, and so does ark.
    const std::string& k = item.key();
    const std::string nbt = "num_batches_tracked";
    if (k.size() >= nbt.size() && k.compare(k.size() - nbt.size(), nbt.size(), nbt) == 0) {
      sd.insert(k, item.value().clone());
      continue;
    }
    missing.push_back(k);
  }
  for (const auto& item : sd)
    if (!target.contains(item.key())) unexpected.push_back(item.key());
  if (options.strict && !missing.empty()) parts.push_back("missing: " + pretrained::join(missing));
  if (options.strict && !unexpected.empty()) parts.push_back("unexpected: " + pretrained::join(unexpected));
  for (const auto& item : target) {
    const Tensor* src = sd.find(item.key());
    if (!src) continue;
    if (src->sizes() != item.value().sizes())
      parts.push_back(detail::str_cat("shape mismatch: ", item.key(), " expected ", item.value().sizes(), " got ", src->sizes()));
    else if (!options.convert_dtype && src->dtype() != item.value().dtype())
      parts.push_back(detail::str_cat("dtype mismatch: ", item.key(), " expected ", item.value().dtype(), " got ", src->dtype()));
  }
  if (!parts.empty()) {
    std::string msg = "Error(s) in loading " + path + " (" + reader.name + ", remap '" + remap_name + "') into " + module.name() + ": ";
    for (size_t i = 0; i < parts.size(); ++i) msg += (i ? "; " : "") + parts[i];
    throw Error(msg);
  }
  try {
    return module.load_state_dict(sd, options.strict);
  } catch (const Error& e) {
    throw Error("loading " + path + ": " + e.msg());
  }
}

}  // namespace ark
