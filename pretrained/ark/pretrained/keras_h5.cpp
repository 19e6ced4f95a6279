// Keras .h5 weights through libhdf5's C API (see keras_h5.h for the layout and the threat model).
// The parser (parse_file) builds plain buffers and never touches ark's tensor ops, so the same
// code runs in-process or in a forked child, which streams its result to the parent over a pipe
// (the parent re-validates every size it receives).
#include "ark/pretrained/keras_h5.h"

#include <fcntl.h>
#include <hdf5.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <set>

#include "ark/ops/ops.h"

namespace ark::pretrained {

namespace detail {
std::function<void()> keras_h5_child_hook;
}

namespace {

// The Debian libhdf5 is the serial (not thread-safe) build: every call goes through this lock.
std::mutex& h5_mutex() {
  static std::mutex m;
  return m;
}

constexpr int kMaxRank = 8;
constexpr size_t kMaxNames = 1 << 20;        // entries of layer_names / weight_names
constexpr size_t kMaxNameBytes = 1 << 16;    // one name
constexpr int kMaxAttrChunks = 100000;       // layer_names0, layer_names1, ...

struct RawTensor {
  std::string name;
  bool f64 = false;
  std::vector<int64_t> shape;
  std::vector<char> data;
};

struct RawFile {
  std::vector<RawTensor> tensors;
  bool whole_model = false;
  std::string keras_version, backend;
  std::vector<std::string> warnings;
};

/// An owned HDF5 id, closed with the right H5*close.
class H5Id {
 public:
  H5Id() = default;
  H5Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  H5Id(H5Id&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  H5Id& operator=(H5Id&& o) noexcept {
    std::swap(id_, o.id_);
    std::swap(close_, o.close_);
    return *this;
  }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  ~H5Id() {
    if (id_ >= 0 && close_) close_(id_);
  }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

/// The innermost message on HDF5's error stack ("truncated file: eof = ..."), for our errors.
std::string h5_detail() {
  std::string msg;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, [](unsigned n, const H5E_error2_t* e, void* data) -> herr_t {
    auto* out = static_cast<std::string*>(data);
    if (n == 0 && e && e->desc) *out = e->desc;
    return 0;
  }, &msg);
  H5Eclear2(H5E_DEFAULT);
  return msg.empty() ? "" : " (hdf5: " + msg + ")";
}

herr_t deny_external_link(const char*, const char*, const char*, const char*, unsigned*, hid_t, void*) { return -1; }

class Parser {
 public:
  Parser(std::string path, const KerasH5Options& options) : path_(std::move(path)), options_(options) {}

  RawFile parse() {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // no printing to stderr: errors become ark::Error
    const htri_t is_h5 = H5Fis_hdf5(path_.c_str());
    if (is_h5 <= 0) fail(is_h5 == 0 ? "not an HDF5 file" : "cannot open (missing, unreadable or truncated)" + h5_detail());
    lapl_ = H5Id(H5Pcreate(H5P_LINK_ACCESS), H5Pclose);
    if (!lapl_.ok() || H5Pset_nlinks(lapl_.get(), 8) < 0 ||
        H5Pset_elink_cb(lapl_.get(), deny_external_link, nullptr) < 0)
      fail("cannot set up HDF5 link access" + h5_detail());
    file_ = H5Id(H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!file_.ok()) fail("cannot open as HDF5" + h5_detail());
    H5Id root = open_group(file_.get(), "/", "the root group");

    RawFile out;
    H5Id weights;
    std::string where;
    if (has_names_attr(root.get(), "layer_names")) {
      weights = open_group(file_.get(), "/", "the root group");
      where = "/";
    } else if (hard_link_exists(root.get(), "model_weights")) {
      weights = open_path_group(root.get(), "model_weights");
      where = "model_weights/";
      out.whole_model = true;
      if (!has_names_attr(weights.get(), "layer_names")) fail("model_weights has no 'layer_names' attribute");
    } else if (hard_link_exists(root.get(), "layers") || hard_link_exists(root.get(), "vars")) {
      fail("Keras 3 .weights.h5 layout (layers/<name>/vars/N) is not supported; save with TF-Keras 2 (.h5)");
    } else {
      fail("no 'layer_names' attribute and no model_weights group: not a Keras weights file");
    }
    out.keras_version = string_attr(weights.get(), "keras_version");
    out.backend = string_attr(weights.get(), "backend");
    if (out.keras_version.empty()) out.keras_version = string_attr(root.get(), "keras_version");
    if (out.backend.empty()) out.backend = string_attr(root.get(), "backend");
    for (const char* cfg : {"model_config", "training_config"}) {
      if (H5Aexists(root.get(), cfg) <= 0) continue;
      std::string w = std::string(cfg) + " ignored: ark reads weights only and never interprets a model's config";
      if (std::string(cfg) == "model_config" && string_attr(root.get(), cfg).find("\"Lambda\"") != std::string::npos)
        w += " (it holds a Lambda layer, i.e. Python code, which is not run)";
      out.warnings.push_back(std::move(w));
    }

    std::set<std::string> keys;
    for (const std::string& layer : names_attr(weights.get(), "layer_names", where)) {
      if (!hard_link_exists(weights.get(), layer, /*walk=*/true))
        fail("layer '" + layer + "' is listed in layer_names but " + where + layer + " does not exist");
      H5Id g = open_path_group(weights.get(), layer);
      if (!has_names_attr(g.get(), "weight_names")) fail("layer '" + layer + "' has no 'weight_names' attribute");
      for (const std::string& wname : names_attr(g.get(), "weight_names", where + layer)) {
        const std::string key = tensor_key(layer, wname);
        if (!keys.insert(key).second) fail("weight '" + key + "' appears twice");
        if (!hard_link_exists(g.get(), wname, /*walk=*/true))
          fail("layer '" + layer + "': weight '" + wname + "' is listed in weight_names but does not exist");
        out.tensors.push_back(read_dataset(g.get(), wname, key));
      }
    }
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& msg) const { ARK_ERROR("keras h5: ", path_, ": ", msg); }

  /// "Conv1/kernel:0" under layer "Conv1" -> "Conv1/kernel"; a leading scope equal to the layer
  /// name (or the layer name + "_N", what Keras gives a model built twice) is dropped.
  static std::string tensor_key(const std::string& layer, std::string w) {
    const size_t colon = w.rfind(':');
    if (colon != std::string::npos && colon + 1 < w.size() &&
        w.find_first_not_of("0123456789", colon + 1) == std::string::npos)
      w.resize(colon);
    const size_t slash = w.find('/');
    if (slash != std::string::npos) {
      const std::string scope = w.substr(0, slash);
      bool same = scope == layer;
      if (!same && scope.size() > layer.size() + 1 && scope.compare(0, layer.size(), layer) == 0 &&
          scope[layer.size()] == '_')
        same = scope.find_first_not_of("0123456789", layer.size() + 1) == std::string::npos;
      if (same) w = w.substr(slash + 1);
    }
    return layer + "/" + w;
  }

  static std::vector<std::string> split_path(const std::string& p) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
      const size_t end = p.find('/', start);
      parts.push_back(p.substr(start, end == std::string::npos ? std::string::npos : end - start));
      if (end == std::string::npos) break;
      start = end + 1;
    }
    return parts;
  }

  /// Whether `path` (one component, or several with walk) leads through hard links only; an
  /// external or soft link on the way is an error, not a "no".
  bool hard_link_exists(hid_t loc, const std::string& path, bool walk = false) const {
    std::vector<std::string> parts = walk ? split_path(path) : std::vector<std::string>{path};
    std::vector<H5Id> held;
    hid_t cur = loc;
    for (size_t i = 0; i < parts.size(); ++i) {
      const std::string& part = parts[i];
      if (part.empty() || part == "." || part == ".." || part.size() > kMaxNameBytes)
        fail("invalid HDF5 path '" + path + "'");
      const htri_t exists = H5Lexists(cur, part.c_str(), lapl_.get());
      if (exists <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return false;
      }
      H5L_info_t info{};
      if (H5Lget_info(cur, part.c_str(), &info, lapl_.get()) < 0) fail("cannot inspect link '" + path + "'" + h5_detail());
      if (info.type == H5L_TYPE_EXTERNAL)
        fail("'" + path + "' is an external link: external references not allowed");
      if (info.type != H5L_TYPE_HARD) fail("'" + path + "' is a soft or user-defined link: only hard links are read");
      if (i + 1 < parts.size()) {
        H5Id g(H5Gopen2(cur, part.c_str(), H5P_DEFAULT), H5Gclose);
        if (!g.ok()) {
          H5Eclear2(H5E_DEFAULT);
          return false;
        }
        cur = g.get();
        held.push_back(std::move(g));
      }
    }
    return true;
  }

  H5Id open_group(hid_t loc, const char* name, const std::string& what) const {
    H5Id g(H5Gopen2(loc, name, H5P_DEFAULT), H5Gclose);
    if (!g.ok()) fail("cannot open " + what + h5_detail());
    return g;
  }

  /// Opens a group one hard link at a time (call hard_link_exists first).
  H5Id open_path_group(hid_t loc, const std::string& path) const {
    H5Id cur;
    hid_t at = loc;
    for (const std::string& part : split_path(path)) {
      H5Id g(H5Gopen2(at, part.c_str(), H5P_DEFAULT), H5Gclose);
      if (!g.ok()) fail("'" + path + "' is not a group" + h5_detail());
      cur = std::move(g);
      at = cur.get();
    }
    return cur;
  }

  bool has_names_attr(hid_t obj, const std::string& name) const {
    return H5Aexists(obj, name.c_str()) > 0 || H5Aexists(obj, (name + "0").c_str()) > 0;
  }

  /// A string (or empty) array attribute; `name0`, `name1`, ... when Keras split it.
  std::vector<std::string> names_attr(hid_t obj, const std::string& name, const std::string& where) const {
    if (H5Aexists(obj, name.c_str()) > 0) return read_strings(obj, name, where);
    std::vector<std::string> all;
    for (int i = 0; i < kMaxAttrChunks; ++i) {
      const std::string chunk = name + std::to_string(i);
      if (H5Aexists(obj, chunk.c_str()) <= 0) break;
      for (auto& s : read_strings(obj, chunk, where)) all.push_back(std::move(s));
      if (all.size() > kMaxNames) fail(where + ": attribute '" + name + "' has too many entries");
    }
    return all;
  }

  std::string string_attr(hid_t obj, const char* name) const {
    if (H5Aexists(obj, name) <= 0) return {};
    auto v = read_strings(obj, name, "");
    return v.empty() ? std::string() : v[0];
  }

  /// Reads a scalar or 1-D string attribute (fixed-length or variable-length). A 0-element
  /// attribute of any type is an empty list (Keras writes np.asarray([]), a float64 array, for
  /// layers without weights).
  std::vector<std::string> read_strings(hid_t obj, const std::string& name, const std::string& where) const {
    const std::string what = "attribute '" + name + "'" + (where.empty() ? "" : " of " + where);
    H5Id attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
    if (!attr.ok()) fail("cannot open " + what + h5_detail());
    H5Id space(H5Aget_space(attr.get()), H5Sclose);
    H5Id type(H5Aget_type(attr.get()), H5Tclose);
    if (!space.ok() || !type.ok()) fail("cannot read " + what + h5_detail());
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0 || rank > 1) fail(what + " must be a scalar or a 1-D array");
    const hssize_t n = H5Sget_simple_extent_npoints(space.get());
    if (n < 0 || static_cast<size_t>(n) > kMaxNames) fail(what + " has an invalid or too large size");
    if (n == 0) return {};
    if (H5Tget_class(type.get()) != H5T_STRING) fail(what + " must hold strings");
    std::vector<std::string> out;
    const htri_t vlen = H5Tis_variable_str(type.get());
    if (vlen < 0) fail("cannot read " + what + h5_detail());
    if (vlen > 0) {
      H5Id mem(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(mem.get(), H5T_VARIABLE);
      H5Tset_cset(mem.get(), H5Tget_cset(type.get()));  // HDF5 converts no character sets
      std::vector<char*> ptrs(static_cast<size_t>(n), nullptr);
      if (H5Aread(attr.get(), mem.get(), ptrs.data()) < 0) fail("cannot read " + what + h5_detail());
      for (char* p : ptrs) {
        const size_t len = p ? strnlen(p, kMaxNameBytes + 1) : 0;
        out.emplace_back(p ? p : "", len > kMaxNameBytes ? 0 : len);
        if (len > kMaxNameBytes) out.back() = "\x01";  // flagged below, after memory is reclaimed
      }
#if H5_VERSION_GE(1, 12, 0)
      H5Treclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
#else
      H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
#endif
      for (const auto& s : out)
        if (s == "\x01") fail(what + " has an entry longer than 64 KiB");
    } else {
      const size_t size = H5Tget_size(type.get());
      if (size == 0 || size > kMaxNameBytes) fail(what + " has an invalid string size");
      H5Id mem(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(mem.get(), size);
      H5Tset_strpad(mem.get(), H5T_STR_NULLPAD);
      H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
      std::vector<char> buf(size * static_cast<size_t>(n));
      if (H5Aread(attr.get(), mem.get(), buf.data()) < 0) fail("cannot read " + what + h5_detail());
      for (hssize_t i = 0; i < n; ++i) {
        const char* p = buf.data() + static_cast<size_t>(i) * size;
        out.emplace_back(p, strnlen(p, size));
      }
    }
    return out;
  }

  RawTensor read_dataset(hid_t group, const std::string& wname, const std::string& key) {
    const std::string what = "weight '" + key + "'";
    // Walk to the dataset's parent through hard links (checked by hard_link_exists).
    std::vector<std::string> parts = split_path(wname);
    H5Id parent;
    hid_t at = group;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      H5Id g(H5Gopen2(at, parts[i].c_str(), H5P_DEFAULT), H5Gclose);
      if (!g.ok()) fail(what + ": '" + wname + "' is not a dataset path" + h5_detail());
      parent = std::move(g);
      at = parent.get();
    }
    H5Id ds(H5Dopen2(at, parts.back().c_str(), H5P_DEFAULT), H5Dclose);
    if (!ds.ok()) fail(what + ": '" + wname + "' is not a dataset" + h5_detail());

    H5Id type(H5Dget_type(ds.get()), H5Tclose);
    if (!type.ok()) fail(what + ": cannot read its type" + h5_detail());
    const H5T_class_t cls = H5Tget_class(type.get());
    const size_t tsize = H5Tget_size(type.get());
    if (cls != H5T_FLOAT || (tsize != 2 && tsize != 4 && tsize != 8)) {
      const char* c = cls == H5T_INTEGER ? "integer" : cls == H5T_STRING ? "string" : cls == H5T_COMPOUND ? "compound"
                    : cls == H5T_VLEN ? "variable-length" : cls == H5T_ENUM ? "enum" : cls == H5T_ARRAY ? "array"
                    : cls == H5T_FLOAT ? "float of unusual size" : "non-float";
      fail(what + ": unsupported dtype (" + c + "); Keras weights are float16/32/64");
    }

    H5Id space(H5Dget_space(ds.get()), H5Sclose);
    if (!space.ok()) fail(what + ": cannot read its shape" + h5_detail());
    const H5S_class_t scls = H5Sget_simple_extent_type(space.get());
    if (scls != H5S_SIMPLE && scls != H5S_SCALAR) fail(what + ": null or unknown dataspace");
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0 || rank > kMaxRank) fail(what + ": rank " + std::to_string(rank) + " is over the limit of 8");
    hsize_t dims[kMaxRank] = {};
    if (rank > 0 && H5Sget_simple_extent_dims(space.get(), dims, nullptr) != rank) fail(what + ": cannot read its shape");
    RawTensor t;
    t.name = key;
    t.f64 = tsize == 8;
    int64_t numel = 1;
    for (int i = 0; i < rank; ++i) {
      if (dims[i] > static_cast<hsize_t>(INT64_MAX) ||
          __builtin_mul_overflow(numel, static_cast<int64_t>(dims[i]), &numel) || numel > options_.max_tensor_elements)
        fail(what + ": shape is larger than the limit of " + std::to_string(options_.max_tensor_elements) + " elements");
      t.shape.push_back(static_cast<int64_t>(dims[i]));
    }
    const int64_t nbytes = numel * (t.f64 ? 8 : 4);
    if (nbytes > options_.max_total_bytes - total_bytes_)
      fail(what + ": the weights exceed the limit of " + std::to_string(options_.max_total_bytes) + " bytes");

    H5Id dcpl(H5Dget_create_plist(ds.get()), H5Pclose);
    if (!dcpl.ok()) fail(what + ": cannot read its storage properties" + h5_detail());
    const H5D_layout_t layout = H5Pget_layout(dcpl.get());
    if (layout == H5D_VIRTUAL) fail(what + ": virtual dataset: external references not allowed");
    if (H5Pget_external_count(dcpl.get()) != 0) fail(what + ": external storage: external references not allowed");
    const int nfilters = H5Pget_nfilters(dcpl.get());
    if (nfilters < 0) fail(what + ": cannot read its filters" + h5_detail());
    for (int i = 0; i < nfilters; ++i) {
      unsigned flags = 0, config = 0;
      size_t ncd = 0;
      char fname[64] = {};
      const H5Z_filter_t id = H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &ncd, nullptr, sizeof fname,
                                             fname, &config);
      if (id < 0) fail(what + ": cannot read filter " + std::to_string(i) + h5_detail());
      if (H5Zfilter_avail(id) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        fail(what + ": HDF5 filter not available: " + (fname[0] ? std::string(fname) : std::string("unnamed")) + " (id " +
             std::to_string(id) + ")");
      }
    }
    if (numel > 0) {
      H5D_space_status_t status{};
      if (H5Dget_space_status(ds.get(), &status) < 0) fail(what + ": cannot read its storage status" + h5_detail());
      // HDF5 calls a compressed chunked dataset "partly allocated" (its bytes are fewer than the
      // shape's): count its chunks instead.
      bool complete = status == H5D_SPACE_STATUS_ALLOCATED;
      if (!complete && layout == H5D_CHUNKED && rank > 0) {
        hsize_t chunk[kMaxRank] = {};
        hsize_t have = 0;
        uint64_t want = 1;
        complete = H5Pget_chunk(dcpl.get(), rank, chunk) == rank && H5Dget_num_chunks(ds.get(), space.get(), &have) >= 0;
        for (int i = 0; complete && i < rank; ++i) {
          complete = chunk[i] > 0;
          if (complete) want *= (dims[i] + chunk[i] - 1) / chunk[i];  // <= numel: no overflow
        }
        complete = complete && have == want;
      }
      if (!complete) fail(what + ": dataset holds no data (storage not allocated)");
      // Without filters the stored bytes must cover the shape: a file cannot make us allocate
      // gigabytes for a dataset it never stored.
      if (nfilters == 0 && H5Dget_storage_size(ds.get()) < static_cast<hsize_t>(numel) * tsize)
        fail(what + ": stored data is smaller than its shape");
    }

    t.data.resize(static_cast<size_t>(nbytes));
    if (numel > 0 &&
        H5Dread(ds.get(), t.f64 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data.data()) < 0)
      fail(what + ": read failed" + h5_detail());
    total_bytes_ += nbytes;
    return t;
  }

  std::string path_;
  KerasH5Options options_;
  H5Id lapl_, file_;
  int64_t total_bytes_ = 0;
};

// ---- the child's result, over a pipe: 'E' + message, or 'O' + the file ----

void put_u64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }
void put_str(std::string& s, const std::string& v) {
  put_u64(s, v.size());
  s += v;
}

class Reader {
 public:
  Reader(const std::string& buf, const std::string& path) : buf_(buf), path_(path) {}
  uint64_t u64() {
    need(8);
    uint64_t v;
    std::memcpy(&v, buf_.data() + pos_, 8);
    pos_ += 8;
    return v;
  }
  std::string str() {
    const uint64_t n = u64();
    need(n);
    std::string s = buf_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  const char* bytes(uint64_t n) {
    need(n);
    const char* p = buf_.data() + pos_;
    pos_ += n;
    return p;
  }
  bool done() const { return pos_ == buf_.size(); }

 private:
  void need(uint64_t n) const {
    ARK_CHECK(n <= buf_.size() - pos_, "keras h5: ", path_, ": the parser process sent a truncated result");
  }
  const std::string& buf_;
  const std::string& path_;
  size_t pos_ = 1;  // after the status byte
};

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(3);
    p += w;
    n -= static_cast<size_t>(w);
  }
}

/// The child: parse, stream the result, _exit (no destructors, atexit handlers or OpenMP).
[[noreturn]] void child_main(int fd, const std::string& path, const KerasH5Options& options) {
  std::string head;
  try {
    if (detail::keras_h5_child_hook) detail::keras_h5_child_hook();
    RawFile f = Parser(path, options).parse();
    head = "O";
    put_u64(head, f.whole_model);
    put_str(head, f.keras_version);
    put_str(head, f.backend);
    put_u64(head, f.warnings.size());
    for (const auto& w : f.warnings) put_str(head, w);
    put_u64(head, f.tensors.size());
    write_all(fd, head.data(), head.size());
    for (const auto& t : f.tensors) {
      std::string h;
      put_str(h, t.name);
      put_u64(h, t.f64);
      put_u64(h, t.shape.size());
      for (int64_t d : t.shape) put_u64(h, static_cast<uint64_t>(d));
      put_u64(h, t.data.size());
      write_all(fd, h.data(), h.size());
      write_all(fd, t.data.data(), t.data.size());
    }
  } catch (const Error& e) {
    head = "E" + e.msg();
    write_all(fd, head.data(), head.size());
  } catch (const std::exception& e) {
    head = std::string("E") + "keras h5: " + path + ": " + e.what();
    write_all(fd, head.data(), head.size());
  }
  ::close(fd);
  _exit(0);
}

Tensor to_tensor(const std::vector<int64_t>& shape, bool f64, const char* data, size_t nbytes) {
  Tensor t = empty(shape, TensorOptions().dtype(f64 ? kDouble : kFloat));
  ARK_ASSERT(t.nbytes() == nbytes);
  if (nbytes) std::memcpy(t.data_ptr(), data, nbytes);
  return t;
}

KerasH5File read_isolated(const std::string& path, const KerasH5Options& options) {
  int fds[2];
  ARK_CHECK(::pipe2(fds, O_CLOEXEC) == 0, "keras h5: pipe failed: ", std::strerror(errno));
  pid_t pid;
  {
    // No other thread may be inside libhdf5 when its state is copied into the child.
    std::lock_guard<std::mutex> lock(h5_mutex());
    pid = ::fork();
  }
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    ARK_ERROR("keras h5: fork failed: ", std::strerror(errno));
  }
  if (pid == 0) {
    ::close(fds[0]);
    child_main(fds[1], path, options);
  }
  ::close(fds[1]);

  // Read everything the child sends, within the size and time limits.
  std::string buf;
  const uint64_t max_bytes = static_cast<uint64_t>(options.max_total_bytes) + (uint64_t(64) << 20);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.timeout_ms);
  bool timed_out = false, too_big = false;
  std::vector<char> chunk(1 << 20);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) continue;
    const ssize_t n = ::read(fds[0], chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (buf.size() + static_cast<size_t>(n) > max_bytes) {
      too_big = true;
      break;
    }
    buf.append(chunk.data(), static_cast<size_t>(n));
  }
  ::close(fds[0]);
  if (timed_out || too_big) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ARK_CHECK(!timed_out, "keras h5: ", path, ": h5 parser timed out after ", options.timeout_ms, " ms on untrusted file");
  ARK_CHECK(!too_big, "keras h5: ", path, ": h5 parser sent more than the size limit");
  if (WIFSIGNALED(status) || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || buf.empty())
    ARK_ERROR("keras h5: ", path, ": h5 parser crashed on untrusted file (",
              WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                  : "exit status " + std::to_string(WEXITSTATUS(status)),
              ")");
  if (buf[0] == 'E') throw Error(buf.substr(1));
  ARK_CHECK(buf[0] == 'O', "keras h5: ", path, ": the parser process sent a malformed result");

  Reader rd(buf, path);
  KerasH5File out;
  out.whole_model = rd.u64() != 0;
  out.keras_version = rd.str();
  out.backend = rd.str();
  const uint64_t nw = rd.u64();
  ARK_CHECK(nw <= kMaxNames, "keras h5: malformed result");
  for (uint64_t i = 0; i < nw; ++i) out.warnings.push_back(rd.str());
  const uint64_t nt = rd.u64();
  ARK_CHECK(nt <= kMaxNames, "keras h5: malformed result");
  for (uint64_t i = 0; i < nt; ++i) {
    std::string name = rd.str();
    const bool f64 = rd.u64() != 0;
    const uint64_t rank = rd.u64();
    ARK_CHECK(rank <= kMaxRank, "keras h5: malformed result");
    std::vector<int64_t> shape;
    int64_t numel = 1;
    for (uint64_t d = 0; d < rank; ++d) {
      const uint64_t v = rd.u64();
      ARK_CHECK(v <= static_cast<uint64_t>(options.max_tensor_elements) &&
                    !__builtin_mul_overflow(numel, static_cast<int64_t>(v), &numel) &&
                    numel <= options.max_tensor_elements,
                "keras h5: malformed result");
      shape.push_back(static_cast<int64_t>(v));
    }
    const uint64_t nbytes = rd.u64();
    ARK_CHECK(nbytes == static_cast<uint64_t>(numel) * (f64 ? 8 : 4), "keras h5: malformed result");
    out.tensors.insert(std::move(name), to_tensor(shape, f64, rd.bytes(nbytes), nbytes));
  }
  ARK_CHECK(rd.done(), "keras h5: malformed result");
  return out;
}

}  // namespace

KerasH5File read_keras_h5(const std::string& path, const KerasH5Options& options) {
  ARK_CHECK(options.max_tensor_elements > 0 && options.max_total_bytes > 0 && options.timeout_ms > 0,
            "read_keras_h5: limits must be positive");
  if (options.isolate) return read_isolated(path, options);
  RawFile f;
  {
    std::lock_guard<std::mutex> lock(h5_mutex());
    f = Parser(path, options).parse();
  }
  KerasH5File out;
  out.whole_model = f.whole_model;
  out.keras_version = std::move(f.keras_version);
  out.backend = std::move(f.backend);
  out.warnings = std::move(f.warnings);
  for (auto& t : f.tensors) out.tensors.insert(t.name, to_tensor(t.shape, t.f64, t.data.data(), t.data.size()));
  return out;
}

io::TensorDict load_keras_h5(const std::string& path) { return read_keras_h5(path).tensors; }

WeightsReader keras_h5_reader() {
  return {"keras-h5", [](std::string_view prefix, uint64_t) { return looks_like_hdf5(prefix); }, load_keras_h5, "keras"};
}

}  // namespace ark::pretrained
