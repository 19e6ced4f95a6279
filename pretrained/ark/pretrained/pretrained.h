// Pretrained models by name: pull() puts a registry entry ("resnet50.tv_in1k", "gpt2") or a
// Hugging Face repository ("hf:ORG/NAME@REV") into the verified cache; load() pulls if needed,
// builds the architecture from the entry's config, loads the weights through the entry's remap
// and returns the model with its preprocessing, labels and (text) tokenizer.
//
//   auto p = ark::pretrained::load("resnet50.tv_in1k");          // or "resnet50": its default tag
//   p.vision->eval();  auto logits = p.vision->forward(x);  p.labels[argmax]
//   auto t = ark::pretrained::load("gpt2");                      // t.text, t.tokenizer
//
// A registry entry's files are fetched from <ARK_ENDPOINT>/<entry name>/<file> first (a base URL
// or a local folder: a mirror, an air-gapped copy), then from the entry's own URLs; each is
// checked against the entry's size and sha256 (or pinned prefix), and the entry's manifest is
// written last, so an entry is either complete or absent. A failed pull removes the blobs it
// added. Offline (ARK_OFFLINE=1): no network call; what is not cached is a clear error.
// Left out: fine-tuning heads (ModelOptions::num_classes other than the entry's drops the
// classifier as timm does: see LoadPretrainedOptions), TorchScript, quantised weights.
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ark/models/model.h"
#include "ark/pretrained/cache.h"
#include "ark/pretrained/download.h"
#include "ark/pretrained/registry.h"

namespace ark::tokenizers {
class Tokenizer;
}

namespace ark::pretrained {

struct PullOptions {
  DownloadOptions download;
  /// The cache; empty: Cache::default_root() (ARK_HOME, XDG_CACHE_HOME, ~/.cache/ark).
  std::filesystem::path cache_root;
  /// Progress lines for humans (the CLI prints them on stderr).
  std::function<void(const std::string&)> log;
};

struct Pulled {
  std::string name;   // as asked
  std::string entry;  // the cache entry ("resnet50.tv_in1k", "hf:gpt2@main")
  Manifest manifest;
  /// File name -> verified blob path.
  std::map<std::string, std::filesystem::path> files;
};

/// Ensures the entry (registry name, bare architecture name, or hf: reference) is complete in
/// the cache; throws ark::Error for an unknown name (with suggestions) and DownloadError for
/// transfer, integrity, offline and cache failures.
Pulled pull(const std::string& name, const PullOptions& options = {});

/// The URLs a registry entry's file is fetched from, in order (ARK_ENDPOINT's first).
std::vector<std::string> file_urls(const Entry& entry, const RegistryFile& file);

struct LoadPretrainedOptions {
  PullOptions pull;
  /// Replace the classifier with a freshly initialised one for this many classes (0: none),
  /// as timm's pretrained_cfg does for fine-tuning; nullopt: the entry's head.
  std::optional<int64_t> num_classes;
  /// Load the tokenizer of text entries (needs the tokenizer files).
  bool tokenizer = true;
};

struct Pretrained {
  std::string name;               // the entry's name (or hf:...)
  const Entry* entry = nullptr;   // nullptr for hf: repositories
  std::shared_ptr<models::VisionModel> vision;  // vision entries
  std::shared_ptr<nn::Module> text;             // text entries (models/hf.h classes)
  std::shared_ptr<tokenizers::Tokenizer> tokenizer;
  std::optional<Preprocess> preprocess;
  std::vector<std::string> labels;
  std::map<std::string, std::filesystem::path> files;  // file name -> blob
};

/// pull() then build and load (see the file comment). Throws ark::Error naming the entry for a
/// model that does not fit its weights.
Pretrained load(const std::string& name, const LoadPretrainedOptions& options = {});

/// Whether `name` is something load()/pull() accept: a registry entry, a bare architecture with
/// a default entry, or an hf: reference.
bool is_pretrained_name(const std::string& name);

/// A folder holding `files` under their names (symbolic links to the blobs), for readers that
/// take a folder (Hugging Face from_pretrained, tokenizers); removed when destroyed.
class FolderView {
 public:
  explicit FolderView(const std::map<std::string, std::filesystem::path>& files);
  ~FolderView();
  FolderView(const FolderView&) = delete;
  FolderView& operator=(const FolderView&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace ark::pretrained
