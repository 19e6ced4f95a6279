// Keras -> ark remaps: the layer tables of mobilenet_v2_keras and resnet50_keras, and the one
// generic renaming/re-layout pass (see remap_keras.h).
#include "ark/pretrained/remap_keras.h"

#include <algorithm>
#include <mutex>
#include <vector>

#include "ark/ops/ops.h"
#include "ark/pretrained/keras_h5.h"
#include "ark/pretrained/load_weights.h"
#include "ark/pretrained/remap.h"
#include "ark/pretrained/tfjs.h"

namespace ark::pretrained {

namespace {

using Table = std::map<std::string, std::string>;

// ref: keras_applications/mobilenet_v2.py (and tf.keras.applications.MobileNetV2): block 0 is
// "expanded_conv" (no expansion), blocks 1-16 are block_N; torchvision's features.N+1 is Keras' block N.
const Table& mobilenet_v2_table() {
  static const Table table = [] {
    Table t = {
        {"Conv1", "features.0.0"},
        {"bn_Conv1", "features.0.1"},
        {"expanded_conv_depthwise", "features.1.conv.0.0"},
        {"expanded_conv_depthwise_BN", "features.1.conv.0.1"},
        {"expanded_conv_project", "features.1.conv.1"},
        {"expanded_conv_project_BN", "features.1.conv.2"},
        {"Conv_1", "features.18.0"},
        {"Conv_1_bn", "features.18.1"},
        {"Logits", "classifier.1"},       // keras_applications' classifier
        {"predictions", "classifier.1"},  // tf.keras >= 2.?'s name for it
    };
    const std::pair<const char*, const char*> block[] = {
        {"_expand", ".conv.0.0"},    {"_expand_BN", ".conv.0.1"}, {"_depthwise", ".conv.1.0"},
        {"_depthwise_BN", ".conv.1.1"}, {"_project", ".conv.2"},    {"_project_BN", ".conv.3"},
    };
    for (int n = 1; n <= 16; ++n)
      for (const auto& [keras, ark] : block)
        t["block_" + std::to_string(n) + keras] = "features." + std::to_string(n + 1) + ark;
    return t;
  }();
  return table;
}

// ref: keras_applications/resnet_common.py (tf.keras.applications.ResNet50): stage S (2-5) is
// layer S-1, block B (1-based) is index B-1; _0_ is the projection shortcut.
const Table& resnet50_table() {
  static const Table table = [] {
    Table t = {{"conv1_conv", "conv1"}, {"conv1_bn", "bn1"}, {"predictions", "fc"}};
    const int blocks[4] = {3, 4, 6, 3};
    for (int s = 0; s < 4; ++s) {
      for (int b = 0; b < blocks[s]; ++b) {
        const std::string keras = "conv" + std::to_string(s + 2) + "_block" + std::to_string(b + 1) + "_";
        const std::string ark = "layer" + std::to_string(s + 1) + "." + std::to_string(b) + ".";
        for (int i = 1; i <= 3; ++i) {
          t[keras + std::to_string(i) + "_conv"] = ark + "conv" + std::to_string(i);
          t[keras + std::to_string(i) + "_bn"] = ark + "bn" + std::to_string(i);
        }
        if (b == 0) {
          t[keras + "0_conv"] = ark + "downsample.0";
          t[keras + "0_bn"] = ark + "downsample.1";
        }
      }
    }
    return t;
  }();
  return table;
}

std::optional<std::string> lookup(const Table& t, const std::string& layer) {
  auto it = t.find(layer);
  if (it == t.end()) return std::nullopt;
  return it->second;
}

/// "block_1_expand_1" -> "block_1_expand": what Keras names a layer of a model built twice.
std::optional<std::string> strip_copy_suffix(const std::string& layer) {
  const size_t u = layer.rfind('_');
  if (u == std::string::npos || u + 1 == layer.size() ||
      layer.find_first_not_of("0123456789", u + 1) != std::string::npos)
    return std::nullopt;
  return layer.substr(0, u);
}

}  // namespace

std::optional<std::string> keras_layer_mobilenet_v2(const std::string& layer) {
  return lookup(mobilenet_v2_table(), layer);
}
std::optional<std::string> keras_layer_resnet50(const std::string& layer) { return lookup(resnet50_table(), layer); }

io::TensorDict remap_keras(const io::TensorDict& keras, const KerasLayerMap& layers, const KerasRemapOptions& options) {
  io::TensorDict out("Tensor");
  std::vector<std::string> unmapped, bad;
  auto resolve = [&](const std::string& layer) -> std::optional<std::string> {
    if (auto it = options.extra_layers.find(layer); it != options.extra_layers.end()) return it->second;
    if (auto m = layers(layer)) return options.prefix + *m;
    if (auto base = strip_copy_suffix(layer); base && !options.extra_layers.count(*base))
      if (auto m = layers(*base)) return options.prefix + *m;
    return std::nullopt;
  };
  for (const auto& item : keras) {
    const std::string& key = item.key();
    const Tensor& t = item.value();
    const size_t s2 = key.rfind('/');
    if (s2 == std::string::npos || s2 == 0) {
      bad.push_back(key + " (not a '<layer>/<weight>' name)");
      continue;
    }
    const size_t s1 = key.rfind('/', s2 - 1);
    const std::string layer = key.substr(s1 == std::string::npos ? 0 : s1 + 1, s2 - (s1 == std::string::npos ? 0 : s1 + 1));
    const std::string kind = key.substr(s2 + 1);
    const auto module = resolve(layer);
    if (!module) {
      if (std::find(unmapped.begin(), unmapped.end(), layer) == unmapped.end()) unmapped.push_back(layer);
      if (options.keep_unmapped && !options.strict) out.insert(key, t);
      continue;
    }
    const std::string& m = *module;
    if (kind == "kernel" && t.dim() == 4) {
      out.insert(m + ".weight", t.permute({3, 2, 0, 1}).contiguous());  // H W I O -> O I H W
    } else if (kind == "kernel" && t.dim() == 2) {
      out.insert(m + ".weight", t.t().contiguous());  // (in, out) -> (out, in)
    } else if (kind == "kernel" && t.dim() == 3) {
      out.insert(m + ".weight", t.permute({2, 1, 0}).contiguous());  // Conv1D: W I O -> O I W
    } else if (kind == "depthwise_kernel" && t.dim() == 4) {
      // H W C M -> C M H W -> (C*M, 1, H, W): output channel c*M + m reads input channel c, as in
      // a PyTorch conv with groups = C.
      const int64_t c = t.size(2), mult = t.size(3);
      out.insert(m + ".weight", t.permute({2, 3, 0, 1}).contiguous().reshape({c * mult, 1, t.size(0), t.size(1)}));
    } else if (kind == "bias" || kind == "beta") {
      out.insert(m + ".bias", t.contiguous());
    } else if (kind == "gamma") {
      out.insert(m + ".weight", t.contiguous());
    } else if (kind == "moving_mean" || kind == "moving_variance") {
      out.insert(m + (kind == "moving_mean" ? ".running_mean" : ".running_var"), t.contiguous());
      if (!out.contains(m + ".num_batches_tracked")) out.insert(m + ".num_batches_tracked", zeros({}, kLong));
    } else {
      bad.push_back(key + " (" + (kind == "kernel" || kind == "depthwise_kernel"
                                      ? "unexpected rank " + std::to_string(t.dim())
                                      : "unknown weight kind '" + kind + "'") + ")");
    }
  }
  std::string msg;
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  if (options.strict && !unmapped.empty()) msg += "unmapped Keras layers: [" + join(unmapped) + "]";
  if (!bad.empty()) msg += std::string(msg.empty() ? "" : "; ") + "cannot convert: [" + join(bad) + "]";
  ARK_CHECK(msg.empty(), "remap_keras: ", msg);
  return out;
}

io::TensorDict remap_keras_mobilenet_v2(const io::TensorDict& keras) {
  return remap_keras(keras, keras_layer_mobilenet_v2);
}
io::TensorDict remap_keras_resnet50(const io::TensorDict& keras) { return remap_keras(keras, keras_layer_resnet50); }

namespace {

/// The Keras layer name of a "<...>/<layer>/<weight>" key ("" when it has no layer part).
std::string layer_of(const std::string& key) {
  const size_t s2 = key.rfind('/');
  if (s2 == std::string::npos || s2 == 0) return {};
  const size_t s1 = key.rfind('/', s2 - 1);
  return key.substr(s1 == std::string::npos ? 0 : s1 + 1, s2 - (s1 == std::string::npos ? 0 : s1 + 1));
}

/// A Keras architecture as load_weights sees it: its layer table, a layer only it has (to
/// recognise a file), and the target key of its first conv (to find the module's prefix).
struct KerasArch {
  const char* name;
  KerasLayerMap layers;
  const char* marker_layer;
  const char* first_conv_key;
};

const std::vector<KerasArch>& keras_archs() {
  static const std::vector<KerasArch> archs = {
      {"mobilenet_v2_keras", keras_layer_mobilenet_v2, "Conv1", "features.0.0.weight"},
      {"resnet50_keras", keras_layer_resnet50, "conv1_conv", "conv1.weight"},
  };
  return archs;
}

/// load_weights' remap for Keras files: one architecture's table (or, for "keras", the one whose
/// marker layer the file has), under the prefix the module holds it at; unmapped layers keep
/// their Keras keys so that load_weights reports them.
class KerasRemap : public Remap {
 public:
  explicit KerasRemap(std::string arch) : arch_(std::move(arch)) {}

  io::TensorDict apply(const io::TensorDict& source, const RemapContext& ctx) const override {
    const KerasArch* arch = nullptr;
    for (const KerasArch& a : keras_archs()) {
      if (!arch_.empty() && arch_ != a.name) continue;
      if (arch_.empty()) {
        bool has = false;
        for (const auto& item : source) has = has || layer_of(item.key()) == a.marker_layer;
        if (!has) continue;
      }
      arch = &a;
      break;
    }
    if (!arch) {
      std::string names;
      for (const KerasArch& a : keras_archs())
        names += std::string(names.empty() ? "" : ", ") + a.marker_layer + " -> " + a.name;
      ARK_ERROR("remap 'keras' of ", ctx.path, ": no known Keras architecture's layers in the file (", names,
                "); pass LoadOptions::remap, or use remap_keras() with a layer table");
    }
    KerasRemapOptions options;
    options.strict = false;
    options.keep_unmapped = true;
    // The module may hold the model under a prefix ("backbone."): find it from the first conv.
    const std::string first = arch->first_conv_key;
    if (!ctx.target.contains(first)) {
      for (const auto& item : ctx.target) {
        const std::string& k = item.key();
        if (k.size() > first.size() && k.compare(k.size() - first.size(), first.size(), first) == 0 &&
            k[k.size() - first.size() - 1] == '.') {
          options.prefix = k.substr(0, k.size() - first.size());
          break;
        }
      }
    }
    try {
      return remap_keras(source, arch->layers, options);
    } catch (const Error& e) {
      throw Error("remap of " + ctx.path + ": " + e.msg());
    }
  }

 private:
  std::string arch_;  // empty: chosen from the file
};

}  // namespace

void register_keras_weights() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_reader(keras_h5_reader());
    register_reader(tfjs_reader());
    register_remap("keras", std::make_shared<const KerasRemap>(""));
    register_remap("keras_mobilenet_v2", std::make_shared<const KerasRemap>("mobilenet_v2_keras"));
    register_remap("keras_resnet50", std::make_shared<const KerasRemap>("resnet50_keras"));
  });
}

}  // namespace ark::pretrained
