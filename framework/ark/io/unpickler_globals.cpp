// The weights-only allowlist and its semantics: which names a GLOBAL may resolve, what REDUCE,
// NEWOBJ and BUILD build from them, and torch's storage persistent ids. Mirrors
// torch/_weights_only_unpickler.py (_get_allowed_globals) and torch/_utils.py (_rebuild_*).
#include <cstring>

#include "ark/io/unpickler_machine.h"

namespace ark::io::pickle {

using detail::printable;

namespace {

// The allowlist: what a GLOBAL may name. Values are stored in Object::i of a Kind::Global.
enum GlobalId : int64_t {
  kOrderedDict = 1, kRebuildTensorV2, kRebuildTensor, kRebuildParameter, kRebuildParameterWithState, kParameter,
  kStorageClass, kCodecsEncode, kDevice, kSet, kBytes, kSize, kDtype, kTensorClass, kSparse,
};

struct Allowed {
  const char* name;
  GlobalId id;
  ScalarType dtype;
};
constexpr ScalarType kNone = ScalarType::Undefined;
// As PyTorch's _get_allowed_globals(), plus torch.device, _codecs.encode and the builtins that
// protocol 2 uses for bytes and sets. Storage classes ark has no dtype for stay allowed so the
// error can say which dtype is missing.
constexpr Allowed kAllowed[] = {
    {"collections.OrderedDict", kOrderedDict, kNone},
    {"torch._utils._rebuild_tensor_v2", kRebuildTensorV2, kNone},
    {"torch._utils._rebuild_tensor", kRebuildTensor, kNone},
    {"torch._utils._rebuild_parameter", kRebuildParameter, kNone},
    {"torch._utils._rebuild_parameter_with_state", kRebuildParameterWithState, kNone},
    {"torch.nn.parameter.Parameter", kParameter, kNone},
    {"torch.FloatStorage", kStorageClass, kFloat}, {"torch.DoubleStorage", kStorageClass, kDouble},
    {"torch.HalfStorage", kStorageClass, kHalf}, {"torch.BFloat16Storage", kStorageClass, kBFloat16},
    {"torch.LongStorage", kStorageClass, kLong}, {"torch.IntStorage", kStorageClass, kInt},
    {"torch.ByteStorage", kStorageClass, kByte}, {"torch.BoolStorage", kStorageClass, kBool},
    {"torch.ShortStorage", kStorageClass, kNone}, {"torch.CharStorage", kStorageClass, kNone},
    {"torch.ComplexFloatStorage", kStorageClass, kNone}, {"torch.ComplexDoubleStorage", kStorageClass, kNone},
    {"torch.QUInt8Storage", kStorageClass, kNone}, {"torch.QInt8Storage", kStorageClass, kNone},
    {"torch.QInt32Storage", kStorageClass, kNone}, {"torch.QUInt4x2Storage", kStorageClass, kNone},
    {"torch.QUInt2x4Storage", kStorageClass, kNone},
    {"_codecs.encode", kCodecsEncode, kNone},
    {"torch.device", kDevice, kNone},
    {"builtins.set", kSet, kNone}, {"__builtin__.set", kSet, kNone},
    {"builtins.bytes", kBytes, kNone}, {"__builtin__.bytes", kBytes, kNone},
    {"torch.Size", kSize, kNone},
    {"torch.float16", kDtype, kHalf}, {"torch.float32", kDtype, kFloat}, {"torch.float64", kDtype, kDouble},
    {"torch.bfloat16", kDtype, kBFloat16}, {"torch.int64", kDtype, kLong}, {"torch.int32", kDtype, kInt},
    {"torch.uint8", kDtype, kByte}, {"torch.bool", kDtype, kBool}, {"torch.int16", kDtype, kNone},
    {"torch.int8", kDtype, kNone}, {"torch.complex32", kDtype, kNone}, {"torch.complex64", kDtype, kNone},
    {"torch.complex128", kDtype, kNone},
    {"torch.Tensor", kTensorClass, kNone}, {"torch.FloatTensor", kTensorClass, kNone},
    {"torch.DoubleTensor", kTensorClass, kNone}, {"torch.HalfTensor", kTensorClass, kNone},
    {"torch.BFloat16Tensor", kTensorClass, kNone}, {"torch.LongTensor", kTensorClass, kNone},
    {"torch.IntTensor", kTensorClass, kNone}, {"torch.ShortTensor", kTensorClass, kNone},
    {"torch.CharTensor", kTensorClass, kNone}, {"torch.ByteTensor", kTensorClass, kNone},
    {"torch.BoolTensor", kTensorClass, kNone},
    {"torch._utils._rebuild_sparse_tensor", kSparse, kNone}, {"torch._utils._rebuild_sparse_csr_tensor", kSparse, kNone},
    {"torch._utils._rebuild_meta_tensor_no_storage", kSparse, kNone}, {"torch.serialization._get_layout", kSparse, kNone},
};

}  // namespace

Object* Unpickler::Machine::global(const std::string& module, const std::string& name) {
  const std::string full = module + "." + name;
  for (const Allowed& a : kAllowed) {
    if (full == a.name) {
      Object* o = make(Kind::Global);
      o->i = a.id;
      o->s = full;
      o->global_dtype = a.dtype;
      return o;
    }
  }
  fail("disallowed global " + printable(full) + " (only state-dict types are loaded; nothing is imported or run)");
}

// ---- calls (REDUCE / NEWOBJ on an allowlisted global) ----
void Unpickler::Machine::bad_args(const Object* f, const std::string& what) {
  fail("wrong arguments for " + f->s + ": " + what);
}

int64_t Unpickler::Machine::int_arg(const Object* f, const Object* a, const char* what) {
  if (a->kind != Kind::Int && a->kind != Kind::Bool) bad_args(f, std::string(what) + " must be an int, got " + kind_name(a->kind));
  return a->i;
}

DimVector Unpickler::Machine::int_tuple(const Object* f, const Object* a, const char* what) {
  if (a->kind != Kind::Tuple && a->kind != Kind::List)
    bad_args(f, std::string(what) + " must be a tuple of ints, got " + kind_name(a->kind));
  if (a->items.size() > up.limits_.max_rank)
    limit(std::string("tensor rank ") + std::to_string(a->items.size()) + " (at most " + std::to_string(up.limits_.max_rank) + ")");
  DimVector v;
  for (const Object* x : a->items) v.push_back(int_arg(f, x, what));
  return v;
}

Object* Unpickler::Machine::rebuild_tensor(const Object* f, const std::vector<Object*>& a) {
  const bool v2 = f->i == kRebuildTensorV2;
  if (v2 ? (a.size() != 6 && a.size() != 7) : a.size() != 4)
    bad_args(f, std::string("expected ") + (v2 ? "6 or 7" : "4") + " arguments, got " + std::to_string(a.size()));
  if (a[0]->kind != Kind::Storage) bad_args(f, std::string("the first argument must be a storage, got ") + kind_name(a[0]->kind));
  const StorageInfo& st = *a[0]->storage;
  auto t = std::make_unique<TensorInfo>();
  t->storage = a[0];
  t->offset = int_arg(f, a[1], "storage_offset");
  t->sizes = int_tuple(f, a[2], "size");
  t->strides = int_tuple(f, a[3], "stride");
  if (v2) {
    if (a[4]->kind != Kind::Bool && a[4]->kind != Kind::Int) bad_args(f, "requires_grad must be a bool");
    t->requires_grad = a[4]->i != 0;
    if (a[5]->kind != Kind::Dict && a[5]->kind != Kind::None) bad_args(f, "backward_hooks must be a dict");
    if (a.size() == 7 && a[6]->kind != Kind::Dict && a[6]->kind != Kind::None) bad_args(f, "metadata must be a dict");
  }
  if (t->sizes.size() != t->strides.size())
    bad_args(f, std::to_string(t->sizes.size()) + " sizes but " + std::to_string(t->strides.size()) + " strides");
  if (t->offset < 0) bad_args(f, "negative storage offset " + std::to_string(t->offset));
  // The view must lie inside its storage: offset + sum((size - 1) * stride) < numel, in checked arithmetic.
  int64_t numel = 1, last = t->offset;
  bool empty = false;
  for (size_t d = 0; d < t->sizes.size(); ++d) {
    const int64_t sz = t->sizes[d], sd = t->strides[d];
    if (sz < 0) bad_args(f, "negative size " + std::to_string(sz));
    if (sd < 0) bad_args(f, "negative stride " + std::to_string(sd));
    if (sz == 0) empty = true;
    int64_t step;
    if (__builtin_mul_overflow(numel, sz == 0 ? 1 : sz, &numel)) bad_args(f, "size overflows");
    if (sz > 0 && (__builtin_mul_overflow(sz - 1, sd, &step) || __builtin_add_overflow(last, step, &last)))
      bad_args(f, "size and stride overflow");
  }
  if (empty ? t->offset > st.numel : last >= st.numel)
    bad_args(f, "the view (offset " + std::to_string(t->offset) + ", last element " + std::to_string(last) +
                    ") is out of bounds for storage '" + printable(st.key) + "' of " + std::to_string(st.numel) + " elements");
  Object* o = make(Kind::Tensor);
  o->tensor = std::move(t);
  return o;
}

Object* Unpickler::Machine::as_parameter(const Object* f, const Object* data, const Object* requires_grad) {
  if (data->kind != Kind::Tensor) bad_args(f, std::string("data must be a tensor, got ") + kind_name(data->kind));
  Object* o = make(Kind::Tensor);
  o->tensor = std::make_unique<TensorInfo>(*data->tensor);
  o->tensor->parameter = true;
  o->tensor->requires_grad = requires_grad ? int_arg(f, requires_grad, "requires_grad") != 0 : true;
  return o;
}

Object* Unpickler::Machine::call(const Object* f, const std::vector<Object*>& a) {
  if (op == 0x81 && f->i != kParameter) fail("NEWOBJ of " + f->s + " (only torch.nn.Parameter may be instantiated)");
  switch (f->i) {
    case kOrderedDict: {
      if (!a.empty()) bad_args(f, "only OrderedDict() is supported");
      Object* d = make(Kind::Dict);
      d->ordered = true;
      return d;
    }
    case kRebuildTensorV2: case kRebuildTensor: return rebuild_tensor(f, a);
    case kRebuildParameter:
      if (a.size() != 3) bad_args(f, "expected 3 arguments, got " + std::to_string(a.size()));
      if (a[2]->kind != Kind::Dict) bad_args(f, "backward_hooks must be a dict");
      return as_parameter(f, a[0], a[1]);
    case kRebuildParameterWithState:
      if (a.size() != 4) bad_args(f, "expected 4 arguments, got " + std::to_string(a.size()));
      if (a[2]->kind != Kind::Dict || (a[3]->kind != Kind::Dict && a[3]->kind != Kind::None))
        bad_args(f, "backward_hooks and state must be dicts");
      return as_parameter(f, a[0], a[1]);
    case kParameter:
      if (a.empty() || a.size() > 2) bad_args(f, "expected Parameter(data[, requires_grad])");
      return as_parameter(f, a[0], a.size() == 2 ? a[1] : nullptr);
    case kCodecsEncode: {
      if (a.size() != 2 || a[0]->kind != Kind::Str || a[1]->kind != Kind::Str)
        bad_args(f, "expected encode(str, encoding)");
      Object* b = make(Kind::Bytes);
      spend(a[0]->s.size());
      if (a[1]->s == "latin1" || a[1]->s == "latin-1") {
        // Code points below 256 become one byte each (how protocol 2 pickles bytes).
        const std::string& s = a[0]->s;
        for (size_t k = 0; k < s.size(); ++k) {
          const auto c = static_cast<unsigned char>(s[k]);
          if (c < 0x80) {
            b->s.push_back(static_cast<char>(c));
          } else if ((c & 0xe0) == 0xc0 && k + 1 < s.size() && c <= 0xc3) {
            b->s.push_back(static_cast<char>(((c & 0x1f) << 6) | (static_cast<unsigned char>(s[k + 1]) & 0x3f)));
            ++k;
          } else {
            bad_args(f, "character outside latin-1");
          }
        }
      } else if (a[1]->s == "utf-8" || a[1]->s == "utf8" || a[1]->s == "ascii") {
        b->s = a[0]->s;
      } else {
        bad_args(f, "unsupported encoding '" + printable(a[1]->s) + "'");
      }
      return b;
    }
    case kDevice: {
      if (a.empty() || a.size() > 2 || a[0]->kind != Kind::Str || (a.size() == 2 && a[1]->kind != Kind::Int))
        bad_args(f, "expected device(type[, index])");
      Object* d = make(Kind::Device);
      d->s = a[0]->s;
      if (a.size() == 2) d->s.append(":").append(std::to_string(a[1]->i));
      return d;
    }
    case kSet: {
      Object* s = make(Kind::Set);
      if (a.size() > 1 || (a.size() == 1 && a[0]->kind != Kind::List && a[0]->kind != Kind::Tuple && a[0]->kind != Kind::Set))
        bad_args(f, "expected set([items])");
      if (a.size() == 1) {
        spend(a[0]->items.size() * sizeof(Object*));
        s->items = a[0]->items;
      }
      return s;
    }
    case kBytes:
      if (!a.empty()) bad_args(f, "only bytes() is supported");
      return make(Kind::Bytes);
    case kSize: {
      if (a.size() > 1 || (a.size() == 1 && a[0]->kind != Kind::Tuple && a[0]->kind != Kind::List))
        bad_args(f, "expected Size(tuple)");
      Object* t = make(Kind::Tuple);
      if (a.size() == 1) {
        spend(a[0]->items.size() * sizeof(Object*));
        t->items = a[0]->items;
      }
      return t;
    }
    case kSparse: fail(f->s + ": sparse, quantized and meta tensors are not supported");
    default: fail("calling " + f->s + " is not supported");
  }
}

// ---- persistent ids: ('storage', storage_type, key, location, numel[, view_metadata]) ----
Object* Unpickler::Machine::persistent_load(Object* pid) {
  if (pid->kind != Kind::Tuple || pid->items.empty())
    fail(std::string("persistent id must be a tuple, got ") + kind_name(pid->kind));
  const Object* tag = pid->items[0];
  if ((tag->kind != Kind::Str && tag->kind != Kind::Bytes) || tag->s != "storage")
    fail(std::string("persistent id tag must be 'storage', got ")
             .append(tag->kind == Kind::Str || tag->kind == Kind::Bytes ? printable(tag->s) : kind_name(tag->kind)));
  const auto& it = pid->items;
  if (it.size() != 5 && it.size() != 6) fail("storage persistent id has " + std::to_string(it.size()) + " fields, expected 5 or 6");
  if (it[1]->kind != Kind::Global || it[1]->i != kStorageClass)
    fail(std::string("storage type must be a torch storage class, got ") + (it[1]->kind == Kind::Global ? it[1]->s : kind_name(it[1]->kind)));
  if (it[2]->kind != Kind::Str) fail("storage key must be a string");
  if (it[3]->kind != Kind::Str) fail("storage location must be a string");
  if (it[4]->kind != Kind::Int || it[4]->i < 0) fail("storage size must be a non-negative int");
  if (it.size() == 6 && it[5]->kind != Kind::None)
    fail("storage views of legacy checkpoints (PyTorch < 0.4) are not supported");
  const ScalarType dtype = it[1]->global_dtype;
  if (dtype == ScalarType::Undefined)
    fail("storage type " + it[1]->s + " has a dtype that ark does not support (float32/64/16, bfloat16, int64/32, uint8, bool)");
  uint64_t nbytes;
  if (__builtin_mul_overflow(static_cast<uint64_t>(it[4]->i), element_size(dtype), &nbytes) || nbytes > INT64_MAX)
    fail("storage '" + printable(it[2]->s) + "' size overflows");
  auto found = up.storage_by_key_.find(it[2]->s);
  if (found != up.storage_by_key_.end()) {
    const StorageInfo& s = *found->second->storage;
    if (s.dtype != dtype || s.numel != it[4]->i)
      fail("storage '" + printable(s.key) + "' is used as " + s.storage_type + " of " + std::to_string(s.numel) +
           " elements and as " + it[1]->s + " of " + std::to_string(it[4]->i));
    return found->second;
  }
  if (up.storages_.size() >= up.limits_.max_storages) limit("more than " + std::to_string(up.limits_.max_storages) + " storages");
  Object* o = make(Kind::Storage);
  o->storage = std::make_unique<StorageInfo>();
  o->storage->key = it[2]->s;
  o->storage->dtype = dtype;
  o->storage->storage_type = it[1]->s;
  o->storage->location = it[3]->s;
  o->storage->numel = it[4]->i;
  o->storage->index = up.storages_.size();
  up.storages_.push_back(o);
  up.storage_by_key_.emplace(o->storage->key, o);
  return o;
}

// BUILD (obj.__setstate__(state)): only the forms PyTorch's weights-only loader accepts.
void Unpickler::Machine::build() {
  Object* state = pop();
  Object* inst = top();
  if (inst->kind == Kind::Dict && inst->ordered) {
    // OrderedDict attributes (a state dict's _metadata): not items, and nothing ark needs.
    if (state->kind != Kind::Dict && state->kind != Kind::None) fail("BUILD of an OrderedDict needs a dict state");
  } else if (inst->kind == Kind::Tensor && inst->tensor->parameter) {
    if (state->kind != Kind::Dict && state->kind != Kind::None && state->kind != Kind::Tuple)
      fail("BUILD of a Parameter needs a dict state");
  } else if (inst->kind == Kind::Tensor) {
    if (!(state->kind == Kind::None || (state->kind == Kind::Dict && state->items.empty())))
      fail("BUILD of a tensor with state (Tensor.set_) is not supported");
  } else {
    fail(std::string("BUILD of a ") + kind_name(inst->kind) + " (only OrderedDict, Parameter or Tensor)");
  }
}

}  // namespace ark::io::pickle
