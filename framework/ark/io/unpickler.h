// A symbolic, weights-only unpickler: a small virtual machine over the pickle opcodes (protocols
// 2-5) that torch.save writes for state dicts, modelled on PyTorch's own weights_only unpickler
// (torch/_weights_only_unpickler.py). Nothing is ever imported, called or executed: GLOBAL and
// STACK_GLOBAL resolve only an allowlist of names (collections.OrderedDict, the torch._utils
// rebuild functions, torch.*Storage, torch.device, _codecs.encode, ...) to symbolic values, and
// REDUCE "calls" them by building plain data: dicts, lists, tuples, numbers, strings, storage
// references (from BINPERSID) and tensor descriptions (storage, offset, sizes, strides) checked
// against their storage. Everything else is refused with an ark::Error naming the pickle, the
// offset and what is wrong. Hard caps bound the pickle size, stack, memo, strings, objects and
// tensor rank. Left out on purpose: arbitrary classes (INST, OBJ, NEWOBJ except Parameter,
// BUILD except on OrderedDict/Parameter), extension registries, out-of-band buffers, protocol 0/1
// text opcodes, and strings over 4 GiB (BINUNICODE8).
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ark/core/array_ref.h"
#include "ark/core/dtype.h"

namespace ark::io::pickle {

enum class Kind : uint8_t {
  None, Bool, Int, BigInt, Float, Str, Bytes, Tuple, List, Dict, Set,
  Global,   // an allowlisted name, not yet called (collections.OrderedDict, torch.FloatStorage...)
  Storage,  // a torch storage from a persistent id
  Tensor,   // a tensor view of a storage (from _rebuild_tensor_v2 / _rebuild_parameter)
  Device,   // torch.device
};
const char* kind_name(Kind k);

struct Object;

/// Where a storage's bytes are: its key (the zip record data/<key>, or the legacy storage id),
/// element type and element count as the persistent id declares them.
struct StorageInfo {
  std::string key;
  ScalarType dtype = ScalarType::Undefined;
  std::string storage_type;  // "torch.FloatStorage", for messages
  std::string location;      // "cpu", "cuda:0": informational, everything loads to the CPU
  int64_t numel = 0;
  size_t index = 0;          // position in Unpickler::storages()
};

struct TensorInfo {
  const Object* storage = nullptr;
  int64_t offset = 0;  // in elements
  DimVector sizes, strides;
  bool requires_grad = false;
  bool parameter = false;  // a torch.nn.Parameter
};

struct Object {
  Kind kind = Kind::None;
  bool ordered = false;  // Dict: a collections.OrderedDict
  int64_t i = 0;         // Bool, Int; Global: its GlobalId
  double f = 0;          // Float
  std::string s;         // Str (UTF-8), Bytes, Device ("cuda:0"), Global ("module.name"), BigInt (LE two's complement)
  std::vector<Object*> items;  // Tuple, List, Set; Dict: key0, value0, key1, value1, ...
  std::unique_ptr<std::unordered_map<std::string, size_t>> dict_index;  // Dict: canonical key -> pair index
  std::unique_ptr<StorageInfo> storage;
  std::unique_ptr<TensorInfo> tensor;
  ScalarType global_dtype = ScalarType::Undefined;  // Global: a storage class's element type

  size_t dict_size() const { return items.size() / 2; }
  const Object* dict_key(size_t k) const { return items[2 * k]; }
  const Object* dict_value(size_t k) const { return items[2 * k + 1]; }
  /// A Dict's value for a string key, or nullptr.
  const Object* get(std::string_view key) const;
};

/// Hard caps. The defaults admit any real state dict (a few hundred bytes of pickle per tensor,
/// so a 70B-parameter model's data.pkl is well under 1 MB) with a wide margin, and bound the
/// memory and time hostile input can take to a few hundred MB and a few seconds.
struct Limits {
  size_t max_pickle_bytes = size_t{64} << 20;
  size_t max_string_bytes = size_t{16} << 20;
  size_t max_stack = 100'000;      // items on the stack and under marks, together
  size_t max_memo = size_t{1} << 20;
  size_t max_objects = size_t{1} << 21;
  size_t max_rank = 16;
  size_t max_storages = size_t{1} << 20;
  /// What the VM copies out of objects it already has, all together: the text of dict keys
  /// (each SETITEM hashes its key), set()/torch.Size() of a list, _codecs.encode of a string.
  /// Without it a small pickle could ask for the same big copy millions of times via the memo.
  size_t max_copied_bytes = size_t{256} << 20;
};

class Unpickler {
 public:
  /// `name` identifies the pickle in messages ("data.pkl in model.pth").
  explicit Unpickler(std::string name, Limits limits = {});
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;
  ~Unpickler();

  /// Runs the pickle at data[0, size) up to STOP and returns its value (owned by this object).
  /// With `consumed`, stores how many bytes the pickle used (more data may follow, as in legacy
  /// checkpoints); without it, bytes after STOP are an error. Each call starts with an empty
  /// stack and memo; storages accumulate across calls.
  const Object* load(const void* data, size_t size, size_t* consumed = nullptr);

  /// Every storage a persistent id named, in order of first use.
  const std::vector<const Object*>& storages() const { return storages_; }
  const std::string& name() const { return name_; }
  const Limits& limits() const { return limits_; }

 private:
  struct Machine;
  std::string name_;
  Limits limits_;
  std::deque<Object> arena_;  // owns every object: reference cycles cannot leak
  size_t copied_bytes_ = 0;   // against Limits::max_copied_bytes
  std::vector<const Object*> storages_;
  std::unordered_map<std::string, Object*> storage_by_key_;
};

/// Calls `fn(path, object)` for every tensor under `root`, and for every leaf that is a number,
/// string, bool or None, in pickle order. Dict keys (strings, or integers written in decimal) and
/// list/tuple positions join into dotted paths ("state_dict.layer1.0.weight"). Containers under
/// non-string keys are skipped. Throws "limit exceeded" past `max_depth` levels, `max_leaves`
/// values visited (containers included) or 256 MB of paths built (shared substructures can make
/// the tree exponentially larger than the pickle), and on a container that contains itself.
void for_each_leaf(const Object* root, const std::function<void(const std::string&, const Object&)>& fn,
                   const std::string& name, size_t max_depth = 64, size_t max_leaves = size_t{1} << 22);

}  // namespace ark::io::pickle
