// `ark cache ls | verify [NAME] | rm NAME... | prune [--json]`: the content-addressed cache
// (cache.h) under ARK_HOME. ls lists complete entries with their sizes, plus orphan blobs and
// leftover partial downloads; verify re-hashes every blob (or one entry's) and exits 4 when
// anything is missing, short or corrupted; rm removes entries (and the blobs only they used);
// prune removes orphan blobs, partials of dead processes and unheld locks.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "ark/pretrained/cache.h"
#include "ark/pretrained/hub.h"
#include "ark/pretrained/registry.h"
#include "cli.h"

namespace ark::cli {
namespace {

using nlohmann::json;
namespace pt = ark::pretrained;

// A failure whose --json report is already on stdout (verify's problems): not printed again.
struct ReportedError : CommandError {
  using CommandError::CommandError;
};

struct CacheArgs {
  std::vector<std::string> names;
  std::string name;
  bool json = false;
};

// The cache entry a user's name refers to: hf: references gain their default revision, a bare
// architecture its default registry entry.
std::string entry_name(const std::string& name) {
  if (pt::is_hf_ref(name)) {
    try {
      return pt::parse_hf_ref(name).entry_name();
    } catch (const Error& e) {
      throw CommandError(kUsage, "cache: " + e.msg());
    }
  }
  if (const auto* e = pt::find_entry(name)) return e->name;
  return name;
}

uint64_t entry_bytes(const pt::Manifest& m) {
  uint64_t n = 0;
  for (const auto& f : m.files) n += f.size;
  return n;
}

void run_ls(const CacheArgs& a) {
  pt::Cache cache;
  const auto entries = cache.list();
  const auto report = cache.verify({}, /*hash=*/false);
  if (a.json) {
    json list = json::array();
    for (const auto& m : entries)
      list.push_back({{"entry", m.entry}, {"files", m.files.size()}, {"bytes", entry_bytes(m)}, {"created", m.created}});
    json orphans = json::array(), temps = json::array();
    for (const auto& p : report.orphans) orphans.push_back(p.string());
    for (const auto& p : report.temp_files) temps.push_back(p.string());
    std::printf("%s\n", json{{"root", cache.root().string()}, {"entries", list}, {"orphans", orphans},
                             {"partials", temps}, {"bytes", cache.size_bytes()}}
                            .dump(1)
                            .c_str());
    return;
  }
  std::printf("cache %s: %zu entries, %llu bytes of blobs\n", cache.root().c_str(), entries.size(),
              static_cast<unsigned long long>(cache.size_bytes()));
  for (const auto& m : entries)
    std::printf("  %-44s %3zu files %14llu bytes  %s\n", m.entry.c_str(), m.files.size(),
                static_cast<unsigned long long>(entry_bytes(m)), m.created.c_str());
  for (const auto& p : report.orphans) std::printf("  orphan blob: %s (ark cache prune removes it)\n", p.c_str());
  for (const auto& p : report.temp_files) std::printf("  partial download: %s (ark cache prune removes it)\n", p.c_str());
}

void run_verify(const CacheArgs& a) {
  pt::Cache cache;
  const std::string entry = a.name.empty() ? std::string() : entry_name(a.name);
  if (!entry.empty() && !cache.read_manifest(entry)) throw CommandError(kUsage, "cache verify: " + entry + " is not in the cache");
  const auto r = cache.verify(entry, /*hash=*/true);
  if (a.json) {
    json problems = json::array();
    for (const auto& p : r.problems) problems.push_back({{"entry", p.entry}, {"file", p.file}, {"problem", p.problem}});
    json orphans = json::array();
    for (const auto& p : r.orphans) orphans.push_back(p.string());
    std::printf("%s\n", json{{"ok", r.ok()}, {"files_checked", r.files_checked}, {"bytes_checked", r.bytes_checked},
                             {"problems", problems}, {"orphans", orphans}, {"partials", r.temp_files.size()}}
                            .dump(1)
                            .c_str());
  } else {
    for (const auto& p : r.problems)
      std::printf("%s: %s: %s\n", p.entry.empty() ? "(cache)" : p.entry.c_str(), p.file.c_str(), p.problem.c_str());
    for (const auto& p : r.orphans) std::printf("orphan blob: %s\n", p.c_str());
    for (const auto& p : r.temp_files) std::printf("partial download: %s\n", p.c_str());
    std::fprintf(stderr, "%zu files, %llu bytes checked: %s\n", r.files_checked,
                 static_cast<unsigned long long>(r.bytes_checked), r.ok() ? "ok" : "PROBLEMS FOUND");
  }
  if (!r.ok())
    throw ReportedError(kIntegrity, "cache verify: " + std::to_string(r.problems.size()) +
                                        " problem(s); `ark pull --force NAME` downloads an entry again");
}

void run_rm(const CacheArgs& a) {
  pt::Cache cache;
  for (const auto& n : a.names) {
    const std::string entry = entry_name(n);
    if (!cache.read_manifest(entry)) throw CommandError(kUsage, "cache rm: " + entry + " is not in the cache");
    cache.remove(entry);
    std::fprintf(stderr, "removed %s\n", entry.c_str());
  }
}

void run_prune(const CacheArgs& a) {
  pt::Cache cache;
  const auto r = cache.prune();
  if (a.json) {
    json removed = json::array();
    for (const auto& p : r.removed) removed.push_back(p.string());
    std::printf("%s\n", json{{"removed", removed}, {"bytes_freed", r.bytes_freed}}.dump(1).c_str());
    return;
  }
  for (const auto& p : r.removed) std::printf("removed %s\n", p.c_str());
  std::fprintf(stderr, "%zu files removed, %llu bytes freed\n", r.removed.size(),
               static_cast<unsigned long long>(r.bytes_freed));
}

template <typename F>
std::function<void()> with_json_errors(std::shared_ptr<CacheArgs> a, F f) {
  return [a, f] {
    try {
      f(*a);
    } catch (const ReportedError&) {
      throw;
    } catch (const CommandError& e) {
      if (a->json) std::printf("%s\n", json{{"error", e.what()}, {"code", static_cast<int>(e.code())}}.dump().c_str());
      throw;
    }
  };
}

}  // namespace

void add_cache(CLI::App& app) {
  auto* cmd = app.add_subcommand("cache", "Inspect and maintain the pretrained-weights cache (ARK_HOME)");
  cmd->require_subcommand(1);
  auto a = std::make_shared<CacheArgs>();
  auto* ls = cmd->add_subcommand("ls", "List cached entries, orphan blobs and partial downloads");
  ls->add_flag("--json", a->json, "machine-readable output on stdout");
  ls->callback(with_json_errors(a, run_ls));
  auto* verify = cmd->add_subcommand("verify", "Re-hash cached files; exit 4 when any is corrupted or missing");
  verify->add_option("name", a->name, "only this entry");
  verify->add_flag("--json", a->json, "machine-readable output on stdout");
  verify->callback(with_json_errors(a, run_verify));
  auto* rm = cmd->add_subcommand("rm", "Remove entries (and the blobs no other entry uses)");
  rm->add_option("names", a->names, "entries to remove")->required();
  rm->callback(with_json_errors(a, run_rm));
  auto* prune = cmd->add_subcommand("prune", "Remove orphan blobs, stale partial downloads and unheld locks");
  prune->add_flag("--json", a->json, "machine-readable output on stdout");
  prune->callback(with_json_errors(a, run_prune));
}

}  // namespace ark::cli
