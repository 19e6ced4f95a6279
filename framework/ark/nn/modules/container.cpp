// Sequential, ModuleList, ModuleDict.
#include "ark/nn/modules/container.h"

namespace ark::nn {

// ---- Sequential ----
SequentialImpl::SequentialImpl(std::initializer_list<NamedAnyModule> named_modules) {
  for (const auto& m : named_modules) push_back(m.name(), m.module());
}

SequentialImpl::SequentialImpl(const OrderedDict<std::string, AnyModule>& named_modules) {
  for (const auto& item : named_modules) push_back(item.key(), item.value());
}

void SequentialImpl::push_back(std::string name, AnyModule module) {
  ARK_CHECK(!module.is_empty(), "Sequential: cannot add an empty module as '", name, "'");
  register_module(std::move(name), module.ptr());
  modules_.push_back(std::move(module));
}

void SequentialImpl::extend(const SequentialImpl& other) {
  for (const auto& m : other.modules_) push_back(m);
}

Tensor SequentialImpl::forward(const Tensor& input) {
  return with_hooks(input, [&](const Tensor& x) {
    Tensor y = x;
    for (const auto& m : modules_) y = m.forward(y);
    return y;
  });
}

std::shared_ptr<Module> SequentialImpl::ptr(size_t index) const {
  ARK_CHECK(index < modules_.size(), "Sequential: index ", index, " is out of range (size ", modules_.size(), ")");
  return modules_[index].ptr();
}

// ---- ModuleList ----
void ModuleListImpl::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
}

void ModuleListImpl::insert(size_t index, std::shared_ptr<Module> module) {
  ARK_CHECK(index <= modules_.size(), "ModuleList: insert index ", index, " is out of range (size ", modules_.size(), ")");
  ARK_CHECK(module != nullptr, "ModuleList: cannot insert an empty module");
  // Children are named by position, so every child from `index` on is re-registered.
  for (size_t i = index; i < modules_.size(); ++i) unregister_module(std::to_string(i));
  modules_.insert(modules_.begin() + static_cast<std::ptrdiff_t>(index), std::move(module));
  for (size_t i = index; i < modules_.size(); ++i) register_module(std::to_string(i), modules_[i]);
}

void ModuleListImpl::extend(const ModuleListImpl& other) {
  for (const auto& m : other.modules_) push_back(m);
}

std::shared_ptr<Module> ModuleListImpl::ptr(size_t index) const {
  ARK_CHECK(index < modules_.size(), "ModuleList: index ", index, " is out of range (size ", modules_.size(), ")");
  return modules_[index];
}

// ---- ModuleDict ----
ModuleDictImpl::ModuleDictImpl(const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& modules) {
  update(modules);
}

ModuleDictImpl::ModuleDictImpl(const OrderedDict<std::string, std::shared_ptr<Module>>& modules) {
  for (const auto& item : modules) insert(item.key(), item.value());
}

std::shared_ptr<Module> ModuleDictImpl::insert(const std::string& key, std::shared_ptr<Module> module) {
  ARK_CHECK(module != nullptr, "ModuleDict: cannot insert an empty module as '", key, "'");
  if (modules_.contains(key)) {
    modules_[key] = module;
    replace_module(key, module);
  } else {
    modules_.insert(key, module);
    register_module(key, module);
  }
  return module;
}

void ModuleDictImpl::update(const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& modules) {
  for (const auto& [key, module] : modules) insert(key, module);
}

std::shared_ptr<Module> ModuleDictImpl::pop(const std::string& key) {
  auto m = (*this)[key];
  modules_.erase(key);
  unregister_module(key);
  return m;
}

void ModuleDictImpl::clear() {
  for (const auto& key : modules_.keys()) unregister_module(key);
  modules_.clear();
}

std::shared_ptr<Module> ModuleDictImpl::operator[](const std::string& key) const {
  const auto* m = modules_.find(key);
  ARK_CHECK(m != nullptr, "ModuleDict: no module under key '", key, "'");
  return *m;
}

}  // namespace ark::nn
