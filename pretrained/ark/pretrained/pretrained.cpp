// Pulling registry entries and loading pretrained models by name (see pretrained.h), and the
// internal helpers of pull_util.h.
#include "ark/pretrained/pretrained.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "ark/models/hf.h"
#include "ark/models/registry.h"
#include "ark/pretrained/hub.h"
#include "ark/pretrained/load_weights.h"
#include "ark/pretrained/pull_util.h"
#include "ark/tokenizers/tokenizer.h"

namespace ark::pretrained {
namespace fs = std::filesystem;

// libark_pretrained's anchor (kept for the libraries' common smoke test).
const char* library_name() { return "ark_pretrained"; }

// ---- pull_util.h ----
namespace detail {

bool is_local_source(const std::string& s) { return s.rfind("http://", 0) != 0 && s.rfind("https://", 0) != 0; }

fs::path local_path(const std::string& url) {
  return url.rfind("file://", 0) == 0 ? fs::path(url.substr(7)) : fs::path(url);
}

std::string normalize_source(const std::string& source) {
  std::string s = source;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  if (is_local_source(s)) {
    std::error_code ec;
    fs::path p = fs::absolute(local_path(s), ec);
    s = (ec ? local_path(s) : p.lexically_normal()).string();
    while (s.size() > 1 && s.back() == '/') s.pop_back();
  }
  return s;
}

std::string endpoint() {
  const char* ep = std::getenv("ARK_ENDPOINT");
  return ep && *ep ? normalize_source(ep) : std::string();
}

std::optional<Manifest> complete_manifest(const Cache& cache, const std::string& entry) {
  auto m = cache.read_manifest(entry);
  if (!m) return std::nullopt;
  for (const auto& f : m->files) {
    std::error_code ec;
    const fs::path blob = cache.blob_path(f.sha256);
    if (!fs::is_regular_file(blob, ec) || fs::file_size(blob, ec) != f.size) return std::nullopt;
  }
  return m;
}

ManifestFile manifest_file(const std::string& name, const fs::path& blob) {
  return ManifestFile{name, static_cast<uint64_t>(fs::file_size(blob)), blob.filename().string()};
}

std::string human_bytes(uint64_t n) {
  char buf[32];
  if (n < 1000) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  else if (n < 1000'000) std::snprintf(buf, sizeof buf, "%.1f kB", n / 1e3);
  else if (n < 1000'000'000) std::snprintf(buf, sizeof buf, "%.1f MB", n / 1e6);
  else std::snprintf(buf, sizeof buf, "%.2f GB", n / 1e9);
  return buf;
}

Rollback::Rollback(Cache& cache) : cache_(cache) {
  std::error_code ec;
  for (fs::directory_iterator it(cache_.blob_path(std::string(64, '0')).parent_path(), ec), end; !ec && it != end;
       it.increment(ec))
    before_.insert(it->path().filename().string());
}

fs::path Rollback::fetch(const FileSpec& spec, const DownloadOptions& options) {
  fs::path blob = pretrained::fetch(spec, cache_, options);
  if (!before_.count(blob.filename().string())) added_.insert(blob);  // only blobs this pull brought in
  return blob;
}

Rollback::~Rollback() {
  if (committed_ || added_.empty()) return;
  try {
    std::set<std::string> referenced;
    for (const auto& m : cache_.list())
      for (const auto& f : m.files) referenced.insert(f.sha256);
    for (const auto& blob : added_) {
      if (referenced.count(blob.filename().string())) continue;
      if (cache_.lock_held(blob.filename().string())) continue;  // someone is fetching it right now
      std::error_code ec;
      fs::remove(blob, ec);
    }
  } catch (...) {
    // Best effort: a blob left behind is an orphan that `ark cache prune` removes.
  }
}

}  // namespace detail

// ---- pull ----

std::vector<std::string> file_urls(const Entry& entry, const RegistryFile& file) {
  std::vector<std::string> urls;
  if (auto ep = detail::endpoint(); !ep.empty()) urls.push_back(ep + "/" + entry.name + "/" + file.name);
  for (const auto& u : file.urls) urls.push_back(u);
  return urls;
}

namespace {

Cache open_cache(const PullOptions& o) { return Cache(o.cache_root.empty() ? Cache::default_root() : o.cache_root); }

Pulled to_pulled(const std::string& name, const Cache& cache, Manifest m) {
  Pulled p;
  p.name = name;
  p.entry = m.entry;
  for (const auto& f : m.files) p.files[f.name] = cache.blob_path(f.sha256);
  p.manifest = std::move(m);
  return p;
}

Manifest pull_entry(const Entry& e, Cache& cache, const PullOptions& o) {
  const DownloadOptions& d = o.download;
  if (!d.force)
    if (auto m = detail::complete_manifest(cache, e.name)) return *m;
  auto log = [&](const std::string& s) {
    if (o.log) o.log(s);
  };
  detail::Rollback rollback(cache);
  std::vector<ManifestFile> files;
  for (const auto& f : e.files) {
    FileSpec spec;
    spec.name = f.name;
    if (f.size >= 0) spec.size = static_cast<uint64_t>(f.size);
    spec.sha256 = f.sha256;
    spec.urls = file_urls(e, f);
    if (spec.urls.empty())
      throw DownloadError(ErrorKind::Network, e.name + ": " + f.name +
                                                  " has no URL of its own: it is served only by a mirror (set ARK_ENDPOINT; "
                                                  "scripts/make_mirror.sh builds one)");
    DownloadOptions fo = d;
    if (fo.progress_label.empty()) fo.progress_label = f.name;
    const fs::path blob = rollback.fetch(spec, fo);
    files.push_back(detail::manifest_file(f.name, blob));
    log(e.name + ": " + f.name + " " + detail::human_bytes(files.back().size) + " ok");
  }
  cache.write_manifest(e.name, files, {{"source", "registry"}, {"origin", e.origin}});  // last
  rollback.commit();
  return *cache.read_manifest(e.name);
}

}  // namespace

bool is_pretrained_name(const std::string& name) {
  if (is_hf_ref(name)) return true;
  try {
    return find_entry(name) != nullptr;
  } catch (const Error&) {
    return false;
  }
}

Pulled pull(const std::string& name, const PullOptions& options) {
  Cache cache = open_cache(options);
  if (is_hf_ref(name)) {
    const HfRepo repo = parse_hf_ref(name);
    HfPullOptions ho;
    ho.download = options.download;
    ho.log = options.log;
    return to_pulled(name, cache, pull_hf(repo, cache, ho));
  }
  const Entry& e = get_entry(name);
  return to_pulled(name, cache, pull_entry(e, cache, options));
}

// ---- folder views ----

FolderView::FolderView(const std::map<std::string, fs::path>& files) {
  std::random_device rd;
  for (int attempt = 0; attempt < 100 && path_.empty(); ++attempt) {
    fs::path p = fs::temp_directory_path() / ("ark-view-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::error_code ec;
    if (fs::create_directory(p, ec)) path_ = p;
  }
  ARK_CHECK(!path_.empty(), "cannot create a temporary folder in ", fs::temp_directory_path().string());
  try {
    for (const auto& [name, blob] : files) {
      const fs::path link = path_ / name;
      fs::create_directories(link.parent_path());
      fs::create_symlink(fs::absolute(blob), link);
    }
  } catch (const fs::filesystem_error& e) {
    std::error_code ec;
    fs::remove_all(path_, ec);
    throw Error(std::string("cannot link the cached files into a folder: ") + e.what());
  }
}

FolderView::~FolderView() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

// ---- load ----

namespace {

void load_vision(Pretrained& out, const Entry& e, const LoadPretrainedOptions& o) {
  out.vision = models::create(e.architecture, e.options);
  FolderView view(out.files);
  LoadOptions lo;
  lo.format = e.format;
  lo.remap = e.remap;
  lo.strict = e.drop_keys.empty();
  const std::string path = (view.path() / e.weights).string();
  const auto r = load_weights(*out.vision, path, lo);
  if (!lo.strict) {
    // Only the keys the entry says to drop may be left over; nothing may be missing.
    ARK_CHECK(r.missing_keys.empty(), e.name, ": weights lack ", r.missing_keys.size(), " keys of ", e.architecture,
              ", e.g. ", r.missing_keys.front());
    for (const auto& k : r.unexpected_keys) {
      bool dropped = false;
      for (const auto& p : e.drop_keys) dropped = dropped || k.rfind(p, 0) == 0;
      ARK_CHECK(dropped, e.name, ": unexpected key '", k, "' in the weights (not in the entry's drop_keys)");
    }
  }
  if (o.num_classes && *o.num_classes != e.options.num_classes) {
    out.vision->reset_classifier(*o.num_classes);
    out.labels.clear();
  }
}

void load_text(Pretrained& out, const LoadPretrainedOptions& o) {
  FolderView view(out.files);
  models::hf::FromPretrainedOptions fo;
  if (o.num_classes) fo.num_labels = *o.num_classes;
  out.text = models::hf::from_pretrained(view.path(), fo);
  // The tokenizer when the repository has one (a weights-only repository loads without).
  static const char* const kTokenizerFiles[] = {"tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt"};
  bool has_tokenizer = false;
  for (const char* f : kTokenizerFiles) has_tokenizer = has_tokenizer || out.files.count(f);
  if (o.tokenizer && has_tokenizer) out.tokenizer = tokenizers::from_folder(view.path().string());
}

}  // namespace

Pretrained load(const std::string& name, const LoadPretrainedOptions& options) {
  Pulled pulled = pull(name, options.pull);
  Pretrained out;
  out.name = pulled.entry;
  out.files = pulled.files;
  if (is_hf_ref(name)) {
    load_text(out, options);
    return out;
  }
  const Entry& e = get_entry(name);
  out.entry = &e;
  out.preprocess = e.preprocess;
  out.labels = e.labels;
  if (e.text) load_text(out, options);
  else load_vision(out, e, options);
  return out;
}

}  // namespace ark::pretrained
