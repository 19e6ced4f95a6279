// AnyModule: a type-erased module with a single-tensor forward (libtorch's AnyModule, reduced to
// what Sequential needs). Built implicitly from a holder (nn::Linear) or a shared_ptr<Impl>.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "ark/nn/module.h"

namespace ark::nn {

class AnyModule {
 public:
  AnyModule() = default;
  template <class M, std::enable_if_t<std::is_base_of_v<Module, M>, int> = 0>
  AnyModule(std::shared_ptr<M> module) : module_(module) {  // NOLINT
    static_assert(requires(M& m, const Tensor& x) { { m.forward(x) } -> std::convertible_to<Tensor>; },
                  "AnyModule/Sequential: the module needs a forward(const Tensor&) returning a Tensor");
    forward_ = [m = module.get()](const Tensor& x) -> Tensor { return m->forward(x); };
  }
  template <class H, std::enable_if_t<detail::ModuleHolderType<H>, int> = 0>
  AnyModule(const H& holder) : AnyModule(holder.ptr()) {}  // NOLINT

  Tensor forward(const Tensor& input) const {
    ARK_CHECK(forward_ != nullptr, "AnyModule: forward on an empty AnyModule");
    return forward_(input);
  }
  const std::shared_ptr<Module>& ptr() const { return module_; }
  template <class T>
  std::shared_ptr<T> ptr() const {
    return std::dynamic_pointer_cast<T>(module_);
  }
  bool is_empty() const { return module_ == nullptr; }

 private:
  std::shared_ptr<Module> module_;
  // Calls through a raw pointer: module_ keeps the module alive for as long as forward_ exists.
  std::function<Tensor(const Tensor&)> forward_;
};

/// A name and a module, for Sequential({{"conv", Conv2d(...)}, {"relu", ReLU()}}).
class NamedAnyModule {
 public:
  template <class M>
  NamedAnyModule(std::string name, M&& module) : name_(std::move(name)), module_(std::forward<M>(module)) {}
  const std::string& name() const { return name_; }
  const AnyModule& module() const { return module_; }

 private:
  std::string name_;
  AnyModule module_;
};

}  // namespace ark::nn
