// safetensors: the weight format ark prefers (https://github.com/huggingface/safetensors).
// Reading memory-maps the file and validates it as the format's own reader does: header size
// limits, UTF-8 JSON object, known dtypes, shapes without overflow, offsets that tile the data
// section exactly (no gaps, overlaps or trailing bytes). Tensors view the mapping (no copy) and
// keep it alive. Writing is atomic (temp file + rename) for every dtype.
#pragma once
#include <map>
#include <string>

#include "ark/core/ordered_dict.h"
#include "ark/core/tensor.h"

namespace ark::io {

using TensorDict = OrderedDict<std::string, Tensor>;
using Metadata = std::map<std::string, std::string>;

struct SafetensorsFile {
  TensorDict tensors;  // in file order (by data offset)
  Metadata metadata;   // the "__metadata__" entry
};

/// Reads a .safetensors file. Throws ark::Error naming the file and what is wrong.
SafetensorsFile load_safetensors(const std::string& path);
/// Parses an in-memory safetensors image (the bytes are copied into the returned tensors' storage).
SafetensorsFile parse_safetensors(const void* data, size_t size, const std::string& name = "<memory>");
/// Writes `tensors` (any dtype, any layout) and `metadata` to `path` atomically.
void save_safetensors(const std::string& path, const TensorDict& tensors, const Metadata& metadata = {});
/// Serialises to bytes (what save_safetensors writes).
std::string serialize_safetensors(const TensorDict& tensors, const Metadata& metadata = {});

}  // namespace ark::io
