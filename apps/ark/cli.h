// Shared pieces of the `ark` commands: the exit-code table (one for the whole CLI) and how a
// failure is reported. Commands register themselves with a CLI11 sub-app in main.cpp.
#pragma once
#include <CLI/CLI.hpp>
#include <memory>
#include <stdexcept>
#include <string>

namespace ark::cli {

/// The exit codes of every ark command (documented in `ark --help`).
enum ExitCode : int {
  kOk = 0,
  kFailure = 1,      // anything not classified below
  kUsage = 2,        // bad arguments
  kNetwork = 3,      // a download failed
  kIntegrity = 4,    // size or sha256 mismatch, corrupted cache
  kBadFile = 5,      // a file that cannot be parsed or does not fit
  kIo = 6,           // a file that cannot be read or written
  kInterrupted = 130,
};

/// An error that carries its exit code (library errors are ark::Error and map to kBadFile).
class CommandError : public std::runtime_error {
 public:
  CommandError(ExitCode code, const std::string& what) : std::runtime_error(what), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

constexpr const char* kExitCodeHelp =
    "Exit codes: 0 ok, 1 other failure, 2 usage, 3 network, 4 integrity, 5 bad file, 6 I/O, 130 interrupted.";

// Each command file defines one of these; main.cpp calls them.
void add_inspect(CLI::App& app);
void add_convert(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_list(CLI::App& app);
void add_info(CLI::App& app);
void add_pull(CLI::App& app);
void add_cache(CLI::App& app);
void add_generate(CLI::App& app);
void add_finetune(CLI::App& app);
void add_predict(CLI::App& app);
void add_eval(CLI::App& app);

/// A weights argument that is not an existing file but a pretrained name (registry entry, bare
/// architecture, hf:...) is pulled (honouring ARK_OFFLINE) and resolved to its weights file,
/// seen through `holder` (a folder of links to the cached blobs, kept alive by the caller).
/// Anything else is returned unchanged. Defined in pull.cpp.
std::string resolve_weights_arg(const std::string& arg, std::shared_ptr<void>& holder);

}  // namespace ark::cli
