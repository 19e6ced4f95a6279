// The backward engine: dependency counting over the graph reachable from the roots, then nodes
// run in order of readiness (latest-created first among ready nodes, as PyTorch), gradients
// reduced to each input's shape and dtype here and nowhere else.
#include "ark/autograd/engine.h"

#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "ark/ops/ops.h"

namespace ark::autograd {

namespace {

struct ReadyOrder {
  bool operator()(Node* a, Node* b) const { return a->sequence_nr() < b->sequence_nr(); }
};

// Reduces and casts one gradient to what its edge's input expects.
Tensor conform(Tensor g, const InputMeta& meta, const Node& producer) {
  if (!g.defined()) return g;
  if (g.sizes() != IntArrayRef(meta.sizes)) {
    ARK_CHECK(g.dim() >= static_cast<int64_t>(meta.sizes.size()), "backward of ", producer.name(),
              " returned a gradient of shape ", g.sizes(), " for an input of shape ", IntArrayRef(meta.sizes));
    g = sum_to(g, meta.sizes);
  }
  if (g.dtype() != meta.dtype && is_floating_point(meta.dtype)) g = g.to(meta.dtype);
  return g;
}

void accumulate(Tensor& slot, const Tensor& g) {
  if (!g.defined()) return;
  if (!slot.defined()) slot = g;
  else slot = slot + g;
}

struct CaptureTarget {
  Node* node;
  uint32_t input_nr;
};

// Runs the graph. With `captures`, returns the gradient arriving at each target (and runs only
// the nodes that lead to one); otherwise leaves accumulate into .grad().
variable_list run(const variable_list& roots, const variable_list& grad_roots, bool keep_graph, bool create_graph,
                  const std::vector<CaptureTarget>* captures, const std::unordered_set<Node*>* accumulate_only) {
  ARK_CHECK(grad_roots.empty() || grad_roots.size() == roots.size(), "backward: got ", roots.size(),
            " tensors but ", grad_roots.size(), " gradients");
  std::vector<Edge> root_edges;
  variable_list root_grads;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    ARK_CHECK(r.defined(), "backward: tensor ", i, " is undefined");
    ARK_CHECK(r.requires_grad(), "element ", i, " of tensors does not require grad and does not have a grad_fn");
    Tensor g = grad_roots.empty() ? Tensor() : grad_roots[i];
    if (!g.defined()) {
      ARK_CHECK(r.numel() == 1, "grad can be implicitly created only for scalar outputs (got a tensor of shape ",
                r.sizes(), "); pass a gradient");
      g = ark::ones_like(r);
    } else {
      ARK_CHECK(g.sizes() == r.sizes(), "backward: gradient ", i, " has shape ", g.sizes(),
                " but the tensor has shape ", r.sizes());
    }
    root_edges.push_back(gradient_edge(r));
    root_grads.push_back(g);
  }

  // Dependencies: number of incoming edges per node in the reachable graph.
  std::unordered_map<Node*, int> deps;
  std::vector<Node*> order;
  {
    std::vector<Node*> stack;
    std::unordered_set<Node*> seen;
    for (const Edge& e : root_edges)
      if (seen.insert(e.function.get()).second) stack.push_back(e.function.get());
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      order.push_back(n);
      for (const Edge& e : n->next_edges()) {
        if (!e.is_valid()) continue;
        deps[e.function.get()]++;
        if (seen.insert(e.function.get()).second) stack.push_back(e.function.get());
      }
    }
  }

  // Which nodes lead to a capture target (only those run when capturing).
  std::unordered_map<Node*, std::vector<size_t>> capture_slots;  // node -> capture indices
  std::unordered_set<Node*> needed;
  if (captures) {
    for (size_t i = 0; i < captures->size(); ++i) capture_slots[(*captures)[i].node].push_back(i);
    // Reverse DFS order is not topological in general; iterate to a fixed point.
    bool changed = true;
    for (Node* n : order)
      if (capture_slots.count(n)) needed.insert(n);
    while (changed) {
      changed = false;
      for (Node* n : order) {
        if (needed.count(n)) continue;
        for (const Edge& e : n->next_edges())
          if (e.is_valid() && needed.count(e.function.get())) {
            needed.insert(n);
            changed = true;
            break;
          }
      }
    }
  }

  std::unordered_map<Node*, variable_list> buffers;
  std::priority_queue<Node*, std::vector<Node*>, ReadyOrder> ready;
  std::unordered_map<Node*, std::shared_ptr<Node>> keep_alive;
  for (size_t i = 0; i < root_edges.size(); ++i) {
    Node* n = root_edges[i].function.get();
    keep_alive[n] = root_edges[i].function;
    auto& buf = buffers[n];
    if (buf.size() < n->num_inputs()) buf.resize(std::max<size_t>(n->num_inputs(), 1));
    accumulate(buf[root_edges[i].input_nr], root_grads[i]);
  }
  for (auto& [n, _] : buffers)
    if (deps[n] == 0) ready.push(n);

  variable_list captured(captures ? captures->size() : 0);
  AutoGradMode mode(create_graph);
  const bool prev_cg = AccumulateGrad::create_graph;
  AccumulateGrad::create_graph = create_graph;
  struct RestoreCG {
    bool v;
    ~RestoreCG() { AccumulateGrad::create_graph = v; }
  } restore{prev_cg};

  while (!ready.empty()) {
    Node* n = ready.top();
    ready.pop();
    variable_list grads = std::move(buffers[n]);
    buffers.erase(n);
    grads.resize(std::max<size_t>(n->num_inputs(), 1));
    for (auto& [idx, hook] : n->pre_hooks_) {
      if (idx < grads.size() && grads[idx].defined()) {
        Tensor r = hook(grads[idx]);
        if (r.defined()) grads[idx] = r;
      }
    }
    if (captures) {
      auto it = capture_slots.find(n);
      if (it != capture_slots.end())
        for (size_t ci : it->second) captured[ci] = grads[(*captures)[ci].input_nr];
    }
    const bool is_accumulator = dynamic_cast<AccumulateGrad*>(n) != nullptr;
    bool any_grad = false;
    for (const Tensor& g : grads) any_grad = any_grad || g.defined();
    const bool execute = !any_grad ? false
                       : captures ? (needed.count(n) && !capture_slots.count(n) && !is_accumulator)
                                  : (!accumulate_only || !is_accumulator || accumulate_only->count(n));
    variable_list outs;
    if (execute) {
      // Materialise missing gradients of multi-output nodes as zeros.
      for (size_t i = 0; i < grads.size() && i < n->output_meta_.size(); ++i)
        if (!grads[i].defined())
          grads[i] = ark::zeros(n->output_meta_[i].sizes, n->output_meta_[i].dtype);
      outs = n->apply(std::move(grads));
      if (!keep_graph) n->release_variables();
    }
    const auto& edges = n->next_edges();
    for (size_t i = 0; i < edges.size(); ++i) {
      const Edge& e = edges[i];
      if (!e.is_valid()) continue;
      Node* next = e.function.get();
      if (execute && i < outs.size() && outs[i].defined()) {
        auto& buf = buffers[next];
        if (buf.size() < std::max<size_t>(next->num_inputs(), 1)) buf.resize(std::max<size_t>(next->num_inputs(), 1));
        accumulate(buf[e.input_nr], conform(outs[i], n->input_meta_[i], *n));
        keep_alive.emplace(next, e.function);
      }
      if (--deps[next] == 0) {
        keep_alive.emplace(next, e.function);
        if (!buffers.count(next)) buffers[next] = {};
        ready.push(next);
      }
    }
  }
  return captured;
}

}  // namespace

void backward(const variable_list& tensors, const variable_list& grad_tensors, std::optional<bool> retain_graph,
              bool create_graph, const variable_list& inputs) {
  const bool keep = retain_graph.value_or(create_graph);
  if (inputs.empty()) {
    run(tensors, grad_tensors, keep, create_graph, nullptr, nullptr);
    return;
  }
  std::unordered_set<Node*> only;
  for (const Tensor& in : inputs) {
    ARK_CHECK(in.requires_grad() && in.is_leaf(), "backward: `inputs` must be leaf tensors that require grad");
    only.insert(gradient_edge(in).function.get());
  }
  run(tensors, grad_tensors, keep, create_graph, nullptr, &only);
}

variable_list grad(const variable_list& outputs, const variable_list& inputs, const variable_list& grad_outputs,
                   std::optional<bool> retain_graph, bool create_graph, bool allow_unused) {
  const bool keep = retain_graph.value_or(create_graph);
  std::vector<CaptureTarget> targets;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& in = inputs[i];
    ARK_CHECK(in.defined() && in.requires_grad(), "grad: input ", i, " does not require grad");
    if (in.is_leaf()) {
      auto acc = in.unsafeGetTensorImpl()->autograd_meta().grad_accumulator.lock();
      targets.push_back({acc.get(), 0});  // null when the leaf is not in any graph
    } else {
      targets.push_back({in.grad_fn().get(), in.output_nr()});
    }
  }
  variable_list result = run(outputs, grad_outputs, keep, create_graph, &targets, nullptr);
  for (size_t i = 0; i < result.size(); ++i) {
    ARK_CHECK(result[i].defined() || allow_unused, "grad: one of the differentiated tensors (input ", i,
              ") appears to not have been used in the graph; set allow_unused=true if this is desired");
    if (result[i].defined() && result[i].sizes() != inputs[i].sizes())
      result[i] = sum_to(result[i], inputs[i].sizes());
  }
  return result;
}

}  // namespace ark::autograd
