// Training checkpoints that survive a crash at any instant.
//
// Layout under a run folder:
//   checkpoints/step-000000120/   one checkpoint: its files, then manifest.json written last
//   checkpoints/last -> step-...  symbolic links, replaced atomically (rename of a new link)
//   checkpoints/best -> step-...
// Writing: the files go into checkpoints/.tmp-<pid>-<n>/, each fsync'ed; manifest.json (each
// file's size and sha256) is written and fsync'ed last; the folder is renamed to step-N and the
// parent fsync'ed; only then does `last` move. A crash before the rename leaves a .tmp folder that
// the next writer removes; a crash after it leaves a complete checkpoint. So `last` always points
// at a complete checkpoint, and a checkpoint without a valid manifest is never read.
// Reading verifies every file against the manifest; find_resumable() falls back to the newest
// complete step folder when `last` is missing or damaged.
// Old checkpoints are removed after a new one is in place, keeping `last` and `best`.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace ark::cli {

class CheckpointWriter {
 public:
  /// `run` is the run folder; checkpoints go under run/checkpoints.
  explicit CheckpointWriter(std::filesystem::path run);
  /// Writes one checkpoint for `step`: `write(folder)` creates the files in the temp folder.
  /// Returns the final folder. `best` also points `best` at it.
  std::filesystem::path write(int64_t step, const std::function<void(const std::filesystem::path&)>& write,
                              bool best);
  /// Points `best` at an existing checkpoint folder.
  void mark_best(const std::filesystem::path& folder);

 private:
  void prune();
  std::filesystem::path dir_;
};

/// Throws ark::Error naming the folder unless every file of its manifest is present with the
/// recorded size and sha256.
void verify_checkpoint(const std::filesystem::path& folder);

/// The checkpoint to resume from: `last` if it verifies, else the newest step folder that
/// verifies (a message about what was skipped goes to `log`); nullopt when there is none.
std::optional<std::filesystem::path> find_resumable(const std::filesystem::path& run,
                                                    const std::function<void(const std::string&)>& log);

/// fsync of a file or folder (errors are ark::Error naming it).
void fsync_path(const std::filesystem::path& path);

}  // namespace ark::cli
