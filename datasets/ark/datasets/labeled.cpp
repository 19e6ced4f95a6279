// Labelled user data: image/text class folders, CSV/TSV/JSONL manifests, IDX and HDF5, each read
// into one LabeledData with every defect reported as an ark::Error naming the file (and the line
// for manifests). Image files are only listed and hashed here; decoding is the loader's job.
// ref: torchvision/datasets/folder.py (ImageFolder: find_classes, make_dataset, IMG_EXTENSIONS),
//      http://yann.lecun.com/exdb/mnist/ (IDX), the HDF5 C API (H5Sselect_hyperslab, H5Dread).
#include "ark/datasets/labeled.h"

#include <hdf5.h>
#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <unordered_map>

#include "ark/core/error.h"
#include "ark/datasets/image.h"
#include "ark/datasets/table.h"
#include "ark/ops/ops.h"

namespace ark::datasets {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string lower_ext(const fs::path& p) { return lower(p.extension().string()); }

bool is_image_ext(const std::string& ext) {
  // torchvision's IMG_EXTENSIONS restricted to the formats image.h decodes.
  static const std::set<std::string> kExts = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"};
  return kExts.count(ext) > 0;
}

std::string quoted_list(const std::vector<std::string>& names, size_t max = 10) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < max; ++i) out += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > max) out += ", ... (" + std::to_string(names.size()) + " in all)";
  return out;
}

// A canonical integer ("0", "-3", "12"; not "03", "+1", "1.0"), so that sorting numerically and
// printing back give the same text.
bool parse_int(const std::string& s, int64_t& v) {
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size() && std::to_string(v) == s;
}

/// Sorted distinct labels: numerically when all are integers, else bytewise.
std::vector<std::string> sorted_classes(const std::set<std::string>& labels) {
  std::vector<std::string> out(labels.begin(), labels.end());  // std::set: bytewise order
  std::vector<int64_t> values(out.size());
  bool numeric = true;
  for (size_t i = 0; i < out.size() && numeric; ++i) numeric = parse_int(out[i], values[i]);
  if (numeric) {
    std::sort(values.begin(), values.end());
    for (size_t i = 0; i < out.size(); ++i) out[i] = std::to_string(values[i]);
  }
  return out;
}

void check_two_classes(const std::vector<std::string>& classes, const std::string& source) {
  ARK_CHECK(classes.size() >= 2, source, ": a classification dataset needs at least two classes, found ",
            classes.size(), classes.empty() ? "" : ": " + quoted_list(classes));
}

/// Label name -> index, from ReadOptions::classes (fixed) or from what the data holds.
struct ClassMap {
  std::vector<std::string> classes;
  std::unordered_map<std::string, int64_t> index;
  bool fixed = false;

  ClassMap(const std::vector<std::string>& given, const std::string& source) : classes(given), fixed(!given.empty()) {
    for (size_t i = 0; i < classes.size(); ++i)
      ARK_CHECK(index.emplace(classes[i], static_cast<int64_t>(i)).second, source, ": the class list names '",
                classes[i], "' twice");
  }
  void set(std::vector<std::string> found) {
    classes = std::move(found);
    for (size_t i = 0; i < classes.size(); ++i) index[classes[i]] = static_cast<int64_t>(i);
  }
  /// -1 when unknown.
  int64_t find(const std::string& name) const {
    const auto it = index.find(name);
    return it == index.end() ? -1 : it->second;
  }
};

// ---- SHA-256 (OpenSSL's EVP interface; the low-level SHA256_* calls are deprecated in 3.0) ----

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    ARK_CHECK(ctx_ && EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) == 1, "sha256: OpenSSL init failed");
  }
  void update(const void* data, size_t n) {
    if (n) ARK_CHECK(EVP_DigestUpdate(ctx_.get(), data, n) == 1, "sha256: OpenSSL update failed");
  }
  void u64(uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
    update(b, 8);
  }
  /// A length-prefixed field.
  void field(std::string_view s) {
    u64(s.size());
    update(s.data(), s.size());
  }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    ARK_CHECK(EVP_DigestFinal_ex(ctx_.get(), md, &len) == 1, "sha256: OpenSSL final failed");
    static const char* kDigits = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
      out += kDigits[md[i] >> 4];
      out += kDigits[md[i] & 15];
    }
    return out;
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

void hash_file(Sha256& h, const std::string& path, std::vector<char>& buf) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  ARK_CHECK(f != nullptr, "cannot read '", path, "' to hash the data: ", std::strerror(errno));
  struct Closer {
    std::FILE* f;
    ~Closer() { std::fclose(f); }
  } closer{f};
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  ARK_CHECK(!ec, "cannot read '", path, "' to hash the data: ", ec.message());
  h.u64(size);  // the length first, like every other field
  uint64_t got = 0;
  for (;;) {
    const size_t n = std::fread(buf.data(), 1, buf.size(), f);
    h.update(buf.data(), n);
    got += n;
    if (n < buf.size()) break;
  }
  ARK_CHECK(!std::ferror(f), "cannot read '", path, "' to hash the data: ", std::strerror(errno));
  ARK_CHECK(got == size, "'", path, "' changed while it was being hashed (", size, " bytes, then ", got, ")");
}

// The folder a source's relative paths are relative to: the folder itself, or a manifest's folder.
fs::path source_base(const std::string& source) {
  std::error_code ec;
  if (fs::is_directory(source, ec)) return fs::path(source);
  const fs::path parent = fs::path(source).parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

// The key a sample is hashed under: its file's path relative to the source's folder (so the hash
// does not depend on where the data lies), the pixel row, or the position of a manifest's text.
std::string hash_key(const Sample& s, size_t position, const fs::path& base) {
  if (s.index >= 0) return std::to_string(s.index);
  if (s.path.empty()) return "#" + std::to_string(position);
  const fs::path rel = fs::path(s.path).lexically_normal().lexically_relative(base.lexically_normal());
  return rel.empty() ? s.path : rel.generic_string();
}

std::string hash_samples(const LabeledData& d) {
  Sha256 h;
  std::vector<char> buf(size_t{1} << 20);
  const fs::path base = source_base(d.source);
  const int64_t row_bytes = d.pixels.defined() && d.pixels.dim() == 4 ? d.pixels.numel() / d.pixels.size(0) : 0;
  const Tensor pixels = d.pixels.defined() ? d.pixels.contiguous() : Tensor();
  for (size_t i = 0; i < d.samples.size(); ++i) {
    const Sample& s = d.samples[i];
    const std::string& label = s.label >= 0 && s.label < static_cast<int64_t>(d.classes.size())
                                   ? d.classes[static_cast<size_t>(s.label)]
                                   : std::string();
    h.field(hash_key(s, i, base));
    h.field(label);
    if (s.index >= 0) {
      ARK_CHECK(row_bytes > 0 && s.index < d.pixels.size(0), d.source, ": sample ", i, " points at pixel row ",
                s.index, " which does not exist");
      h.u64(static_cast<uint64_t>(row_bytes));
      h.update(static_cast<const uint8_t*>(pixels.data_ptr()) + s.index * row_bytes, static_cast<size_t>(row_bytes));
    } else if (!s.path.empty()) {
      hash_file(h, s.path, buf);
    } else {
      h.field(s.text);
      h.field(s.text_pair);
    }
  }
  return h.hex();
}

void apply_max_samples(std::vector<Sample>& samples, int64_t max_samples) {
  if (max_samples > 0 && static_cast<int64_t>(samples.size()) > max_samples)
    samples.resize(static_cast<size_t>(max_samples));
}

// ---- class folders ----

struct FolderFile {
  std::string parent;  // the folder, relative to the root (torchvision sorts os.walk's roots, then names)
  std::string name;
};

LabeledData read_folder(const std::string& root, const ReadOptions& options) {
  LabeledData d;
  d.source = root;
  std::vector<std::string> class_dirs;
  bool loose_images = false;
  try {
    for (const auto& e : fs::directory_iterator(root)) {
      const std::string name = e.path().filename().string();
      if (name.empty() || name[0] == '.') continue;  // hidden
      if (e.is_directory()) {
        class_dirs.push_back(name);
      } else if (is_image_ext(lower_ext(e.path()))) {
        loose_images = true;
      }
    }
  } catch (const fs::filesystem_error& e) {
    ARK_ERROR("cannot list '", root, "': ", e.code().message());
  }
  std::sort(class_dirs.begin(), class_dirs.end());
  ARK_CHECK(!class_dirs.empty(), root, ": no class folders: a labelled image folder holds one folder per class (",
            root, "/<class>/<image>)", loose_images ? "; the images found lie directly in it, unlabelled" : "");

  // Every candidate file of every class, before deciding whether this is image or text data.
  std::vector<std::vector<FolderFile>> images(class_dirs.size()), texts(class_dirs.size());
  for (size_t c = 0; c < class_dirs.size(); ++c) {
    const fs::path dir = fs::path(root) / class_dirs[c];
    try {
      fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink), end;
      for (; it != end; ++it) {
        const std::string name = it->path().filename().string();
        if (!name.empty() && name[0] == '.') {
          if (it->is_directory()) it.disable_recursion_pending();
          continue;
        }
        if (!it->is_regular_file()) continue;
        const std::string ext = lower_ext(it->path());
        const bool image = is_image_ext(ext);
        if (!image && ext != ".txt") continue;
        FolderFile f{it->path().parent_path().lexically_relative(root).generic_string(), name};
        (image ? images : texts)[c].push_back(std::move(f));
      }
    } catch (const fs::filesystem_error& e) {
      // A symlink loop names a path of hundreds of repeats: worth showing only when short.
      const std::string at = e.path1().string();
      ARK_ERROR("cannot list '", dir.string(), "': ", e.code().message(),
                at.empty() || at.size() > 300 ? "" : " (at '" + at + "')");
    }
  }
  bool any_image = false, any_text = false;
  for (size_t c = 0; c < class_dirs.size(); ++c) {
    any_image |= !images[c].empty();
    any_text |= !texts[c].empty();
  }
  d.kind = !any_image && any_text ? DataKind::kText : DataKind::kImage;
  auto& files = d.kind == DataKind::kImage ? images : texts;

  ClassMap cm(options.classes, root);
  if (!cm.fixed) cm.set(class_dirs);
  for (size_t c = 0; c < class_dirs.size(); ++c) {
    ARK_CHECK(!files[c].empty(), root, ": class folder '", class_dirs[c], "' holds no ",
              d.kind == DataKind::kImage ? "images (.jpg .jpeg .png .bmp .webp .tif .tiff)" : "text files (.txt)",
              "; remove it or add samples");
    const int64_t label = cm.find(class_dirs[c]);
    ARK_CHECK(label >= 0, root, ": class folder '", class_dirs[c], "' is not one of the ", cm.classes.size(),
              " classes given: ", quoted_list(cm.classes));
    std::sort(files[c].begin(), files[c].end(),
              [](const FolderFile& a, const FolderFile& b) { return std::tie(a.parent, a.name) < std::tie(b.parent, b.name); });
    for (const FolderFile& f : files[c]) {
      Sample s;
      const std::string rel = f.parent + "/" + f.name;
      s.path = (fs::path(root) / rel).string();
      s.label = label;
      d.samples.push_back(std::move(s));
    }
  }
  d.classes = cm.classes;
  check_two_classes(d.classes, root);
  apply_max_samples(d.samples, options.max_samples);
  if (d.kind == DataKind::kText) {
    for (Sample& s : d.samples) {
      std::ifstream in(s.path, std::ios::binary);
      ARK_CHECK(in.is_open(), "cannot open '", s.path, "': ", std::strerror(errno));
      std::ostringstream os;
      os << in.rdbuf();
      s.text = std::move(os).str();
      if (s.text.compare(0, 3, "\xEF\xBB\xBF") == 0) s.text.erase(0, 3);  // a BOM is not text
      const size_t bad = invalid_utf8_offset(s.text);
      ARK_CHECK(bad == std::string::npos, s.path, ": invalid UTF-8 at byte ", bad, "; save the file as UTF-8");
      ARK_CHECK(!s.text.empty(), s.path, ": empty text file");
    }
  }
  d.sha256 = hash_samples(d);
  return d;
}

// ---- manifests ----

LabeledData read_manifest(const std::string& path, const ReadOptions& options) {
  const Table t = read_table(path);
  LabeledData d;
  d.source = path;
  const int64_t label_col = t.require_column(options.label_column);
  const int64_t path_col = t.column(options.path_column);
  const int64_t text_col = t.column(options.text_column);
  if (path_col < 0 && text_col < 0) {
    ARK_ERROR(path, ": no '", options.path_column, "' column (image files) and no '", options.text_column,
              "' column (texts); the columns are ", quoted_list(t.columns, 50));
  }
  d.kind = path_col >= 0 ? DataKind::kImage : DataKind::kText;
  const int64_t pair_col = d.kind == DataKind::kText ? t.column(options.text_pair_column) : -1;
  const int64_t split_col = t.column(options.split_column);
  const int64_t group_col = t.column(options.group_column);
  const fs::path base = source_base(path);

  size_t rows = t.rows.size();
  if (options.max_samples > 0) rows = std::min(rows, static_cast<size_t>(options.max_samples));
  std::vector<std::string> labels;
  for (size_t r = 0; r < rows; ++r) {
    const auto& row = t.rows[r];
    const int64_t line = t.lines[r];
    auto cell = [&](int64_t col) -> const std::string& { return row[static_cast<size_t>(col)]; };
    Sample s;
    ARK_CHECK(!cell(label_col).empty(), path, ":", line, ": empty '", options.label_column, "'");
    labels.push_back(cell(label_col));
    if (d.kind == DataKind::kImage) {
      const std::string& p = cell(path_col);
      ARK_CHECK(!p.empty(), path, ":", line, ": empty '", options.path_column, "'");
      const fs::path file = fs::path(p).is_absolute() ? fs::path(p) : base / p;
      std::error_code ec;
      ARK_CHECK(fs::is_regular_file(file, ec), path, ":", line, ": image file '", p, "' ",
                fs::exists(file, ec) ? "is not a regular file" : "does not exist", " (looked at '", file.string(),
                "')");
      s.path = file.string();
    } else {
      s.text = cell(text_col);
      ARK_CHECK(!s.text.empty(), path, ":", line, ": empty '", options.text_column, "'");
      if (pair_col >= 0) s.text_pair = cell(pair_col);
    }
    if (split_col >= 0) s.split = cell(split_col);
    if (group_col >= 0) s.group = cell(group_col);
    d.samples.push_back(std::move(s));
  }
  ClassMap cm(options.classes, path);
  if (!cm.fixed) cm.set(sorted_classes(std::set<std::string>(labels.begin(), labels.end())));
  for (size_t r = 0; r < d.samples.size(); ++r) {
    const int64_t label = cm.find(labels[r]);
    ARK_CHECK(label >= 0, path, ":", t.lines[r], ": unknown label '", labels[r], "': the ", cm.classes.size(),
              " classes are ", quoted_list(cm.classes, 20));
    d.samples[r].label = label;
  }
  d.classes = cm.classes;
  check_two_classes(d.classes, path);
  d.sha256 = hash_samples(d);
  return d;
}

// ---- pixel arrays (IDX, HDF5): labels given as integers ----

/// Integer labels -> classes (their text, sorted numerically) and sample labels.
void label_pixels(LabeledData& d, const std::vector<int64_t>& values, const ReadOptions& options) {
  ClassMap cm(options.classes, d.source);
  if (!cm.fixed) {
    std::set<int64_t> distinct(values.begin(), values.end());
    std::vector<std::string> names;
    for (int64_t v : distinct) names.push_back(std::to_string(v));
    cm.set(names);
  }
  d.samples.resize(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const std::string name = std::to_string(values[i]);
    const int64_t label = cm.find(name);
    ARK_CHECK(label >= 0, d.source, ": sample ", i, " has label ", name, ", which is not one of the ",
              cm.classes.size(), " classes ", quoted_list(cm.classes, 20));
    d.samples[i].index = static_cast<int64_t>(i);
    d.samples[i].label = label;
  }
  d.classes = cm.classes;
  check_two_classes(d.classes, d.source);
}

// ---- IDX ----

constexpr uint32_t kIdxImages = 0x00000803;
constexpr uint32_t kIdxLabels = 0x00000801;

class GzReader {
 public:
  explicit GzReader(std::string path) : path_(std::move(path)), gz_(gzopen(path_.c_str(), "rb")) {
    ARK_CHECK(gz_ != nullptr, "cannot open '", path_, "': ", std::strerror(errno));
    gzbuffer(gz_, 1 << 18);
  }
  ~GzReader() { gzclose(gz_); }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  /// Reads up to n bytes; fewer only at the end of the data. Corrupt gzip data is an error.
  size_t read(void* dst, size_t n) {
    size_t got = 0;
    while (got < n) {
      const unsigned want = static_cast<unsigned>(std::min<size_t>(n - got, 1u << 30));
      const int k = gzread(gz_, static_cast<char*>(dst) + got, want);
      int err = Z_OK;
      const char* msg = gzerror(gz_, &err);
      // A gzip stream cut short comes as Z_BUF_ERROR; bad deflate data or CRC as Z_DATA_ERROR.
      ARK_CHECK(k >= 0 && err == Z_OK, path_, ": corrupt or truncated gzip data (zlib: ",
                err == Z_ERRNO ? std::strerror(errno) : msg, ")");
      if (k == 0) break;
      got += static_cast<size_t>(k);
    }
    return got;
  }
  uint32_t be32(const char* what) {
    unsigned char b[4];
    ARK_CHECK(read(b, 4) == 4, path_, ": truncated IDX header (no ", what, ")");
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
  }
  bool at_end() {
    unsigned char b;
    return read(&b, 1) == 0;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  gzFile gz_;
};

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", v);
  return buf;
}

bool is_idx(const std::string& path) {
  try {
    GzReader r(path);
    unsigned char b[4];
    if (r.read(b, 4) != 4) return false;
    const uint32_t magic = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
    return magic == kIdxImages || magic == kIdxLabels;
  } catch (const Error&) {
    return false;
  }
}

std::string replace_first(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

// The labels file beside an images file: images -> labels, idx3 -> idx1, with or without .gz.
std::string idx_labels_path(const std::string& images) {
  const fs::path p(images);
  std::string name = replace_first(replace_first(p.filename().string(), "images", "labels"), "idx3", "idx1");
  ARK_CHECK(name != p.filename().string(), images, ": cannot name the IDX labels file: the images file's name "
            "should contain 'images' or 'idx3' (train-images-idx3-ubyte[.gz] -> train-labels-idx1-ubyte[.gz])");
  const std::string stem = name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0
                               ? name.substr(0, name.size() - 3)
                               : name;
  std::vector<std::string> tried;
  for (const std::string& cand : {name, stem, stem + ".gz"}) {
    const fs::path full = p.parent_path() / cand;
    std::error_code ec;
    if (fs::is_regular_file(full, ec)) return full.string();
    if (std::find(tried.begin(), tried.end(), full.string()) == tried.end()) tried.push_back(full.string());
  }
  ARK_ERROR(images, ": the IDX labels file is missing; looked for ", quoted_list(tried));
}

LabeledData read_idx(const std::string& path, const ReadOptions& options) {
  LabeledData d;
  d.source = path;
  d.kind = DataKind::kImage;
  GzReader im(path);
  const uint32_t magic = im.be32("magic number");
  ARK_CHECK(magic != kIdxLabels, path, ": this is an IDX labels file; name the images file (…-images-idx3-ubyte)");
  ARK_CHECK(magic == kIdxImages, path, ": bad IDX magic number ", hex32(magic), ", expected ", hex32(kIdxImages),
            " (unsigned-byte images, 3 dimensions)");
  const uint32_t n = im.be32("image count"), h = im.be32("row count"), w = im.be32("column count");
  ARK_CHECK(h > 0 && w > 0 && h <= 65536 && w <= 65536, path, ": implausible IDX image size ", h, "x", w);

  const std::string labels_path = idx_labels_path(path);
  GzReader lb(labels_path);
  const uint32_t lmagic = lb.be32("magic number");
  ARK_CHECK(lmagic == kIdxLabels, labels_path, ": bad IDX magic number ", hex32(lmagic), ", expected ",
            hex32(kIdxLabels), " (unsigned-byte labels, 1 dimension)");
  const uint32_t ln = lb.be32("label count");
  ARK_CHECK(ln == n, path, " holds ", n, " images but ", labels_path, " holds ", ln, " labels");

  const int64_t keep = options.max_samples > 0 ? std::min<int64_t>(options.max_samples, n) : int64_t{n};
  const size_t row = size_t{h} * w;
  // Read row blocks into a buffer that grows as data arrives, so a corrupt header cannot make us
  // allocate gigabytes before we know the file is short; the tensor then owns the buffer.
  auto buf = std::make_shared<std::vector<uint8_t>>();
  const size_t want = static_cast<size_t>(keep) * row;
  buf->reserve(std::min<size_t>(want, size_t{64} << 20));
  const size_t rows_per_block = std::max<size_t>(1, (size_t{4} << 20) / row);
  for (size_t done = 0; done < static_cast<size_t>(keep);) {
    const size_t k = std::min(rows_per_block, static_cast<size_t>(keep) - done);
    const size_t at = buf->size();
    buf->resize(at + k * row);
    const size_t got = im.read(buf->data() + at, k * row);
    ARK_CHECK(got == k * row, path, ": truncated: the header announces ", n, " images of ", h, "x", w,
              " but the data ends after ", done + got / row, " of them");
    done += k;
  }
  std::vector<uint8_t> lbytes(static_cast<size_t>(keep));
  ARK_CHECK(lb.read(lbytes.data(), lbytes.size()) == lbytes.size(), labels_path, ": truncated: the header announces ",
            n, " labels but the data ends before ", keep);
  if (keep == int64_t{n}) {  // everything was read: nothing may follow
    ARK_CHECK(im.at_end(), path, ": unexpected bytes after the ", n, " images the header announces");
    ARK_CHECK(lb.at_end(), labels_path, ": unexpected bytes after the ", n, " labels the header announces");
  }
  uint8_t* data = buf->data();
  d.pixels = from_blob(
      data, {keep, int64_t{h}, int64_t{w}, 1}, [buf](void*) mutable { buf.reset(); }, kByte);
  label_pixels(d, std::vector<int64_t>(lbytes.begin(), lbytes.end()), options);
  d.sha256 = hash_samples(d);
  return d;
}

// ---- HDF5 ----

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

// The innermost HDF5 error message, then the stack is cleared.
std::string h5_detail() {
  std::string msg;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, [](unsigned n, const H5E_error2_t* e, void* data) -> herr_t {
    if (n == 0 && e->desc) *static_cast<std::string*>(data) = e->desc;
    return 0;
  }, &msg);
  H5Eclear2(H5E_DEFAULT);
  return msg.empty() ? "" : " (HDF5: " + msg + ")";
}

std::string h5_type_name(hid_t type) {
  const H5T_class_t cls = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  if (cls == H5T_INTEGER)
    return std::string(H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(size * 8);
  if (cls == H5T_FLOAT) return "float" + std::to_string(size * 8);
  if (cls == H5T_STRING) return "string";
  if (cls == H5T_COMPOUND) return "compound";
  return "HDF5 type class " + std::to_string(static_cast<int>(cls));
}

struct H5Dataset {
  H5Id ds, space, type;
  std::vector<hsize_t> dims;
};

H5Dataset open_h5_dataset(hid_t file, const std::string& path, const std::string& name, const char* role) {
  H5Dataset out;
  const htri_t exists = H5Lexists(file, name.c_str(), H5P_DEFAULT);
  if (exists <= 0) {
    H5Eclear2(H5E_DEFAULT);
    std::vector<std::string> present;
    H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, nullptr, [](hid_t, const char* n, const H5L_info_t*, void* data) -> herr_t {
      static_cast<std::vector<std::string>*>(data)->push_back(n);
      return 0;
    }, &present);
    H5Eclear2(H5E_DEFAULT);
    ARK_ERROR(path, ": no dataset '", name, "' (the ", role, "); the file's root holds ",
              present.empty() ? std::string("nothing") : quoted_list(present, 20));
  }
  out.ds = H5Id(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
  ARK_CHECK(out.ds.ok(), path, ": '", name, "' (the ", role, ") is not a dataset", h5_detail());
  out.space = H5Id(H5Dget_space(out.ds.get()), H5Sclose);
  out.type = H5Id(H5Dget_type(out.ds.get()), H5Tclose);
  ARK_CHECK(out.space.ok() && out.type.ok(), path, ": cannot read dataset '", name, "'", h5_detail());
  const int rank = H5Sget_simple_extent_ndims(out.space.get());
  ARK_CHECK(rank >= 0, path, ": dataset '", name, "' has no simple shape", h5_detail());
  out.dims.resize(static_cast<size_t>(rank));
  if (rank > 0) H5Sget_simple_extent_dims(out.space.get(), out.dims.data(), nullptr);
  return out;
}

std::string dims_text(const std::vector<hsize_t>& dims) {
  std::string s = "(";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + ")";
}

// Reads rows [start, start + count) of a dataset whose rows are `row_dims` into dst.
void h5_read_rows(const H5Dataset& d, hid_t mem_type, hsize_t start, hsize_t count, void* dst, const std::string& path,
                  const std::string& name) {
  std::vector<hsize_t> offset(d.dims.size(), 0), extent = d.dims;
  offset[0] = start;
  extent[0] = count;
  const bool ok = H5Sselect_hyperslab(d.space.get(), H5S_SELECT_SET, offset.data(), nullptr, extent.data(), nullptr) >= 0;
  H5Id mem(ok ? H5Screate_simple(static_cast<int>(extent.size()), extent.data(), nullptr) : -1, H5Sclose);
  ARK_CHECK(ok && mem.ok() && H5Dread(d.ds.get(), mem_type, mem.get(), d.space.get(), H5P_DEFAULT, dst) >= 0, path,
            ": cannot read rows ", start, "..", start + count, " of dataset '", name, "'", h5_detail());
}

LabeledData read_hdf5(const std::string& path, const ReadOptions& options) {
  LabeledData d;
  d.source = path;
  d.kind = DataKind::kImage;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // no printing to stderr: errors become ark::Error
  const htri_t is_h5 = H5Fis_hdf5(path.c_str());
  H5Eclear2(H5E_DEFAULT);
  ARK_CHECK(is_h5 > 0, path, ": not an HDF5 file");
  H5Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  ARK_CHECK(file.ok(), path, ": cannot open the HDF5 file", h5_detail());

  const H5Dataset in = open_h5_dataset(file.get(), path, options.hdf5_inputs, "inputs");
  ARK_CHECK(in.dims.size() == 3 || (in.dims.size() == 4 && (in.dims[3] == 1 || in.dims[3] == 3)), path, ": dataset '",
            options.hdf5_inputs, "' has shape ", dims_text(in.dims), "; expected images (N, H, W) or (N, H, W, C) with C 1 or 3");
  ARK_CHECK(H5Tget_class(in.type.get()) == H5T_INTEGER && H5Tget_size(in.type.get()) == 1 &&
                H5Tget_sign(in.type.get()) == H5T_SGN_NONE,
            path, ": dataset '", options.hdf5_inputs, "' holds ", h5_type_name(in.type.get()), "; expected uint8 pixels");
  const H5Dataset lb = open_h5_dataset(file.get(), path, options.hdf5_labels, "labels");
  ARK_CHECK(lb.dims.size() == 1, path, ": dataset '", options.hdf5_labels, "' has shape ", dims_text(lb.dims),
            "; expected one integer label per image (N)");
  ARK_CHECK(H5Tget_class(lb.type.get()) == H5T_INTEGER, path, ": dataset '", options.hdf5_labels, "' holds ",
            h5_type_name(lb.type.get()), "; expected integer labels");
  ARK_CHECK(lb.dims[0] == in.dims[0], path, ": '", options.hdf5_inputs, "' holds ", in.dims[0], " images but '",
            options.hdf5_labels, "' holds ", lb.dims[0], " labels");

  const hsize_t n_all = in.dims[0];
  const hsize_t n = options.max_samples > 0 ? std::min<hsize_t>(n_all, static_cast<hsize_t>(options.max_samples)) : n_all;
  const hsize_t hh = in.dims[1], ww = in.dims[2], cc = in.dims.size() == 4 ? in.dims[3] : 1;
  const hsize_t row = hh * ww * cc;
  ARK_CHECK(hh > 0 && ww > 0 && hh <= 65536 && ww <= 65536, path, ": implausible image size ", hh, "x", ww);
  d.pixels = empty({static_cast<int64_t>(n), static_cast<int64_t>(hh), static_cast<int64_t>(ww), static_cast<int64_t>(cc)},
                   kByte);
  // Chunks of about 16 MB, straight into the result: no whole-dataset temporary.
  const hsize_t rows_per_chunk = std::max<hsize_t>(1, (hsize_t{16} << 20) / row);
  auto* dst = static_cast<uint8_t*>(d.pixels.data_ptr());
  for (hsize_t r = 0; r < n; r += rows_per_chunk) {
    const hsize_t k = std::min(rows_per_chunk, n - r);
    h5_read_rows(in, H5T_NATIVE_UINT8, r, k, dst + r * row, path, options.hdf5_inputs);
  }
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (hsize_t r = 0; r < n; r += hsize_t{1} << 20) {
    const hsize_t k = std::min<hsize_t>(hsize_t{1} << 20, n - r);
    h5_read_rows(lb, H5T_NATIVE_INT64, r, k, labels.data() + r, path, options.hdf5_labels);
  }
  label_pixels(d, labels, options);
  d.sha256 = hash_samples(d);
  return d;
}

// ---- splitting ----

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

/// Uniform in [0, bound) without modulo bias.
uint64_t bounded(uint64_t& state, uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
  for (;;) {
    const uint64_t r = splitmix64(state);
    if (r >= threshold) return r % bound;
  }
}

}  // namespace

std::vector<int64_t> LabeledData::class_counts() const {
  std::vector<int64_t> counts(classes.size(), 0);
  for (const Sample& s : samples)
    if (s.label >= 0 && s.label < static_cast<int64_t>(counts.size())) ++counts[static_cast<size_t>(s.label)];
  return counts;
}

Tensor LabeledData::image(int64_t i) const {
  ARK_CHECK(i >= 0 && i < static_cast<int64_t>(samples.size()), source, ": sample ", i, " out of range (",
            samples.size(), " samples)");
  ARK_CHECK(kind == DataKind::kImage, source, ": holds texts, not images");
  const Sample& s = samples[static_cast<size_t>(i)];
  if (s.index >= 0) {
    ARK_CHECK(pixels.defined() && pixels.dim() == 4 && s.index < pixels.size(0), source, ": sample ", i,
              " points at pixel row ", s.index, " which does not exist");
    const Tensor img = pixels[s.index];  // (H, W, C)
    if (img.size(2) == 3) return img.clone();
    return img.expand({img.size(0), img.size(1), 3}).contiguous();  // grey -> RGB
  }
  return load_image(s.path);
}

LabeledData read_labeled(const std::string& path, const ReadOptions& options) {
  ARK_CHECK(options.max_samples >= 0, "read_labeled: max_samples must be >= 0, got ", options.max_samples);
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  ARK_CHECK(!ec && fs::exists(st), "cannot read data '", path, "': ", ec ? ec.message() : "no such file or folder");
  if (fs::is_directory(st)) return read_folder(path, options);
  ARK_CHECK(fs::is_regular_file(st), "cannot read data '", path, "': not a regular file or a folder");
  if (is_table_file(path)) return read_manifest(path, options);
  const std::string ext = lower_ext(path);
  if (ext == ".h5" || ext == ".hdf5") return read_hdf5(path, options);
  // IDX by content, or by the conventional name (so that a damaged IDX file gets IDX's errors).
  const std::string name = lower(fs::path(path).filename().string());
  if (is_idx(path) || name.find("idx") != std::string::npos || name.find("ubyte") != std::string::npos)
    return read_idx(path, options);
  ARK_ERROR("'", path, "' is not labelled data ark reads: expected a folder of class folders, a manifest (.csv, "
            ".tsv, .jsonl), an IDX images file (…-images-idx3-ubyte[.gz]) or an HDF5 file (.h5, .hdf5)");
}

std::string data_hash(const LabeledData& data) { return hash_samples(data); }

std::pair<std::vector<int64_t>, std::vector<int64_t>> stratified_split(const LabeledData& data, double val_fraction,
                                                                       uint64_t seed) {
  ARK_CHECK(std::isfinite(val_fraction) && val_fraction >= 0 && val_fraction < 1,
            "stratified_split: the validation fraction must be in [0, 1), got ", val_fraction);
  std::vector<std::vector<int64_t>> by_class(data.classes.size());
  for (size_t i = 0; i < data.samples.size(); ++i) {
    const int64_t l = data.samples[i].label;
    ARK_CHECK(l >= 0 && l < static_cast<int64_t>(by_class.size()), data.source, ": sample ", i, " has label ", l,
              " outside the ", by_class.size(), " classes");
    by_class[static_cast<size_t>(l)].push_back(static_cast<int64_t>(i));
  }
  std::vector<int64_t> train, val;
  for (size_t c = 0; c < by_class.size(); ++c) {
    auto& idx = by_class[c];
    const int64_t count = static_cast<int64_t>(idx.size());
    int64_t k = static_cast<int64_t>(std::llround(val_fraction * static_cast<double>(count)));
    if (val_fraction > 0 && count >= 2) k = std::max<int64_t>(k, 1);
    k = std::min<int64_t>(k, std::max<int64_t>(count - 1, 0));
    uint64_t state = seed ^ fnv1a(data.classes[c]);
    for (int64_t i = count - 1; i > 0; --i)  // Fisher-Yates
      std::swap(idx[static_cast<size_t>(i)], idx[bounded(state, static_cast<uint64_t>(i) + 1)]);
    val.insert(val.end(), idx.begin(), idx.begin() + k);
    train.insert(train.end(), idx.begin() + k, idx.end());
  }
  std::sort(train.begin(), train.end());
  std::sort(val.begin(), val.end());
  return {train, val};
}

std::vector<int64_t> split_indices(const LabeledData& data, const std::string& split) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < data.samples.size(); ++i)
    if (!data.samples[i].split.empty() && data.samples[i].split == split) out.push_back(static_cast<int64_t>(i));
  return out;
}

std::vector<std::string> split_names(const LabeledData& data) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const Sample& s : data.samples)
    if (!s.split.empty() && seen.insert(s.split).second) out.push_back(s.split);
  return out;
}

LabeledData subset(const LabeledData& data, const std::vector<int64_t>& indices) {
  LabeledData out;
  out.kind = data.kind;
  out.source = data.source;
  out.classes = data.classes;
  out.pixels = data.pixels;
  out.samples.reserve(indices.size());
  Sha256 h;
  h.field("subset");
  h.field(data.sha256);
  for (int64_t i : indices) {
    ARK_CHECK(i >= 0 && i < static_cast<int64_t>(data.samples.size()), "subset: index ", i, " out of range for ",
              data.source, " (", data.samples.size(), " samples)");
    out.samples.push_back(data.samples[static_cast<size_t>(i)]);
    h.u64(static_cast<uint64_t>(i));
  }
  out.sha256 = h.hex();
  return out;
}

}  // namespace ark::datasets
