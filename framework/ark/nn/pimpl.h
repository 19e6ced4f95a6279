// ModuleHolder<Impl> and ARK_MODULE: libtorch's TORCH_MODULE pattern. A holder is a
// shared_ptr<Impl> with value syntax, so `nn::Linear fc(nn::LinearOptions(4, 5))`, `fc->weight`,
// `fc(x)` (calls forward) and `nn::Linear fc{nullptr}` (the empty state, filled later) read as
// in libtorch. Copying a holder shares the module, as copying a shared_ptr does.
#pragma once
#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

#include "ark/core/error.h"

namespace ark::nn {

class Module;

template <class Impl>
class ModuleHolder;

namespace detail {
/// True for ModuleHolder<Impl> and the classes ARK_MODULE derives from it. (A concept, so the
/// base check is not instantiated for types without ContainedType.)
template <class T>
concept ModuleHolderType = requires { typename std::decay_t<T>::ContainedType; } &&
                           std::is_base_of_v<ModuleHolder<typename std::decay_t<T>::ContainedType>, std::decay_t<T>>;
template <class T>
inline constexpr bool is_module_holder_v = ModuleHolderType<T>;
template <class T, class Impl>
concept ModuleHolderOf = ModuleHolderType<T> && std::is_same_v<typename std::decay_t<T>::ContainedType, Impl>;
template <class T, class Impl>
inline constexpr bool is_module_holder_of_v = ModuleHolderOf<T, Impl>;
}  // namespace detail

template <class Impl>
class ModuleHolder {
 public:
  using ContainedType = Impl;

  /// Default-constructs the module; for modules without a default constructor write
  /// `Linear fc = nullptr;` (the empty holder) instead, as in libtorch.
  ModuleHolder() : impl_(default_construct()) {}
  /// The empty holder; using it before assigning a module throws.
  ModuleHolder(std::nullptr_t) {}  // NOLINT
  /// Constructs the module from its constructor's arguments: Linear(4, 5), Linear(LinearOptions(4, 5)).
  template <class Head, class... Tail,
            class = std::enable_if_t<!(detail::is_module_holder_of_v<Head, Impl> && sizeof...(Tail) == 0) &&
                                     !std::is_same_v<std::decay_t<Head>, std::nullptr_t> &&
                                     !std::is_same_v<std::decay_t<Head>, std::shared_ptr<Impl>>>>
  explicit ModuleHolder(Head&& head, Tail&&... tail)
      : impl_(std::make_shared<Impl>(std::forward<Head>(head), std::forward<Tail>(tail)...)) {}
  /// Wraps an existing module.
  ModuleHolder(std::shared_ptr<Impl> module) : impl_(std::move(module)) {}  // NOLINT

  explicit operator bool() const noexcept { return !is_empty(); }
  bool is_empty() const noexcept { return impl_ == nullptr; }

  Impl* operator->() { return get(); }
  const Impl* operator->() const { return get(); }
  Impl& operator*() { return *get(); }
  const Impl& operator*() const { return *get(); }
  const std::shared_ptr<Impl>& ptr() const {
    check_defined();
    return impl_;
  }
  Impl* get() {
    check_defined();
    return impl_.get();
  }
  const Impl* get() const {
    check_defined();
    return impl_.get();
  }

  /// Calls the module's forward: `fc(x)` is `fc->forward(x)`.
  template <class... Args>
  decltype(auto) operator()(Args&&... args) {
    return get()->forward(std::forward<Args>(args)...);
  }
  /// Sequential/ModuleList/ModuleDict indexing: `seq[0]`, `dict["head"]`.
  template <class Arg>
  decltype(auto) operator[](Arg&& arg) {
    return (*get())[std::forward<Arg>(arg)];
  }

 protected:
  std::shared_ptr<Impl> impl_;

 private:
  void check_defined() const {
    ARK_CHECK(impl_ != nullptr, "accessing an empty ModuleHolder (a module declared with `= nullptr` that was never "
              "assigned); construct it or register_module it first");
  }
  static std::shared_ptr<Impl> default_construct() {
    if constexpr (std::is_default_constructible_v<Impl>) {
      return std::make_shared<Impl>();
    } else {
      static_assert(std::is_default_constructible_v<Impl>,
                    "this module has no default constructor: give it the empty state with `= nullptr` "
                    "(e.g. `Linear fc = nullptr;` instead of `Linear fc;`)");
      return nullptr;
    }
  }
};

}  // namespace ark::nn

/// Declares `Name`, the holder of `ImplType` (libtorch's TORCH_MODULE_IMPL).
#define ARK_MODULE_IMPL(Name, ImplType)                        \
  class Name : public ::ark::nn::ModuleHolder<ImplType> {      \
   public:                                                     \
    using ::ark::nn::ModuleHolder<ImplType>::ModuleHolder;     \
    using Impl = ImplType;                                     \
  }

/// Declares `Name`, the holder of `NameImpl` (libtorch's TORCH_MODULE).
#define ARK_MODULE(Name) ARK_MODULE_IMPL(Name, Name##Impl)
