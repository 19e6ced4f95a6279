// File helpers shared by the writers: atomic replacement and whole-file reads with errors that
// name the path.
#pragma once
#include <string>
#include <string_view>

namespace ark::io {

/// Writes `bytes` to a unique temp file beside `path`, fsyncs it, renames it over `path` and
/// fsyncs the directory: readers see the old file or the new one, never a partial one.
void write_file_atomic(const std::string& path, std::string_view bytes);
/// Reads a whole file; throws ark::Error naming the path on failure.
std::string read_file(const std::string& path);

}  // namespace ark::io
