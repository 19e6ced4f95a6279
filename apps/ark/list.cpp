// `ark list [PATTERN] [--task T] [--json]`: the pretrained registry (registry.h), one line per
// entry: name, task tags, download size, licence, and whether it is complete in the cache. PATTERN
// is a shell glob ("resnet*") or, without * ? [, a case-insensitive substring. --json prints an
// array of objects on stdout and nothing else.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "ark/pretrained/cache.h"
#include "ark/pretrained/registry.h"
#include "cli.h"

namespace ark::cli {
namespace {

struct ListArgs {
  std::string pattern, task;
  bool json = false;
};

std::string size_text(int64_t n) {
  if (n < 0) return "?";
  char buf[32];
  if (n < 1000'000) std::snprintf(buf, sizeof buf, "%.1f kB", n / 1e3);
  else if (n < 1000'000'000) std::snprintf(buf, sizeof buf, "%.1f MB", n / 1e6);
  else std::snprintf(buf, sizeof buf, "%.2f GB", n / 1e9);
  return buf;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

void run_list(const ListArgs& a) {
  const auto found = pretrained::list_entries(a.pattern, a.task);
  const pretrained::Cache cache;
  // A manifest on disk is what "cached" means (its blobs are checked by `ark cache verify`).
  auto cached = [&](const std::string& name) {
    std::error_code ec;
    return std::filesystem::exists(cache.manifest_path(name), ec);
  };
  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto* e : found) {
      nlohmann::json j{{"name", e->name},          {"architecture", e->architecture}, {"tasks", e->tasks},
                       {"license", e->license},    {"format", e->format},             {"cached", cached(e->name)},
                       {"description", e->description}};
      j["size"] = e->total_size() < 0 ? nlohmann::json() : nlohmann::json(e->total_size());
      out.push_back(std::move(j));
    }
    std::printf("%s\n", out.dump(1).c_str());
    return;
  }
  if (found.empty()) {
    std::fprintf(stderr, "no pretrained model matches '%s'%s\n", a.pattern.c_str(),
                 a.task.empty() ? "" : (" with task " + a.task).c_str());
    return;
  }
  size_t w = 4;
  for (const auto* e : found) w = std::max(w, e->name.size());
  std::printf("%-*s  %-36s  %9s  %-13s  %s\n", static_cast<int>(w), "name", "tasks", "size", "license", "cached");
  for (const auto* e : found)
    std::printf("%-*s  %-36s  %9s  %-13s  %s\n", static_cast<int>(w), e->name.c_str(), join(e->tasks, ",").c_str(),
                size_text(e->total_size()).c_str(), e->license.c_str(), cached(e->name) ? "yes" : "");
}

}  // namespace

void add_list(CLI::App& app) {
  auto* cmd = app.add_subcommand("list", "List the pretrained models of the registry");
  auto a = std::make_shared<ListArgs>();
  cmd->add_option("pattern", a->pattern, "shell glob (resnet*) or substring of the name");
  cmd->add_option("--task", a->task, "only entries with this task tag (image-classification, text-generation, ...)");
  cmd->add_flag("--json", a->json, "machine-readable output on stdout");
  cmd->callback([a] {
    try {
      run_list(*a);
    } catch (const Error& e) {  // a malformed ARK_REGISTRY_EXTRA: still one JSON document with --json
      if (a->json) std::printf("%s\n", nlohmann::json{{"error", e.msg()}, {"code", static_cast<int>(kBadFile)}}.dump().c_str());
      throw;
    }
  });
}

}  // namespace ark::cli
