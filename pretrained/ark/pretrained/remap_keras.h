// Keras weights (from read_keras_h5 or read_tfjs: "<layer>/<weight>" in Keras layouts) -> ark
// state_dict keys and PyTorch layouts, for ark's Keras-graph architectures:
//   mobilenet_v2_keras  Conv1/bn_Conv1, expanded_conv_*, block_N_{expand,depthwise,project}[_BN],
//                       Conv_1/Conv_1_bn, Logits|predictions -> torchvision's MobileNetV2 names
//   resnet50_keras      conv1_conv/conv1_bn, convS_blockB_{0,1,2,3}_{conv,bn}, predictions ->
//                       torchvision's ResNet names (+ conv biases)
// The layer tables are data (one entry per layer, generated from a few patterns); the tensor
// transforms are chosen by the weight's own name and rank, as Keras names them:
//   kernel (rank 4, H W I O) -> weight (O I H W)        kernel (rank 2, in out) -> weight (out in)
//   depthwise_kernel (H W C M) -> weight (C*M 1 H W)     bias -> bias
//   gamma/beta/moving_mean/moving_variance -> weight/bias/running_mean/running_var
// Keras keeps no BatchNorm batch counter, so each BN also gets num_batches_tracked = 0 (what
// PyTorch gives checkpoints that predate the counter), which lets strict loading pass.
// Nested models ("<outer>/<layer>/<weight>") are matched on their last two name components.
//
// For ark::load_weights, register_keras_weights() adds the readers "keras-h5" and "tfjs" and the
// remaps "keras" (picks the table from the file's layer names: Conv1 -> mobilenet_v2_keras,
// conv1_conv -> resnet50_keras; the module may hold the model under a prefix, found from its
// first conv), "keras_mobilenet_v2" and "keras_resnet50". Those remaps keep the tensors of layers
// their table lacks under their Keras names ("dense_1/kernel"), so a strict load lists them as
// unexpected and a non-strict one skips them.
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "ark/io/safetensors.h"

namespace ark::pretrained {

/// A Keras layer name -> the ark module that holds its weights, or nullopt if the table lacks it.
using KerasLayerMap = std::function<std::optional<std::string>(const std::string& layer)>;

struct KerasRemapOptions {
  std::string prefix;                               // prepended to the table's names ("backbone.")
  std::map<std::string, std::string> extra_layers;  // more layers, mapped as given (a custom head)
  bool strict = true;                               // layers nobody maps are an error (else dropped)
  bool keep_unmapped = false;                       // with strict = false: keep them under their Keras key
};

/// Renames and re-lays-out every tensor. Throws ark::Error listing every unmapped layer (strict),
/// unknown weight kind or unexpected rank at once.
io::TensorDict remap_keras(const io::TensorDict& keras, const KerasLayerMap& layers,
                           const KerasRemapOptions& options = {});

/// The layer tables of ark's Keras architectures.
std::optional<std::string> keras_layer_mobilenet_v2(const std::string& layer);
std::optional<std::string> keras_layer_resnet50(const std::string& layer);

/// Strict remaps onto mobilenet_v2_keras / resnet50_keras (the signature ark::load_weights'
/// remap registry takes).
io::TensorDict remap_keras_mobilenet_v2(const io::TensorDict& keras);
io::TensorDict remap_keras_resnet50(const io::TensorDict& keras);

/// Registers the Keras readers and remaps with ark::load_weights (see the file comment). Idempotent.
void register_keras_weights();

}  // namespace ark::pretrained
