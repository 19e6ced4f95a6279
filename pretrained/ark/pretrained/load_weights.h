// ark::load_weights: loads any supported weights file into a module, checked key by key.
// The format is detected from the file's content, never its name: safetensors (by its header),
// PyTorch .pth/.pt/.bin (zip or legacy pickle), and, once their readers register, Keras HDF5 and
// TF.js model.json. The tensors go through a source remap (identity for torchvision and Hugging
// Face layouts), training-checkpoint nesting ({'state_dict': ...}, {'model': ...}) and
// DataParallel's "module." prefix are unwrapped, and Module::load_state_dict copies them in.
// Every missing, unexpected, mis-shaped (and, without dtype conversion, mis-typed) key is listed
// in one ark::Error that names the file.
//
// Extension point for a new format (two files and two lines):
//   1. pretrained/ark/pretrained/<fmt>.{h,cpp}: `WeightsReader <fmt>_reader();` returning
//      {name, detect(prefix, file_size), read(path) -> state dict, default_remap}, and, if the
//      layout is foreign, a Remap registered under default_remap (see remap.h);
//   2. load_weights.cpp, builtin_readers(): one `#include` and one `<fmt>_reader(),` line.
// Readers can also be registered at run time with register_reader().
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ark/io/safetensors.h"
#include "ark/nn/module.h"
#include "ark/pretrained/remap.h"

namespace ark {

struct LoadOptions {
  /// Missing or unexpected keys are an error (shape mismatches always are).
  bool strict = true;
  /// A registered remap name; empty: the format's default ("torchvision" for .pth, "identity"
  /// for safetensors).
  std::string remap;
  /// Convert each tensor to its parameter's dtype (float16 weights into a float32 model); when
  /// false a dtype difference is an error.
  bool convert_dtype = true;
  /// A registered reader name ("safetensors", "pth", ...); empty: detect from the content.
  std::string format;
};

/// Loads the weights file at `path` into `module` (see the file comment). Returns the keys that
/// strict=false skipped. Throws ark::Error naming the file for any unreadable, malformed or
/// mismatched input; on error nothing is loaded.
nn::LoadStateDictResult load_weights(nn::Module& module, const std::string& path, const LoadOptions& options = {});

namespace pretrained {

/// A weights-file format.
struct WeightsReader {
  std::string name;  // "safetensors", "pth", "keras-h5", "tfjs"
  /// True when `prefix` (the file's first bytes: up to kDetectPrefixBytes) is this format.
  std::function<bool(std::string_view prefix, uint64_t file_size)> detect;
  /// Reads the file's state dict (training-checkpoint nesting already unwrapped), keys in file order.
  std::function<io::TensorDict(const std::string& path)> read;
  /// The remap used when LoadOptions::remap is empty.
  std::string default_remap = "identity";
};
constexpr size_t kDetectPrefixBytes = 64 * 1024;

/// Adds a reader, or replaces the one with the same name. Detection tries readers in
/// registration order (built-ins first).
void register_reader(WeightsReader reader);
/// The reader whose detect() accepts the file; throws ark::Error naming the file (and the format
/// when it is one ark recognises but has no reader for).
const WeightsReader& detect_reader(const std::string& path);
/// The reader named `name`; throws ark::Error listing the known names.
const WeightsReader& find_reader(const std::string& name);
std::vector<std::string> reader_names();

/// detect_reader(path).read(path), with DataParallel's "module." prefix removed when every key
/// has it. `format` receives the reader's name.
io::TensorDict read_weights(const std::string& path, std::string* format = nullptr);

/// Content signatures, shared with the readers that implement these formats.
bool looks_like_safetensors(std::string_view prefix, uint64_t file_size);
bool looks_like_hdf5(std::string_view prefix);          // "\x89HDF\r\n\x1a\n" at 0, 512, 1024, ...
bool looks_like_tfjs_model_json(std::string_view prefix);  // a JSON object with modelTopology/weightsManifest

}  // namespace pretrained
}  // namespace ark
