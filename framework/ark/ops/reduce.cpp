// Reductions: sum, mean, var/std, prod, max/min (values and indices), amax/amin, argmax/argmin,
// logsumexp, norm, cumsum, sort/topk, all/any, with their backward rules.
#include <cmath>

#include "ark/ops/util.h"

namespace ark {

using autograd::needs_grad;
using autograd::record;
using autograd::save;
using autograd::save_output;
using autograd::variable_list;
using detail::wrap_dim;

namespace {

struct Reduced {
  DimVector dims;         // wrapped, sorted dims being reduced
  DimVector keep_shape;   // output shape with keepdim
  DimVector out_shape;    // output shape as requested
};

Reduced plan(const Tensor& self, IntArrayRef dim, bool keepdim, const char* op) {
  Reduced r;
  if (dim.empty()) {
    for (int64_t d = 0; d < self.dim(); ++d) r.dims.push_back(d);
  } else {
    r.dims = detail::wrap_dims(dim, self.dim(), op);
    if (self.dim() == 0) r.dims.clear();
  }
  std::sort(r.dims.begin(), r.dims.end());
  r.keep_shape = self.sizes().vec();
  for (int64_t d : r.dims) r.keep_shape[static_cast<size_t>(d)] = 1;
  for (int64_t d = 0; d < self.dim(); ++d) {
    const bool red = std::binary_search(r.dims.begin(), r.dims.end(), d);
    if (!red || keepdim) r.out_shape.push_back(red ? 1 : self.size(d));
  }
  return r;
}

// Runs a reduction kernel and shapes its output.
Tensor reduce_kernel(ReduceOp op, const Tensor& x, const Reduced& r, ScalarType dtype, const OpParams& p = {}) {
  Tensor in = detail::cast(x, detail::compute_dtype(dtype));
  Tensor out = empty(r.keep_shape, x.options().dtype(in.dtype()));
  backend_for(x).reduce(op, in, r.dims, out, p);
  out = detail::cast(out, dtype);
  return out.sizes() == IntArrayRef(r.out_shape) ? out : out.view(r.out_shape);
}

// Restores the reduced dims of a gradient so it broadcasts against the input.
Tensor unsqueeze_to(const Tensor& g, const Reduced& r, bool keepdim) {
  if (keepdim) return g;
  return g.reshape(r.keep_shape);
}

ScalarType sum_dtype(ScalarType t, std::optional<ScalarType> dtype) {
  if (dtype) return *dtype;
  return is_integral(t, true) ? kLong : t;
}

Tensor sum_impl(const Tensor& self, IntArrayRef dim, bool keepdim, std::optional<ScalarType> dtype, const char* name) {
  const ScalarType dt = sum_dtype(self.dtype(), dtype);
  const Reduced r = plan(self, dim, keepdim, "sum");
  Tensor out = reduce_kernel(ReduceOp::Sum, self, r, dt);
  if (needs_grad(self)) {
    const DimVector in = self.sizes().vec();
    record(name, {self}, out, [r, keepdim, in](const variable_list& g) -> variable_list {
      return {unsqueeze_to(g[0], r, keepdim).expand(in)};
    });
  }
  return out;
}

}  // namespace

Tensor sum(const Tensor& self, std::optional<ScalarType> dtype) { return sum_impl(self, {}, false, dtype, "SumBackward0"); }
Tensor sum(const Tensor& self, IntArrayRef dim, bool keepdim, std::optional<ScalarType> dtype) {
  return sum_impl(self, dim, keepdim, dtype, "SumBackward1");
}

namespace {
Tensor mean_impl(const Tensor& self, IntArrayRef dim, bool keepdim, std::optional<ScalarType> dtype, const char* name) {
  const ScalarType dt = dtype.value_or(self.dtype());
  ARK_CHECK(is_floating_point(dt), "mean(): could not infer output dtype. Input dtype must be either a floating point "
            "or complex dtype. Got: ", toString(dt));
  const Reduced r = plan(self, dim, keepdim, "mean");
  int64_t n = 1;
  for (int64_t d : r.dims) n *= self.size(d);
  Tensor out;
  {
    NoGradGuard ng;
    out = reduce_kernel(ReduceOp::Sum, self, r, dt);
    out = n == 0 ? out.fill_(NAN) : out.div_(static_cast<double>(n));
  }
  if (needs_grad(self)) {
    const DimVector in = self.sizes().vec();
    record(name, {self}, out, [r, keepdim, in, n](const variable_list& g) -> variable_list {
      return {unsqueeze_to(g[0], r, keepdim).expand(in) / static_cast<double>(n)};
    });
  }
  return out;
}
}  // namespace

Tensor mean(const Tensor& self, std::optional<ScalarType> dtype) { return mean_impl(self, {}, false, dtype, "MeanBackward0"); }
Tensor mean(const Tensor& self, IntArrayRef dim, bool keepdim, std::optional<ScalarType> dtype) {
  return mean_impl(self, dim, keepdim, dtype, "MeanBackward1");
}

std::tuple<Tensor, Tensor> var_mean(const Tensor& self, IntArrayRef dim, bool unbiased, bool keepdim) {
  ARK_CHECK(self.is_floating_point(), "var(): input dtype should be floating point, got ", dtype_name(self.dtype()));
  const Reduced r = plan(self, dim, keepdim, "var");
  Tensor in = detail::cast(self, detail::compute_dtype(self.dtype()));
  Tensor v = empty(r.keep_shape, in.options()), m = empty(r.keep_shape, in.options());
  backend_for(self).var_mean(in, r.dims, unbiased ? 1 : 0, v, m);
  v = detail::cast(v, self.dtype()).view(r.out_shape);
  m = detail::cast(m, self.dtype()).view(r.out_shape);
  if (needs_grad(self)) {
    int64_t n = 1;
    for (int64_t d : r.dims) n *= self.size(d);
    auto sx = save(self);
    const double denom = static_cast<double>(n - (unbiased ? 1 : 0));
    // Only the variance output carries a gradient here; mean() is differentiable on its own.
    record("VarBackward0", {self}, v, [sx, r, keepdim, denom](const variable_list& g) -> variable_list {
      Tensor x = sx.get();
      Tensor mu = x.mean(r.dims, true);
      return {unsqueeze_to(g[0], r, keepdim) * (x - mu) * (2.0 / denom)};
    });
  }
  return {v, m};
}

Tensor var_all(const Tensor& self, bool unbiased) { return std::get<0>(var_mean(self, {}, unbiased, false)); }
Tensor var(const Tensor& self, IntArrayRef dim, bool unbiased, bool keepdim) {
  return std::get<0>(var_mean(self, dim, unbiased, keepdim));
}
Tensor std_all(const Tensor& self, bool unbiased) { return var_all(self, unbiased).sqrt(); }
Tensor std(const Tensor& self, IntArrayRef dim, bool unbiased, bool keepdim) { return var(self, dim, unbiased, keepdim).sqrt(); }

namespace {
Tensor prod_impl(const Tensor& self, IntArrayRef dim, bool keepdim, std::optional<ScalarType> dtype, const char* name) {
  const ScalarType dt = sum_dtype(self.dtype(), dtype);
  const Reduced r = plan(self, dim, keepdim, "prod");
  Tensor out = reduce_kernel(ReduceOp::Prod, self, r, dt);
  if (needs_grad(self)) {
    auto sx = save(self);
    auto so = save_output(out);
    record(name, {self}, out, [sx, so, r, keepdim](const variable_list& g) -> variable_list {
      Tensor x = sx.get();
      Tensor gk = unsqueeze_to(g[0], r, keepdim);
      Tensor y = unsqueeze_to(so.get(), r, keepdim);
      // Without zeros, d prod / dx_i = prod / x_i. With zeros, use the product of the others,
      // computed by replacing each zero in turn (exclusive products via logs are unstable).
      const bool has_zero = (x == 0).any().item<bool>();
      if (!has_zero) return {gk * y / x};
      Tensor ones_mask = (x == 0);
      Tensor x_nz = x.masked_fill(ones_mask, 1);
      Tensor prod_nz = x_nz.prod(r.dims.size() == 1 ? r.dims[0] : 0, true);
      if (r.dims.size() != 1) prod_nz = x_nz.reshape({-1}).prod(0, false);
      Tensor zero_count = ones_mask.sum(r.dims, true);
      Tensor gi = where(zero_count == 0, y / x_nz,
                        where((zero_count == 1) & ones_mask, prod_nz, zeros({}, x.options())));
      return {gk * gi};
    });
  }
  return out;
}
}  // namespace

Tensor prod(const Tensor& self, std::optional<ScalarType> dtype) { return prod_impl(self, {}, false, dtype, "ProdBackward0"); }
Tensor prod(const Tensor& self, int64_t dim, bool keepdim, std::optional<ScalarType> dtype) {
  return prod_impl(self, {dim}, keepdim, dtype, "ProdBackward1");
}

namespace {
// amax/amin and max()/min(): the gradient is shared evenly by the elements equal to the result.
Tensor extreme(const Tensor& self, IntArrayRef dim, bool keepdim, bool is_max, const char* name) {
  const Reduced r = plan(self, dim, keepdim, is_max ? "max" : "min");
  for (int64_t d : r.dims)
    ARK_CHECK(self.size(d) != 0, is_max ? "max" : "min", "(): Expected reduction dim ", d,
              " to have non-zero size (input ", self.sizes(), ")");
  ARK_CHECK(self.numel() != 0 || !r.dims.empty(), is_max ? "max" : "min",
            "(): Expected reduction dim to be specified for input.numel() == 0");
  Tensor out = reduce_kernel(is_max ? ReduceOp::Max : ReduceOp::Min, self, r, self.dtype());
  if (needs_grad(self)) {
    auto sx = save(self);
    auto so = save_output(out);
    record(name, {self}, out, [sx, so, r, keepdim](const variable_list& g) -> variable_list {
      Tensor x = sx.get();
      Tensor y = unsqueeze_to(so.get(), r, keepdim);
      Tensor mask = (x == y);
      Tensor count = mask.sum(r.dims, true).to(x.dtype());
      return {unsqueeze_to(g[0], r, keepdim) * mask / count};
    });
  }
  return out;
}
}  // namespace

Tensor max(const Tensor& self) { return extreme(self, {}, false, true, "MaxBackward1"); }
Tensor min(const Tensor& self) { return extreme(self, {}, false, false, "MinBackward1"); }
Tensor amax(const Tensor& self, IntArrayRef dim, bool keepdim) { return extreme(self, dim, keepdim, true, "AmaxBackward0"); }
Tensor amin(const Tensor& self, IntArrayRef dim, bool keepdim) { return extreme(self, dim, keepdim, false, "AminBackward0"); }

namespace {
std::tuple<Tensor, Tensor> arg_extreme(const Tensor& self, int64_t dim, bool keepdim, bool is_max) {
  const char* op = is_max ? "max" : "min";
  const int64_t d = wrap_dim(dim, self.dim(), op);
  ARK_CHECK(self.dim() == 0 || self.size(d) != 0, op, "(): Expected reduction dim ", d, " to have non-zero size");
  const Reduced r = plan(self, {d}, keepdim, op);
  Tensor in = detail::cast(self, detail::compute_dtype(self.dtype()));
  Tensor values = empty(r.keep_shape, in.options()), indices = empty(r.keep_shape, self.options().dtype(kLong));
  if (self.dim() == 0) {
    values.copy_(in);
    indices.zero_();
  } else {
    backend_for(self).arg_reduce(is_max, in, d, values, indices);
  }
  values = detail::cast(values, self.dtype()).view(r.out_shape);
  indices = indices.view(r.out_shape);
  if (needs_grad(self)) {
    const DimVector in_sizes = self.sizes().vec();
    Tensor idx = indices;
    record(is_max ? "MaxBackward0" : "MinBackward0", {self}, values,
           [idx, d, keepdim, in_sizes, r](const variable_list& g) -> variable_list {
             if (in_sizes.empty()) return {g[0]};
             return {zeros(in_sizes, g[0].options())
                         .scatter(d, unsqueeze_to(idx, r, keepdim), unsqueeze_to(g[0], r, keepdim))};
           });
  }
  return {values, indices};
}
}  // namespace

std::tuple<Tensor, Tensor> max(const Tensor& self, int64_t dim, bool keepdim) { return arg_extreme(self, dim, keepdim, true); }
std::tuple<Tensor, Tensor> min(const Tensor& self, int64_t dim, bool keepdim) { return arg_extreme(self, dim, keepdim, false); }

Tensor argmax(const Tensor& self, std::optional<int64_t> dim, bool keepdim) {
  NoGradGuard ng;
  if (!dim) return std::get<1>(arg_extreme(self.reshape({-1}), 0, false, true));
  return std::get<1>(arg_extreme(self, *dim, keepdim, true));
}
Tensor argmin(const Tensor& self, std::optional<int64_t> dim, bool keepdim) {
  NoGradGuard ng;
  if (!dim) return std::get<1>(arg_extreme(self.reshape({-1}), 0, false, false));
  return std::get<1>(arg_extreme(self, *dim, keepdim, false));
}

Tensor logsumexp(const Tensor& self, IntArrayRef dim, bool keepdim) {
  const Tensor x = self.is_floating_point() ? self : self.to(kFloat);
  const Reduced r = plan(x, dim, keepdim, "logsumexp");
  Tensor out;
  {
    NoGradGuard ng;
    if (x.numel() == 0) {
      out = log(sum(exp(x), dim, keepdim));
    } else {
      Tensor m = amax(x, r.dims, true);
      m = m.masked_fill(isinf(m), 0);
      out = (x - m).exp().sum(r.dims, true).log().add_(m);
      if (!keepdim) out = out.view(r.out_shape);
    }
  }
  if (needs_grad(x)) {
    auto sx = save(x);
    auto so = save_output(out);
    record("LogsumexpBackward0", {x}, out, [sx, so, r, keepdim](const variable_list& g) -> variable_list {
      Tensor y = unsqueeze_to(so.get(), r, keepdim);
      return {unsqueeze_to(g[0], r, keepdim) * (sx.get() - y).exp()};
    });
  }
  return out;
}

Tensor norm(const Tensor& self, const Scalar& p) { return norm(self, p, {}, false); }
Tensor norm(const Tensor& self, const std::optional<Scalar>& p_opt, IntArrayRef dim, bool keepdim) {
  ARK_CHECK(self.is_floating_point(), "norm(): input dtype should be floating point, got ", dtype_name(self.dtype()));
  const double p = p_opt ? p_opt->toDouble() : 2.0;
  const Reduced r = plan(self, dim, keepdim, "norm");
  const bool inf = std::isinf(p) && p > 0;
  Tensor out;
  if (std::isinf(p) && p < 0) {
    out = amin(abs(self), r.dims, keepdim);
    return out;
  }
  out = reduce_kernel(inf ? ReduceOp::NormInf : ReduceOp::NormP, self, r, self.dtype(), {p});
  if (needs_grad(self)) {
    auto sx = save(self);
    auto so = save_output(out);
    record("NormBackward1", {self}, out, [sx, so, r, keepdim, p, inf](const variable_list& g) -> variable_list {
      Tensor x = sx.get();
      Tensor y = unsqueeze_to(so.get(), r, keepdim);
      Tensor gk = unsqueeze_to(g[0], r, keepdim);
      if (p == 0.0) return {zeros_like(x)};
      if (inf) {
        Tensor mask = (x.abs() == y);
        return {gk * x.sign() * mask / mask.sum(r.dims, true).to(x.dtype())};
      }
      if (p == 1.0) return {gk * x.sign()};
      if (p == 2.0) return {where(y == 0, zeros({}, x.options()), gk * x / y)};
      Tensor scale = x * x.abs().pow(p - 2) / y.pow(p - 1);
      return {where(y == 0, zeros({}, x.options()), gk * scale)};
    });
  }
  return out;
}

Tensor cumsum(const Tensor& self, int64_t dim, std::optional<ScalarType> dtype) {
  const int64_t d = wrap_dim(dim, self.dim(), "cumsum");
  const ScalarType dt = sum_dtype(self.dtype(), dtype);
  Tensor in = detail::cast(self, detail::compute_dtype(dt));
  Tensor out = empty(self.sizes(), in.options());
  if (self.dim() == 0) out.copy_(in);
  else backend_for(self).cumsum(in, d, out);
  out = detail::cast(out, dt);
  if (needs_grad(self)) {
    record("CumsumBackward0", {self}, out, [d](const variable_list& g) -> variable_list {
      if (g[0].dim() == 0) return {g[0]};
      return {g[0].flip({d}).cumsum(d).flip({d})};
    });
  }
  return out;
}

std::tuple<Tensor, Tensor> sort(const Tensor& self, int64_t dim, bool descending) {
  const int64_t d = wrap_dim(dim, self.dim(), "sort");
  Tensor in = detail::cast(self, detail::compute_dtype(self.dtype()));
  Tensor values = empty(self.sizes(), in.options()), indices = empty(self.sizes(), self.options().dtype(kLong));
  if (self.dim() == 0) {
    values.copy_(in);
    indices.zero_();
  } else {
    backend_for(self).sort(in, d, descending, values, indices);
  }
  values = detail::cast(values, self.dtype());
  if (needs_grad(self)) {
    const DimVector in_sizes = self.sizes().vec();
    record("SortBackward0", {self}, values, [indices, d, in_sizes](const variable_list& g) -> variable_list {
      if (in_sizes.empty()) return {g[0]};
      return {zeros(in_sizes, g[0].options()).scatter(d, indices, g[0])};
    });
  }
  return {values, indices};
}

Tensor argsort(const Tensor& self, int64_t dim, bool descending) {
  NoGradGuard ng;
  return std::get<1>(sort(self, dim, descending));
}

std::tuple<Tensor, Tensor> topk(const Tensor& self, int64_t k, int64_t dim, bool largest, bool sorted) {
  (void)sorted;  // results are always sorted (a valid choice for sorted=false too)
  const int64_t d = wrap_dim(dim, self.dim(), "topk");
  const int64_t n = self.dim() == 0 ? 1 : self.size(d);
  ARK_CHECK(k >= 0 && k <= n, "topk: selected index k (", k, ") out of range for dimension of size ", n);
  Tensor v, i;
  {
    NoGradGuard ng;
    std::tie(v, i) = sort(self, d, largest);
    if (self.dim() > 0) {
      v = v.narrow(d, 0, k).contiguous();
      i = i.narrow(d, 0, k).contiguous();
    }
  }
  if (needs_grad(self)) {
    const DimVector in_sizes = self.sizes().vec();
    record("TopkBackward0", {self}, v, [i, d, in_sizes](const variable_list& g) -> variable_list {
      if (in_sizes.empty()) return {g[0]};
      return {zeros(in_sizes, g[0].options()).scatter(d, i, g[0])};
    });
  }
  return {v, i};
}

namespace {
Tensor bool_reduce(ReduceOp op, const Tensor& self, IntArrayRef dim, bool keepdim) {
  const Reduced r = plan(self, dim, keepdim, op == ReduceOp::All ? "all" : "any");
  Tensor in = detail::cast(self, kBool);
  Tensor out = empty(r.keep_shape, self.options().dtype(kBool));
  backend_for(self).reduce(op, in, r.dims, out, {});
  return out.view(r.out_shape);
}
}  // namespace
Tensor all(const Tensor& self) { return bool_reduce(ReduceOp::All, self, {}, false); }
Tensor all(const Tensor& self, int64_t dim, bool keepdim) { return bool_reduce(ReduceOp::All, self, {dim}, keepdim); }
Tensor any(const Tensor& self) { return bool_reduce(ReduceOp::Any, self, {}, false); }
Tensor any(const Tensor& self, int64_t dim, bool keepdim) { return bool_reduce(ReduceOp::Any, self, {dim}, keepdim); }
Tensor count_nonzero(const Tensor& self, IntArrayRef dim) { return sum(ne(self, 0), dim, false, kLong); }

}  // namespace ark
