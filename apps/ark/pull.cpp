// `ark pull NAME... [--force] [--offline] [--json]`: puts registry entries (resnet50.tv_in1k, a
// bare architecture for its default entry, gpt2) and Hugging Face repositories
// (hf:ORG/NAME[@REV]) into the verified cache (pretrained.h). Progress goes to stderr (a bar on
// a terminal, plain lines otherwise); stdout gets one line per entry ("NAME<TAB>weights path"),
// or with --json one array. Names are pulled in order; the first failure stops and sets the exit
// code (3 network/offline, 4 integrity, 5 bad file, 6 I/O, 130 interrupted: Ctrl-C leaves the
// cache clean). An unknown name exits 2 with the closest names, before anything is downloaded.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ark/pretrained/hub.h"
#include "ark/pretrained/pretrained.h"
#include "ark/pretrained/registry.h"
#include "cli.h"

namespace ark::cli {
namespace {

using nlohmann::json;

struct PullArgs {
  std::vector<std::string> names;
  bool force = false, offline = false, json = false;
};

// Unknown names and malformed references are usage errors, found before any download.
void check_name(const std::string& name) {
  try {
    if (pretrained::is_hf_ref(name)) pretrained::parse_hf_ref(name);
    else pretrained::get_entry(name);
  } catch (const pretrained::DownloadError&) {
    throw;
  } catch (const Error& e) {
    throw CommandError(kUsage, "pull: " + e.msg());
  }
}

void run_pull(const PullArgs& a) {
  for (const auto& n : a.names) check_name(n);
  pretrained::PullOptions o;
  o.download.force = a.force;
  if (a.offline) o.download.offline = true;
  o.log = [](const std::string& line) { std::cerr << line << "\n"; };
  pretrained::InterruptHandlers handlers;  // Ctrl-C: the transfer stops, its temp file goes, exit 130
  json out = json::array();
  for (const auto& name : a.names) {
    const pretrained::Pulled p = pretrained::pull(name, o);
    std::string weights;
    if (const auto* e = pretrained::is_hf_ref(name) ? nullptr : pretrained::find_entry(name))
      weights = p.files.at(e->weights).string();
    uint64_t bytes = 0;
    for (const auto& f : p.manifest.files) bytes += f.size;
    std::cerr << p.entry << ": complete (" << p.files.size() << " files, " << bytes << " bytes)\n";
    if (a.json) {
      json files = json::object();
      for (const auto& [n, path] : p.files) files[n] = path.string();
      out.push_back({{"name", name}, {"entry", p.entry}, {"bytes", bytes}, {"files", files}});
    } else {
      std::printf("%s\t%s\n", p.entry.c_str(),
                  weights.empty() ? pretrained::Cache().manifest_path(p.entry).c_str() : weights.c_str());
      std::fflush(stdout);
    }
  }
  if (a.json) std::printf("%s\n", out.dump(1).c_str());
}

}  // namespace

std::string resolve_weights_arg(const std::string& arg, std::shared_ptr<void>& holder) {
  std::error_code ec;
  if (std::filesystem::exists(arg, ec) || !pretrained::is_pretrained_name(arg)) return arg;
  pretrained::PullOptions o;
  o.log = [](const std::string& line) { std::cerr << line << "\n"; };
  pretrained::InterruptHandlers handlers;  // Ctrl-C during the download: clean cache, exit 130
  const auto p = pretrained::pull(arg, o);
  std::string weights;
  if (pretrained::is_hf_ref(arg)) {
    for (const char* f : {"model.safetensors", "pytorch_model.bin"})
      if (weights.empty() && p.files.count(f)) weights = f;
    if (weights.empty())
      throw CommandError(kBadFile, arg + " has sharded weights (an index and shards), not one weights file");
  } else {
    weights = pretrained::get_entry(arg).weights;
  }
  auto view = std::make_shared<pretrained::FolderView>(p.files);
  holder = view;
  return (view->path() / weights).string();
}

void add_pull(CLI::App& app) {
  auto* cmd = app.add_subcommand("pull", "Download pretrained models into the verified cache");
  auto a = std::make_shared<PullArgs>();
  cmd->add_option("names", a->names, "registry names (resnet50.tv_in1k, gpt2) or hf:ORG/NAME[@REVISION]")->required();
  cmd->add_flag("--force", a->force, "download again and replace the cached files");
  cmd->add_flag("--offline", a->offline, "no network at all (as ARK_OFFLINE=1); local mirrors still serve");
  cmd->add_flag("--json", a->json, "machine-readable result on stdout (progress stays on stderr)");
  cmd->callback([a] {
    try {
      run_pull(*a);
    } catch (const CommandError& e) {
      if (a->json) std::printf("%s\n", json{{"error", e.what()}, {"code", static_cast<int>(e.code())}}.dump().c_str());
      throw;
    } catch (const pretrained::DownloadError& e) {
      if (a->json)
        std::printf("%s\n", json{{"error", e.msg()}, {"code", pretrained::exit_code(e.kind())}}.dump().c_str());
      throw;
    } catch (const Error& e) {
      if (a->json) std::printf("%s\n", json{{"error", e.msg()}, {"code", static_cast<int>(kBadFile)}}.dump().c_str());
      throw;
    }
  });
}

}  // namespace ark::cli
