// Indexing ops: index_select, gather, scatter(_add), index_add, advanced indexing (index,
// index_put), masked_select, nonzero, and the Tensor::index / index_put_ front end.
#include "ark/ops/indexing.h"

#include "ark/ops/util.h"

namespace ark {

using autograd::needs_grad;
using autograd::record;
using autograd::save;
using autograd::variable_list;

namespace {

Tensor as_index(const Tensor& index, const char* op) {
  ARK_CHECK(index.dtype() == kLong || index.dtype() == kInt, op, "(): Expected dtype int64 or int32 for index, got ",
            dtype_name(index.dtype()));
  return detail::cast(index, kLong).contiguous();
}

void check_bounds(const Tensor& index, int64_t size, const char* op, int64_t dim) {
  if (index.numel() == 0) return;
  const int64_t mn = index.min().item<int64_t>(), mx = index.max().item<int64_t>();
  ARK_CHECK(mn >= 0 && mx < size, op, "(): index ", mn < 0 ? mn : mx, " is out of bounds for dimension ", dim,
            " with size ", size);
}

// Checks a gather/scatter index against self (and src) shapes.
void check_scatter_shapes(const Tensor& self, int64_t dim, const Tensor& index, const Tensor* src, const char* op) {
  ARK_CHECK(index.dim() == self.dim() || (index.dim() <= 1 && self.dim() <= 1), op,
            "(): Index tensor must have the same number of dimensions as input tensor (", self.dim(), "), got ",
            index.dim());
  for (int64_t d = 0; d < index.dim(); ++d) {
    if (d != dim)
      ARK_CHECK(index.size(d) <= self.size(d), op, "(): Size does not match at dimension ", d,
                " expected index ", index.sizes(), " to be smaller than self ", self.sizes(), " apart from dimension ", dim);
    if (src) ARK_CHECK(index.size(d) <= src->size(d), op, "(): Expected index ", index.sizes(),
                       " to be smaller than src ", src->sizes(), " in every dimension");
  }
}

}  // namespace

Tensor index_select(const Tensor& self, int64_t dim, const Tensor& index_in) {
  ARK_CHECK(index_in.dim() <= 1, "index_select(): Index is supposed to be a vector, got ", index_in.dim(), "-D");
  const int64_t d = detail::wrap_dim(dim, self.dim(), "index_select");
  Tensor index = as_index(index_in, "index_select").reshape({-1});
  const int64_t n = self.dim() == 0 ? 1 : self.size(d);
  check_bounds(index, n, "index_select", d);
  DimVector shape = self.sizes().vec();
  if (self.dim() > 0) shape[static_cast<size_t>(d)] = index.numel();
  Tensor out = empty(shape, self.options());
  Tensor src = self.contiguous();
  if (out.numel() > 0) backend_for(self).index_select(self.dim() == 0 ? src.reshape({1}) : src, d, index,
                                                      out.dim() == 0 ? out.reshape({1}) : out);
  if (needs_grad(self)) {
    const DimVector in = self.sizes().vec();
    record("IndexSelectBackward0", {self}, out, [in, d, index](const variable_list& g) -> variable_list {
      return {zeros(in, g[0].options()).index_add(d, index, g[0])};
    });
  }
  return out;
}

Tensor index_add(const Tensor& self, int64_t dim, const Tensor& index_in, const Tensor& source) {
  const int64_t d = detail::wrap_dim(dim, self.dim(), "index_add");
  Tensor index = as_index(index_in, "index_add").reshape({-1});
  ARK_CHECK(self.dtype() == source.dtype(), "index_add(): self (", dtype_name(self.dtype()), ") and source (",
            dtype_name(source.dtype()), ") must have the same scalar type");
  DimVector expect = self.sizes().vec();
  if (self.dim() > 0) expect[static_cast<size_t>(d)] = index.numel();
  ARK_CHECK(source.sizes() == IntArrayRef(expect) || (self.dim() == 0 && source.numel() == index.numel()),
            "index_add(): source of shape ", source.sizes(), " does not match ", IntArrayRef(expect));
  check_bounds(index, self.dim() == 0 ? 1 : self.size(d), "index_add", d);
  Tensor out = self.clone().detach();
  if (index.numel() > 0) {
    Tensor o = out.dim() == 0 ? out.reshape({1}) : out;
    Tensor s = source.contiguous();
    backend_for(self).index_add(o, d, index, s.dim() == 0 ? s.reshape({1}) : s);
  }
  if (needs_grad(self, source)) {
    record("IndexAddBackward0", {self, source}, out, [d, index](const variable_list& g) -> variable_list {
      return {g[0], g[0].dim() == 0 ? g[0] : g[0].index_select(d, index)};
    });
  }
  return out;
}

Tensor gather(const Tensor& self, int64_t dim, const Tensor& index_in) {
  const int64_t d = detail::wrap_dim(dim, self.dim(), "gather");
  Tensor index = as_index(index_in, "gather");
  check_scatter_shapes(self, d, index, nullptr, "gather");
  check_bounds(index, self.dim() == 0 ? 1 : self.size(d), "gather", d);
  Tensor out = empty(index.sizes(), self.options());
  if (out.numel() > 0) {
    Tensor s = self.dim() == 0 ? self.reshape({1}) : self;
    backend_for(self).gather(s, d, index.dim() == 0 ? index.reshape({1}) : index, out.dim() == 0 ? out.reshape({1}) : out);
  }
  if (needs_grad(self)) {
    const DimVector in = self.sizes().vec();
    record("GatherBackward0", {self}, out, [in, d, index](const variable_list& g) -> variable_list {
      return {zeros(in, g[0].options()).scatter_add(d, index, g[0])};
    });
  }
  return out;
}

namespace {
Tensor scatter_impl(const Tensor& self, int64_t dim, const Tensor& index_in, const Tensor& src, bool accumulate,
                    const char* op) {
  const int64_t d = detail::wrap_dim(dim, self.dim(), op);
  Tensor index = as_index(index_in, op);
  check_scatter_shapes(self, d, index, &src, op);
  check_bounds(index, self.dim() == 0 ? 1 : self.size(d), op, d);
  ARK_CHECK(self.dtype() == src.dtype(), op, "(): Expected self.dtype to be equal to src.dtype, got ",
            dtype_name(self.dtype()), " and ", dtype_name(src.dtype()));
  Tensor out = self.detach().clone();
  if (index.numel() > 0) {
    Tensor o = out.dim() == 0 ? out.reshape({1}) : out;
    backend_for(self).scatter(o, d, index.dim() == 0 ? index.reshape({1}) : index, src.dim() == 0 ? src.reshape({1}) : src,
                              accumulate);
  }
  return out;
}
}  // namespace

Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor out = scatter_impl(self, dim, index, src, false, "scatter");
  if (needs_grad(self, src)) {
    const int64_t d = detail::wrap_dim(dim, self.dim(), "scatter");
    Tensor idx = as_index(index, "scatter");
    record("ScatterBackward0", {self, src}, out, [d, idx](const variable_list& g) -> variable_list {
      return {g[0].scatter(d, idx, 0), g[0].gather(d, idx)};
    });
  }
  return out;
}

Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, const Scalar& value) {
  Tensor src = full(index.sizes(), value, self.options());
  Tensor out = scatter_impl(self, dim, index, src, false, "scatter");
  if (needs_grad(self)) {
    const int64_t d = detail::wrap_dim(dim, self.dim(), "scatter");
    Tensor idx = as_index(index, "scatter");
    record("ScatterBackward1", {self}, out, [d, idx](const variable_list& g) -> variable_list {
      return {g[0].scatter(d, idx, 0)};
    });
  }
  return out;
}

Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor out = scatter_impl(self, dim, index, src, true, "scatter_add");
  if (needs_grad(self, src)) {
    const int64_t d = detail::wrap_dim(dim, self.dim(), "scatter_add");
    Tensor idx = as_index(index, "scatter_add");
    record("ScatterAddBackward0", {self, src}, out, [d, idx](const variable_list& g) -> variable_list {
      return {g[0], g[0].gather(d, idx)};
    });
  }
  return out;
}

Tensor nonzero(const Tensor& self) { return backend_for(self).nonzero(self); }

// ---- advanced indexing ----
namespace {

// Flat (row-major, contiguous-layout) position in `self` of every element of the result of
// self[indices], shaped like that result.
Tensor advanced_positions(const Tensor& self, const std::vector<std::optional<Tensor>>& indices_in) {
  ARK_CHECK(static_cast<int64_t>(indices_in.size()) <= self.dim(), "too many indices for tensor of dimension ",
            self.dim(), " (got ", indices_in.size(), ")");
  // Boolean masks become one long index per masked dim.
  std::vector<std::optional<Tensor>> indices;
  for (const auto& ix : indices_in) {
    if (ix && (ix->dtype() == kBool || ix->dtype() == kByte)) {
      const size_t d0 = indices.size();
      for (int64_t k = 0; k < ix->dim(); ++k)
        ARK_CHECK(d0 + static_cast<size_t>(k) < static_cast<size_t>(self.dim()) &&
                      ix->size(k) == self.size(static_cast<int64_t>(d0) + k),
                  "The shape of the mask ", ix->sizes(), " at index ", d0, " does not match the shape of the indexed "
                  "tensor ", self.sizes());
      Tensor nz = nonzero(*ix);
      for (int64_t k = 0; k < ix->dim(); ++k) indices.push_back(nz.select(1, k));
    } else {
      if (ix) ARK_CHECK(ix->dtype() == kLong || ix->dtype() == kInt, "tensors used as indices must be long, int, "
                        "byte or bool tensors, got ", dtype_name(ix->dtype()));
      indices.push_back(ix);
    }
  }
  ARK_CHECK(static_cast<int64_t>(indices.size()) <= self.dim(), "too many indices for tensor of dimension ", self.dim());
  indices.resize(static_cast<size_t>(self.dim()));
  std::vector<int64_t> idx_dims;
  DimVector bshape;
  for (size_t d = 0; d < indices.size(); ++d)
    if (indices[d]) {
      idx_dims.push_back(static_cast<int64_t>(d));
      bshape = bshape.empty() && idx_dims.size() == 1 ? indices[d]->sizes().vec() : broadcast_shapes(bshape, indices[d]->sizes());
    }
  ARK_ASSERT(!idx_dims.empty());
  bool adjacent = true;
  for (size_t i = 1; i < idx_dims.size(); ++i) adjacent = adjacent && idx_dims[i] == idx_dims[i - 1] + 1;
  const DimVector cst = detail::contiguous_strides(self.sizes());
  // Result layout: [before..., B..., after...] if adjacent else [B..., others...].
  const int64_t nb = static_cast<int64_t>(bshape.size());
  std::vector<int64_t> other_dims;
  for (int64_t d = 0; d < self.dim(); ++d)
    if (!indices[static_cast<size_t>(d)]) other_dims.push_back(d);
  const int64_t b_pos = adjacent ? idx_dims[0] : 0;
  const int64_t rdim = nb + static_cast<int64_t>(other_dims.size());
  DimVector rshape;
  // Position of each other dim in the result.
  std::vector<int64_t> other_pos;
  {
    int64_t pos = 0;
    for (size_t i = 0; i < other_dims.size(); ++i) {
      if (pos == b_pos) pos += nb;
      other_pos.push_back(pos++);
    }
    rshape.assign(static_cast<size_t>(rdim), 1);
    for (size_t i = 0; i < other_dims.size(); ++i) rshape[static_cast<size_t>(other_pos[i])] = self.size(other_dims[i]);
    for (int64_t i = 0; i < nb; ++i) rshape[static_cast<size_t>(b_pos + i)] = bshape[static_cast<size_t>(i)];
  }
  NoGradGuard ng;
  Tensor pos = zeros({}, kLong);
  for (int64_t d : idx_dims) {
    Tensor ix = detail::cast(*indices[static_cast<size_t>(d)], kLong);
    const int64_t n = self.size(d);
    if (ix.numel() > 0) {
      const int64_t mn = ix.min().item<int64_t>(), mx = ix.max().item<int64_t>();
      ARK_CHECK(mn >= -n && mx < n, "index ", mn < -n ? mn : mx, " is out of bounds for dimension ", d, " with size ", n);
    }
    ix = where(ix < 0, ix + n, ix) * cst[static_cast<size_t>(d)];
    DimVector view_shape(static_cast<size_t>(rdim), 1);
    const int64_t lead = nb - ix.dim();
    for (int64_t i = 0; i < ix.dim(); ++i) view_shape[static_cast<size_t>(b_pos + lead + i)] = ix.size(i);
    pos = pos + ix.reshape(view_shape);
  }
  for (size_t i = 0; i < other_dims.size(); ++i) {
    DimVector view_shape(static_cast<size_t>(rdim), 1);
    view_shape[static_cast<size_t>(other_pos[i])] = self.size(other_dims[i]);
    pos = pos + (arange(self.size(other_dims[i]), kLong) * cst[static_cast<size_t>(other_dims[i])]).reshape(view_shape);
  }
  return pos.expand(rshape).contiguous();
}

}  // namespace

Tensor index(const Tensor& self, const std::vector<std::optional<Tensor>>& indices) {
  Tensor pos = advanced_positions(self, indices);
  return index_select(self.reshape({-1}), 0, pos.reshape({-1})).view(pos.sizes());
}

Tensor index_put(const Tensor& self, const std::vector<std::optional<Tensor>>& indices, const Tensor& values,
                 bool accumulate) {
  Tensor pos = advanced_positions(self, indices);
  ARK_CHECK(IntArrayRef(broadcast_shapes(pos.sizes(), values.sizes())) == pos.sizes(),
            "shape mismatch: value tensor of shape ", values.sizes(), " cannot be broadcast to indexing result of shape ",
            pos.sizes());
  Tensor v = values.to(self.dtype()).expand(pos.sizes()).reshape({-1});
  Tensor flat = self.reshape({-1});
  Tensor p = pos.reshape({-1});
  Tensor out = accumulate ? flat.index_add(0, p, v) : flat.scatter(0, p, v);
  return out.view(self.sizes());
}

Tensor masked_select(const Tensor& self, const Tensor& mask) {
  ARK_CHECK(mask.dtype() == kBool, "masked_select: expected BoolTensor for mask, got ", dtype_name(mask.dtype()));
  DimVector shape = broadcast_shapes(self.sizes(), mask.sizes());
  Tensor m = mask.expand(shape).reshape({-1});
  Tensor pos = nonzero(m).reshape({-1});
  return index_select(self.expand(shape).reshape({-1}), 0, pos);
}

// ---- Tensor::index front end ----
namespace indexing {
TensorIndex::TensorIndex(const char* s) : kind_(Kind::Ellipsis) {
  ARK_CHECK(std::string(s) == "...", "Expected \"...\" to represent an ellipsis index, but got \"", s, "\"");
}
}  // namespace indexing

namespace {
using indexing::TensorIndex;

// Applies the basic (view) part of an index list; collects tensor indices by result dim.
Tensor apply_basic(const Tensor& self, ArrayRef<TensorIndex> idx, std::vector<std::optional<Tensor>>& tensors) {
  int64_t consumed = 0;
  for (const auto& i : idx)
    if (i.kind() == TensorIndex::Kind::Integer || i.kind() == TensorIndex::Kind::Slice) consumed++;
    else if (i.kind() == TensorIndex::Kind::Tensor)
      consumed += (i.tensor().dtype() == kBool || i.tensor().dtype() == kByte) ? std::max<int64_t>(i.tensor().dim(), 1) : 1;
  ARK_CHECK(consumed <= self.dim(), "too many indices for tensor of dimension ", self.dim(), " (got ", consumed, ")");
  Tensor r = self;
  int64_t dim = 0;
  bool seen_ellipsis = false;
  for (const auto& i : idx) {
    switch (i.kind()) {
      case TensorIndex::Kind::None:
        r = r.unsqueeze(dim);
        tensors.resize(static_cast<size_t>(dim + 1));
        ++dim;
        break;
      case TensorIndex::Kind::Ellipsis:
        ARK_CHECK(!seen_ellipsis, "an index can only have a single ellipsis ('...')");
        seen_ellipsis = true;
        dim += self.dim() - consumed;
        break;
      case TensorIndex::Kind::Integer:
        r = r.select(dim, i.integer());
        break;
      case TensorIndex::Kind::Boolean:
        r = r.unsqueeze(dim);
        if (!i.boolean()) r = r.narrow(dim, 0, 0);
        ++dim;
        break;
      case TensorIndex::Kind::Slice:
        r = r.slice(dim, i.slice().start(), i.slice().stop(), i.slice().step());
        ++dim;
        break;
      case TensorIndex::Kind::Tensor: {
        const Tensor& t = i.tensor();
        if (t.dim() == 0 && (t.dtype() == kLong || t.dtype() == kInt)) {
          r = r.select(dim, t.item<int64_t>());  // a 0-dim integer tensor acts as an integer
          break;
        }
        tensors.resize(static_cast<size_t>(dim + 1));
        tensors[static_cast<size_t>(dim)] = t;
        dim += (t.dtype() == kBool || t.dtype() == kByte) ? std::max<int64_t>(t.dim(), 1) : 1;
        if (t.dim() == 0 && t.dtype() == kBool) {  // scalar bool: like None + mask
          tensors.pop_back();
          --dim;
          r = r.unsqueeze(dim);
          if (!t.item<bool>()) r = r.narrow(dim, 0, 0);
          ++dim;
        }
        break;
      }
    }
  }
  return r;
}

bool any_tensor(const std::vector<std::optional<Tensor>>& ts) {
  for (const auto& t : ts)
    if (t) return true;
  return false;
}
}  // namespace

Tensor Tensor::index(ArrayRef<indexing::TensorIndex> indices) const {
  std::vector<std::optional<Tensor>> tensors;
  Tensor r = apply_basic(*this, indices, tensors);
  if (!any_tensor(tensors)) return r;
  return ark::index(r, tensors);
}
Tensor Tensor::index(std::initializer_list<indexing::TensorIndex> indices) const {
  return index(ArrayRef<indexing::TensorIndex>(indices));
}

Tensor& Tensor::index_put_(ArrayRef<indexing::TensorIndex> indices, const Tensor& value) {
  std::vector<std::optional<Tensor>> tensors;
  Tensor r = apply_basic(*this, indices, tensors);
  if (!any_tensor(tensors)) {
    r.copy_(value);
    return *this;
  }
  Tensor updated = ark::index_put(r, tensors, value, false);
  r.copy_(updated);
  return *this;
}
Tensor& Tensor::index_put_(std::initializer_list<indexing::TensorIndex> indices, const Tensor& value) {
  return index_put_(ArrayRef<indexing::TensorIndex>(indices), value);
}
Tensor& Tensor::index_put_(ArrayRef<indexing::TensorIndex> indices, const Scalar& value) {
  return index_put_(indices, full({}, value, dtype()));
}
Tensor& Tensor::index_put_(std::initializer_list<indexing::TensorIndex> indices, const Scalar& value) {
  return index_put_(ArrayRef<indexing::TensorIndex>(indices), full({}, value, dtype()));
}

}  // namespace ark
