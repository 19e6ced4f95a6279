// The autograd graph: Node (a backward function), Edge (which input of which node a gradient
// flows to), SavedTensor (a tensor kept for backward, checked against in-place changes), and
// `record`, the one call through which every differentiable op attaches its backward.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ark/autograd/grad_mode.h"
#include "ark/core/tensor.h"

namespace ark::autograd {

using variable_list = std::vector<Tensor>;
using tensor_list = std::vector<Tensor>;
class Node;

struct Edge {
  std::shared_ptr<Node> function;
  uint32_t input_nr = 0;
  bool is_valid() const { return function != nullptr; }
};

/// Shape and dtype of the forward input a gradient is for: the engine reduces broadcast
/// gradients to this shape and casts them to this dtype, so backward rules never do.
struct InputMeta {
  DimVector sizes;
  ScalarType dtype;
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  Node();
  virtual ~Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  /// PyTorch's name for the node type ("AddBackward0", "torch::autograd::AccumulateGrad").
  virtual std::string name() const = 0;
  /// Given the gradients of the forward outputs, returns one gradient per next edge.
  virtual variable_list apply(variable_list&& grads) = 0;
  /// Drops what was saved for backward; a later apply() must fail clearly.
  virtual void release_variables() {}

  const std::vector<Edge>& next_edges() const { return next_edges_; }
  const Edge& next_edge(size_t i) const { return next_edges_[i]; }
  size_t num_inputs() const { return num_outputs_; }  // forward outputs = backward inputs
  size_t num_outputs() const { return next_edges_.size(); }
  uint64_t sequence_nr() const { return sequence_nr_; }

  // Filled by record() / Function<T>.
  std::vector<Edge> next_edges_;
  std::vector<InputMeta> input_meta_;    // per next edge
  std::vector<InputMeta> output_meta_;   // per forward output: to materialise a missing gradient as zeros
  size_t num_outputs_ = 1;
  /// Hooks on the gradient of forward output i (tensor hooks of non-leaves, retain_grad).
  std::vector<std::pair<uint32_t, std::function<Tensor(const Tensor&)>>> pre_hooks_;

 protected:
  uint64_t sequence_nr_;
};

/// A node whose backward is a closure written beside its forward.
class FunctionNode final : public Node {
 public:
  using Fn = std::function<variable_list(const variable_list&)>;
  FunctionNode(const char* name, Fn fn) : name_(name), fn_(std::move(fn)) {}
  std::string name() const override { return name_; }
  variable_list apply(variable_list&& grads) override;
  void release_variables() override { fn_ = nullptr; released_ = true; }

 private:
  const char* name_;
  Fn fn_;
  bool released_ = false;
};

/// Accumulates the incoming gradient into a leaf's .grad().
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf);
  std::string name() const override { return "torch::autograd::AccumulateGrad"; }
  variable_list apply(variable_list&& grads) override;
  /// Set by the engine: accumulate out of place so the new .grad keeps its graph.
  static thread_local bool create_graph;

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

/// A tensor kept for backward. Remembers the storage version at save time and refuses to
/// unpack if an in-place op has changed the data since. A saved *output* does not hold its
/// grad_fn (that would be a reference cycle); when unpacked during a create_graph backward it
/// is reattached to the node being run, so higher-order gradients still flow through it.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t, bool is_output);
  Tensor get() const;
  bool defined() const { return data_.defined(); }

 private:
  Tensor data_;
  uint32_t version_ = 0;
  uint32_t output_nr_ = 0;
  bool is_output_ = false;
  bool requires_grad_ = false;
};

inline SavedTensor save(const Tensor& t) { return SavedTensor(t, false); }
inline SavedTensor save_output(const Tensor& t) { return SavedTensor(t, true); }

/// The node whose apply() is running on this thread (used to reattach saved outputs).
Node* current_node();
/// Inside a backward closure: whether the node's input `i` needs a gradient (its edge leads
/// somewhere). Lets expensive rules skip gradients nobody will use.
inline bool input_needs_grad(size_t i) {
  Node* n = current_node();
  return !n || (i < n->num_outputs() && n->next_edge(i).is_valid());
}
/// Makes `node` the current node for a scope (every Node::apply that unpacks saved outputs).
class CurrentNodeGuard {
 public:
  explicit CurrentNodeGuard(Node* node);
  ~CurrentNodeGuard();
  CurrentNodeGuard(const CurrentNodeGuard&) = delete;
  CurrentNodeGuard& operator=(const CurrentNodeGuard&) = delete;

 private:
  Node* prev_;
};

inline bool requires_grad(const Tensor& t) { return t.defined() && t.requires_grad(); }
/// True when grad mode is on and some input requires grad: only then is a node recorded.
template <class... Ts>
bool needs_grad(const Ts&... ts) {
  return GradMode::is_enabled() && (requires_grad(ts) || ...);
}
bool needs_grad_list(TensorList ts);

/// The edge a gradient for `t` should flow along (its grad_fn, or its leaf accumulator).
Edge gradient_edge(const Tensor& t);

/// Creates a FunctionNode for `outputs` computed from `inputs` and sets the outputs' history.
/// Call only when needs_grad(inputs...) holds. For an in-place op, `outputs` holds the modified
/// tensor, whose previous history becomes the node's input edge.
std::shared_ptr<Node> record(const char* name, TensorList inputs, ArrayRef<Tensor> outputs, FunctionNode::Fn fn);
inline void record(const char* name, TensorList inputs, const Tensor& output, FunctionNode::Fn fn) {
  record(name, inputs, ArrayRef<Tensor>(&output, 1), std::move(fn));
}
/// Connects `outputs` to an existing node (used by custom Functions and multi-output ops).
void set_history(const Tensor& output, const std::shared_ptr<Node>& node, uint32_t output_nr);

/// Checks an in-place op on `t` is legal for autograd (not a leaf that requires grad, nor a view
/// of one, while grad mode is on) and bumps its version counter.
void check_inplace(const Tensor& t, const char* op);

/// Finishes an in-place op computed out of place: writes `result` into `self` and makes the
/// result's node self's history (so the node keeps the op's name, as PyTorch's in-place nodes).
/// Writes through a view go through copy_ instead (CopySlices).
Tensor& rebase_history(Tensor& self, const Tensor& result, const char* op);

/// Reduces a broadcast gradient to `sizes` (sums leading and size-1 dims).
Tensor sum_to(const Tensor& grad, IntArrayRef sizes);

/// Records the history of the in-place write `self.copy_(src)`: the only in-place op with its
/// own autograd rule. Other in-place ops with autograd run as `self.copy_(op(self.clone(), ...))`.
/// Writing through a view of a tensor that requires grad rewrites the base's history (CopySlices).
void record_copy(const Tensor& self, const Tensor& src);

}  // namespace ark::autograd
