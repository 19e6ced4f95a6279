// Matrix products: mm, bmm, matmul (every broadcasting case of torch.matmul), addmm, baddbmm,
// linear, mv, dot, outer. All run on the backend's batched GEMM.
#include "ark/ops/util.h"

namespace ark {

using autograd::needs_grad;
using autograd::record;
using autograd::save;
using autograd::variable_list;

namespace {

void check_float_pair(const Tensor& a, const Tensor& b, const char* op) {
  ARK_CHECK(a.dtype() == b.dtype(), op, ": expected both operands to have the same dtype, but got ",
            dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  ARK_CHECK(a.device() == b.device(), op, ": expected both operands on the same device, got ", a.device().str(),
            " and ", b.device().str());
}

// out(B, M, N) = alpha * a(B, M, K) @ b(B, K, N) + beta * out, no autograd.
void gemm_into(const Tensor& a, const Tensor& b, const Tensor& out, double alpha, double beta) {
  if (out.numel() == 0) return;
  if (a.size(2) == 0) {
    Tensor o = out;
    if (beta == 0) o.zero_();
    else o.mul_(beta);
    return;
  }
  // bfloat16/float16 operands go to the backend as they are: it accumulates in float32 (the CPU
  // backend on oneDNN's bfloat16 kernels, or widening in registers for a few rows).
  backend_for(a).bmm(a, b, out, alpha, beta);
}

Tensor mm_raw(const Tensor& a, const Tensor& b) {
  Tensor out = empty({a.size(0), b.size(1)}, a.options());
  gemm_into(a.unsqueeze(0), b.unsqueeze(0), out.unsqueeze(0), 1.0, 0.0);
  return out;
}
Tensor bmm_raw(const Tensor& a, const Tensor& b) {
  Tensor out = empty({a.size(0), a.size(1), b.size(2)}, a.options());
  gemm_into(a, b, out, 1.0, 0.0);
  return out;
}

}  // namespace

Tensor mm(const Tensor& a, const Tensor& b) {
  ARK_CHECK(a.dim() == 2, "mm: self must be a matrix, got a ", a.dim(), "-D tensor");
  ARK_CHECK(b.dim() == 2, "mm: mat2 must be a matrix, got a ", b.dim(), "-D tensor");
  ARK_CHECK(a.size(1) == b.size(0), "mm: mat1 and mat2 shapes cannot be multiplied (", a.size(0), "x", a.size(1),
            " and ", b.size(0), "x", b.size(1), ")");
  check_float_pair(a, b, "mm");
  Tensor out;
  {
    NoGradGuard ng;
    out = mm_raw(a, b);
  }
  if (needs_grad(a, b)) {
    auto sa = autograd::requires_grad(b) ? save(a) : autograd::SavedTensor();
    auto sb = autograd::requires_grad(a) ? save(b) : autograd::SavedTensor();
    record("MmBackward0", {a, b}, out, [sa, sb](const variable_list& g) -> variable_list {
      return {sb.defined() ? mm(g[0], sb.get().t()) : Tensor(), sa.defined() ? mm(sa.get().t(), g[0]) : Tensor()};
    });
  }
  return out;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  ARK_CHECK(a.dim() == 3, "bmm: batch1 must be a 3D tensor, got ", a.dim(), "-D");
  ARK_CHECK(b.dim() == 3, "bmm: batch2 must be a 3D tensor, got ", b.dim(), "-D");
  ARK_CHECK(a.size(0) == b.size(0), "bmm: batch1 and batch2 must have the same number of batches, got ", a.size(0),
            " and ", b.size(0));
  ARK_CHECK(a.size(2) == b.size(1), "bmm: Expected size for first two dimensions of batch2 tensor to be: [", a.size(0),
            ", ", a.size(2), "] but got: [", b.size(0), ", ", b.size(1), "].");
  check_float_pair(a, b, "bmm");
  Tensor out;
  {
    NoGradGuard ng;
    out = bmm_raw(a, b);
  }
  if (needs_grad(a, b)) {
    auto sa = autograd::requires_grad(b) ? save(a) : autograd::SavedTensor();
    auto sb = autograd::requires_grad(a) ? save(b) : autograd::SavedTensor();
    record("BmmBackward0", {a, b}, out, [sa, sb](const variable_list& g) -> variable_list {
      return {sb.defined() ? bmm(g[0], sb.get().transpose(1, 2)) : Tensor(),
              sa.defined() ? bmm(sa.get().transpose(1, 2), g[0]) : Tensor()};
    });
  }
  return out;
}

Tensor addmm(const Tensor& self, const Tensor& m1, const Tensor& m2, const Scalar& beta_s, const Scalar& alpha_s) {
  ARK_CHECK(m1.dim() == 2 && m2.dim() == 2, "addmm: expected 2-D matrices, got ", m1.dim(), "-D and ", m2.dim(), "-D");
  ARK_CHECK(m1.size(1) == m2.size(0), "addmm: mat1 and mat2 shapes cannot be multiplied (", m1.size(0), "x",
            m1.size(1), " and ", m2.size(0), "x", m2.size(1), ")");
  check_float_pair(m1, m2, "addmm");
  check_float_pair(self, m1, "addmm");
  const double beta = beta_s.toDouble(), alpha = alpha_s.toDouble();
  const DimVector shape = {m1.size(0), m2.size(1)};
  DimVector bshape = broadcast_shapes(self.sizes(), shape);
  ARK_CHECK(IntArrayRef(bshape) == IntArrayRef(shape), "addmm: self of shape ", self.sizes(),
            " cannot be broadcast to ", IntArrayRef(shape));
  Tensor out = empty(shape, m1.options());
  {
    NoGradGuard ng;
    if (beta != 0) out.copy_(self);
    gemm_into(m1.unsqueeze(0), m2.unsqueeze(0), out.unsqueeze(0), alpha, beta == 0 ? 0.0 : beta);
  }
  if (needs_grad(self, m1, m2)) {
    auto s1 = autograd::requires_grad(m2) ? save(m1) : autograd::SavedTensor();
    auto s2 = autograd::requires_grad(m1) ? save(m2) : autograd::SavedTensor();
    record("AddmmBackward0", {self, m1, m2}, out, [s1, s2, alpha, beta](const variable_list& g) -> variable_list {
      Tensor gs = beta == 1.0 ? g[0] : g[0] * beta;
      Tensor g1 = s2.defined() ? mm(g[0], s2.get().t()) : Tensor();
      Tensor g2 = s1.defined() ? mm(s1.get().t(), g[0]) : Tensor();
      if (alpha != 1.0) {
        if (g1.defined()) g1 = g1 * alpha;
        if (g2.defined()) g2 = g2 * alpha;
      }
      return {gs, g1, g2};
    });
  }
  return out;
}

Tensor baddbmm(const Tensor& self, const Tensor& b1, const Tensor& b2, const Scalar& beta_s, const Scalar& alpha_s) {
  ARK_CHECK(b1.dim() == 3 && b2.dim() == 3, "baddbmm: expected 3-D batches, got ", b1.dim(), "-D and ", b2.dim(), "-D");
  ARK_CHECK(b1.size(0) == b2.size(0) && b1.size(2) == b2.size(1), "baddbmm: batch shapes cannot be multiplied: ",
            b1.sizes(), " and ", b2.sizes());
  check_float_pair(b1, b2, "baddbmm");
  const double beta = beta_s.toDouble(), alpha = alpha_s.toDouble();
  const DimVector shape = {b1.size(0), b1.size(1), b2.size(2)};
  ARK_CHECK(IntArrayRef(broadcast_shapes(self.sizes(), shape)) == IntArrayRef(shape), "baddbmm: self of shape ",
            self.sizes(), " cannot be broadcast to ", IntArrayRef(shape));
  Tensor out = empty(shape, b1.options());
  {
    NoGradGuard ng;
    if (beta != 0) out.copy_(self);
    gemm_into(b1, b2, out, alpha, beta == 0 ? 0.0 : beta);
  }
  if (needs_grad(self, b1, b2)) {
    auto s1 = save(b1), s2 = save(b2);
    record("BaddbmmBackward0", {self, b1, b2}, out, [s1, s2, alpha, beta](const variable_list& g) -> variable_list {
      return {g[0] * beta, bmm(g[0], s2.get().transpose(1, 2)) * alpha, bmm(s1.get().transpose(1, 2), g[0]) * alpha};
    });
  }
  return out;
}

Tensor dot(const Tensor& a, const Tensor& b) {
  ARK_CHECK(a.dim() == 1 && b.dim() == 1, "1D tensors expected, but got ", a.dim(), "D and ", b.dim(), "D tensors");
  ARK_CHECK(a.size(0) == b.size(0), "inconsistent tensor size, expected tensor [", a.size(0),
            "] and src [", b.size(0), "] to have the same number of elements, but got ", a.size(0), " and ", b.size(0),
            " elements respectively");
  check_float_pair(a, b, "dot");
  Tensor out;
  {
    NoGradGuard ng;
    out = mm_raw(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
  }
  if (needs_grad(a, b)) {
    auto sa = save(a), sb = save(b);
    record("DotBackward0", {a, b}, out, [sa, sb](const variable_list& g) -> variable_list {
      return {sb.get() * g[0], sa.get() * g[0]};
    });
  }
  return out;
}

Tensor mv(const Tensor& m, const Tensor& v) {
  ARK_CHECK(m.dim() == 2 && v.dim() == 1, "vector + matrix @ vector expected, got ", m.dim(), "D and ", v.dim(), "D");
  ARK_CHECK(m.size(1) == v.size(0), "size mismatch, got input (", m.size(0), "x", m.size(1), "), vec (", v.size(0), ")");
  check_float_pair(m, v, "mv");
  Tensor out;
  {
    NoGradGuard ng;
    out = mm_raw(m, v.unsqueeze(1)).squeeze(1);
  }
  if (needs_grad(m, v)) {
    auto sm = save(m), sv = save(v);
    record("MvBackward0", {m, v}, out, [sm, sv](const variable_list& g) -> variable_list {
      return {outer(g[0], sv.get()), mv(sm.get().t(), g[0])};
    });
  }
  return out;
}

Tensor outer(const Tensor& a, const Tensor& b) {
  ARK_CHECK(a.dim() == 1 && b.dim() == 1, "outer: expected 1-D tensors, got ", a.dim(), "D and ", b.dim(), "D");
  return a.unsqueeze(1) * b.unsqueeze(0);
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  const int64_t da = a.dim(), db = b.dim();
  ARK_CHECK(da > 0 && db > 0, "both arguments to matmul need to be at least 1D, but they are ", da, "D and ", db, "D");
  if (da == 1 && db == 1) return dot(a, b);
  if (da == 2 && db == 1) return mv(a, b);
  if (da == 1 && db == 2) return mm(a.unsqueeze(0), b).squeeze(0);
  if (da == 2 && db == 2) return mm(a, b);
  if (da >= 3 && (db == 1 || db == 2)) {
    // Fold the batch into the rows: (..., n, k) @ (k, m) is one GEMM.
    Tensor bm = db == 1 ? b.unsqueeze(1) : b;
    ARK_CHECK(a.size(-1) == bm.size(0), "matmul: shapes cannot be multiplied (", a.sizes(), " and ", b.sizes(), ")");
    DimVector out_shape = a.sizes().vec();
    out_shape.back() = bm.size(1);
    Tensor r = detail::unsafe_view(mm(a.reshape({-1, a.size(-1)}), bm), out_shape);
    return db == 1 ? r.squeeze(-1) : r;
  }
  // Batched: broadcast the batch dims, then bmm.
  Tensor x = da == 1 ? a.unsqueeze(0) : a;
  Tensor y = db == 1 ? b.unsqueeze(1) : b;
  const int64_t n = x.size(-2), k = x.size(-1), k2 = y.size(-2), m = y.size(-1);
  ARK_CHECK(k == k2, "matmul: shapes cannot be multiplied (", a.sizes(), " and ", b.sizes(), ")");
  DimVector ba(x.sizes().begin(), x.sizes().end() - 2), bb(y.sizes().begin(), y.sizes().end() - 2);
  DimVector batch = broadcast_shapes(ba, bb);
  int64_t nb = 1;
  for (int64_t s : batch) nb *= s;
  DimVector xs = batch, ys = batch;
  xs.push_back(n); xs.push_back(k);
  ys.push_back(k); ys.push_back(m);
  Tensor r = bmm(x.expand(xs).reshape({nb, n, k}), y.expand(ys).reshape({nb, k, m}));
  DimVector out_shape = batch;
  if (da > 1) out_shape.push_back(n);
  if (db > 1) out_shape.push_back(m);
  return detail::unsafe_view(r, out_shape);
}

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  ARK_CHECK(weight.dim() == 2, "linear: weight must be 2-D (out_features, in_features), got ", weight.sizes());
  ARK_CHECK(input.dim() >= 1 && input.size(-1) == weight.size(1), "linear: input's last dim (",
            input.dim() ? input.size(-1) : 0, ") does not match weight's in_features (", weight.size(1),
            "): input ", input.sizes(), ", weight ", weight.sizes());
  if (input.dim() == 2 && bias.defined()) return addmm(bias, input, weight.t());
  Tensor x = input.dim() == 2 ? input : input.reshape({-1, input.size(-1)});
  Tensor out = bias.defined() ? addmm(bias, x, weight.t()) : mm(x, weight.t());
  if (input.dim() == 2) return out;
  DimVector shape = input.sizes().vec();
  shape.back() = weight.size(0);
  return out.view(shape);
}

}  // namespace ark
