// Keras HDF5 weights (.h5 / .keras of TF-Keras 2.x): whole-model files (`model.save`, weights under
// `model_weights/`) and weights-only files (`model.save_weights`), read through libhdf5's C API.
// Layout: the weights group's `layer_names` attribute lists the layers in order; each layer group's
// `weight_names` attribute lists its datasets in order ("Conv1/kernel:0" at
// model_weights/Conv1/Conv1/kernel:0). Attributes too large for one HDF5 header are split by Keras
// into `layer_names0`, `layer_names1`, ...; both forms are read.
//
// Weights only, never the model: `model_config`/`training_config` are not interpreted (a warning
// says they were ignored, and names a Lambda layer if the config has one); optimizer state is
// skipped. Tensors come back in Keras' layouts (HWIO kernels) under "<layer>/<weight>" names
// ("Conv1/kernel", "bn_Conv1/moving_mean"; the weight name's scope is dropped when it repeats the
// layer name, so nested models give "<outer layer>/<inner layer>/<weight>"); pretrained/remap_keras
// maps them onto ark models. float16/float32 datasets load as float32, float64 as float64.
//
// Untrusted files (RELIABILITY.md B50-B58): only hard links are followed (external and soft links,
// external storage and virtual datasets are refused), only floating-point datasets are read, shapes
// are checked against caps before anything is allocated or read, unallocated datasets and missing
// filters (szip, lzf, ...) are errors, and HDF5's own error printing is silenced. libhdf5 has a
// history of crashes on crafted files, so by default the file is parsed in a forked child process:
// a crash or hang there is reported as an ark::Error and the caller survives.
// Left out: Keras 3 `.weights.h5` (layers/<name>/vars/N; refused with a clear message), h5 files
// that need HDF5 plugins.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ark/io/safetensors.h"
#include "ark/pretrained/load_weights.h"

namespace ark::pretrained {

struct KerasH5Options {
  bool isolate = true;                            // parse in a forked child (survives libhdf5 crashes)
  int timeout_ms = 300'000;                       // child's wall-clock limit when isolated
  int64_t max_tensor_elements = int64_t(1) << 31;
  int64_t max_total_bytes = int64_t(16) << 30;    // all tensors together
};

struct KerasH5File {
  io::TensorDict tensors{"Tensor"};  // "<layer>/<weight>" -> tensor as stored, in layer_names/weight_names order
  bool whole_model = false;          // weights under model_weights/ (model.save) rather than at the root
  std::string keras_version, backend;
  std::vector<std::string> warnings;  // what was ignored (model_config, ...), for the caller to log
};

/// Reads a Keras .h5 weights file. Throws ark::Error naming the file and the layer/weight at fault.
KerasH5File read_keras_h5(const std::string& path, const KerasH5Options& options = {});

/// Just the tensors (the reader signature ark::load_weights' format registry takes).
io::TensorDict load_keras_h5(const std::string& path);

/// The "keras-h5" reader for ark::load_weights: detected by the HDF5 signature, default remap
/// "keras" (registered with it by register_keras_weights(), remap_keras.h).
WeightsReader keras_h5_reader();

namespace detail {
/// Test seam: runs in the isolated child before parsing (a test makes it crash or hang).
extern std::function<void()> keras_h5_child_hook;
}  // namespace detail

}  // namespace ark::pretrained
