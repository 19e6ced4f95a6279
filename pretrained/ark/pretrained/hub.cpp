// hf: repositories (see hub.h): probing the sources for each file, the model_type check, the
// weights' single/sharded/.bin fallbacks, and the manifest written last.
#include "ark/pretrained/hub.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "ark/pretrained/pull_util.h"

namespace ark::pretrained {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

bool valid_part(const std::string& s) {
  if (s.empty() || s == "." || s == ".." || s.size() > 96) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

const std::vector<std::string> kTokenizerFiles = {
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
    "vocab.json",     "merges.txt",            "tokenizer.model",         "generation_config.json"};

// Where a file is: the first source that has it, and the URLs to fetch it from (that source's
// first, then the later ones, so a transfer failure can still fall back).
struct Located {
  FileSpec spec;
  std::string commit;  // X-Repo-Commit, when an HTTP source said
};

std::optional<Located> locate(const HfRepo& repo, const std::string& file, const std::vector<std::string>& sources,
                              const DownloadOptions& o) {
  for (size_t i = 0; i < sources.size(); ++i) {
    const std::string url = hf_url(sources[i], repo, file);
    Located loc;
    loc.spec.name = file;
    if (detail::is_local_source(sources[i])) {
      std::error_code ec;
      const fs::path p = detail::local_path(url);
      if (!fs::is_regular_file(p, ec)) continue;
      loc.spec.size = fs::file_size(p, ec);
    } else {
      if (o.offline) continue;  // offline: no network call, not even a HEAD
      RemoteInfo info;
      try {
        info = head(url, o);
      } catch (const DownloadError& e) {
        if (e.http_status() == 404) continue;
        throw;
      }
      if (info.status == 404) continue;
      if (info.status >= 400)
        throw DownloadError(ErrorKind::Network, url + ": HTTP " + std::to_string(info.status), url, info.status);
      loc.spec.size = info.size;
      loc.spec.sha256 = info.sha256;  // the Hub's X-Linked-Etag for LFS files, else empty (size only)
      loc.commit = info.repo_commit;
    }
    for (size_t j = i; j < sources.size(); ++j) loc.spec.urls.push_back(hf_url(sources[j], repo, file));
    return loc;
  }
  return std::nullopt;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

bool is_hf_ref(const std::string& name) { return name.rfind("hf:", 0) == 0; }

HfRepo parse_hf_ref(const std::string& ref) {
  ARK_CHECK(is_hf_ref(ref), "not a Hugging Face reference (hf:ORG/NAME[@REVISION]): '", ref, "'");
  std::string rest = ref.substr(3);
  HfRepo r;
  if (auto at = rest.find('@'); at != std::string::npos) {
    r.revision = rest.substr(at + 1);
    rest = rest.substr(0, at);
  }
  r.id = rest;
  const auto slash = rest.find('/');
  const bool ok = slash == std::string::npos
                      ? valid_part(rest)
                      : valid_part(rest.substr(0, slash)) && valid_part(rest.substr(slash + 1));
  ARK_CHECK(ok, "invalid Hugging Face repository '", ref, "': expected hf:ORG/NAME[@REVISION] ([A-Za-z0-9._-])");
  ARK_CHECK(valid_part(r.revision), "invalid revision '", r.revision, "' in '", ref, "'");
  return r;
}

const std::vector<std::string>& supported_model_types() {
  static const std::vector<std::string> types = {"bert", "distilbert", "gpt2", "llama"};
  return types;
}

std::vector<std::string> hf_sources() {
  std::vector<std::string> out;
  if (auto ep = detail::endpoint(); !ep.empty()) out.push_back(ep);
  const char* hub = std::getenv("HF_ENDPOINT");
  std::string h = hub && *hub ? hub : "https://huggingface.co";
  out.push_back(detail::normalize_source(h));
  return out;
}

std::string hf_url(const std::string& source, const HfRepo& repo, const std::string& file) {
  return source + "/" + repo.id + "/resolve/" + repo.revision + "/" + file;
}

Manifest pull_hf(const HfRepo& repo, Cache& cache, const HfPullOptions& options) {
  const std::string entry = repo.entry_name();
  const DownloadOptions& o = options.download;
  auto log = [&](const std::string& m) {
    if (options.log) options.log(m);
  };
  if (!o.force)
    if (auto m = detail::complete_manifest(cache, entry)) return *m;

  const auto sources = hf_sources();
  const bool any_local = std::any_of(sources.begin(), sources.end(), detail::is_local_source);
  if (o.offline && !any_local)
    throw DownloadError(ErrorKind::Offline, entry + " is not in the cache (" + cache.root().string() +
                                                ") and offline mode is on (ARK_OFFLINE / --offline)");

  detail::Rollback rollback(cache);
  std::vector<ManifestFile> files;
  std::map<std::string, std::string> meta{{"source", "huggingface"}, {"repo", repo.id}, {"revision", repo.revision}};
  auto get = [&](const Located& loc) {
    const fs::path blob = rollback.fetch(loc.spec, o);
    files.push_back(detail::manifest_file(loc.spec.name, blob));
    if (!loc.commit.empty()) meta["commit"] = loc.commit;
    log(loc.spec.name + ": " + detail::human_bytes(files.back().size));
    return blob;
  };
  auto required = [&](const std::string& file) {
    auto loc = locate(repo, file, sources, o);
    if (!loc)
      throw DownloadError(ErrorKind::Network, "hf:" + repo.id + "@" + repo.revision + ": " + file +
                                                  " not found (tried " + hf_url(sources.front(), repo, file) +
                                                  (sources.size() > 1 ? " and " + std::to_string(sources.size() - 1) + " more" : "") +
                                                  ")", hf_url(sources.back(), repo, file), 404);
    return *loc;
  };

  // 1. config.json, and the model_type check before anything large.
  const fs::path config_blob = get(required("config.json"));
  std::string model_type;
  try {
    const json cfg = json::parse(slurp(config_blob));
    model_type = cfg.value("model_type", "");
  } catch (const json::exception& e) {
    throw DownloadError(ErrorKind::BadFile, entry + ": config.json is not JSON: " + e.what());
  }
  const auto& types = supported_model_types();
  if (std::find(types.begin(), types.end(), model_type) == types.end()) {
    std::string known;
    for (const auto& t : types) known += (known.empty() ? "" : ", ") + t;
    throw DownloadError(ErrorKind::BadFile, entry + ": model_type '" + model_type +
                                                "' is not one ark implements (" + known + "); no weights downloaded");
  }
  meta["model_type"] = model_type;

  // 2. tokenizer files: whichever the repository has.
  for (const auto& name : kTokenizerFiles) {
    if (auto loc = locate(repo, name, sources, o)) get(*loc);
    else log(name + ": not in the repository");
  }

  // 3. weights: safetensors (single, then sharded), then PyTorch's (single, then sharded).
  bool have_weights = false;
  for (const std::string single : {"model.safetensors", "pytorch_model.bin"}) {
    if (auto loc = locate(repo, single, sources, o)) {
      get(*loc);
      have_weights = true;
      break;
    }
    const std::string index_name = single + ".index.json";
    auto idx = locate(repo, index_name, sources, o);
    if (!idx) continue;
    const fs::path index_blob = get(*idx);
    std::set<std::string> shards;
    try {
      const json index = json::parse(slurp(index_blob));
      for (const auto& [key, shard] : index.at("weight_map").items()) shards.insert(shard.get<std::string>());
    } catch (const json::exception& e) {
      throw DownloadError(ErrorKind::BadFile, entry + ": " + index_name + " is not a weights index: " + e.what());
    }
    if (shards.empty()) throw DownloadError(ErrorKind::BadFile, entry + ": " + index_name + " names no shard");
    for (const auto& shard : shards) {
      validate_filename(shard);
      if (shard.find('/') != std::string::npos)
        throw DownloadError(ErrorKind::BadFile, entry + ": " + index_name + ": shard '" + shard + "' is not a plain file name");
      get(required(shard));
    }
    have_weights = true;
    break;
  }
  if (!have_weights)
    throw DownloadError(ErrorKind::Network, entry + ": no weights found (model.safetensors, model.safetensors.index.json, "
                                                    "pytorch_model.bin or pytorch_model.bin.index.json)");

  cache.write_manifest(entry, files, meta);  // last: the entry exists only from here on
  rollback.commit();
  return *cache.read_manifest(entry);
}

}  // namespace ark::pretrained
