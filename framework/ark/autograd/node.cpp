// Node bookkeeping, saved tensors, recording of op history, and the in-place/view rules.
#include "ark/autograd/node.h"

#include <atomic>

#include "ark/backend/backend.h"
#include "ark/ops/ops.h"

namespace ark {

namespace {
thread_local bool g_grad_enabled = true;
thread_local bool g_inference = false;
}  // namespace

bool GradMode::is_enabled() { return g_grad_enabled; }
void GradMode::set_enabled(bool enabled) { g_grad_enabled = enabled; }
bool InferenceMode::is_enabled() { return !g_grad_enabled && g_inference; }

namespace autograd {

namespace {
std::atomic<uint64_t> g_sequence_nr{0};
thread_local Node* g_current_node = nullptr;


InputMeta meta_of(const Tensor& t) { return {t.sizes().vec(), t.dtype()}; }

// A zero tensor laid out like a view base, so a view's storage strides address it the same way.
Tensor zeros_strided(IntArrayRef sizes, IntArrayRef strides, ScalarType dtype) {
  Tensor t = ark::empty_strided(sizes, strides, dtype);
  t.zero_();
  return t;
}
}  // namespace

Node::Node() : sequence_nr_(g_sequence_nr.fetch_add(1, std::memory_order_relaxed)) {}

Node* current_node() { return g_current_node; }
CurrentNodeGuard::CurrentNodeGuard(Node* node) : prev_(g_current_node) { g_current_node = node; }
CurrentNodeGuard::~CurrentNodeGuard() { g_current_node = prev_; }

variable_list FunctionNode::apply(variable_list&& grads) {
  ARK_CHECK(!released_,
            "Trying to backward through the graph a second time (or directly access saved tensors after they "
            "have already been freed). Saved intermediate values of the graph are freed when you call "
            ".backward() or autograd.grad(). Specify retain_graph=true if you need to backward through the "
            "graph a second time (node ", name_, ")");
  CurrentNodeGuard scope(this);
  return fn_(grads);
}

thread_local bool AccumulateGrad::create_graph = false;

AccumulateGrad::AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : leaf_(std::move(leaf)) {
  input_meta_.clear();
  output_meta_.push_back({leaf_->sizes, leaf_->dtype});
}

variable_list AccumulateGrad::apply(variable_list&& grads) {
  Tensor g = std::move(grads.at(0));
  if (!g.defined()) return {};
  Tensor leaf(leaf_);
  AutogradMeta& meta = leaf_->autograd_meta();
  for (auto& hook : meta.leaf_hooks) {
    Tensor r = hook(g);
    if (r.defined()) g = r;
  }
  if (!meta.grad.defined()) {
    // Keep the incoming buffer when nothing else can see it; otherwise copy, so .grad() never
    // aliases another tensor (or a broadcast view).
    const bool exclusive = g.use_count() == 1 && g.storage().use_count() == 1 && g.is_contiguous() &&
                           g.numel() * static_cast<int64_t>(g.element_size()) ==
                               static_cast<int64_t>(g.storage()->nbytes());
    Tensor stored = create_graph ? g : (exclusive ? g.detach() : g.detach().clone());
    meta.grad = stored;
  } else if (create_graph || meta.grad.requires_grad()) {
    meta.grad = meta.grad + g;
  } else {
    NoGradGuard ng;
    meta.grad.add_(g);
  }
  return {};
}

SavedTensor::SavedTensor(const Tensor& t, bool is_output) : is_output_(is_output) {
  if (!t.defined()) return;
  version_ = t._version();
  requires_grad_ = t.requires_grad();
  output_nr_ = t.output_nr();
  data_ = is_output ? t.detach() : t;
}

Tensor SavedTensor::get() const {
  if (!data_.defined()) return data_;
  if (data_._version() != version_) {
    ARK_ERROR("one of the variables needed for gradient computation has been modified by an inplace "
              "operation: [", dtype_name(data_.dtype()), " ", data_.sizes(), "] is at version ", data_._version(),
              "; expected version ", version_, " instead");
  }
  if (is_output_ && requires_grad_ && GradMode::is_enabled() && g_current_node != nullptr) {
    // Reattach the output to the node that produced it so a create_graph backward can
    // differentiate through it.
    Tensor t(std::make_shared<TensorImpl>(data_.storage(), data_.sizes().vec(), data_.strides().vec(),
                                          data_.storage_offset(), data_.dtype()));
    set_history(t, g_current_node->shared_from_this(), output_nr_);
    return t;
  }
  return data_;
}

bool needs_grad_list(TensorList ts) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : ts)
    if (requires_grad(t)) return true;
  return false;
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  TensorImpl* impl = t.unsafeGetTensorImpl();
  AutogradMeta& meta = impl->autograd_meta();
  if (meta.grad_fn) return {meta.grad_fn, meta.output_nr};
  std::shared_ptr<Node> acc = meta.grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    meta.grad_accumulator = acc;
  }
  return {acc, 0};
}

void set_history(const Tensor& output, const std::shared_ptr<Node>& node, uint32_t output_nr) {
  AutogradMeta& meta = output.unsafeGetTensorImpl()->autograd_meta();
  meta.grad_fn = node;
  meta.output_nr = output_nr;
  meta.requires_grad = true;
}

std::shared_ptr<Node> record(const char* name, TensorList inputs, ArrayRef<Tensor> outputs, FunctionNode::Fn fn) {
  auto node = std::make_shared<FunctionNode>(name, std::move(fn));
  node->next_edges_.reserve(inputs.size());
  node->input_meta_.reserve(inputs.size());
  for (const Tensor& in : inputs) {
    node->next_edges_.push_back(gradient_edge(in));
    if (in.defined()) node->input_meta_.push_back(meta_of(in));
    else node->input_meta_.push_back({{}, kFloat});
  }
  node->num_outputs_ = outputs.size();
  for (uint32_t i = 0; i < outputs.size(); ++i) {
    node->output_meta_.push_back(meta_of(outputs[i]));
    set_history(outputs[i], node, i);
  }
  return node;
}

void check_inplace(const Tensor& t, const char* op) {
  if (GradMode::is_enabled()) {
    ARK_CHECK(!(t.requires_grad() && t.is_leaf()), op,
              ": a leaf Variable that requires grad is being used in an in-place operation");
    const auto& base = t.unsafeGetTensorImpl()->view_base;
    if (base && base->autograd && base->autograd->requires_grad && !base->autograd->grad_fn)
      ARK_ERROR(op, ": a view of a leaf Variable that requires grad is being used in an in-place operation");
  }
  t.storage()->bump_version();
}

Tensor sum_to(const Tensor& grad, IntArrayRef sizes) {
  if (grad.sizes() == sizes) return grad;
  const int64_t lead = grad.dim() - static_cast<int64_t>(sizes.size());
  ARK_ASSERT(lead >= 0);
  DimVector dims;
  for (int64_t d = 0; d < lead; ++d) dims.push_back(d);
  for (int64_t d = 0; d < static_cast<int64_t>(sizes.size()); ++d)
    if (sizes[static_cast<size_t>(d)] == 1 && grad.size(d + lead) != 1) dims.push_back(d + lead);
  Tensor r = dims.empty() ? grad : ark::sum(grad, dims, /*keepdim=*/true);
  if (lead > 0 || r.sizes() != sizes) r = r.reshape(sizes);
  return r;
}

namespace {
// Rewrites the history of `base` after an in-place write through its view `view_geom`: the
// gradient of the view's region is routed through `inner` (the write's own node), the rest of
// the base's gradient passes through unchanged.
class CopySlices final : public Node {
 public:
  CopySlices(const Tensor& base, const Tensor& view, std::shared_ptr<Node> inner)
      : sizes_(view.sizes().vec()), strides_(view.strides().vec()), base_strides_(base.strides().vec()),
        offset_(view.storage_offset() - base.storage_offset()), inner_(std::move(inner)) {}
  std::string name() const override { return "CopySlices"; }
  variable_list apply(variable_list&& grads) override {
    Tensor g = zeros_strided(grads[0].sizes(), base_strides_, grads[0].dtype());
    {
      NoGradGuard ng;
      g.copy_(grads[0]);
    }
    Tensor region = g.as_strided(sizes_, strides_, offset_);
    variable_list inner_grads = inner_->apply({region.clone()});
    variable_list out(next_edges_.size());
    {
      // Write the region's gradient (with respect to the view's old value) into g.
      NoGradGuard ng;
      if (inner_grads[0].defined()) region.copy_(inner_grads[0]);
      else region.zero_();
    }
    out[0] = g;
    for (size_t i = 1; i < out.size() && i < inner_grads.size(); ++i) out[i] = inner_grads[i];
    return out;
  }
  void release_variables() override { inner_->release_variables(); }

 private:
  DimVector sizes_, strides_, base_strides_;
  int64_t offset_;
  std::shared_ptr<Node> inner_;
};
}  // namespace

Tensor& rebase_history(Tensor& self, const Tensor& result, const char* op) {
  if (self.unsafeGetTensorImpl()->view_base || !result.grad_fn() || result.dtype() != self.dtype() ||
      result.sizes() != self.sizes())
    return ark::copy_(self, result);
  check_inplace(self, op);
  backend_for(self).copy(self, result);
  set_history(self, result.grad_fn(), result.output_nr());
  return self;
}

void record_copy(const Tensor& self, const Tensor& src) {
  const ScalarType src_dtype = src.dtype();
  const DimVector src_sizes = src.sizes().vec();
  // d(self_new)/d(self_old) = 0, d(self_new)/d(src) = 1 (broadcast and cast back by the engine).
  auto fn = [](const variable_list& g) -> variable_list { return {ark::zeros_like(g[0]), g[0]}; };
  const auto& base_impl = self.unsafeGetTensorImpl()->view_base;
  if (!base_impl) {
    record("CopyBackwards", {self, src}, self, fn);
    return;
  }
  // self is a view: build the write's node without attaching it to self, then route the base's
  // history through CopySlices and give self a fresh view history from the base.
  Tensor base(base_impl);
  auto inner = std::make_shared<FunctionNode>("CopyBackwards", fn);
  inner->next_edges_ = {gradient_edge(self), gradient_edge(src)};
  inner->input_meta_ = {meta_of(self), {src_sizes, src_dtype}};
  inner->output_meta_ = {meta_of(self)};
  auto cs = std::make_shared<CopySlices>(base, self, inner);
  cs->next_edges_ = {gradient_edge(base), inner->next_edges_[1]};
  cs->input_meta_ = {meta_of(base), inner->input_meta_[1]};
  cs->output_meta_ = {meta_of(base)};
  set_history(base, cs, 0);
  // The view's own gradient now reaches the base through an as_strided backward.
  const DimVector sz = self.sizes().vec(), st = self.strides().vec();
  const DimVector base_sizes = base.sizes().vec(), base_strides = base.strides().vec();
  const int64_t off = self.storage_offset() - base.storage_offset();
  auto as_strided_bw = [sz, st, off, base_sizes, base_strides](const variable_list& g) -> variable_list {
    Tensor full = zeros_strided(base_sizes, base_strides, g[0].dtype());
    full.as_strided(sz, st, off).copy_(g[0]);
    return {full};
  };
  auto node = std::make_shared<FunctionNode>("AsStridedBackward0", as_strided_bw);
  node->next_edges_ = {gradient_edge(base)};
  node->input_meta_ = {meta_of(base)};
  node->output_meta_ = {meta_of(self)};
  set_history(self, node, 0);
}

}  // namespace autograd
}  // namespace ark
