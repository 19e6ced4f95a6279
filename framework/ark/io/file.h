// File helpers shared by the writers: atomic replacement and whole-file reads with errors that
// name the path.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ark::io {

/// Writes `bytes` to a unique temp file beside `path`, fsyncs it, renames it over `path` and
/// fsyncs the directory: readers see the old file or the new one, never a partial one.
void write_file_atomic(const std::string& path, std::string_view bytes);
/// The same for a file made of `pieces` back to back, written from where they lie (a writer of
/// large tensors need not first gather them into one buffer).
void write_file_atomic(const std::string& path, const std::vector<std::string_view>& pieces);
/// Copies the file `from` to `to` the same way, through a small buffer (the copy never sits in
/// the process's memory whole).
void copy_file_atomic(const std::string& from, const std::string& to);
/// Reads a whole file; throws ark::Error naming the path on failure.
std::string read_file(const std::string& path);

/// A regular file mapped privately and writably (copy-on-write): tensors viewing it may be
/// changed in place without touching the file. As with every mmap reader, truncating the file
/// while it is mapped makes later access fault (SIGBUS), so readers validate sizes at open.
struct MappedFile {
  std::shared_ptr<void> data;  // null for an empty file; unmapped with the last owner
  size_t size = 0;
};
/// Throws ark::Error naming the path when it cannot be opened, is not a regular file or cannot
/// be mapped.
MappedFile map_file(const std::string& path);

}  // namespace ark::io
