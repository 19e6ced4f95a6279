// Hugging Face repositories by reference: `hf:ORG/NAME[@REVISION]` (revision: a branch, tag or
// commit; default "main"). pull_hf() fetches config.json, whichever tokenizer files the repo has,
// and the weights (model.safetensors; or its index and every shard the index names; else
// pytorch_model.bin and its sharded index), each verified against the size and sha256 the Hub
// reports (X-Linked-Size / X-Linked-Etag of the resolve endpoint), into the content-addressed
// cache, then writes the entry's manifest last ("hf:ORG/NAME@REVISION").
//
// Sources, tried in order for every file: ARK_ENDPOINT (a base URL or a local folder laid out as
// the Hub: <ARK_ENDPOINT>/<org>/<name>/resolve/<revision>/<file>), then HF_ENDPOINT (default
// https://huggingface.co). A file a source does not have (404, no such local file) is looked for
// in the next one; an optional file no source has is skipped.
//
// Only repositories whose config.json model_type ark implements are pulled (bert, distilbert,
// gpt2, llama): any other is an error before a weight byte is downloaded.
// Left out: the Hub's API (file listings, auth tokens from ~/.cache/huggingface), gated repos.
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "ark/pretrained/cache.h"
#include "ark/pretrained/download.h"

namespace ark::pretrained {

struct HfRepo {
  std::string id;                   // "ORG/NAME" (or a legacy top-level "NAME")
  std::string revision = "main";
  /// The cache entry: "hf:ORG/NAME@REVISION".
  std::string entry_name() const { return "hf:" + id + "@" + revision; }
};

/// True for "hf:..." references.
bool is_hf_ref(const std::string& name);
/// Parses "hf:ORG/NAME[@REVISION]"; throws ark::Error for anything else (empty parts, "..",
/// characters outside [A-Za-z0-9._-], more than two path components).
HfRepo parse_hf_ref(const std::string& ref);

/// model_types ark can build from a config.json.
const std::vector<std::string>& supported_model_types();

/// The sources in order: ARK_ENDPOINT (when set), then HF_ENDPOINT or https://huggingface.co.
/// Local folders are returned as absolute paths.
std::vector<std::string> hf_sources();
/// <source>/<id>/resolve/<revision>/<file>.
std::string hf_url(const std::string& source, const HfRepo& repo, const std::string& file);

struct HfPullOptions {
  DownloadOptions download;
  /// One line per step ("config.json: 5 kB", "tokenizer.model: not in the repository"), for the CLI.
  std::function<void(const std::string&)> log;
};

/// Fetches the repository into `cache` (see the file comment) and returns its manifest. A
/// complete cached entry is returned without any network call unless download.force.
/// Throws DownloadError (Offline when offline and not cached; BadFile for an unsupported
/// model_type or a malformed index; Network/Integrity from the transfers).
Manifest pull_hf(const HfRepo& repo, Cache& cache, const HfPullOptions& options = {});

}  // namespace ark::pretrained
