// The remap and transform registries, the default Remap::apply, TableRemap, and the built-in
// identity remaps and kernel-layout transforms.
#include "ark/pretrained/remap.h"

#include <map>
#include <mutex>

#include "ark/ops/ops.h"

namespace ark::pretrained {

namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<const Remap>> remaps;
  std::map<std::string, TensorTransform> transforms;
};

Tensor transpose2d(const Tensor& s, const Tensor&) {
  ARK_CHECK(s.dim() == 2, "transform transpose: expected a 2-D tensor, got ", s.sizes());
  return s.t().contiguous();
}
// ref: TF conv kernels are [kh, kw, in, out]; PyTorch's are [out, in, kh, kw].
Tensor hwio_to_oihw(const Tensor& s, const Tensor&) {
  ARK_CHECK(s.dim() == 4, "transform hwio_to_oihw: expected a 4-D kernel, got ", s.sizes());
  return s.permute({3, 2, 0, 1}).contiguous();
}
// ref: Keras DepthwiseConv2D kernels are [kh, kw, channels, multiplier]; PyTorch's grouped conv
// weight is [channels * multiplier, 1, kh, kw], channel-major.
Tensor hwcm_to_depthwise_oihw(const Tensor& s, const Tensor&) {
  ARK_CHECK(s.dim() == 4, "transform hwcm_to_depthwise_oihw: expected a 4-D kernel, got ", s.sizes());
  return s.permute({2, 3, 0, 1}).contiguous().reshape({s.size(2) * s.size(3), 1, s.size(0), s.size(1)});
}

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry;  // never destroyed: lookups may run during static destruction
    auto identity = std::make_shared<const Remap>();
    reg->remaps["identity"] = identity;
    reg->remaps["torchvision"] = identity;
    reg->remaps["huggingface"] = identity;
    reg->transforms["transpose"] = transpose2d;
    reg->transforms["hwio_to_oihw"] = hwio_to_oihw;
    reg->transforms["hwcm_to_depthwise_oihw"] = hwcm_to_depthwise_oihw;
    return reg;
  }();
  return *r;
}

template <class Map>
std::string names_of(const Map& m) {
  std::string s;
  for (const auto& kv : m) s += (s.empty() ? "" : ", ") + kv.first;
  return s;
}

}  // namespace

io::TensorDict Remap::apply(const io::TensorDict& source, const RemapContext& ctx) const {
  io::TensorDict out;
  std::map<std::string, std::string> origin;  // target key -> source key, for the collision message
  for (const auto& item : source) {
    const std::optional<std::string> key = map_key(item.key());
    if (!key) continue;
    auto [it, fresh] = origin.emplace(*key, item.key());
    ARK_CHECK(fresh, "remap of ", ctx.path, ": '", it->second, "' and '", item.key(), "' both map to '", *key, "'");
    Tensor t = item.value();
    const std::string tf = transform_for(*key);
    if (!tf.empty()) {
      const Tensor* target = ctx.target.find(*key);
      t = find_transform(tf)(t, target ? *target : Tensor());
    }
    out.insert(*key, t);
  }
  return out;
}

std::optional<std::string> TableRemap::map_key(const std::string& key) const {
  for (const Rename& r : renames_) {
    const bool prefix = !r.from.empty() && r.from.back() == '.';
    if (prefix ? key.compare(0, r.from.size(), r.from) == 0 : key == r.from) {
      if (!r.to) return std::nullopt;
      return prefix ? *r.to + key.substr(r.from.size()) : *r.to;
    }
  }
  return key;
}

std::string TableRemap::transform_for(const std::string& target_key) const {
  for (const Transform& t : transforms_)
    if (target_key.size() >= t.key_suffix.size() &&
        target_key.compare(target_key.size() - t.key_suffix.size(), t.key_suffix.size(), t.key_suffix) == 0)
      return t.transform;
  return {};
}

void register_transform(const std::string& name, TensorTransform fn) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.transforms[name] = std::move(fn);
}

const TensorTransform& find_transform(const std::string& name) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.transforms.find(name);
  ARK_CHECK(it != r.transforms.end(), "unknown tensor transform '", name, "' (known: ", names_of(r.transforms), ")");
  return it->second;  // std::map nodes are stable; replacing a transform while a load runs is unsupported
}

void register_remap(const std::string& name, std::shared_ptr<const Remap> remap) {
  ARK_CHECK(remap != nullptr, "register_remap: '", name, "' is null");
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.remaps[name] = std::move(remap);
}

void register_remap(const std::string& name, RemapFunction fn) {
  ARK_CHECK(fn != nullptr, "register_remap: '", name, "' is null");
  struct FunctionRemap : Remap {
    explicit FunctionRemap(RemapFunction f) : fn(std::move(f)) {}
    io::TensorDict apply(const io::TensorDict& source, const RemapContext& ctx) const override { return fn(source, ctx); }
    RemapFunction fn;
  };
  register_remap(name, std::make_shared<const FunctionRemap>(std::move(fn)));
}

std::shared_ptr<const Remap> find_remap(const std::string& name) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.remaps.find(name);
  ARK_CHECK(it != r.remaps.end(), "unknown remap '", name, "' (known: ", names_of(r.remaps), ")");
  return it->second;
}

std::vector<std::string> remap_names() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> v;
  for (const auto& kv : r.remaps) v.push_back(kv.first);
  return v;
}

}  // namespace ark::pretrained
