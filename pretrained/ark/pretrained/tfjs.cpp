// TensorFlow.js weights manifest + shards -> named tensors (see tfjs.h). Everything read from the
// files is validated before use: JSON shape and nesting depth, dtypes, shape entries and their
// product (checked multiplication), shard paths, and the exact byte count of every group.
#include "ark/pretrained/tfjs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "ark/ops/ops.h"

namespace ark::pretrained {

namespace {

using json = nlohmann::json;

constexpr int kMaxJsonDepth = 64;            // model.json nests ~10 deep; bounds the parser's stack
constexpr size_t kMaxJsonBytes = size_t(256) << 20;
constexpr size_t kMaxRank = 8;

enum class Stored { F32, I32, Bool, U8, U16, F16 };

size_t stored_size(Stored s) {
  switch (s) {
    case Stored::F32: case Stored::I32: return 4;
    case Stored::U16: case Stored::F16: return 2;
    case Stored::Bool: case Stored::U8: return 1;
  }
  return 0;
}

struct Spec {
  std::string name;
  std::vector<int64_t> shape;
  ScalarType dtype = kFloat;  // what the tensor becomes
  Stored stored = Stored::F32;
  double scale = 1, min = 0;
  int64_t numel = 1;
  size_t nbytes = 0;  // stored bytes
};

[[noreturn]] void fail(const std::string& origin, const std::string& msg) {
  ARK_ERROR("tfjs: ", origin, ": ", msg);
}

const json& member(const json& obj, const char* key, const std::string& origin, const std::string& what) {
  auto it = obj.find(key);
  if (it == obj.end()) fail(origin, what + " has no \"" + key + "\"");
  return *it;
}

double finite_number(const json& v, const std::string& origin, const std::string& what) {
  if (!v.is_number()) fail(origin, what + " must be a number");
  const double d = v.get<double>();
  if (!std::isfinite(d)) fail(origin, what + " must be finite");
  return d;
}

Spec parse_spec(const json& w, const std::string& origin) {
  if (!w.is_object()) fail(origin, "a weightsManifest weight entry is not an object");
  Spec s;
  const json& name = member(w, "name", origin, "a weight entry");
  if (!name.is_string() || name.get_ref<const std::string&>().empty()) fail(origin, "weight name must be a non-empty string");
  s.name = name.get<std::string>();
  const std::string what = "weight '" + s.name + "'";

  const json& shape = member(w, "shape", origin, what);
  if (!shape.is_array() || shape.size() > kMaxRank) fail(origin, what + ": shape must be an array of at most 8 sizes");
  for (const json& d : shape) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) fail(origin, what + ": shape entries must be non-negative integers");
    const int64_t v = d.get<int64_t>();
    if (__builtin_mul_overflow(s.numel, v, &s.numel)) fail(origin, what + ": shape overflows");
    s.shape.push_back(v);
  }

  const json& dtype = member(w, "dtype", origin, what);
  if (!dtype.is_string()) fail(origin, what + ": dtype must be a string");
  const std::string& dt = dtype.get_ref<const std::string&>();
  if (dt == "float32") s.dtype = kFloat, s.stored = Stored::F32;
  else if (dt == "int32") s.dtype = kInt, s.stored = Stored::I32;
  else if (dt == "bool") s.dtype = kBool, s.stored = Stored::Bool;
  else fail(origin, what + ": unsupported dtype '" + dt + "' (float32, int32 and bool are supported)");

  auto q = w.find("quantization");
  if (q != w.end() && !q->is_null()) {
    if (!q->is_object()) fail(origin, what + ": quantization must be an object");
    const json& qd = member(*q, "dtype", origin, what + "'s quantization");
    if (!qd.is_string()) fail(origin, what + ": quantization dtype must be a string");
    const std::string& qt = qd.get_ref<const std::string&>();
    if (s.dtype == kBool) fail(origin, what + ": bool tensors cannot be quantized");
    if (qt == "uint8" || qt == "uint16") {
      s.stored = qt == "uint8" ? Stored::U8 : Stored::U16;
      s.scale = finite_number(member(*q, "scale", origin, what + "'s quantization"), origin, what + ": quantization scale");
      s.min = finite_number(member(*q, "min", origin, what + "'s quantization"), origin, what + ": quantization min");
    } else if (qt == "float16") {
      if (s.dtype != kFloat) fail(origin, what + ": float16 quantization of a " + dt + " tensor");
      s.stored = Stored::F16;
    } else {
      fail(origin, what + ": unsupported quantization dtype '" + qt + "' (uint8, uint16, float16)");
    }
  }
  const size_t es = stored_size(s.stored);
  if (static_cast<uint64_t>(s.numel) > std::numeric_limits<size_t>::max() / es) fail(origin, what + ": size overflows");
  s.nbytes = static_cast<size_t>(s.numel) * es;
  return s;
}

/// Manifest paths are relative URLs beside model.json: no absolute paths, no "..", no NUL.
void check_path(const std::string& p, const std::string& origin) {
  if (p.empty() || p[0] == '/' || p.find('\0') != std::string::npos || p.find('\\') != std::string::npos ||
      p.find("://") != std::string::npos)
    fail(origin, "unsafe shard path '" + p + "' (must be relative to model.json)");
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    const std::string part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") fail(origin, "unsafe shard path '" + p + "' (must be relative to model.json)");
    start = end + 1;
  }
}

Tensor decode(const Spec& s, const char* src) {
  Tensor t = empty(s.shape, TensorOptions().dtype(s.dtype));
  const int64_t n = s.numel;
  switch (s.stored) {
    case Stored::F32: case Stored::I32: std::memcpy(t.data_ptr(), src, s.nbytes); break;  // little-endian host
    case Stored::Bool: {
      auto* out = static_cast<bool*>(t.data_ptr());
      for (int64_t i = 0; i < n; ++i) out[i] = src[i] != 0;
      break;
    }
    case Stored::F16: {
      auto* out = t.data_ptr<float>();
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = Half::to_float(h);
      }
      break;
    }
    case Stored::U8: case Stored::U16: {
      // TF.js: Float32Array.from(q, v => v * scale + min): the product in double, stored as float.
      auto q = [&](int64_t i) -> double {
        if (s.stored == Stored::U8) return static_cast<unsigned char>(src[i]);
        uint16_t v;
        std::memcpy(&v, src + 2 * i, 2);
        return v;
      };
      if (s.dtype == kFloat) {
        auto* out = t.data_ptr<float>();
        for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(q(i) * s.scale + s.min);
      } else {
        auto* out = t.data_ptr<int32_t>();
        for (int64_t i = 0; i < n; ++i) {
          // TF.js: Int32Array.from(q, v => Math.round(v * scale + min)); Math.round sends halves
          // up (-0.5 -> 0), std::round away from zero (-0.5 -> -1). x - floor(x) is exact here.
          const double x = q(i) * s.scale + s.min;
          double v = std::floor(x);
          if (x - v >= 0.5) v += 1;
          ARK_CHECK(v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max(),
                    "tfjs: weight '", s.name, "': dequantized value ", v, " does not fit int32");
          out[i] = static_cast<int32_t>(v);
        }
      }
      break;
    }
  }
  return t;
}

std::string read_bounded(const std::string& path, int64_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ARK_CHECK(fd >= 0, "tfjs: cannot open ", path, ": ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > max_bytes) {
    ::close(fd);
    ARK_ERROR("tfjs: ", path, " is not a regular file or is larger than the ", max_bytes, "-byte limit");
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t r = ::read(fd, out.data() + got, out.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      ::close(fd);
      ARK_ERROR("tfjs: cannot read ", path, ": ", r < 0 ? std::strerror(errno) : "file shrank while reading");
    }
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  return out;
}

}  // namespace

io::TensorDict parse_tfjs(std::string_view text, const TfjsShardReader& read_shard, const std::string& origin,
                          const TfjsOptions& options) {
  if (text.size() > kMaxJsonBytes) fail(origin, "model.json is larger than 256 MiB");
  json doc;
  try {
    // The callback bounds nesting before the parser builds deep values (stack and destructor depth).
    doc = json::parse(text.begin(), text.end(), [&](int depth, json::parse_event_t, json&) {
      if (depth > kMaxJsonDepth) throw std::runtime_error("nesting deeper than 64 levels");
      return true;
    });
  } catch (const std::exception& e) {
    fail(origin, std::string("invalid JSON: ") + e.what());
  }
  const json* manifest = nullptr;
  if (doc.is_array()) {
    manifest = &doc;  // a bare weights manifest (face-api's *-weights_manifest.json)
  } else if (doc.is_object()) {
    auto it = doc.find("weightsManifest");
    if (it == doc.end()) fail(origin, "no \"weightsManifest\" (not a TF.js model.json)");
    manifest = &*it;
  }
  if (!manifest || !manifest->is_array()) fail(origin, "weightsManifest must be an array of weight groups");

  io::TensorDict out("Tensor");
  std::set<std::string> seen;
  int64_t total_bytes = 0;
  for (size_t g = 0; g < manifest->size(); ++g) {
    const json& group = (*manifest)[g];
    const std::string gname = "weight group " + std::to_string(g);
    if (!group.is_object()) fail(origin, gname + " is not an object");
    const json& paths = member(group, "paths", origin, gname);
    const json& weights = member(group, "weights", origin, gname);
    if (!paths.is_array() || !weights.is_array()) fail(origin, gname + ": paths and weights must be arrays");
    if (weights.size() > static_cast<size_t>(options.max_tensors) ||
        out.size() + weights.size() > static_cast<size_t>(options.max_tensors))
      fail(origin, "more than " + std::to_string(options.max_tensors) + " tensors");

    std::vector<Spec> specs;
    size_t group_bytes = 0;
    for (const json& w : weights) {
      specs.push_back(parse_spec(w, origin));
      const Spec& s = specs.back();
      if (!seen.insert(s.name).second) fail(origin, "weight '" + s.name + "' appears twice");
      if (__builtin_add_overflow(group_bytes, s.nbytes, &group_bytes) ||
          group_bytes > static_cast<size_t>(options.max_total_bytes - total_bytes))
        fail(origin, "weights take more than the " + std::to_string(options.max_total_bytes) + "-byte limit");
    }
    if (paths.empty() && group_bytes > 0) fail(origin, gname + " has weights but no shard paths");

    std::string data;
    for (const json& p : paths) {
      if (!p.is_string()) fail(origin, gname + ": shard paths must be strings");
      const std::string& path = p.get_ref<const std::string&>();
      check_path(path, origin);
      std::string bytes = read_shard(path);
      if (bytes.size() > group_bytes - data.size())
        fail(origin, gname + ": shards hold more bytes than its weights need (" + std::to_string(group_bytes) +
                         "); shard '" + path + "' is " + std::to_string(bytes.size()) + " bytes");
      data += bytes;
    }
    if (data.size() != group_bytes)
      fail(origin, gname + ": weights need " + std::to_string(group_bytes) + " bytes but its shards hold " +
                       std::to_string(data.size()));
    total_bytes += static_cast<int64_t>(group_bytes);

    size_t offset = 0;
    for (const Spec& s : specs) {
      out.insert(s.name, decode(s, data.data() + offset));
      offset += s.nbytes;
    }
  }
  return out;
}

io::TensorDict read_tfjs(const std::string& model_json_path, const TfjsOptions& options) {
  const std::string text = read_bounded(model_json_path, static_cast<int64_t>(kMaxJsonBytes));
  const size_t slash = model_json_path.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string() : model_json_path.substr(0, slash + 1);
  return parse_tfjs(
      text, [&](const std::string& p) { return read_bounded(dir + p, options.max_total_bytes); }, model_json_path,
      options);
}

WeightsReader tfjs_reader() {
  return {"tfjs", [](std::string_view prefix, uint64_t) { return looks_like_tfjs_model_json(prefix); },
          [](const std::string& path) { return read_tfjs(path); }, "keras"};
}

}  // namespace ark::pretrained
