// View ops: they share storage with their input (new sizes/strides/offset) and record the
// backward that routes the gradient back to the input's layout.
#include <algorithm>
#include <numeric>

#include "ark/ops/util.h"

namespace ark {

using autograd::needs_grad;
using autograd::record;
using autograd::variable_list;
using detail::make_view;
using detail::wrap_dim;

namespace detail {

DimVector wrap_dims(IntArrayRef dims, int64_t ndim, const char* op) {
  DimVector r;
  std::vector<bool> seen(static_cast<size_t>(std::max<int64_t>(ndim, 1)), false);
  for (int64_t d : dims) {
    const int64_t w = wrap_dim(d, ndim, op);
    ARK_CHECK(!seen[static_cast<size_t>(w)], op, ": dim ", w, " appears multiple times in the list of dims");
    seen[static_cast<size_t>(w)] = true;
    r.push_back(w);
  }
  return r;
}

DimVector infer_size(IntArrayRef shape, int64_t numel, const char* op) {
  DimVector r = shape.vec();
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < r.size(); ++i) {
    if (r[i] == -1) {
      ARK_CHECK(infer < 0, op, ": only one dimension can be inferred, got shape ", shape);
      infer = static_cast<int64_t>(i);
    } else {
      ARK_CHECK(r[i] >= 0, op, ": invalid shape dimension ", r[i], " in ", shape);
      known *= r[i];
    }
  }
  if (infer >= 0) {
    ARK_CHECK(known != 0 && numel % known == 0, op, ": shape ", shape, " is invalid for input of size ", numel);
    r[static_cast<size_t>(infer)] = numel / known;
  } else {
    ARK_CHECK(known == numel, op, ": shape ", shape, " is invalid for input of size ", numel);
  }
  return r;
}

DimVector contiguous_strides(IntArrayRef sizes) {
  DimVector st(sizes.size());
  int64_t s = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    st[i] = s;
    s *= std::max<int64_t>(sizes[i], 1);
  }
  return st;
}

// ATen's computeStride: walk the old dims in chunks that are contiguous among themselves and
// match them to runs of new dims with the same element count.
std::optional<DimVector> view_strides(IntArrayRef oldshape, IntArrayRef oldstride, IntArrayRef newshape) {
  if (oldshape.empty()) return DimVector(newshape.size(), 1);
  int64_t numel = 1;
  for (int64_t s : oldshape) numel *= s;
  DimVector newstride(newshape.size());
  if (numel == 0) {
    if (oldshape == newshape) return oldstride.vec();
    return contiguous_strides(newshape);
  }
  int64_t view_d = static_cast<int64_t>(newshape.size()) - 1;
  int64_t chunk_base_stride = oldstride.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t tensor_d = static_cast<int64_t>(oldshape.size()) - 1; tensor_d >= 0; tensor_d--) {
    tensor_numel *= oldshape[static_cast<size_t>(tensor_d)];
    if (tensor_d == 0 ||
        (oldshape[static_cast<size_t>(tensor_d - 1)] != 1 &&
         oldstride[static_cast<size_t>(tensor_d - 1)] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || newshape[static_cast<size_t>(view_d)] == 1)) {
        newstride[static_cast<size_t>(view_d)] = view_numel * chunk_base_stride;
        view_numel *= newshape[static_cast<size_t>(view_d)];
        view_d--;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (tensor_d > 0) {
        chunk_base_stride = oldstride[static_cast<size_t>(tensor_d - 1)];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return newstride;
}

Tensor make_view(const Tensor& self, DimVector sizes, DimVector strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>(self.storage(), std::move(sizes), std::move(strides), offset, self.dtype());
  const auto& base = self.unsafeGetTensorImpl()->view_base;
  impl->view_base = base ? base : self.impl_ptr();
  return Tensor(std::move(impl));
}

std::string shape_str(IntArrayRef s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

}  // namespace detail

Tensor as_strided(const Tensor& self, IntArrayRef size, IntArrayRef stride, std::optional<int64_t> offset) {
  ARK_CHECK(size.size() == stride.size(), "as_strided: got ", size.size(), " sizes but ", stride.size(), " strides");
  const int64_t off = offset.value_or(self.storage_offset());
  int64_t max_index = off;
  bool empty_t = false;
  for (size_t i = 0; i < size.size(); ++i) {
    ARK_CHECK(size[i] >= 0 && stride[i] >= 0, "as_strided: negative size or stride in ", size, " / ", stride);
    if (size[i] == 0) empty_t = true;
    max_index += (size[i] - 1) * stride[i];
  }
  const int64_t storage_elems = static_cast<int64_t>(self.storage()->nbytes() / self.element_size());
  ARK_CHECK(off >= 0 && (empty_t || max_index < storage_elems), "as_strided: size ", size, " stride ", stride,
            " offset ", off, " is out of bounds for storage of size ", storage_elems);
  Tensor out = make_view(self, size.vec(), stride.vec(), off);
  if (needs_grad(self)) {
    // Scatter the gradient back through the linear positions the view reads (handles overlap).
    const DimVector in_sizes = self.sizes().vec(), in_strides = self.strides().vec();
    const int64_t in_off = self.storage_offset();
    const DimVector sz = size.vec(), st = stride.vec();
    record("AsStridedBackward0", {self}, out, [=](const variable_list& g) -> variable_list {
      const int64_t extent = static_cast<int64_t>(self.storage()->nbytes() / self.element_size());
      Tensor positions = arange(extent, kLong).as_strided(sz, st, off).reshape({-1});
      Tensor flat = zeros({extent}, g[0].options()).index_add(0, positions, g[0].reshape({-1}));
      return {flat.as_strided(in_sizes, in_strides, in_off)};
    });
  }
  return out;
}

namespace {
Tensor view_impl(const Tensor& self, IntArrayRef size, const char* name) {
  DimVector shape = detail::infer_size(size, self.numel(), "view");
  auto st = detail::view_strides(self.sizes(), self.strides(), shape);
  ARK_CHECK(st.has_value(), "view size is not compatible with input tensor's size and stride (at least one dimension "
                            "spans across two contiguous subspaces): input ", self.sizes(), " strides ", self.strides(),
            ", view ", IntArrayRef(shape), ". Use .reshape(...) instead.");
  Tensor out = make_view(self, shape, *st, self.storage_offset());
  if (needs_grad(self)) {
    DimVector in = self.sizes().vec();
    record(name, {self}, out, [in](const variable_list& g) -> variable_list { return {g[0].reshape(in)}; });
  }
  return out;
}
}  // namespace

Tensor view(const Tensor& self, IntArrayRef size) { return view_impl(self, size, "ViewBackward0"); }
Tensor detail::unsafe_view(const Tensor& self, IntArrayRef size) { return view_impl(self, size, "UnsafeViewBackward0"); }

Tensor reshape(const Tensor& self, IntArrayRef size) {
  DimVector shape = detail::infer_size(size, self.numel(), "reshape");
  if (detail::view_strides(self.sizes(), self.strides(), shape)) return view(self, shape);
  return view(clone(self), shape);
}

Tensor permute(const Tensor& self, IntArrayRef dims) {
  ARK_CHECK(static_cast<int64_t>(dims.size()) == self.dim(), "permute: number of dims don't match: got ", dims.size(),
            " dims for a tensor of ", self.dim(), " dims");
  DimVector d = detail::wrap_dims(dims, self.dim(), "permute");
  DimVector sz(d.size()), st(d.size());
  for (size_t i = 0; i < d.size(); ++i) {
    sz[i] = self.size(d[i]);
    st[i] = self.stride(d[i]);
  }
  Tensor out = make_view(self, sz, st, self.storage_offset());
  if (needs_grad(self)) {
    DimVector inv(d.size());
    for (size_t i = 0; i < d.size(); ++i) inv[static_cast<size_t>(d[i])] = static_cast<int64_t>(i);
    record("PermuteBackward0", {self}, out, [inv](const variable_list& g) -> variable_list { return {g[0].permute(inv)}; });
  }
  return out;
}

Tensor transpose(const Tensor& self, int64_t d0, int64_t d1) {
  const int64_t a = wrap_dim(d0, self.dim(), "transpose"), b = wrap_dim(d1, self.dim(), "transpose");
  if (self.dim() == 0) return make_view(self, {}, {}, self.storage_offset());
  DimVector sz = self.sizes().vec(), st = self.strides().vec();
  std::swap(sz[static_cast<size_t>(a)], sz[static_cast<size_t>(b)]);
  std::swap(st[static_cast<size_t>(a)], st[static_cast<size_t>(b)]);
  Tensor out = make_view(self, sz, st, self.storage_offset());
  if (needs_grad(self))
    record("TransposeBackward0", {self}, out, [a, b](const variable_list& g) -> variable_list { return {g[0].transpose(a, b)}; });
  return out;
}

Tensor t(const Tensor& self) {
  ARK_CHECK(self.dim() <= 2, "t() expects a tensor with <= 2 dimensions, but self is ", self.dim(), "D");
  if (self.dim() < 2) return make_view(self, self.sizes().vec(), self.strides().vec(), self.storage_offset());
  DimVector sz = {self.size(1), self.size(0)}, st = {self.stride(1), self.stride(0)};
  Tensor out = make_view(self, sz, st, self.storage_offset());
  if (needs_grad(self)) record("TBackward0", {self}, out, [](const variable_list& g) -> variable_list { return {g[0].t()}; });
  return out;
}

Tensor slice(const Tensor& self, int64_t dim, std::optional<int64_t> start_opt, std::optional<int64_t> end_opt,
             int64_t step) {
  ARK_CHECK(self.dim() > 0, "slice() cannot be applied to a 0-dim tensor");
  ARK_CHECK(step > 0, "slice: step must be positive, got ", step);
  const int64_t d = wrap_dim(dim, self.dim(), "slice");
  const int64_t n = self.size(d);
  int64_t start = start_opt.value_or(0), end = end_opt.value_or(n);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  DimVector sz = self.sizes().vec(), st = self.strides().vec();
  sz[static_cast<size_t>(d)] = (end - start + step - 1) / step;
  st[static_cast<size_t>(d)] *= step;
  Tensor out = make_view(self, sz, st, self.storage_offset() + start * self.stride(d));
  if (needs_grad(self)) {
    DimVector in = self.sizes().vec();
    record("SliceBackward0", {self}, out, [=](const variable_list& g) -> variable_list {
      Tensor r = zeros(in, g[0].options());
      r.slice(d, start, end, step).copy_(g[0]);
      return {r};
    });
  }
  return out;
}

Tensor narrow(const Tensor& self, int64_t dim, int64_t start, int64_t length) {
  ARK_CHECK(self.dim() > 0, "narrow() cannot be applied to a 0-dim tensor");
  const int64_t d = wrap_dim(dim, self.dim(), "narrow");
  const int64_t n = self.size(d);
  ARK_CHECK(start >= -n && start <= n, "narrow: start (", start, ") out of range for dimension ", d, " of size ", n);
  if (start < 0) start += n;
  ARK_CHECK(length >= 0 && start + length <= n, "narrow: start (", start, ") + length (", length,
            ") exceeds dimension size (", n, ")");
  return slice(self, d, start, start + length, 1);
}

Tensor select(const Tensor& self, int64_t dim, int64_t index) {
  ARK_CHECK(self.dim() > 0, "select() cannot be applied to a 0-dim tensor");
  const int64_t d = wrap_dim(dim, self.dim(), "select");
  const int64_t n = self.size(d);
  ARK_CHECK(index >= -n && index < n, "select(): index ", index, " out of range for tensor of size ", self.sizes(),
            " at dimension ", d);
  if (index < 0) index += n;
  DimVector sz = self.sizes().vec(), st = self.strides().vec();
  sz.erase(sz.begin() + d);
  st.erase(st.begin() + d);
  Tensor out = make_view(self, sz, st, self.storage_offset() + index * self.stride(d));
  if (needs_grad(self)) {
    DimVector in = self.sizes().vec();
    record("SelectBackward0", {self}, out, [=](const variable_list& g) -> variable_list {
      Tensor r = zeros(in, g[0].options());
      r.select(d, index).copy_(g[0]);
      return {r};
    });
  }
  return out;
}

Tensor expand(const Tensor& self, IntArrayRef size) {
  ARK_CHECK(static_cast<int64_t>(size.size()) >= self.dim(), "expand: the number of sizes provided (", size.size(),
            ") must be greater or equal to the number of dimensions in the tensor (", self.dim(), ")");
  const int64_t nd = static_cast<int64_t>(size.size()), lead = nd - self.dim();
  DimVector sz(static_cast<size_t>(nd)), st(static_cast<size_t>(nd));
  for (int64_t i = nd - 1; i >= 0; --i) {
    const int64_t want = size[static_cast<size_t>(i)];
    if (i < lead) {
      ARK_CHECK(want >= 0, "expand: the expanded size of the tensor (", want,
                ") isn't allowed in a leading, non-existing dimension ", i);
      sz[static_cast<size_t>(i)] = want;
      st[static_cast<size_t>(i)] = 0;
      continue;
    }
    const int64_t have = self.size(i - lead);
    if (want == -1 || want == have) {
      sz[static_cast<size_t>(i)] = have;
      st[static_cast<size_t>(i)] = self.stride(i - lead);
    } else {
      ARK_CHECK(have == 1, "expand: the expanded size of the tensor (", want, ") must match the existing size (",
                have, ") at non-singleton dimension ", i, ". Target sizes: ", size, ". Tensor sizes: ", self.sizes());
      sz[static_cast<size_t>(i)] = want;
      st[static_cast<size_t>(i)] = 0;
    }
  }
  Tensor out = make_view(self, sz, st, self.storage_offset());
  if (needs_grad(self)) {
    DimVector in = self.sizes().vec();
    record("ExpandBackward0", {self}, out,
           [in](const variable_list& g) -> variable_list { return {autograd::sum_to(g[0], in)}; });
  }
  return out;
}

Tensor broadcast_to(const Tensor& self, IntArrayRef size) { return expand(self, size); }

namespace {
Tensor reshape_view(const Tensor& self, DimVector sz, const char* name) {
  auto st = detail::view_strides(self.sizes(), self.strides(), sz);
  ARK_ASSERT(st.has_value());
  Tensor out = make_view(self, sz, *st, self.storage_offset());
  if (needs_grad(self)) {
    DimVector in = self.sizes().vec();
    record(name, {self}, out, [in](const variable_list& g) -> variable_list { return {g[0].reshape(in)}; });
  }
  return out;
}
}  // namespace

Tensor squeeze(const Tensor& self) {
  DimVector sz;
  for (int64_t s : self.sizes())
    if (s != 1) sz.push_back(s);
  return reshape_view(self, sz, "SqueezeBackward0");
}
Tensor squeeze(const Tensor& self, int64_t dim) {
  const int64_t d = wrap_dim(dim, self.dim(), "squeeze");
  DimVector sz = self.sizes().vec();
  if (self.dim() > 0 && sz[static_cast<size_t>(d)] == 1) sz.erase(sz.begin() + d);
  return reshape_view(self, sz, "SqueezeBackward1");
}
Tensor unsqueeze(const Tensor& self, int64_t dim) {
  const int64_t d = wrap_dim(dim, self.dim() + 1, "unsqueeze");
  DimVector sz = self.sizes().vec(), st = self.strides().vec();
  const int64_t new_stride = d < self.dim() ? sz[static_cast<size_t>(d)] * st[static_cast<size_t>(d)] : 1;
  sz.insert(sz.begin() + d, 1);
  st.insert(st.begin() + d, new_stride);
  Tensor out = make_view(self, sz, st, self.storage_offset());
  if (needs_grad(self))
    record("UnsqueezeBackward0", {self}, out, [d](const variable_list& g) -> variable_list { return {g[0].squeeze(d)}; });
  return out;
}

Tensor flatten(const Tensor& self, int64_t start_dim, int64_t end_dim) {
  if (self.dim() == 0) return reshape(self, {1});
  const int64_t s = wrap_dim(start_dim, self.dim(), "flatten"), e = wrap_dim(end_dim, self.dim(), "flatten");
  ARK_CHECK(s <= e, "flatten() has invalid args: start_dim cannot come after end_dim");
  if (s == e) return self;
  DimVector sz;
  for (int64_t i = 0; i < s; ++i) sz.push_back(self.size(i));
  int64_t m = 1;
  for (int64_t i = s; i <= e; ++i) m *= self.size(i);
  sz.push_back(m);
  for (int64_t i = e + 1; i < self.dim(); ++i) sz.push_back(self.size(i));
  return reshape(self, sz);
}

Tensor unflatten(const Tensor& self, int64_t dim, IntArrayRef sizes) {
  const int64_t d = wrap_dim(dim, self.dim(), "unflatten");
  ARK_CHECK(!sizes.empty(), "unflatten: sizes must be non-empty");
  DimVector inner = detail::infer_size(sizes, self.size(d), "unflatten");
  DimVector sz;
  for (int64_t i = 0; i < d; ++i) sz.push_back(self.size(i));
  sz.insert(sz.end(), inner.begin(), inner.end());
  for (int64_t i = d + 1; i < self.dim(); ++i) sz.push_back(self.size(i));
  return view(self, sz);
}

Tensor movedim(const Tensor& self, int64_t src, int64_t dst) {
  const int64_t s = wrap_dim(src, self.dim(), "movedim"), d = wrap_dim(dst, self.dim(), "movedim");
  DimVector perm;
  for (int64_t i = 0; i < self.dim(); ++i)
    if (i != s) perm.push_back(i);
  perm.insert(perm.begin() + d, s);
  return permute(self, perm);
}

Tensor diagonal(const Tensor& self, int64_t offset, int64_t dim1, int64_t dim2) {
  const int64_t a = wrap_dim(dim1, self.dim(), "diagonal"), b = wrap_dim(dim2, self.dim(), "diagonal");
  ARK_CHECK(a != b, "diagonal dimensions cannot be identical ", dim1, ", ", dim2);
  int64_t len, off = self.storage_offset();
  if (offset >= 0) {
    len = std::max<int64_t>(std::min(self.size(a), self.size(b) - offset), 0);
    off += offset * self.stride(b);
  } else {
    len = std::max<int64_t>(std::min(self.size(a) + offset, self.size(b)), 0);
    off -= offset * self.stride(a);
  }
  if (len == 0) off = self.storage_offset();
  DimVector sz, st;
  for (int64_t i = 0; i < self.dim(); ++i)
    if (i != a && i != b) {
      sz.push_back(self.size(i));
      st.push_back(self.stride(i));
    }
  sz.push_back(len);
  st.push_back(self.stride(a) + self.stride(b));
  return as_strided(self, sz, st, off);
}

Tensor atleast_1d(const Tensor& self) { return self.dim() == 0 ? reshape(self, {1}) : self; }

std::vector<Tensor> split_with_sizes(const Tensor& self, IntArrayRef split_sizes, int64_t dim) {
  ARK_CHECK(self.dim() > 0, "split expects at least a 1-dimensional tensor");
  const int64_t d = wrap_dim(dim, self.dim(), "split_with_sizes");
  int64_t total = 0;
  for (int64_t s : split_sizes) {
    ARK_CHECK(s >= 0, "split_with_sizes: expected non-negative split sizes, got ", split_sizes);
    total += s;
  }
  ARK_CHECK(total == self.size(d), "split_with_sizes expects split_sizes to sum exactly to ", self.size(d),
            " (input tensor's size at dimension ", d, "), but got split_sizes=", split_sizes);
  std::vector<Tensor> out;
  int64_t start = 0;
  for (int64_t s : split_sizes) {
    out.push_back(narrow(self, d, start, s));
    start += s;
  }
  return out;
}

std::vector<Tensor> split(const Tensor& self, int64_t split_size, int64_t dim) {
  ARK_CHECK(self.dim() > 0, "split expects at least a 1-dimensional tensor");
  ARK_CHECK(split_size >= 0, "split expects split_size be non-negative, but got split_size=", split_size);
  const int64_t d = wrap_dim(dim, self.dim(), "split");
  const int64_t n = self.size(d);
  ARK_CHECK(split_size > 0 || n == 0, "split_size can only be 0 if dimension size is 0, but got dimension size of ", n);
  DimVector sizes;
  if (n == 0) sizes.push_back(0);
  for (int64_t s = 0; s < n; s += split_size) sizes.push_back(std::min(split_size, n - s));
  return split_with_sizes(self, sizes, d);
}

std::vector<Tensor> chunk(const Tensor& self, int64_t chunks, int64_t dim) {
  ARK_CHECK(self.dim() > 0, "chunk expects at least a 1-dimensional tensor");
  ARK_CHECK(chunks > 0, "chunk expects `chunks` to be greater than 0, got: ", chunks);
  const int64_t d = wrap_dim(dim, self.dim(), "chunk");
  const int64_t split_size = (self.size(d) + chunks - 1) / chunks;
  if (split_size == 0 && self.size(d) == 0) {
    DimVector sizes(static_cast<size_t>(chunks), 0);
    return split_with_sizes(self, sizes, d);
  }
  return split(self, split_size, d);
}

std::vector<Tensor> unbind(const Tensor& self, int64_t dim) {
  const int64_t d = wrap_dim(dim, self.dim(), "unbind");
  std::vector<Tensor> out;
  for (int64_t i = 0; i < self.size(d); ++i) out.push_back(select(self, d, i));
  return out;
}

}  // namespace ark
