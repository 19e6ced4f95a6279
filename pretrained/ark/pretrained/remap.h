// Source remaps: how a foreign checkpoint's tensors become a module's state-dict entries. ark's
// models use the most common checkpoint's names (torchvision, Hugging Face), so those remaps are
// the identity; other sources (Keras, TF.js, timm variants) register a Remap by name: a key->key
// mapping plus named tensor transforms ("hwio_to_oihw"), declarative where possible (TableRemap).
// A remap is pure: it reads tensors and returns tensors, never touches the module.
// Left out: the Keras and TF.js tables themselves (their readers' files register them).
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ark/core/tensor.h"
#include "ark/io/safetensors.h"

namespace ark::pretrained {

/// What a remap may consult beyond the source tensors.
struct RemapContext {
  const io::TensorDict& target;  // the module's state_dict(): its keys in registration order, shapes, dtypes
  const std::string& path;       // the weights file, for messages
};

class Remap {
 public:
  virtual ~Remap() = default;
  /// Source key -> target key; std::nullopt drops the tensor (optimizer slots, unused heads).
  virtual std::optional<std::string> map_key(const std::string& key) const { return key; }
  /// The name of the transform (see register_transform) for the tensor that lands on
  /// `target_key`; empty for none.
  virtual std::string transform_for(const std::string& /*target_key*/) const { return {}; }
  /// The whole remap. The default renames with map_key, applies transform_for's transform (which
  /// may consult the target tensor), and refuses two sources for one target key. Override it for
  /// layouts that need more, e.g. a mapping by position in the target's registration order.
  virtual io::TensorDict apply(const io::TensorDict& source, const RemapContext& ctx) const;
};

/// A declarative remap: ordered rename rules (exact key, or prefix when `from` ends with '.'),
/// first match wins, `to` = std::nullopt drops the key, unmatched keys stay; then transforms by
/// target-key suffix. Example: {{"model.", ""}, {"head.", "fc."}, {"aux.", std::nullopt}}.
class TableRemap : public Remap {
 public:
  struct Rename {
    std::string from;
    std::optional<std::string> to;
  };
  struct Transform {
    std::string key_suffix;  // "weight" matches every "...weight"; "" matches everything
    std::string transform;   // a registered transform name
  };
  TableRemap(std::vector<Rename> renames, std::vector<Transform> transforms = {})
      : renames_(std::move(renames)), transforms_(std::move(transforms)) {}
  std::optional<std::string> map_key(const std::string& key) const override;
  std::string transform_for(const std::string& target_key) const override;

 private:
  std::vector<Rename> renames_;
  std::vector<Transform> transforms_;
};

/// A named tensor transform: `source` is the checkpoint's tensor, `target` the module's tensor for
/// the same key (undefined when the module has none); returns the tensor to load.
using TensorTransform = std::function<Tensor(const Tensor& source, const Tensor& target)>;

/// Registers (or replaces) a transform. Built in: "transpose" (2-D), "hwio_to_oihw" (TF/Keras
/// conv kernels [H, W, in, out] -> [out, in, H, W]), "hwcm_to_depthwise_oihw" (Keras depthwise
/// kernels [H, W, C, M] -> [C*M, 1, H, W]).
void register_transform(const std::string& name, TensorTransform fn);
/// The transform named `name`; throws ark::Error listing the known names.
const TensorTransform& find_transform(const std::string& name);

/// Registers (or replaces) a remap. Built in: "identity", and "torchvision" and "huggingface",
/// which are the identity because ark's models use their names.
void register_remap(const std::string& name, std::shared_ptr<const Remap> remap);
/// The same for a remap written as one function (it becomes Remap::apply).
using RemapFunction = std::function<io::TensorDict(const io::TensorDict& source, const RemapContext& ctx)>;
void register_remap(const std::string& name, RemapFunction fn);
/// The remap named `name`; throws ark::Error listing the known names.
std::shared_ptr<const Remap> find_remap(const std::string& name);
std::vector<std::string> remap_names();

}  // namespace ark::pretrained
