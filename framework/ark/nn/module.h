// nn::Module: the base of every layer and model, with libtorch's torch::nn::Module semantics.
// Parameters, buffers and child modules are registered by string, so `named_parameters()` yields
// dotted checkpoint keys ("layer1.0.conv1.weight") and `state_dict()` / `load_state_dict()` speak
// PyTorch's key layout. Also here: train/eval, to(device/dtype), zero_grad, apply, forward hooks
// and the PyTorch-style repr (`std::cout << *model`).
//
// Forward hooks. C++ forwards have no common signature, so a module takes part in hooks by routing
// its forward through `with_hooks(input, body)`: every built-in layer does; a user module opts in
// the same way:
//     Tensor forward(const Tensor& x) {
//       return with_hooks(x, [&](const Tensor& x) { return fc2(relu(fc1(x))); });
//     }
// Hooks see the module's first tensor argument and its (first) tensor output; a pre-hook may
// replace the input, a post-hook may replace the output. Modules with several outputs
// (MultiheadAttention) hook their first output.
//
// Deliberately left out: parameter groups (optim/), serialisation of whole modules (io/), clone().
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ark/core/ordered_dict.h"
#include "ark/core/tensor.h"
#include "ark/nn/pimpl.h"

namespace ark::nn {

class Module;

/// hook(module, input) -> nothing, or a replacement input.
using ForwardPreHook = std::function<std::optional<Tensor>(Module&, const Tensor&)>;
/// hook(module, input, output) -> nothing, or a replacement output.
using ForwardHook = std::function<std::optional<Tensor>(Module&, const Tensor&, const Tensor&)>;

namespace detail {
struct HookRegistry {
  uint64_t next_id = 0;
  std::vector<std::pair<uint64_t, ForwardPreHook>> pre;
  std::vector<std::pair<uint64_t, ForwardHook>> post;
};

/// Adapts a hook returning void, Tensor (undefined = keep) or optional<Tensor> to optional<Tensor>.
template <class R, class Call>
std::optional<Tensor> hook_result(Call&& call) {
  if constexpr (std::is_void_v<R>) {
    call();
    return std::nullopt;
  } else if constexpr (std::is_convertible_v<R, std::optional<Tensor>> && !std::is_convertible_v<R, Tensor>) {
    return call();
  } else {
    static_assert(std::is_convertible_v<R, Tensor>, "a forward hook must return void, Tensor or std::optional<Tensor>");
    Tensor t = call();
    if (!t.defined()) return std::nullopt;
    return t;
  }
}
}  // namespace detail

/// What register_forward_(pre_)hook returns; remove() unregisters the hook (PyTorch's
/// RemovableHandle). Removing twice, or after the module died, does nothing.
class RemovableHandle {
 public:
  RemovableHandle() = default;
  RemovableHandle(std::weak_ptr<detail::HookRegistry> registry, uint64_t id) : registry_(std::move(registry)), id_(id) {}
  void remove();
  uint64_t id() const { return id_; }

 private:
  std::weak_ptr<detail::HookRegistry> registry_;
  uint64_t id_ = 0;
};

/// The keys load_state_dict(strict=false) skipped (PyTorch's _IncompatibleKeys).
struct LoadStateDictResult {
  std::vector<std::string> missing_keys;
  std::vector<std::string> unexpected_keys;
};

class Module : public std::enable_shared_from_this<Module> {
 public:
  using ModuleApplyFunction = std::function<void(Module&)>;
  using NamedModuleApplyFunction = std::function<void(const std::string&, Module&)>;
  using ModulePointerApplyFunction = std::function<void(const std::shared_ptr<Module>&)>;

  /// `name` is what name() and the repr show; by default it is the class name without its
  /// namespaces and the Impl suffix ("Linear" for ark::nn::LinearImpl, "Net" for my::NetImpl).
  explicit Module(std::string name);
  Module();
  virtual ~Module() = default;
  // A module is shared through shared_ptr/holders; a copy would silently share parameters.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& name() const noexcept;

  // ---- registration ----
  /// Registers (or, for an existing parameter, replaces) a parameter; undefined tensors are
  /// allowed (libtorch's `bias` of a bias-free layer) and are skipped by parameters()/state_dict().
  Tensor& register_parameter(std::string name, Tensor tensor, bool requires_grad = true);
  /// A buffer is state that is not trained (running_mean); non-persistent buffers stay out of
  /// state_dict() (PyTorch's persistent=False).
  Tensor& register_buffer(std::string name, Tensor tensor, bool persistent = true);
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    static_assert(std::is_base_of_v<Module, M>, "register_module: the module must derive from ark::nn::Module");
    add_child(std::move(name), module, /*replace=*/false);
    return module;
  }
  template <class M>
  ModuleHolder<M> register_module(std::string name, ModuleHolder<M> holder) {
    register_module(std::move(name), holder.ptr());
    return holder;
  }
  template <class H, std::enable_if_t<detail::ModuleHolderType<H> &&
                                          !std::is_same_v<std::decay_t<H>, ModuleHolder<typename std::decay_t<H>::ContainedType>>,
                                      int> = 0>
  std::decay_t<H> register_module(std::string name, H&& holder) {
    register_module(std::move(name), holder.ptr());
    return std::forward<H>(holder);
  }
  /// Swaps the child registered as `name` (fine-tuning replaces a classifier this way).
  template <class M>
  std::shared_ptr<M> replace_module(const std::string& name, std::shared_ptr<M> module) {
    static_assert(std::is_base_of_v<Module, M>, "replace_module: the module must derive from ark::nn::Module");
    add_child(name, module, /*replace=*/true);
    return module;
  }
  template <class H, std::enable_if_t<detail::ModuleHolderType<H>, int> = 0>
  std::decay_t<H> replace_module(const std::string& name, H&& holder) {
    replace_module(name, holder.ptr());
    return std::forward<H>(holder);
  }
  void unregister_module(const std::string& name);

  // ---- traversal (pre-order: a module's own entries, then its children's) ----
  std::vector<Tensor> parameters(bool recurse = true) const;
  OrderedDict<std::string, Tensor> named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  OrderedDict<std::string, Tensor> named_buffers(bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;
  OrderedDict<std::string, std::shared_ptr<Module>> named_children() const;
  /// With include_self, this module must be owned by a shared_ptr (as in libtorch).
  std::vector<std::shared_ptr<Module>> modules(bool include_self = true) const;
  OrderedDict<std::string, std::shared_ptr<Module>> named_modules(const std::string& name_prefix = "",
                                                                  bool include_self = true) const;
  /// The registered child `name` as M (nullptr when it has another type); throws if absent.
  template <class M = Module>
  std::shared_ptr<M> get_submodule(const std::string& dotted_name) const {
    return std::dynamic_pointer_cast<M>(find_submodule(dotted_name));
  }

  // ---- mode, device, gradients ----
  /// Sets training mode here and in every descendant.
  virtual void train(bool on = true);
  void eval() { train(false); }
  virtual bool is_training() const noexcept { return is_training_; }
  /// Moves/casts parameters and buffers in place, so tensors taken earlier (members, optimizer
  /// state) see the change. A dtype cast touches floating-point tensors only, as PyTorch's
  /// Module.to does, so integer buffers (num_batches_tracked) keep their type.
  virtual void to(Device device, ScalarType dtype, bool non_blocking = false);
  virtual void to(ScalarType dtype, bool non_blocking = false);
  virtual void to(Device device, bool non_blocking = false);
  /// set_to_none=true drops the gradients (PyTorch >= 2.0's default); false zeroes them.
  virtual void zero_grad(bool set_to_none = true);

  /// Calls `fn` on this module, then on every descendant (pre-order, as libtorch).
  void apply(const ModuleApplyFunction& fn);
  void apply(const NamedModuleApplyFunction& fn, const std::string& name_prefix = "");
  void apply(const ModulePointerApplyFunction& fn);

  // ---- state ----
  /// Parameters and persistent buffers by dotted name; the tensors share storage with the
  /// module but carry no autograd history (PyTorch's keep_vars=False).
  OrderedDict<std::string, Tensor> state_dict() const;
  /// Copies `state_dict` into the parameters and buffers in place (no gradient recorded, dtype
  /// converted to the module's). Checks everything first and throws one ark::Error naming every
  /// missing key, unexpected key and shape mismatch, loading nothing; strict=false tolerates
  /// missing and unexpected keys (returned) but never a shape mismatch.
  LoadStateDictResult load_state_dict(const OrderedDict<std::string, Tensor>& state_dict, bool strict = true);

  // ---- hooks ----
  /// `hook(Module&, const Tensor& input)` runs before forward; returning a defined Tensor (or a
  /// non-empty optional) replaces the input.
  template <class F>
  RemovableHandle register_forward_pre_hook(F hook) {
    using R = std::invoke_result_t<F&, Module&, const Tensor&>;
    return add_pre_hook([hook = std::move(hook)](Module& m, const Tensor& in) mutable {
      return detail::hook_result<R>([&]() -> R { return hook(m, in); });
    });
  }
  /// `hook(Module&, const Tensor& input, const Tensor& output)` runs after forward; returning a
  /// defined Tensor replaces the output (Grad-CAM reads activations here).
  template <class F>
  RemovableHandle register_forward_hook(F hook) {
    using R = std::invoke_result_t<F&, Module&, const Tensor&, const Tensor&>;
    return add_post_hook([hook = std::move(hook)](Module& m, const Tensor& in, const Tensor& out) mutable {
      return detail::hook_result<R>([&]() -> R { return hook(m, in, out); });
    });
  }

  // ---- casting ----
  /// This module as `M` (an Impl type or a holder type: `m.as<nn::Linear>()`), or nullptr.
  template <class M>
  auto* as() noexcept {
    if constexpr (detail::ModuleHolderType<M>) return dynamic_cast<typename M::ContainedType*>(this);
    else return dynamic_cast<M*>(this);
  }
  template <class M>
  const auto* as() const noexcept {
    if constexpr (detail::ModuleHolderType<M>) return dynamic_cast<const typename M::ContainedType*>(this);
    else return dynamic_cast<const M*>(this);
  }

  // ---- printing ----
  /// The part between the parentheses of this module's repr line ("in_features=4, ...").
  virtual std::string extra_repr() const { return {}; }
  /// Writes PyTorch's repr: `Name(extra)` or, with children, one indented line per child.
  virtual void pretty_print(std::ostream& stream) const;

 protected:
  /// Runs the forward pre-hooks on `input`, `forward(input)`, then the forward hooks. Every
  /// built-in forward goes through here; user modules call it to take part in hooks.
  template <class Fn>
  Tensor with_hooks(const Tensor& input, Fn&& forward) {
    if (!hooks_ || (hooks_->pre.empty() && hooks_->post.empty())) return std::forward<Fn>(forward)(input);
    Tensor x = run_pre_hooks(input);
    Tensor y = std::forward<Fn>(forward)(x);
    return run_post_hooks(x, y);
  }

 private:
  void add_child(std::string name, std::shared_ptr<Module> module, bool replace);
  void check_new_name(const std::string& name, const char* what) const;
  std::shared_ptr<Module> find_submodule(const std::string& dotted_name) const;
  std::shared_ptr<Module> shared_self(const char* what) const;
  /// Pre-order walk over (prefix, module), prefix being "" or "a.b." for the module's keys.
  void walk(const std::string& prefix, const std::function<void(const std::string&, const Module&)>& fn) const;
  void walk_mut(const std::string& prefix, const std::function<void(const std::string&, Module&)>& fn);
  void to_impl(std::optional<Device> device, std::optional<ScalarType> dtype);
  RemovableHandle add_pre_hook(ForwardPreHook hook);
  RemovableHandle add_post_hook(ForwardHook hook);
  Tensor run_pre_hooks(const Tensor& input);
  Tensor run_post_hooks(const Tensor& input, const Tensor& output);

  OrderedDict<std::string, Tensor> parameters_{"Parameter"};
  OrderedDict<std::string, Tensor> buffers_{"Buffer"};
  std::set<std::string> non_persistent_buffers_;
  OrderedDict<std::string, std::shared_ptr<Module>> children_{"Submodule"};
  mutable std::optional<std::string> name_;
  bool is_training_ = true;
  std::shared_ptr<detail::HookRegistry> hooks_;
};

/// PyTorch's repr of the module tree.
std::ostream& operator<<(std::ostream& stream, const Module& module);

/// Prepares `module` for inference, as torch.jit.optimize_for_inference does for a frozen module:
/// eval mode, and the backend may keep its parameters in its own layout in place of the plain data
/// (on the CPU, convolution weights in oneDNN's blocked layout instead of beside a plain copy:
/// half a convolutional network's weight memory under no-grad). Reading or writing a parameter
/// still works and sees plain data: it converts the bytes back first, and the next forward packs
/// them again. Training afterwards works too, but reads the plain weights every step; don't read a
/// parameter from one thread while another runs the module's first forward.
void optimize_for_inference(Module& module);
template <class Impl>
void optimize_for_inference(ModuleHolder<Impl>& holder) {
  optimize_for_inference(*holder);
}
template <class Impl>
std::ostream& operator<<(std::ostream& stream, const ModuleHolder<Impl>& holder) {
  return stream << *holder;
}

namespace detail {
/// Python's repr of a float option (1e-05, 0.1, 1.0), so reprs match PyTorch's.
std::string repr_double(double v);
inline const char* repr_bool(bool v) { return v ? "True" : "False"; }
/// "(3, 3)" like a Python tuple; one element prints as "(8,)".
std::string repr_tuple(IntArrayRef v);
/// "3" when every entry is 3, else "(3, 5)": how PyTorch prints a pooling size given as an int.
std::string repr_int_or_tuple(IntArrayRef v);
/// "[2, 3]": a shape in messages.
std::string shape_str(IntArrayRef v);
}  // namespace detail

}  // namespace ark::nn
