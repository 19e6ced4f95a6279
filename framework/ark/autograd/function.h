// Custom autograd functions in libtorch's form:
//   struct MulConstant : ark::autograd::Function<MulConstant> {
//     static Tensor forward(AutogradContext* ctx, Tensor x, double c) {
//       ctx->saved_data["c"] = c; ctx->save_for_backward({x}); return x * c; }
//     static variable_list backward(AutogradContext* ctx, variable_list grads) {
//       return {grads[0] * ctx->saved_data["c"].toDouble(), Tensor()}; }
//   };
//   Tensor y = MulConstant::apply(x, 2.0);
// backward returns one gradient per forward argument (an undefined Tensor for non-tensors).
#pragma once
#include <cxxabi.h>

#include <cstdlib>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include "ark/autograd/node.h"

namespace ark {

/// A small tagged value for AutogradContext::saved_data (libtorch's IValue subset).
class IValue {
 public:
  IValue() = default;
  IValue(Tensor t) : v_(std::move(t)) {}  // NOLINT
  IValue(double d) : v_(d) {}  // NOLINT
  IValue(int64_t i) : v_(i) {}  // NOLINT
  IValue(int i) : v_(static_cast<int64_t>(i)) {}  // NOLINT
  IValue(bool b) : v_(b) {}  // NOLINT
  IValue(std::string s) : v_(std::move(s)) {}  // NOLINT
  IValue(const char* s) : v_(std::string(s)) {}  // NOLINT
  IValue(std::vector<int64_t> v) : v_(std::move(v)) {}  // NOLINT
  bool isTensor() const { return std::holds_alternative<Tensor>(v_); }
  bool isDouble() const { return std::holds_alternative<double>(v_); }
  bool isInt() const { return std::holds_alternative<int64_t>(v_); }
  bool isBool() const { return std::holds_alternative<bool>(v_); }
  bool isString() const { return std::holds_alternative<std::string>(v_); }
  bool isNone() const { return std::holds_alternative<std::monostate>(v_); }
  const Tensor& toTensor() const { return get<Tensor>("Tensor"); }
  double toDouble() const { return isInt() ? static_cast<double>(std::get<int64_t>(v_)) : get<double>("double"); }
  int64_t toInt() const { return get<int64_t>("int"); }
  bool toBool() const { return get<bool>("bool"); }
  const std::string& toStringRef() const { return get<std::string>("string"); }
  const std::vector<int64_t>& toIntVector() const { return get<std::vector<int64_t>>("int list"); }

 private:
  template <class T>
  const T& get(const char* what) const {
    ARK_CHECK(std::holds_alternative<T>(v_), "IValue: expected a ", what, " value");
    return std::get<T>(v_);
  }
  std::variant<std::monostate, Tensor, double, int64_t, bool, std::string, std::vector<int64_t>> v_;
};

namespace autograd {

class AutogradContext {
 public:
  std::unordered_map<std::string, IValue> saved_data;

  void save_for_backward(variable_list to_save) { to_save_ = std::move(to_save); }
  void mark_dirty(const variable_list& inputs) {
    for (const Tensor& t : inputs) dirty_.insert(t.unsafeGetTensorImpl());
  }
  void mark_non_differentiable(const variable_list& outputs) {
    for (const Tensor& t : outputs) non_differentiable_.insert(t.unsafeGetTensorImpl());
  }
  void set_materialize_grads(bool value) { materialize_grads_ = value; }
  variable_list get_saved_variables() const {
    ARK_CHECK(!released_, "Trying to backward through the graph a second time (saved variables of a custom "
              "Function were freed); specify retain_graph=true");
    variable_list out;
    for (const SavedTensor& s : saved_) out.push_back(s.get());
    return out;
  }
  bool needs_input_grad(size_t input_index) const {
    return input_index < needs_input_grad_.size() && needs_input_grad_[input_index];
  }

  // Used by Function<T>::apply.
  variable_list to_save_;
  std::vector<SavedTensor> saved_;
  std::unordered_set<const TensorImpl*> dirty_, non_differentiable_;
  std::vector<bool> needs_input_grad_;
  bool materialize_grads_ = true;
  bool released_ = false;
};

namespace detail {
inline std::string demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string s = status == 0 && d ? d : name;
  std::free(d);
  return s;
}

template <class T>
void collect_tensors(std::vector<Tensor>& tensors, std::vector<int>& arg_of, int arg, const T& value) {
  if constexpr (std::is_same_v<std::decay_t<T>, Tensor>) {
    tensors.push_back(value);
    arg_of.push_back(arg);
  } else if constexpr (std::is_same_v<std::decay_t<T>, variable_list>) {
    for (const Tensor& t : value) {
      tensors.push_back(t);
      arg_of.push_back(arg);
    }
  }
}

inline variable_list as_list(const Tensor& t) { return {t}; }
inline variable_list as_list(const variable_list& v) { return v; }
}  // namespace detail

template <class T>
class CppNode final : public Node {
 public:
  std::string name() const override { return "CppNode<" + detail::demangle(typeid(T).name()) + ">"; }
  variable_list apply(variable_list&& grads) override {
    ARK_CHECK(!ctx_.released_, "Trying to backward through the graph a second time (", name(),
              "); specify retain_graph=true");
    CurrentNodeGuard scope(this);
    variable_list g = std::move(grads);
    variable_list arg_grads = T::backward(&ctx_, g);
    ARK_CHECK(arg_grads.size() >= static_cast<size_t>(num_args_), name(), ": backward returned ", arg_grads.size(),
              " gradients but forward took ", num_args_, " arguments");
    // Map per-argument gradients to the tensor inputs' edges.
    variable_list out;
    for (int a : arg_of_) out.push_back(arg_grads[static_cast<size_t>(a)]);
    return out;
  }
  void release_variables() override {
    ctx_.saved_.clear();
    ctx_.released_ = true;
  }

  AutogradContext ctx_;
  std::vector<int> arg_of_;  // tensor input i came from forward argument arg_of_[i]
  int num_args_ = 0;
};

template <class T>
struct Function {
  template <class... Args>
  static auto apply(Args&&... args) {
    auto node = std::make_shared<CppNode<T>>();
    std::vector<Tensor> inputs;
    int arg = 0;
    (detail::collect_tensors(inputs, node->arg_of_, arg++, args), ...);
    node->num_args_ = static_cast<int>(sizeof...(Args));
    const bool grad = needs_grad_list(inputs);
    for (int i = 0; i < static_cast<int>(sizeof...(Args)); ++i) {
      bool needs = false;
      for (size_t k = 0; k < inputs.size(); ++k)
        if (node->arg_of_[k] == i && inputs[k].requires_grad()) needs = true;
      node->ctx_.needs_input_grad_.push_back(needs);
    }
    using Out = decltype(T::forward(&node->ctx_, std::forward<Args>(args)...));
    Out result = [&] {
      AutoGradMode off(false);
      return T::forward(&node->ctx_, std::forward<Args>(args)...);
    }();
    variable_list outputs = detail::as_list(result);
    for (const Tensor& o : outputs)
      if (node->ctx_.dirty_.count(o.unsafeGetTensorImpl())) o.storage()->bump_version();
    if (grad) {
      for (const Tensor& in : inputs) {
        node->next_edges_.push_back(gradient_edge(in));
        node->input_meta_.push_back({in.sizes().vec(), in.dtype()});
      }
      node->num_outputs_ = outputs.size();
      for (uint32_t i = 0; i < outputs.size(); ++i) {
        node->output_meta_.push_back({outputs[i].sizes().vec(), outputs[i].dtype()});
        if (!node->ctx_.non_differentiable_.count(outputs[i].unsafeGetTensorImpl()) && outputs[i].is_floating_point())
          set_history(outputs[i], node, i);
      }
    }
    // Saved tensors: outputs are saved without their grad_fn (no reference cycle).
    for (const Tensor& s : node->ctx_.to_save_) {
      bool is_output = false;
      for (const Tensor& o : outputs) is_output = is_output || o.is_same(s);
      node->ctx_.saved_.emplace_back(s, is_output);
    }
    node->ctx_.to_save_.clear();
    if constexpr (std::is_same_v<Out, Tensor>) return outputs[0];
    else return outputs;
  }
};

}  // namespace autograd
}  // namespace ark
