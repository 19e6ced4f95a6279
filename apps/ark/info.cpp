// `ark info NAME [--json]`: everything the registry knows about one entry (architecture and
// config, files with sizes, hashes and URLs in the order they are tried, format and remap,
// preprocessing, labels, tokenizer files, licence, source, tasks) and what the cache holds for
// it. NAME may be a bare architecture (its default entry) or hf:ORG/NAME[@REV] (the cached
// manifest). An unknown name exits 2 with the closest names.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "ark/pretrained/cache.h"
#include "ark/pretrained/hub.h"
#include "ark/pretrained/pretrained.h"
#include "ark/pretrained/registry.h"
#include "cli.h"

namespace ark::cli {
namespace {

using nlohmann::json;

struct InfoArgs {
  std::string name;
  bool json = false;
};

json manifest_json(const pretrained::Manifest& m, const pretrained::Cache& cache) {
  json files = json::array();
  for (const auto& f : m.files)
    files.push_back({{"name", f.name}, {"size", f.size}, {"sha256", f.sha256}, {"path", cache.blob_path(f.sha256).string()}});
  return {{"entry", m.entry}, {"created", m.created}, {"meta", m.meta}, {"files", files}};
}

void print_manifest(const pretrained::Manifest& m, const pretrained::Cache& cache) {
  std::printf("cached:       yes (%s)\n", m.created.c_str());
  for (const auto& f : m.files)
    std::printf("  %-32s %12llu  %s\n", f.name.c_str(), static_cast<unsigned long long>(f.size),
                cache.blob_path(f.sha256).c_str());
}

void run_info(const InfoArgs& a) {
  const pretrained::Cache cache;
  if (pretrained::is_hf_ref(a.name)) {
    pretrained::HfRepo repo;
    try {
      repo = pretrained::parse_hf_ref(a.name);
    } catch (const Error& e) {
      throw CommandError(kUsage, "info: " + e.msg());
    }
    const auto m = cache.read_manifest(repo.entry_name());
    if (a.json) {
      json j{{"name", repo.entry_name()}, {"repo", repo.id}, {"revision", repo.revision}, {"cached", m.has_value()}};
      if (m) j["cache"] = manifest_json(*m, cache);
      std::printf("%s\n", j.dump(1).c_str());
      return;
    }
    std::printf("name:         %s\nsource:       Hugging Face repository %s, revision %s\n", repo.entry_name().c_str(),
                repo.id.c_str(), repo.revision.c_str());
    const auto sources = pretrained::hf_sources();
    for (const auto& s : sources) std::printf("  from        %s\n", pretrained::hf_url(s, repo, "<file>").c_str());
    if (m) print_manifest(*m, cache);
    else std::printf("cached:       no (`ark pull %s` fetches it)\n", a.name.c_str());
    return;
  }
  const pretrained::Entry* e = pretrained::find_entry(a.name);
  if (!e) {
    try {
      pretrained::get_entry(a.name);
    } catch (const Error& ex) {
      throw CommandError(kUsage, "info: " + ex.msg());
    }
  }
  const auto m = cache.read_manifest(e->name);
  if (a.json) {
    json j = json::parse(e->json);
    json files = json::array();
    for (const auto& f : e->files) {
      json fj = j["files"][files.size()];
      fj["tried_urls"] = pretrained::file_urls(*e, f);
      files.push_back(fj);
    }
    j["files"] = files;
    if (!e->labels.empty()) j["num_labels"] = e->labels.size();
    j["cached"] = m.has_value();
    if (m) j["cache"] = manifest_json(*m, cache);
    if (e->origin != "builtin") j["origin"] = e->origin;
    std::printf("%s\n", j.dump(1).c_str());
    return;
  }
  std::printf("name:         %s%s\n", e->name.c_str(), e->name == a.name ? "" : ("  (default for " + a.name + ")").c_str());
  std::printf("architecture: %s%s\n", e->architecture.c_str(), e->text ? " (Hugging Face model_type)" : "");
  if (e->text) std::printf("config:       %s\n", e->config_file.c_str());
  else {
    std::printf("config:       num_classes %lld, in_chans %lld", static_cast<long long>(e->options.num_classes),
                static_cast<long long>(e->options.in_chans));
    if (e->options.image_size) std::printf(", image_size %lld", static_cast<long long>(*e->options.image_size));
    std::printf("\n");
  }
  if (e->num_params) std::printf("parameters:   %lld\n", static_cast<long long>(e->num_params));
  std::printf("format:       %s, remap %s\n", e->format.c_str(), e->remap.c_str());
  if (!e->drop_keys.empty()) {
    std::printf("drops:       ");
    for (const auto& k : e->drop_keys) std::printf(" %s*", k.c_str());
    std::printf("\n");
  }
  std::printf("files:\n");
  for (const auto& f : e->files) {
    std::printf("  %s  size %s  sha256 %s\n", f.name.c_str(), f.size < 0 ? "?" : std::to_string(f.size).c_str(),
                f.sha256.empty() ? "(the Hub's X-Linked-Etag)"
                                 : (f.sha256 + (f.sha256.size() < 64 ? " (prefix)" : "")).c_str());
    for (const auto& u : pretrained::file_urls(*e, f)) std::printf("    %s\n", u.c_str());
  }
  if (e->preprocess) {
    const auto& p = *e->preprocess;
    std::printf("preprocess:   input %lldx%lldx%lld, resize %lld, crop_pct %g, %s, mean [%g, %g, %g], std [%g, %g, %g]\n",
                static_cast<long long>(p.input_size[0]), static_cast<long long>(p.input_size[1]),
                static_cast<long long>(p.input_size[2]), static_cast<long long>(p.resize_size), p.crop_pct,
                p.interpolation.c_str(), p.mean[0], p.mean[1], p.mean[2], p.std[0], p.std[1], p.std[2]);
  }
  if (!e->labels.empty()) {
    std::printf("labels:       %zu (%s): %s, %s, %s, ...\n", e->labels.size(), e->labels_name.c_str(), e->labels[0].c_str(),
                e->labels.size() > 1 ? e->labels[1].c_str() : "", e->labels.size() > 2 ? e->labels[2].c_str() : "");
  }
  if (!e->tokenizer_files.empty()) {
    std::printf("tokenizer:   ");
    for (const auto& t : e->tokenizer_files) std::printf(" %s", t.c_str());
    std::printf("\n");
  }
  std::printf("tasks:       ");
  for (const auto& t : e->tasks) std::printf(" %s", t.c_str());
  std::printf("\nlicense:      %s\nsource:       %s\n", e->license.c_str(), e->source.c_str());
  if (!e->description.empty()) std::printf("description:  %s\n", e->description.c_str());
  if (m) print_manifest(*m, cache);
  else std::printf("cached:       no\n");
}

}  // namespace

void add_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Show a pretrained model's registry entry and cache state");
  auto a = std::make_shared<InfoArgs>();
  cmd->add_option("name", a->name, "registry name (resnet50.tv_in1k), architecture (resnet50) or hf:ORG/NAME[@REV]")->required();
  cmd->add_flag("--json", a->json, "machine-readable output on stdout");
  cmd->callback([a] {
    try {
      run_info(*a);
    } catch (const CommandError& e) {
      if (a->json) std::printf("%s\n", json{{"error", e.what()}, {"code", static_cast<int>(e.code())}}.dump().c_str());
      throw;
    }
  });
}

}  // namespace ark::cli
