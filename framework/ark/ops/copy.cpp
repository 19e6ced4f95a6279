// Copies and conversions: clone, contiguous, to(dtype/device), copy_, fill_, zero_.
#include "ark/ops/util.h"

namespace ark {

using autograd::needs_grad;
using autograd::record;
using autograd::variable_list;

namespace detail {
Tensor cast(const Tensor& t, ScalarType dtype) {
  if (t.dtype() == dtype) return t;
  Tensor out = empty(t.sizes(), t.options().dtype(dtype));
  backend_for(t).copy(out, t);
  return out;
}
}  // namespace detail

Tensor clone(const Tensor& self) {
  Tensor out = empty(self.sizes(), self.options());
  backend_for(self).copy(out, self);
  if (needs_grad(self))
    record("CloneBackward0", {self}, out, [](const variable_list& g) -> variable_list { return {g[0]}; });
  return out;
}

Tensor contiguous(const Tensor& self) { return self.is_contiguous() ? self : clone(self); }

Tensor to_dtype(const Tensor& self, ScalarType dtype, bool copy) {
  if (self.dtype() == dtype && !copy) return self;
  Tensor out = empty(self.sizes(), self.options().dtype(dtype));
  backend_for(self).copy(out, self);
  if (needs_grad(self) && is_floating_point(dtype)) {
    const ScalarType in_dtype = self.dtype();
    record("ToCopyBackward0", {self}, out,
           [in_dtype](const variable_list& g) -> variable_list { return {g[0].to(in_dtype)}; });
  }
  return out;
}

Tensor& copy_(Tensor& self, const Tensor& src) {
  ARK_CHECK(src.defined(), "copy_: source tensor is undefined");
  bool fits = src.dim() <= self.dim();
  for (int64_t i = 1; fits && i <= src.dim(); ++i)
    fits = src.size(-i) == 1 || src.size(-i) == self.size(-i);
  ARK_CHECK(fits, "copy_: the source of shape ", src.sizes(), " cannot be broadcast to the destination's shape ",
            self.sizes());
  const bool grad = needs_grad(self, src);
  autograd::check_inplace(self, "copy_");
  if (self.is_same(src)) return self;
  if (self.device() != src.device()) {
    // Cross-device copies go through the destination's backend with a host-side staging copy.
    Tensor staged = src.device().is_cpu() ? src : src.to(Device(kCPU));
    backend_for(self).copy(self, staged);
  } else {
    backend_for(self).copy(self, src);
  }
  if (grad) autograd::record_copy(self, src);
  return self;
}

Tensor& fill_(Tensor& self, const Scalar& value) {
  autograd::check_inplace(self, "fill_");
  backend_for(self).fill(self, value);
  if (GradMode::is_enabled() && self.requires_grad()) {
    // The old values no longer matter: the new history has a zero gradient.
    autograd::record_copy(self, full({}, value, self.dtype()));
  }
  return self;
}

Tensor& zero_(Tensor& self) { return fill_(self, 0); }

// ---- Tensor methods for copies ----
Tensor Tensor::clone() const { return ark::clone(*this); }
Tensor Tensor::contiguous() const { return ark::contiguous(*this); }
Tensor Tensor::to(ScalarType dtype, bool, bool copy) const { return to_dtype(*this, dtype, copy); }
Tensor Tensor::to(Device device, bool, bool copy) const { return to(device, dtype(), false, copy); }
Tensor Tensor::to(Device device, ScalarType dtype, bool, bool copy) const {
  if (device == this->device()) return to_dtype(*this, dtype, copy);
  Tensor out = empty(sizes(), TensorOptions().dtype(dtype).device(device));
  Tensor src = dtype == this->dtype() ? *this : to_dtype(*this, dtype);
  out.copy_(src);
  return out;
}
Tensor Tensor::to(const TensorOptions& o, bool nb, bool copy) const {
  return to(o.device(), o.has_dtype() ? o.dtype() : dtype(), nb, copy);
}
Tensor Tensor::to(const Tensor& other, bool nb, bool copy) const { return to(other.device(), other.dtype(), nb, copy); }
Tensor& Tensor::copy_(const Tensor& src, bool) { return ark::copy_(*this, src); }
Tensor& Tensor::fill_(const Scalar& v) { return ark::fill_(*this, v); }
Tensor& Tensor::fill_(const Tensor& v) {
  ARK_CHECK(v.dim() == 0, "fill_ only supports 0-dimension value tensor but got tensor with ", v.dim(), " dimensions");
  return ark::copy_(*this, v);
}
Tensor& Tensor::zero_() { return ark::zero_(*this); }

Tensor& Tensor::uniform_(double from, double to, Generator* gen) {
  ARK_CHECK(from <= to, "uniform_ expects to return a [from, to) range, but found from=", from, " > to=", to);
  autograd::check_inplace(*this, "uniform_");
  backend_for(*this).uniform(*this, from, to, gen ? *gen : default_generator());
  return *this;
}
Tensor& Tensor::normal_(double mean, double std, Generator* gen) {
  ARK_CHECK(std >= 0, "normal_ expects std >= 0.0, but found std ", std);
  autograd::check_inplace(*this, "normal_");
  backend_for(*this).normal(*this, mean, std, gen ? *gen : default_generator());
  return *this;
}
Tensor& Tensor::bernoulli_(double p, Generator* gen) {
  ARK_CHECK(p >= 0 && p <= 1, "bernoulli_ expects p to be in [0, 1], but got p=", p);
  autograd::check_inplace(*this, "bernoulli_");
  Tensor prob = full({}, p, kDouble);
  backend_for(*this).bernoulli(*this, prob, gen ? *gen : default_generator());
  return *this;
}
Tensor& Tensor::random_(int64_t from, int64_t to, Generator* gen) {
  ARK_CHECK(from < to, "random_ expects 'from' to be less than 'to', but got from=", from, " >= to=", to);
  autograd::check_inplace(*this, "random_");
  backend_for(*this).random_int(*this, from, to, gen ? *gen : default_generator());
  return *this;
}

}  // namespace ark
