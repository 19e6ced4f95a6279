// Shape ops that copy: cat, stack, repeat, roll, flip, tril, triu.
#include "ark/ops/util.h"

namespace ark {

using autograd::needs_grad_list;
using autograd::needs_grad;
using autograd::record;
using autograd::variable_list;

Tensor cat(TensorList tensors, int64_t dim) {
  ARK_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  // Legacy rule kept by PyTorch: 1-D empty tensors are skipped.
  std::vector<Tensor> ts;
  for (const Tensor& t : tensors) {
    ARK_CHECK(t.defined(), "cat: got an undefined tensor");
    if (!(t.dim() == 1 && t.numel() == 0)) ts.push_back(t);
  }
  if (ts.empty()) return tensors[0].clone();
  const Tensor& ref = ts[0];
  ARK_CHECK(ref.dim() > 0, "zero-dimensional tensor (at position 0) cannot be concatenated");
  const int64_t d = detail::wrap_dim(dim, ref.dim(), "cat");
  ScalarType dt = ts[0].dtype();
  int64_t total = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    const Tensor& t = ts[i];
    ARK_CHECK(t.dim() == ref.dim(), "Tensors must have same number of dimensions: got ", ref.dim(), " and ", t.dim());
    for (int64_t k = 0; k < ref.dim(); ++k)
      if (k != d)
        ARK_CHECK(t.size(k) == ref.size(k), "Sizes of tensors must match except in dimension ", d,
                  ". Expected size ", ref.size(k), " but got size ", t.size(k), " for tensor number ", i, " in the list.");
    ARK_CHECK(t.device() == ref.device(), "cat: expected all tensors on the same device");
    dt = promote_types(dt, t.dtype());
    total += t.size(d);
  }
  DimVector shape = ref.sizes().vec();
  shape[static_cast<size_t>(d)] = total;
  Tensor out = empty(shape, ref.options().dtype(dt));
  {
    NoGradGuard ng;
    int64_t off = 0;
    for (const Tensor& t : ts) {
      Tensor part = out.narrow(d, off, t.size(d));
      backend_for(out).copy(part, t);
      off += t.size(d);
    }
  }
  if (needs_grad_list(ts)) {
    DimVector sizes;
    for (const Tensor& t : ts) sizes.push_back(t.size(d));
    record("CatBackward0", ts, out, [sizes, d](const variable_list& g) -> variable_list {
      return split_with_sizes(g[0], sizes, d);
    });
  }
  return out;
}

Tensor stack(TensorList tensors, int64_t dim) {
  ARK_CHECK(!tensors.empty(), "stack expects a non-empty TensorList");
  const int64_t d = detail::wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> ts;
  for (size_t i = 0; i < tensors.size(); ++i) {
    ARK_CHECK(tensors[i].sizes() == tensors[0].sizes(), "stack expects each tensor to be equal size, but got ",
              tensors[0].sizes(), " at entry 0 and ", tensors[i].sizes(), " at entry ", i);
    ts.push_back(tensors[i].unsqueeze(d));
  }
  return cat(ts, d);
}

std::vector<Tensor> broadcast_tensors(TensorList tensors) {
  DimVector shape;
  for (const Tensor& t : tensors) shape = broadcast_shapes(shape, t.sizes());
  std::vector<Tensor> out;
  for (const Tensor& t : tensors) out.push_back(t.expand(shape));
  return out;
}

Tensor repeat(const Tensor& self, IntArrayRef repeats) {
  ARK_CHECK(static_cast<int64_t>(repeats.size()) >= self.dim(), "Number of dimensions of repeat dims can not be "
            "smaller than number of dimensions of tensor");
  for (int64_t r : repeats) ARK_CHECK(r >= 0, "repeat: repeats must be non-negative, got ", repeats);
  const int64_t lead = static_cast<int64_t>(repeats.size()) - self.dim();
  DimVector padded(static_cast<size_t>(lead), 1);
  for (int64_t s : self.sizes()) padded.push_back(s);
  Tensor x = self.reshape(padded);
  // (s0, s1, ...) -> (r0, s0, r1, s1, ...) by expand, then merge pairs.
  DimVector exp_shape, final_shape, unsq;
  for (size_t i = 0; i < repeats.size(); ++i) {
    unsq.push_back(1);
    unsq.push_back(padded[i]);
    exp_shape.push_back(repeats[i]);
    exp_shape.push_back(padded[i]);
    final_shape.push_back(repeats[i] * padded[i]);
  }
  return x.reshape(unsq).expand(exp_shape).contiguous().view(final_shape);
}

Tensor flip(const Tensor& self, IntArrayRef dims) {
  DimVector ds = detail::wrap_dims(dims, self.dim(), "flip");
  Tensor out = self;
  for (int64_t d : ds) {
    if (self.size(d) <= 1) continue;
    out = index_select(out, d, arange(self.size(d) - 1, -1, -1, kLong));
  }
  return ds.empty() || out.is_same(self) ? self.clone() : out;
}

Tensor roll(const Tensor& self, IntArrayRef shifts, IntArrayRef dims) {
  if (dims.empty()) {
    ARK_CHECK(shifts.size() == 1, "roll: shifts must have one value when dims is not given, got ", shifts);
    return roll(self.reshape({-1}), shifts, {0}).view(self.sizes());
  }
  ARK_CHECK(shifts.size() == dims.size(), "shifts and dimensions must align. shifts: ", shifts.size(), ", dims:",
            dims.size());
  Tensor out = self;
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = detail::wrap_dim(dims[i], self.dim(), "roll");
    const int64_t n = self.size(d);
    if (n == 0) continue;
    const int64_t s = ((shifts[i] % n) + n) % n;
    if (s == 0) continue;
    out = cat({out.narrow(d, n - s, s), out.narrow(d, 0, n - s)}, d);
  }
  return out.is_same(self) ? self.clone() : out;
}

namespace {
Tensor tri(const Tensor& self, int64_t diagonal, bool lower) {
  ARK_CHECK(self.dim() >= 2, lower ? "tril" : "triu", ": input tensor must have at least 2 dimensions, got ", self.sizes());
  const int64_t r = self.size(-2), c = self.size(-1);
  Tensor i = arange(r, kLong).unsqueeze(1), j = arange(c, kLong).unsqueeze(0);
  Tensor keep = lower ? (j - i <= diagonal) : (j - i >= diagonal);
  return self.masked_fill(keep.logical_not(), 0);
}
}  // namespace
Tensor tril(const Tensor& self, int64_t diagonal) { return tri(self, diagonal, true); }
Tensor triu(const Tensor& self, int64_t diagonal) { return tri(self, diagonal, false); }

}  // namespace ark
