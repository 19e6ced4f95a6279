// The registry's parsing, lookup, suggestions and self-checks (see registry.h). The data comes
// from registry_data.cpp, which tools/registry/embed.cmake generates at build time.
#include "ark/pretrained/registry.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string_view>

#include "ark/core/error.h"
#include "ark/models/registry.h"

namespace ark::pretrained {
namespace detail {
extern const std::string_view kRegistryJson;
extern const std::string_view kImagenetLabels;
}  // namespace detail

namespace {

using models::edit_distance;
using nlohmann::json;

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_hex(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A file name an entry may use: no directories, no traversal, printable ASCII.
bool safe_file_name(const std::string& n) {
  if (n.empty() || n == "." || n == ".." || n.size() > 255) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '+';
  });
}

template <typename T>
T get_or(const json& j, const char* key, T fallback) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? fallback : it->get<T>();
}

Entry parse_entry(const json& j, const std::string& origin) {
  ARK_CHECK(j.is_object(), "registry (", origin, "): an entry is not a JSON object: ", j.dump().substr(0, 80));
  Entry e;
  e.origin = origin;
  e.json = j.dump(1);
  try {
    e.name = j.at("name").get<std::string>();
    e.architecture = j.at("architecture").get<std::string>();
    const json& cfg = j.contains("config") ? j.at("config") : json::object();
    if (cfg.contains("file")) {
      e.text = true;
      e.config_file = cfg.at("file").get<std::string>();
    } else {
      e.options.num_classes = get_or<int64_t>(cfg, "num_classes", 1000);
      e.options.in_chans = get_or<int64_t>(cfg, "in_chans", 3);
      if (cfg.contains("image_size")) e.options.image_size = cfg.at("image_size").get<int64_t>();
    }
    for (const json& f : j.at("files")) {
      RegistryFile rf;
      rf.name = f.at("name").get<std::string>();
      rf.size = get_or<int64_t>(f, "size", -1);
      rf.sha256 = get_or<std::string>(f, "sha256", "");
      rf.urls = get_or<std::vector<std::string>>(f, "urls", {});
      e.files.push_back(std::move(rf));
    }
    e.weights = get_or<std::string>(j, "weights", e.files.empty() ? "" : e.files.front().name);
    e.format = get_or<std::string>(j, "format", "");
    e.remap = get_or<std::string>(j, "remap", "");
    e.drop_keys = get_or<std::vector<std::string>>(j, "drop_keys", {});
    if (j.contains("preprocess")) {
      const json& p = j.at("preprocess");
      Preprocess pp;
      auto in = p.at("input_size").get<std::vector<int64_t>>();
      ARK_CHECK(in.size() == 3, "registry: ", e.name, ": preprocess.input_size must be [C, H, W]");
      pp.input_size = {in[0], in[1], in[2]};
      pp.resize_size = get_or<int64_t>(p, "resize_size", 0);
      pp.crop_pct = p.at("crop_pct").get<double>();
      pp.interpolation = p.at("interpolation").get<std::string>();
      auto mean = p.at("mean").get<std::vector<double>>(), sd = p.at("std").get<std::vector<double>>();
      ARK_CHECK(mean.size() == 3 && sd.size() == 3, "registry: ", e.name, ": preprocess mean/std need 3 values");
      pp.mean = {mean[0], mean[1], mean[2]};
      pp.std = {sd[0], sd[1], sd[2]};
      e.preprocess = pp;
    }
    if (j.contains("labels")) {
      const json& l = j.at("labels");
      if (l.is_string()) {
        e.labels_name = l.get<std::string>();
        e.labels = label_set(e.labels_name);
      } else {
        e.labels_name = "inline";
        e.labels = l.get<std::vector<std::string>>();
      }
    }
    e.tokenizer_files = get_or<std::vector<std::string>>(j, "tokenizer", {});
    e.license = get_or<std::string>(j, "license", "");
    e.source = get_or<std::string>(j, "source", "");
    e.description = get_or<std::string>(j, "description", "");
    e.tasks = get_or<std::vector<std::string>>(j, "tasks", {});
    e.num_params = get_or<int64_t>(j, "num_params", 0);
  } catch (const json::exception& ex) {
    throw Error("registry (" + origin + "): entry " + (e.name.empty() ? j.dump().substr(0, 60) : "'" + e.name + "'") +
                ": " + ex.what());
  }
  auto problems = check_entry(e);
  ARK_CHECK(problems.empty(), "registry (", origin, "): entry '", e.name, "': ", problems.front());
  return e;
}

void parse_into(std::vector<Entry>& out, std::string_view text, const std::string& origin) {
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::exception& ex) {
    throw Error("registry (" + origin + "): not valid JSON: " + ex.what());
  }
  ARK_CHECK(doc.is_object() && doc.contains("entries") && doc["entries"].is_array(), "registry (", origin,
            "): expected a JSON object with an \"entries\" array");
  for (const json& j : doc["entries"]) out.push_back(parse_entry(j, origin));
}

struct Registry {
  std::vector<Entry> all;
  std::string error;  // a malformed ARK_REGISTRY_EXTRA: thrown on every use
};

const Registry& registry() {
  static const Registry reg = [] {
    Registry r;
    try {
      parse_into(r.all, detail::kRegistryJson, "builtin");
      if (const char* extra = std::getenv("ARK_REGISTRY_EXTRA"); extra && *extra) {
        std::stringstream paths(extra);
        for (std::string path; std::getline(paths, path, ':');) {
          if (path.empty()) continue;
          std::ifstream f(path, std::ios::binary);
          ARK_CHECK(f.good(), "ARK_REGISTRY_EXTRA: cannot open ", path);
          std::stringstream s;
          s << f.rdbuf();
          parse_into(r.all, s.str(), path);
        }
      }
      std::set<std::string> seen;
      for (const Entry& e : r.all)
        ARK_CHECK(seen.insert(e.name).second, "registry: duplicate entry name '", e.name, "' (", e.origin, ")");
    } catch (const Error& ex) {
      r.all.clear();
      r.error = ex.msg();
    }
    return r;
  }();
  ARK_CHECK(reg.error.empty(), reg.error);
  return reg;
}

}  // namespace

const RegistryFile* Entry::file(const std::string& n) const {
  for (const auto& f : files)
    if (f.name == n) return &f;
  return nullptr;
}

int64_t Entry::total_size() const {
  int64_t total = 0;
  for (const auto& f : files) {
    if (f.size < 0) return -1;
    total += f.size;
  }
  return total;
}

const std::vector<std::string>& label_set(const std::string& name) {
  static const std::vector<std::string> imagenet = split_lines(detail::kImagenetLabels);
  if (name == "imagenet-1k") return imagenet;
  throw Error("registry: unknown label set '" + name + "' (known: imagenet-1k)");
}

const std::vector<Entry>& entries() { return registry().all; }

const Entry* find_entry(const std::string& name) {
  const auto& all = entries();
  for (const Entry& e : all)
    if (e.name == name) return &e;
  if (name.find('.') == std::string::npos && name.find('/') == std::string::npos)
    for (const Entry& e : all)
      if (!e.text && e.architecture == name) return &e;
  return nullptr;
}

std::vector<std::string> closest_names(const std::string& name, size_t n) {
  const std::string q = lower(name);
  std::vector<std::pair<size_t, std::string>> scored;
  for (const Entry& e : entries()) {
    const std::string cand = lower(e.name);
    // A substring hit ("resnet5" in "resnet50.tv_in1k") ranks before any edit distance.
    size_t d = !q.empty() && cand.find(q) != std::string::npos ? 0 : 1 + edit_distance(q, cand);
    // Compare with the architecture part too, so "resnet51" finds "resnet50.tv_in1k".
    const std::string arch = lower(e.name.substr(0, e.name.find('.')));
    d = std::min(d, 1 + edit_distance(q, arch));
    scored.emplace_back(d, e.name);
  }
  std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  const size_t limit = std::max<size_t>(3, q.size() / 2 + 1);  // beyond this, nothing is "close"
  for (const auto& [d, s] : scored) {
    if (out.size() >= n || d > limit) break;
    out.push_back(s);
  }
  return out;
}

const Entry& get_entry(const std::string& name) {
  if (const Entry* e = find_entry(name)) return *e;
  std::string msg = "unknown pretrained model '" + name + "'";
  const auto near = closest_names(name);
  if (!near.empty()) {
    msg += "; did you mean: ";
    for (size_t i = 0; i < near.size(); ++i) msg += (i ? ", " : "") + near[i];
    msg += "?";
  }
  msg += " (`ark list` shows them all)";
  throw Error(msg);
}

std::vector<const Entry*> list_entries(const std::string& pattern, const std::string& task) {
  std::vector<const Entry*> out;
  const bool glob = pattern.find_first_of("*?[") != std::string::npos;
  const std::string q = lower(pattern);
  for (const Entry& e : entries()) {
    if (!pattern.empty()) {
      const bool hit = glob ? ::fnmatch(pattern.c_str(), e.name.c_str(), FNM_CASEFOLD) == 0
                            : lower(e.name).find(q) != std::string::npos;
      if (!hit) continue;
    }
    if (!task.empty() && std::find(e.tasks.begin(), e.tasks.end(), task) == e.tasks.end()) continue;
    out.push_back(&e);
  }
  return out;
}

std::vector<std::string> check_entry(const Entry& e) {
  std::vector<std::string> p;
  auto bad = [&](std::string m) { p.push_back(std::move(m)); };
  if (e.name.empty()) bad("empty name");
  for (char c : e.name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '/'))
      bad("name has a character other than [A-Za-z0-9._/-]");
  if (!e.name.empty() && (e.name.find("..") != std::string::npos || e.name.front() == '/' || e.name.back() == '/'))
    bad("name is not a relative path");
  if (e.architecture.empty()) bad("no architecture");
  if (e.files.empty()) bad("no files");
  std::set<std::string> names;
  for (const auto& f : e.files) {
    if (!safe_file_name(f.name)) bad("file name '" + f.name + "' is not a plain file name");
    if (!names.insert(f.name).second) bad("file '" + f.name + "' listed twice");
    if (f.sha256.size() > 64 || !is_hex(f.sha256)) bad("file '" + f.name + "': sha256 must be lowercase hex (64 digits, or a prefix)");
    if (!f.sha256.empty() && f.sha256.size() < 8) bad("file '" + f.name + "': a sha256 prefix needs at least 8 digits");
    if (f.sha256.empty() && !e.text) bad("file '" + f.name + "': no sha256 (only Hugging Face files may rely on X-Linked-Etag)");
    if (f.size < -1) bad("file '" + f.name + "': negative size");
    for (const auto& u : f.urls)
      if (u.rfind("https://", 0) != 0 && u.rfind("http://", 0) != 0 && u.rfind("file://", 0) != 0)
        bad("file '" + f.name + "': URL '" + u + "' is not http(s) or file");
  }
  if (!e.weights.empty() && !e.file(e.weights)) bad("weights file '" + e.weights + "' is not among the files");
  if (e.text) {
    if (!e.file(e.config_file)) bad("config file '" + e.config_file + "' is not among the files");
    for (const auto& t : e.tokenizer_files)
      if (!e.file(t)) bad("tokenizer file '" + t + "' is not among the files");
  } else {
    if (!e.preprocess) bad("no preprocess");
    if (e.options.num_classes > 0 && e.labels.size() != static_cast<size_t>(e.options.num_classes) && !e.labels.empty())
      bad("labels: " + std::to_string(e.labels.size()) + " names for num_classes " + std::to_string(e.options.num_classes));
    if (e.options.num_classes > 0 && e.labels.empty()) bad("a classifier without labels");
  }
  if (e.preprocess) {
    const auto& pp = *e.preprocess;
    if (pp.input_size[0] != 3 || pp.input_size[1] <= 0 || pp.input_size[2] <= 0) bad("preprocess.input_size must be [3, H, W]");
    if (!(pp.crop_pct > 0 && pp.crop_pct <= 1)) bad("preprocess.crop_pct must be in (0, 1]");
    if (pp.interpolation != "nearest" && pp.interpolation != "bilinear" && pp.interpolation != "bicubic")
      bad("preprocess.interpolation must be nearest, bilinear or bicubic");
    for (double s : pp.std)
      if (!(s > 0)) bad("preprocess.std must be positive");
  }
  static const std::set<std::string> formats{"pth", "safetensors", "tfjs", "keras-h5"};
  if (!formats.count(e.format)) bad("format '" + e.format + "' is not pth, safetensors, tfjs or keras-h5");
  if (e.tasks.empty()) bad("no task tags");
  if (e.license.empty()) bad("no license");
  if (e.source.empty()) bad("no source");
  return p;
}

}  // namespace ark::pretrained
