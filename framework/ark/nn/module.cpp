// nn::Module: registration, traversal, mode/device changes, state dicts, hooks and the repr.
#include "ark/nn/module.h"

#include <cxxabi.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <sstream>
#include <typeinfo>

#include "ark/autograd/grad_mode.h"
#include "ark/ops/ops.h"

namespace ark::nn {

namespace {

std::string demangle(const char* mangled) {
  int status = 0;
  char* out = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string s = (status == 0 && out) ? out : mangled;
  std::free(out);
  return s;
}

std::string join(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s + "]";
}

}  // namespace

// ---- RemovableHandle ----
void RemovableHandle::remove() {
  auto reg = registry_.lock();
  if (!reg) return;
  auto by_id = [this](const auto& entry) { return entry.first == id_; };
  std::erase_if(reg->pre, by_id);
  std::erase_if(reg->post, by_id);
}

// ---- construction and names ----
Module::Module(std::string name) : name_(std::move(name)) {}
Module::Module() = default;

const std::string& Module::name() const noexcept {
  if (!name_) {
    // Computed lazily: typeid(*this) is the base class while the constructor runs.
    // The unqualified class name, as PyTorch's repr prints it ("Linear", not "ark::nn::LinearImpl").
    std::string n = demangle(typeid(*this).name());
    if (n.find('<') == std::string::npos) {
      const size_t colon = n.rfind("::");
      if (colon != std::string::npos) n = n.substr(colon + 2);
    }
    if (n.size() > 4 && n.compare(n.size() - 4, 4, "Impl") == 0) n.resize(n.size() - 4);
    name_ = std::move(n);
  }
  return *name_;
}

void Module::check_new_name(const std::string& name, const char* what) const {
  ARK_CHECK(!name.empty(), this->name(), ": ", what, " name must not be empty");
  ARK_CHECK(name.find('.') == std::string::npos, this->name(), ": ", what, " name must not contain a dot: '", name, "'");
  ARK_CHECK(!parameters_.contains(name) && !buffers_.contains(name) && !children_.contains(name), this->name(), ": ",
            what, " '", name, "' is already registered (as a parameter, buffer or submodule)");
}

// ---- registration ----
Tensor& Module::register_parameter(std::string name, Tensor tensor, bool requires_grad) {
  if (Tensor* existing = parameters_.find(name)) {
    // Re-registration replaces, as assigning a Parameter attribute does in PyTorch.
    if (tensor.defined()) tensor.set_requires_grad(requires_grad);
    return *existing = std::move(tensor);
  }
  check_new_name(name, "parameter");
  if (tensor.defined()) {
    ARK_CHECK(!requires_grad || tensor.is_floating_point(), this->name(), ": parameter '", name,
              "' must be floating point to require grad, got ", dtype_name(tensor.dtype()));
    ARK_CHECK(tensor.is_leaf(), this->name(), ": parameter '", name, "' must be a leaf tensor (use .detach())");
    tensor.set_requires_grad(requires_grad);
  }
  return parameters_.insert(std::move(name), std::move(tensor));
}

Tensor& Module::register_buffer(std::string name, Tensor tensor, bool persistent) {
  if (Tensor* existing = buffers_.find(name)) {
    if (persistent) non_persistent_buffers_.erase(name);
    else non_persistent_buffers_.insert(name);
    return *existing = std::move(tensor);
  }
  check_new_name(name, "buffer");
  if (!persistent) non_persistent_buffers_.insert(name);
  return buffers_.insert(std::move(name), std::move(tensor));
}

void Module::add_child(std::string name, std::shared_ptr<Module> module, bool replace) {
  ARK_CHECK(module != nullptr, this->name(), ": cannot register an empty module as '", name, "'");
  if (replace) {
    ARK_CHECK(children_.contains(name), this->name(), ": replace_module: there is no submodule '", name, "'");
    children_[name] = std::move(module);
    return;
  }
  check_new_name(name, "submodule");
  children_.insert(std::move(name), std::move(module));
}

void Module::unregister_module(const std::string& name) {
  ARK_CHECK(children_.erase(name), this->name(), ": unregister_module: there is no submodule '", name, "'");
}

// ---- traversal ----
void Module::walk(const std::string& prefix, const std::function<void(const std::string&, const Module&)>& fn) const {
  fn(prefix, *this);
  for (const auto& c : children_) c.value()->walk(prefix + c.key() + ".", fn);
}

void Module::walk_mut(const std::string& prefix, const std::function<void(const std::string&, Module&)>& fn) {
  fn(prefix, *this);
  for (auto& c : children_) c.value()->walk_mut(prefix + c.key() + ".", fn);
}

OrderedDict<std::string, Tensor> Module::named_parameters(bool recurse) const {
  OrderedDict<std::string, Tensor> out("Parameter");
  auto add = [&](const std::string& prefix, const Module& m) {
    for (const auto& p : m.parameters_)
      if (p.value().defined()) out.insert(prefix + p.key(), p.value());
  };
  if (recurse) walk("", add);
  else add("", *this);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const { return named_parameters(recurse).values(); }

OrderedDict<std::string, Tensor> Module::named_buffers(bool recurse) const {
  OrderedDict<std::string, Tensor> out("Buffer");
  auto add = [&](const std::string& prefix, const Module& m) {
    for (const auto& b : m.buffers_)
      if (b.value().defined()) out.insert(prefix + b.key(), b.value());
  };
  if (recurse) walk("", add);
  else add("", *this);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const { return named_buffers(recurse).values(); }

OrderedDict<std::string, std::shared_ptr<Module>> Module::named_children() const { return children_; }

std::vector<std::shared_ptr<Module>> Module::children() const { return children_.values(); }

std::shared_ptr<Module> Module::shared_self(const char* what) const {
  auto self = weak_from_this().lock();
  ARK_CHECK(self != nullptr, what, "(include_self=true) needs the module to be owned by a std::shared_ptr (a "
            "ModuleHolder or std::make_shared); for a module on the stack pass include_self=false");
  return std::const_pointer_cast<Module>(self);
}

OrderedDict<std::string, std::shared_ptr<Module>> Module::named_modules(const std::string& name_prefix,
                                                                       bool include_self) const {
  OrderedDict<std::string, std::shared_ptr<Module>> out("Module");
  if (include_self) out.insert(name_prefix, shared_self("named_modules"));
  std::function<void(const std::string&, const Module&)> rec = [&](const std::string& prefix, const Module& m) {
    for (const auto& c : m.children_) {
      const std::string key = prefix.empty() ? c.key() : prefix + "." + c.key();
      out.insert(key, c.value());
      rec(key, *c.value());
    }
  };
  rec(name_prefix, *this);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::modules(bool include_self) const {
  return named_modules("", include_self).values();
}

std::shared_ptr<Module> Module::find_submodule(const std::string& dotted_name) const {
  const Module* m = this;
  std::shared_ptr<Module> found;
  size_t start = 0;
  while (start <= dotted_name.size()) {
    const size_t dot = dotted_name.find('.', start);
    const std::string part = dotted_name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const auto* child = m->children_.find(part);
    ARK_CHECK(child != nullptr, name(), ": no submodule '", dotted_name, "' ('", part, "' not found in ", m->name(), ")");
    found = *child;
    m = found.get();
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return found;
}

// ---- mode, device, gradients ----
void Module::train(bool on) {
  is_training_ = on;
  for (auto& c : children_) c.value()->train(on);
}

void Module::to_impl(std::optional<Device> device, std::optional<ScalarType> dtype) {
  NoGradGuard no_grad;
  auto convert = [&](const Tensor& t) {
    if (!t.defined()) return;
    const Device dev = device.value_or(t.device());
    const ScalarType dt = (dtype && t.is_floating_point()) ? *dtype : t.dtype();
    if (dev == t.device() && dt == t.dtype()) return;
    t.set_data(t.to(dev, dt));
    const Tensor& g = t.grad();
    if (g.defined()) g.set_data(g.to(dev, dt));
  };
  for (auto& p : parameters_) convert(p.value());
  for (auto& b : buffers_) convert(b.value());
  for (auto& c : children_) c.value()->to_impl(device, dtype);
}

void Module::to(Device device, ScalarType dtype, bool) { to_impl(device, dtype); }
void Module::to(ScalarType dtype, bool) { to_impl(std::nullopt, dtype); }
void Module::to(Device device, bool) { to_impl(device, std::nullopt); }

void Module::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (Tensor& p : parameters()) {
    Tensor& g = p.mutable_grad();
    if (!g.defined()) continue;
    if (set_to_none) {
      g = Tensor();
    } else {
      if (g.grad_fn()) g.detach_();
      else if (g.requires_grad()) g.requires_grad_(false);
      g.zero_();
    }
  }
}

void Module::apply(const ModuleApplyFunction& fn) {
  walk_mut("", [&](const std::string&, Module& m) { fn(m); });
}

void Module::apply(const NamedModuleApplyFunction& fn, const std::string& name_prefix) {
  fn(name_prefix, *this);
  std::function<void(const std::string&, Module&)> rec = [&](const std::string& prefix, Module& m) {
    for (auto& c : m.children_) {
      const std::string key = prefix.empty() ? c.key() : prefix + "." + c.key();
      fn(key, *c.value());
      rec(key, *c.value());
    }
  };
  rec(name_prefix, *this);
}

void Module::apply(const ModulePointerApplyFunction& fn) {
  for (const auto& kv : named_modules("", true)) fn(kv.value());
}

// ---- state ----
OrderedDict<std::string, Tensor> Module::state_dict() const {
  OrderedDict<std::string, Tensor> out("Key");
  walk("", [&](const std::string& prefix, const Module& m) {
    for (const auto& p : m.parameters_)
      if (p.value().defined()) out.insert(prefix + p.key(), p.value().detach());
    for (const auto& b : m.buffers_)
      if (b.value().defined() && !m.non_persistent_buffers_.count(b.key())) out.insert(prefix + b.key(), b.value().detach());
  });
  return out;
}

LoadStateDictResult Module::load_state_dict(const OrderedDict<std::string, Tensor>& state_dict, bool strict) {
  // The destinations are the registered handles themselves, so members see the new values.
  std::vector<std::pair<std::string, Tensor>> own;
  walk_mut("", [&](const std::string& prefix, Module& m) {
    for (auto& p : m.parameters_)
      if (p.value().defined()) own.emplace_back(prefix + p.key(), p.value());
    for (auto& b : m.buffers_)
      if (b.value().defined() && !m.non_persistent_buffers_.count(b.key())) own.emplace_back(prefix + b.key(), b.value());
  });
  LoadStateDictResult result;
  std::vector<std::string> mismatched;
  std::set<std::string> own_keys;
  for (const auto& [key, dst] : own) {
    own_keys.insert(key);
    const Tensor* src = state_dict.find(key);
    if (!src) {
      result.missing_keys.push_back(key);
      continue;
    }
    ARK_CHECK(src->defined(), name(), ": load_state_dict: the tensor for '", key, "' is undefined");
    if (src->sizes() != dst.sizes())
      mismatched.push_back(ark::detail::str_cat(key, " expected ", dst.sizes(), " got ", src->sizes()));
  }
  for (const auto& item : state_dict)
    if (!own_keys.count(item.key())) result.unexpected_keys.push_back(item.key());

  const bool bad_keys = strict && (!result.missing_keys.empty() || !result.unexpected_keys.empty());
  if (bad_keys || !mismatched.empty()) {
    std::vector<std::string> parts;
    if (strict && !result.missing_keys.empty()) parts.push_back("missing: " + join(result.missing_keys));
    if (strict && !result.unexpected_keys.empty()) parts.push_back("unexpected: " + join(result.unexpected_keys));
    for (const auto& m : mismatched) parts.push_back("shape mismatch: " + m);
    std::string msg = "Error(s) in loading state_dict for " + name() + ": ";
    for (size_t i = 0; i < parts.size(); ++i) msg += (i ? "; " : "") + parts[i];
    throw Error(msg);
  }
  NoGradGuard no_grad;
  for (auto& [key, dst] : own)
    if (const Tensor* src = state_dict.find(key)) dst.copy_(*src);
  return result;
}

// ---- hooks ----
RemovableHandle Module::add_pre_hook(ForwardPreHook hook) {
  if (!hooks_) hooks_ = std::make_shared<detail::HookRegistry>();
  const uint64_t id = hooks_->next_id++;
  hooks_->pre.emplace_back(id, std::move(hook));
  return RemovableHandle(hooks_, id);
}

RemovableHandle Module::add_post_hook(ForwardHook hook) {
  if (!hooks_) hooks_ = std::make_shared<detail::HookRegistry>();
  const uint64_t id = hooks_->next_id++;
  hooks_->post.emplace_back(id, std::move(hook));
  return RemovableHandle(hooks_, id);
}

Tensor Module::run_pre_hooks(const Tensor& input) {
  Tensor x = input;
  // A copy, so a hook may remove itself (or others) while the list runs.
  const auto pre = hooks_->pre;
  for (const auto& [id, hook] : pre)
    if (auto r = hook(*this, x)) x = *r;
  return x;
}

Tensor Module::run_post_hooks(const Tensor& input, const Tensor& output) {
  Tensor y = output;
  const auto post = hooks_->post;
  for (const auto& [id, hook] : post)
    if (auto r = hook(*this, input, y)) y = *r;
  return y;
}

// ---- printing ----
void optimize_for_inference(Module& module) {
  module.eval();
  for (const auto& item : module.named_parameters())
    if (item.value().defined() && item.value().device().is_cpu()) item.value().storage()->allow_packing(true);
}

void Module::pretty_print(std::ostream& stream) const {
  // Python's nn.Module.__repr__: extra_repr lines and "(name): child" lines, indented by two.
  std::vector<std::string> lines;
  const std::string extra = extra_repr();
  std::vector<std::string> extra_lines;
  if (!extra.empty()) {
    std::istringstream is(extra);
    for (std::string l; std::getline(is, l);) extra_lines.push_back(l);
  }
  lines = extra_lines;
  for (const auto& c : children_) {
    std::ostringstream os;
    c.value()->pretty_print(os);
    std::string child = os.str();
    std::string indented;
    for (char ch : child) {
      indented += ch;
      if (ch == '\n') indented += "  ";
    }
    lines.push_back("(" + c.key() + "): " + indented);
  }
  stream << name() << '(';
  if (!lines.empty()) {
    if (extra_lines.size() == 1 && children_.empty()) {
      stream << extra_lines[0];
    } else {
      for (const auto& l : lines) stream << "\n  " << l;
      stream << '\n';
    }
  }
  stream << ')';
}

std::ostream& operator<<(std::ostream& stream, const Module& module) {
  module.pretty_print(stream);
  return stream;
}

namespace detail {
std::string repr_double(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, res.ptr);
  if (s.find_first_of(".eni") == std::string::npos) s += ".0";  // Python prints 1.0, not 1
  return s;
}

std::string repr_tuple(IntArrayRef v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + (v.size() == 1 ? ",)" : ")");
}

std::string repr_int_or_tuple(IntArrayRef v) {
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] != v[0]) return repr_tuple(v);
  return v.empty() ? "()" : std::to_string(v[0]);
}

std::string shape_str(IntArrayRef v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
}  // namespace detail

}  // namespace ark::nn
