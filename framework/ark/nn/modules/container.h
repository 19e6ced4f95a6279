// The containers: Sequential (chains forwards; children "0", "1", ... or given names),
// ModuleList (indexed children, no forward) and ModuleDict (named children, no forward), as
// torch.nn.Sequential/ModuleList/ModuleDict and libtorch's holders of the same names. Their
// children's names are checkpoint keys: "layer1.0.conv1.weight", "encoder.layer.3.output...".
#pragma once
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ark/nn/modules/any_module.h"

namespace ark::nn {

class SequentialImpl : public Module {
 public:
  SequentialImpl() = default;
  template <class... Modules>
  explicit SequentialImpl(Modules&&... modules) {
    (push_back(std::forward<Modules>(modules)), ...);
  }
  explicit SequentialImpl(std::initializer_list<NamedAnyModule> named_modules);
  explicit SequentialImpl(const OrderedDict<std::string, AnyModule>& named_modules);

  /// Appends under the name "<size()>".
  void push_back(AnyModule module) { push_back(std::to_string(modules_.size()), std::move(module)); }
  void push_back(std::string name, AnyModule module);
  void extend(const SequentialImpl& other);

  /// Each module's forward on the previous one's output.
  Tensor forward(const Tensor& input);

  std::shared_ptr<Module> operator[](size_t index) const { return ptr(index); }
  std::shared_ptr<Module> ptr(size_t index) const;
  template <class T>
  std::shared_ptr<T> ptr(size_t index) const {
    return std::dynamic_pointer_cast<T>(ptr(index));
  }
  /// The module at `index` as T (an Impl type); throws on a type mismatch.
  template <class T>
  T& at(size_t index) const {
    auto p = ptr<T>(index);
    ARK_CHECK(p != nullptr, "Sequential: module ", index, " is a ", ptr(index)->name(), ", not the type requested");
    return *p;
  }
  size_t size() const noexcept { return modules_.size(); }
  bool is_empty() const noexcept { return modules_.empty(); }
  std::vector<AnyModule>::const_iterator begin() const { return modules_.begin(); }
  std::vector<AnyModule>::const_iterator end() const { return modules_.end(); }

 private:
  std::vector<AnyModule> modules_;
};

/// Holder with the braced named-module constructor: Sequential({{"fc", Linear(4, 2)}}).
class Sequential : public ModuleHolder<SequentialImpl> {
 public:
  using ModuleHolder<SequentialImpl>::ModuleHolder;
  using Impl = SequentialImpl;
  Sequential() : ModuleHolder() {}
  Sequential(std::initializer_list<NamedAnyModule> named_modules)
      : ModuleHolder(std::make_shared<SequentialImpl>(named_modules)) {}
};

class ModuleListImpl : public Module {
 public:
  ModuleListImpl() = default;
  template <class... Modules>
  explicit ModuleListImpl(Modules&&... modules) {
    (push_back(std::forward<Modules>(modules)), ...);
  }

  void push_back(std::shared_ptr<Module> module);
  template <class H, std::enable_if_t<detail::ModuleHolderType<H>, int> = 0>
  void push_back(const H& holder) {
    push_back(std::shared_ptr<Module>(holder.ptr()));
  }
  /// Inserts before `index` and renumbers the children after it.
  void insert(size_t index, std::shared_ptr<Module> module);
  template <class H, std::enable_if_t<detail::ModuleHolderType<H>, int> = 0>
  void insert(size_t index, const H& holder) {
    insert(index, std::shared_ptr<Module>(holder.ptr()));
  }
  void extend(const ModuleListImpl& other);

  std::shared_ptr<Module> operator[](size_t index) const { return ptr(index); }
  std::shared_ptr<Module> ptr(size_t index) const;
  template <class T>
  std::shared_ptr<T> ptr(size_t index) const {
    return std::dynamic_pointer_cast<T>(ptr(index));
  }
  template <class T>
  T& at(size_t index) const {
    auto p = ptr<T>(index);
    ARK_CHECK(p != nullptr, "ModuleList: module ", index, " is a ", ptr(index)->name(), ", not the type requested");
    return *p;
  }
  size_t size() const noexcept { return modules_.size(); }
  bool is_empty() const noexcept { return modules_.empty(); }
  std::vector<std::shared_ptr<Module>>::const_iterator begin() const { return modules_.begin(); }
  std::vector<std::shared_ptr<Module>>::const_iterator end() const { return modules_.end(); }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};
ARK_MODULE(ModuleList);

class ModuleDictImpl : public Module {
 public:
  ModuleDictImpl() = default;
  explicit ModuleDictImpl(const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& modules);
  explicit ModuleDictImpl(const OrderedDict<std::string, std::shared_ptr<Module>>& modules);

  /// Adds `module` under `key`, replacing a module already there.
  std::shared_ptr<Module> insert(const std::string& key, std::shared_ptr<Module> module);
  template <class H, std::enable_if_t<detail::ModuleHolderType<H>, int> = 0>
  std::shared_ptr<Module> insert(const std::string& key, const H& holder) {
    return insert(key, std::shared_ptr<Module>(holder.ptr()));
  }
  void update(const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& modules);
  /// Removes and returns the module under `key`.
  std::shared_ptr<Module> pop(const std::string& key);
  void clear();

  std::shared_ptr<Module> operator[](const std::string& key) const;
  template <class T>
  T& at(const std::string& key) const {
    auto p = std::dynamic_pointer_cast<T>((*this)[key]);
    ARK_CHECK(p != nullptr, "ModuleDict: module '", key, "' is a ", (*this)[key]->name(), ", not the type requested");
    return *p;
  }
  bool contains(const std::string& key) const { return modules_.contains(key); }
  std::vector<std::string> keys() const { return modules_.keys(); }
  std::vector<std::shared_ptr<Module>> values() const { return modules_.values(); }
  const std::vector<OrderedDict<std::string, std::shared_ptr<Module>>::Item>& items() const { return modules_.items(); }
  size_t size() const noexcept { return modules_.size(); }
  bool is_empty() const noexcept { return modules_.is_empty(); }
  auto begin() const { return modules_.begin(); }
  auto end() const { return modules_.end(); }

 private:
  OrderedDict<std::string, std::shared_ptr<Module>> modules_{"Module"};
};
ARK_MODULE(ModuleDict);

}  // namespace ark::nn
