// Tensor's methods: metadata and autograd state here; everything else forwards to the op.
#include "ark/autograd/engine.h"
#include "ark/ops/util.h"

namespace ark {

int64_t Tensor::size(int64_t d) const { return impl()->sizes[static_cast<size_t>(detail::wrap_dim(d, dim(), "size"))]; }
int64_t Tensor::stride(int64_t d) const {
  return impl()->strides[static_cast<size_t>(detail::wrap_dim(d, dim(), "stride"))];
}

Scalar Tensor::item() const {
  ARK_CHECK(numel() == 1, "a Tensor with ", numel(), " elements cannot be converted to Scalar");
  Tensor t = is_cpu() ? *this : to(Device(kCPU));
  return dispatch_all(dtype(), [&]<class T>() -> Scalar { return Scalar(*static_cast<const T*>(t.data_ptr())); });
}

// ---- autograd ----
Tensor& Tensor::requires_grad_(bool r) {
  ARK_CHECK(is_leaf() || r, "you can only change requires_grad flags of leaf variables. If you want to use a computed "
            "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().");
  ARK_CHECK(!r || is_floating_point(), "only Tensors of floating point dtype can require gradients, got ",
            dtype_name(dtype()));
  if (!r && !impl()->autograd) return *this;
  impl()->autograd_meta().requires_grad = r;
  return *this;
}

const Tensor& Tensor::grad() const {
  static const Tensor undefined;
  if (!impl_ || !impl_->autograd) return undefined;
  return impl_->autograd->grad;
}

Tensor& Tensor::mutable_grad() { return impl()->autograd_meta().grad; }

void Tensor::set_grad(const Tensor& g) {
  if (g.defined())
    ARK_CHECK(g.sizes() == sizes(), "assigned grad has data of a different size: ", g.sizes(), " vs ", sizes());
  impl()->autograd_meta().grad = g;
}

bool Tensor::is_leaf() const { return !impl_ || !impl_->autograd || !impl_->autograd->grad_fn; }

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<autograd::Node> none;
  if (!impl_ || !impl_->autograd) return none;
  return impl_->autograd->grad_fn;
}

void Tensor::backward(const Tensor& gradient, std::optional<bool> retain_graph, bool create_graph,
                      TensorList inputs) const {
  autograd::backward({*this}, gradient.defined() ? autograd::variable_list{gradient} : autograd::variable_list{},
                     retain_graph, create_graph, inputs.vec());
}

void Tensor::set_data(const Tensor& new_data) const {
  ARK_CHECK(new_data.defined(), "set_data: the new data is undefined");
  if (is_same(new_data)) return;
  TensorImpl* d = impl();
  const TensorImpl* s = new_data.unsafeGetTensorImpl();
  d->storage = s->storage;
  d->sizes = s->sizes;
  d->strides = s->strides;
  d->offset = s->offset;
  d->dtype = s->dtype;
  d->view_base.reset();
  d->refresh();
}

Tensor Tensor::detach() const {
  auto impl2 = std::make_shared<TensorImpl>(impl()->storage, impl_->sizes, impl_->strides, impl_->offset, impl_->dtype);
  return Tensor(std::move(impl2));
}

Tensor& Tensor::detach_() {
  if (impl()->autograd) {
    impl_->autograd->grad_fn.reset();
    impl_->autograd->requires_grad = false;
  }
  return *this;
}

unsigned Tensor::add_hook(std::function<Tensor(const Tensor&)> hook) const {
  ARK_CHECK(requires_grad(), "cannot register a hook on a tensor that doesn't require gradient");
  if (is_leaf()) {
    auto& hooks = impl()->autograd_meta().leaf_hooks;
    hooks.push_back(std::move(hook));
    return static_cast<unsigned>(hooks.size() - 1);
  }
  auto& hooks = grad_fn()->pre_hooks_;
  hooks.emplace_back(output_nr(), std::move(hook));
  return static_cast<unsigned>(hooks.size() - 1);
}


void Tensor::retain_grad() const {
  ARK_CHECK(requires_grad(), "can't retain_grad on Tensor that has requires_grad=False");
  if (is_leaf() || retains_grad()) return;
  impl()->autograd_meta().retains_grad = true;
  std::weak_ptr<TensorImpl> weak = impl_;
  grad_fn()->pre_hooks_.emplace_back(output_nr(), [weak](const Tensor& g) {
    if (auto t = weak.lock()) {
      auto& meta = t->autograd_meta();
      if (!meta.grad.defined()) meta.grad = g.detach().clone();
      else {
        NoGradGuard ng;
        meta.grad.add_(g);
      }
    }
    return Tensor();
  });
}

// ---- forwards ----
Tensor Tensor::view(IntArrayRef s) const { return ark::view(*this, s); }
Tensor Tensor::reshape(IntArrayRef s) const { return ark::reshape(*this, s); }
Tensor Tensor::permute(IntArrayRef d) const { return ark::permute(*this, d); }
Tensor Tensor::transpose(int64_t a, int64_t b) const { return ark::transpose(*this, a, b); }
Tensor Tensor::t() const { return ark::t(*this); }
Tensor Tensor::narrow(int64_t d, int64_t s, int64_t l) const { return ark::narrow(*this, d, s, l); }
Tensor Tensor::select(int64_t d, int64_t i) const { return ark::select(*this, d, i); }
Tensor Tensor::slice(int64_t d, std::optional<int64_t> s, std::optional<int64_t> e, int64_t st) const {
  return ark::slice(*this, d, s, e, st);
}
Tensor Tensor::expand(IntArrayRef s) const { return ark::expand(*this, s); }
Tensor Tensor::squeeze() const { return ark::squeeze(*this); }
Tensor Tensor::squeeze(int64_t d) const { return ark::squeeze(*this, d); }
Tensor Tensor::unsqueeze(int64_t d) const { return ark::unsqueeze(*this, d); }
Tensor Tensor::flatten(int64_t s, int64_t e) const { return ark::flatten(*this, s, e); }
Tensor Tensor::unflatten(int64_t d, IntArrayRef s) const { return ark::unflatten(*this, d, s); }
std::vector<Tensor> Tensor::chunk(int64_t c, int64_t d) const { return ark::chunk(*this, c, d); }
std::vector<Tensor> Tensor::split(int64_t s, int64_t d) const { return ark::split(*this, s, d); }
std::vector<Tensor> Tensor::split(IntArrayRef s, int64_t d) const { return ark::split_with_sizes(*this, s, d); }
std::vector<Tensor> Tensor::split_with_sizes(IntArrayRef s, int64_t d) const { return ark::split_with_sizes(*this, s, d); }
std::vector<Tensor> Tensor::unbind(int64_t d) const { return ark::unbind(*this, d); }
Tensor Tensor::as_strided(IntArrayRef s, IntArrayRef st, std::optional<int64_t> o) const {
  return ark::as_strided(*this, s, st, o);
}
Tensor Tensor::movedim(int64_t s, int64_t d) const { return ark::movedim(*this, s, d); }

Tensor Tensor::add(const Tensor& o, const Scalar& a) const { return ark::add(*this, o, a); }
Tensor Tensor::add(const Scalar& o, const Scalar& a) const { return ark::add(*this, o, a); }
Tensor Tensor::sub(const Tensor& o, const Scalar& a) const { return ark::sub(*this, o, a); }
Tensor Tensor::sub(const Scalar& o, const Scalar& a) const { return ark::sub(*this, o, a); }
Tensor Tensor::mul(const Tensor& o) const { return ark::mul(*this, o); }
Tensor Tensor::mul(const Scalar& o) const { return ark::mul(*this, o); }
Tensor Tensor::div(const Tensor& o) const { return ark::div(*this, o); }
Tensor Tensor::div(const Scalar& o) const { return ark::div(*this, o); }
Tensor Tensor::neg() const { return ark::neg(*this); }
Tensor Tensor::pow(const Tensor& e) const { return ark::pow(*this, e); }
Tensor Tensor::pow(const Scalar& e) const { return ark::pow(*this, e); }
Tensor Tensor::exp() const { return ark::exp(*this); }
Tensor Tensor::log() const { return ark::log(*this); }
Tensor Tensor::log1p() const { return ark::log1p(*this); }
Tensor Tensor::sqrt() const { return ark::sqrt(*this); }
Tensor Tensor::rsqrt() const { return ark::rsqrt(*this); }
Tensor Tensor::abs() const { return ark::abs(*this); }
Tensor Tensor::sign() const { return ark::sign(*this); }
Tensor Tensor::erf() const { return ark::erf(*this); }
Tensor Tensor::sin() const { return ark::sin(*this); }
Tensor Tensor::cos() const { return ark::cos(*this); }
Tensor Tensor::tanh() const { return ark::tanh(*this); }
Tensor Tensor::sigmoid() const { return ark::sigmoid(*this); }
Tensor Tensor::relu() const { return ark::relu(*this); }
Tensor Tensor::reciprocal() const { return ark::reciprocal(*this); }
Tensor Tensor::square() const { return ark::square(*this); }
Tensor Tensor::clamp(std::optional<Scalar> mn, std::optional<Scalar> mx) const { return ark::clamp(*this, mn, mx); }
Tensor Tensor::clamp_min(const Scalar& m) const { return ark::clamp_min(*this, m); }
Tensor Tensor::clamp_max(const Scalar& m) const { return ark::clamp_max(*this, m); }
Tensor Tensor::maximum(const Tensor& o) const { return ark::maximum(*this, o); }
Tensor Tensor::minimum(const Tensor& o) const { return ark::minimum(*this, o); }
Tensor Tensor::masked_fill(const Tensor& m, const Scalar& v) const { return ark::masked_fill(*this, m, v); }
Tensor Tensor::masked_fill(const Tensor& m, const Tensor& v) const { return ark::masked_fill(*this, m, v); }
Tensor Tensor::where(const Tensor& c, const Tensor& o) const { return ark::where(c, *this, o); }
Tensor Tensor::eq(const Tensor& o) const { return ark::eq(*this, o); }
Tensor Tensor::eq(const Scalar& o) const { return ark::eq(*this, o); }
Tensor Tensor::ne(const Tensor& o) const { return ark::ne(*this, o); }
Tensor Tensor::ne(const Scalar& o) const { return ark::ne(*this, o); }
Tensor Tensor::lt(const Tensor& o) const { return ark::lt(*this, o); }
Tensor Tensor::lt(const Scalar& o) const { return ark::lt(*this, o); }
Tensor Tensor::le(const Tensor& o) const { return ark::le(*this, o); }
Tensor Tensor::le(const Scalar& o) const { return ark::le(*this, o); }
Tensor Tensor::gt(const Tensor& o) const { return ark::gt(*this, o); }
Tensor Tensor::gt(const Scalar& o) const { return ark::gt(*this, o); }
Tensor Tensor::ge(const Tensor& o) const { return ark::ge(*this, o); }
Tensor Tensor::ge(const Scalar& o) const { return ark::ge(*this, o); }
Tensor Tensor::logical_and(const Tensor& o) const { return ark::logical_and(*this, o); }
Tensor Tensor::logical_or(const Tensor& o) const { return ark::logical_or(*this, o); }
Tensor Tensor::logical_xor(const Tensor& o) const { return ark::logical_xor(*this, o); }
Tensor Tensor::logical_not() const { return ark::logical_not(*this); }
bool Tensor::equal(const Tensor& o) const { return ark::equal(*this, o); }
bool Tensor::allclose(const Tensor& o, double r, double a, bool n) const { return ark::allclose(*this, o, r, a, n); }
Tensor Tensor::isnan() const { return ark::isnan(*this); }
Tensor Tensor::isinf() const { return ark::isinf(*this); }
Tensor Tensor::isfinite() const { return ark::isfinite(*this); }

Tensor Tensor::sum(std::optional<ScalarType> dt) const { return ark::sum(*this, dt); }
Tensor Tensor::sum(IntArrayRef d, bool k, std::optional<ScalarType> dt) const { return ark::sum(*this, d, k, dt); }
Tensor Tensor::mean(std::optional<ScalarType> dt) const { return ark::mean(*this, dt); }
Tensor Tensor::mean(IntArrayRef d, bool k, std::optional<ScalarType> dt) const { return ark::mean(*this, d, k, dt); }
Tensor Tensor::var_all(bool u) const { return ark::var_all(*this, u); }
Tensor Tensor::var(IntArrayRef d, bool u, bool k) const { return ark::var(*this, d, u, k); }
Tensor Tensor::std_all(bool u) const { return ark::std_all(*this, u); }
Tensor Tensor::std(IntArrayRef d, bool u, bool k) const { return ark::std(*this, d, u, k); }
Tensor Tensor::prod(std::optional<ScalarType> dt) const { return ark::prod(*this, dt); }
Tensor Tensor::prod(int64_t d, bool k, std::optional<ScalarType> dt) const { return ark::prod(*this, d, k, dt); }
Tensor Tensor::max() const { return ark::max(*this); }
std::tuple<Tensor, Tensor> Tensor::max(int64_t d, bool k) const { return ark::max(*this, d, k); }
Tensor Tensor::min() const { return ark::min(*this); }
std::tuple<Tensor, Tensor> Tensor::min(int64_t d, bool k) const { return ark::min(*this, d, k); }
Tensor Tensor::amax(IntArrayRef d, bool k) const { return ark::amax(*this, d, k); }
Tensor Tensor::amin(IntArrayRef d, bool k) const { return ark::amin(*this, d, k); }
Tensor Tensor::argmax(std::optional<int64_t> d, bool k) const { return ark::argmax(*this, d, k); }
Tensor Tensor::argmin(std::optional<int64_t> d, bool k) const { return ark::argmin(*this, d, k); }
Tensor Tensor::logsumexp(IntArrayRef d, bool k) const { return ark::logsumexp(*this, d, k); }
Tensor Tensor::norm(const Scalar& p) const { return ark::norm(*this, p); }
Tensor Tensor::norm(const Scalar& p, IntArrayRef d, bool k) const { return ark::norm(*this, p, d, k); }
Tensor Tensor::cumsum(int64_t d, std::optional<ScalarType> dt) const { return ark::cumsum(*this, d, dt); }
std::tuple<Tensor, Tensor> Tensor::topk(int64_t k, int64_t d, bool l, bool s) const { return ark::topk(*this, k, d, l, s); }
std::tuple<Tensor, Tensor> Tensor::sort(int64_t d, bool desc) const { return ark::sort(*this, d, desc); }
Tensor Tensor::argsort(int64_t d, bool desc) const { return ark::argsort(*this, d, desc); }
Tensor Tensor::all() const { return ark::all(*this); }
Tensor Tensor::any() const { return ark::any(*this); }
Tensor Tensor::all(int64_t d, bool k) const { return ark::all(*this, d, k); }
Tensor Tensor::any(int64_t d, bool k) const { return ark::any(*this, d, k); }

Tensor Tensor::matmul(const Tensor& o) const { return ark::matmul(*this, o); }
Tensor Tensor::mm(const Tensor& o) const { return ark::mm(*this, o); }
Tensor Tensor::bmm(const Tensor& o) const { return ark::bmm(*this, o); }
Tensor Tensor::mv(const Tensor& v) const { return ark::mv(*this, v); }
Tensor Tensor::dot(const Tensor& o) const { return ark::dot(*this, o); }
Tensor Tensor::softmax(int64_t d, std::optional<ScalarType> dt) const { return ark::softmax(*this, d, dt); }
Tensor Tensor::log_softmax(int64_t d, std::optional<ScalarType> dt) const { return ark::log_softmax(*this, d, dt); }

Tensor Tensor::index_select(int64_t d, const Tensor& i) const { return ark::index_select(*this, d, i); }
Tensor Tensor::gather(int64_t d, const Tensor& i) const { return ark::gather(*this, d, i); }
Tensor Tensor::scatter(int64_t d, const Tensor& i, const Tensor& s) const { return ark::scatter(*this, d, i, s); }
Tensor Tensor::scatter(int64_t d, const Tensor& i, const Scalar& v) const { return ark::scatter(*this, d, i, v); }
Tensor& Tensor::scatter_(int64_t d, const Tensor& i, const Tensor& s) {
  return ark::copy_(*this, ark::scatter(autograd::needs_grad(*this, s) ? clone() : *this, d, i, s));
}
Tensor& Tensor::scatter_(int64_t d, const Tensor& i, const Scalar& v) {
  return ark::copy_(*this, ark::scatter(autograd::needs_grad(*this) ? clone() : *this, d, i, v));
}
Tensor Tensor::scatter_add(int64_t d, const Tensor& i, const Tensor& s) const { return ark::scatter_add(*this, d, i, s); }
Tensor& Tensor::scatter_add_(int64_t d, const Tensor& i, const Tensor& s) {
  return ark::copy_(*this, ark::scatter_add(autograd::needs_grad(*this, s) ? clone() : *this, d, i, s));
}
Tensor Tensor::index_add(int64_t d, const Tensor& i, const Tensor& s) const { return ark::index_add(*this, d, i, s); }
Tensor& Tensor::index_add_(int64_t d, const Tensor& i, const Tensor& s) {
  return ark::copy_(*this, ark::index_add(autograd::needs_grad(*this, s) ? clone() : *this, d, i, s));
}
Tensor Tensor::masked_select(const Tensor& m) const { return ark::masked_select(*this, m); }
Tensor Tensor::repeat(IntArrayRef r) const { return ark::repeat(*this, r); }
Tensor Tensor::roll(IntArrayRef s, IntArrayRef d) const { return ark::roll(*this, s, d); }
Tensor Tensor::flip(IntArrayRef d) const { return ark::flip(*this, d); }
Tensor Tensor::tril(int64_t d) const { return ark::tril(*this, d); }
Tensor Tensor::triu(int64_t d) const { return ark::triu(*this, d); }
Tensor Tensor::nonzero() const { return ark::nonzero(*this); }

}  // namespace ark
