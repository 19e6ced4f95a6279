// TensorFlow.js weights: a `model.json` (layers or graph model, or a bare weights manifest as
// face-api ships) and the binary shard files its `weightsManifest` names.
//   weightsManifest: [{paths: ["group1-shard1of2.bin", ...], weights: [{name, shape, dtype,
//                      quantization?: {dtype: "uint8"|"uint16"|"float16", scale, min}}, ...]}, ...]
// Within a group the shards are concatenated and the tensors packed back to back, little-endian,
// in manifest order; the group's bytes must be used exactly (no gap, no trailing byte).
// Quantized tensors are dequantized as TF.js does: uint8/uint16 `value = q * scale + min` (in
// double, then rounded to float32; for int32 tensors Math.round: nearest, halves up), float16 widened.
//
// Tensors come back under their manifest names ("Conv1/kernel") in Keras' layouts (HWIO kernels);
// pretrained/remap_keras maps them onto ark models. The model topology is never interpreted.
// Shard paths must be relative and stay beside model.json (no absolute paths, no "..").
// Left out: string and complex64 tensors, weight groups fetched from URLs.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "ark/io/safetensors.h"
#include "ark/pretrained/load_weights.h"

namespace ark::pretrained {

struct TfjsOptions {
  int64_t max_total_bytes = int64_t(4) << 30;  // shard bytes over all groups
  int64_t max_tensors = 1 << 20;
};

/// Reads `model_json_path` and the shards beside it. Throws ark::Error naming the file and the
/// weight at fault (bad JSON, unsupported dtype, size mismatch, unsafe path, ...).
io::TensorDict read_tfjs(const std::string& model_json_path, const TfjsOptions& options = {});

/// Returns the bytes of the shard at a manifest path (relative, already checked to be safe).
using TfjsShardReader = std::function<std::string(const std::string& path)>;

/// The same from memory: model.json's text and a reader for its shards (what read_tfjs and the
/// fuzzer use). `origin` names the source in error messages.
io::TensorDict parse_tfjs(std::string_view model_json, const TfjsShardReader& read_shard,
                          const std::string& origin = "<memory>", const TfjsOptions& options = {});

/// The "tfjs" reader for ark::load_weights (the path is model.json's): detected by a JSON object
/// with modelTopology/weightsManifest, default remap "keras" (registered with it by
/// register_keras_weights(), remap_keras.h).
WeightsReader tfjs_reader();

}  // namespace ark::pretrained
