// Elementwise arithmetic, math, comparison and logic ops with broadcasting, PyTorch's type
// promotion, and their backward rules.
#include <cmath>

#include "ark/ops/util.h"

namespace ark {

using autograd::needs_grad;
using autograd::record;
using autograd::save;
using autograd::save_output;
using autograd::variable_list;
using detail::binary_kernel;
using detail::compute_dtype;
using detail::float_result;
using detail::unary_kernel;

// ---- type promotion (torch.result_type) ----
namespace {
enum Priority { kDim = 0, kZeroDim = 1, kWrapped = 2 };

ScalarType combine_categories(ScalarType higher, ScalarType lower) {
  if (higher == ScalarType::Undefined) return lower;
  if (lower == ScalarType::Undefined) return higher;
  if (is_floating_point(higher)) return higher;
  if (higher == kBool || is_floating_point(lower)) return promote_types(higher, lower);
  return higher;
}

ScalarType wrapped_dtype(const Scalar& s) { return s.isFloatingPoint() ? kFloat : s.isBoolean() ? kBool : kLong; }
}  // namespace

ScalarType result_type(const Tensor& a, const Tensor& b) {
  ScalarType dim = ScalarType::Undefined, zero = ScalarType::Undefined;
  for (const Tensor* t : {&a, &b}) {
    ScalarType& slot = t->dim() == 0 ? zero : dim;
    slot = slot == ScalarType::Undefined ? t->dtype() : promote_types(slot, t->dtype());
  }
  return combine_categories(dim, zero);
}

ScalarType result_type(const Tensor& a, const Scalar& b) {
  ScalarType dim = ScalarType::Undefined, zero = ScalarType::Undefined;
  (a.dim() == 0 ? zero : dim) = a.dtype();
  return combine_categories(dim, combine_categories(zero, wrapped_dtype(b)));
}

DimVector broadcast_shapes(IntArrayRef a, IntArrayRef b) {
  const size_t n = std::max(a.size(), b.size());
  DimVector r(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    ARK_CHECK(x == y || x == 1 || y == 1, "The size of tensor a (", x, ") must match the size of tensor b (", y,
              ") at non-singleton dimension ", i, " (shapes ", a, " and ", b, ")");
    r[i] = x == 1 ? y : x;
  }
  return r;
}

namespace detail {
Tensor binary_kernel(BinaryOp op, const Tensor& a, const Tensor& b, ScalarType compute, ScalarType out_dtype,
                     const OpParams& p) {
  ARK_CHECK(a.device() == b.device(), "Expected all tensors to be on the same device, but found ", a.device().str(),
            " and ", b.device().str());
  const DimVector shape = a.sizes() == b.sizes() ? a.sizes().vec() : broadcast_shapes(a.sizes(), b.sizes());
  const bool predicate = out_dtype == kBool && compute != kBool;
  const ScalarType kernel_out = predicate ? kBool : compute;
  Tensor out = empty(shape, a.options().dtype(kernel_out));
  backend_for(a).binary(op, cast(a, compute), cast(b, compute), out, p);
  return cast(out, out_dtype);
}

Tensor unary_kernel(UnaryOp op, const Tensor& x, ScalarType compute, ScalarType out_dtype, const OpParams& p) {
  const bool predicate = out_dtype == kBool && compute != kBool;
  Tensor out = empty(x.sizes(), x.options().dtype(predicate ? kBool : compute));
  backend_for(x).unary(op, cast(x, compute), out, p);
  return cast(out, out_dtype);
}
}  // namespace detail

namespace {
Tensor wrap(const Scalar& s, ScalarType dtype, const Tensor& like) {
  return full({}, s, like.options().dtype(dtype));
}

void check_alpha(ScalarType rt, const Scalar& alpha, const char* op) {
  ARK_CHECK(is_floating_point(rt) || alpha.isIntegral(true), op, ": for integral input tensors, argument alpha must "
            "not be a floating point number");
}

bool can_cast(ScalarType from, ScalarType to) {
  if (is_floating_point(from) && !is_floating_point(to)) return false;
  if (from != kBool && to == kBool) return false;
  return true;
}

// Runs an in-place op: directly in self's memory when autograd is not involved, otherwise as
// self.copy_(out_of_place(self.clone())) so the write has a correct history.
template <class OutOfPlace, class Kernel>
Tensor& inplace(Tensor& self, const char* op, ScalarType rt, bool grad, const OutOfPlace& oop, const Kernel& kernel) {
  ARK_CHECK(can_cast(rt, self.dtype()), op, ": result type ", dtype_name(rt), " can't be cast to the desired output "
            "type ", dtype_name(self.dtype()));
  if (grad) return autograd::rebase_history(self, oop(self.clone()), op);
  if (compute_dtype(rt) == self.dtype()) {
    autograd::check_inplace(self, op);
    kernel(compute_dtype(rt));
    return self;
  }
  Tensor r = oop(self);
  return ark::copy_(self, r);
}
}  // namespace

// ---- add / sub / mul / div ----
Tensor add(const Tensor& a, const Tensor& b, const Scalar& alpha) {
  const ScalarType rt = result_type(a, b);
  check_alpha(rt, alpha, "add");
  Tensor out = binary_kernel(BinaryOp::Add, a, b, compute_dtype(rt), rt, {alpha.toDouble()});
  if (needs_grad(a, b)) {
    const double al = alpha.toDouble();
    record("AddBackward0", {a, b}, out, [al](const variable_list& g) -> variable_list {
      return {g[0], al == 1.0 ? g[0] : g[0] * al};
    });
  }
  return out;
}

Tensor add(const Tensor& a, const Scalar& b, const Scalar& alpha) {
  const ScalarType rt = result_type(a, b);
  check_alpha(rt, alpha, "add");
  Tensor out;
  if (is_floating_point(rt) || !b.isFloatingPoint()) {
    const double v = b.toDouble() * alpha.toDouble();
    out = unary_kernel(UnaryOp::AddScalar, a, compute_dtype(rt), rt, {v});
  } else {
    out = binary_kernel(BinaryOp::Add, a, wrap(b, rt, a), compute_dtype(rt), rt, {alpha.toDouble()});
  }
  if (needs_grad(a))
    record("AddBackward1", {a}, out, [](const variable_list& g) -> variable_list { return {g[0]}; });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b, const Scalar& alpha) {
  ARK_CHECK(a.dtype() != kBool || b.dtype() != kBool, "Subtraction, the `-` operator, with two bool tensors is not "
            "supported. Use the `^` or `logical_xor()` operator instead.");
  const ScalarType rt = result_type(a, b);
  check_alpha(rt, alpha, "sub");
  Tensor out = binary_kernel(BinaryOp::Sub, a, b, compute_dtype(rt), rt, {alpha.toDouble()});
  if (needs_grad(a, b)) {
    const double al = alpha.toDouble();
    record("SubBackward0", {a, b}, out, [al](const variable_list& g) -> variable_list {
      return {g[0], al == 1.0 ? -g[0] : g[0] * (-al)};
    });
  }
  return out;
}

Tensor sub(const Tensor& a, const Scalar& b, const Scalar& alpha) { return add(a, -b, alpha); }
Tensor rsub(const Tensor& a, const Scalar& b, const Scalar& alpha) { return add(neg(a) * alpha, b); }

Tensor mul(const Tensor& a, const Tensor& b) {
  const ScalarType rt = result_type(a, b);
  Tensor out = binary_kernel(rt == kBool ? BinaryOp::LogicalAnd : BinaryOp::Mul, a, b, compute_dtype(rt), rt);
  if (needs_grad(a, b)) {
    auto sa = autograd::requires_grad(b) ? save(a) : autograd::SavedTensor();
    auto sb = autograd::requires_grad(a) ? save(b) : autograd::SavedTensor();
    record("MulBackward0", {a, b}, out, [sa, sb](const variable_list& g) -> variable_list {
      return {sb.defined() ? g[0] * sb.get() : Tensor(), sa.defined() ? g[0] * sa.get() : Tensor()};
    });
  }
  return out;
}

Tensor mul(const Tensor& a, const Scalar& b) {
  const ScalarType rt = result_type(a, b);
  Tensor out = rt == kBool ? binary_kernel(BinaryOp::LogicalAnd, a, wrap(b, rt, a), kBool, kBool)
                           : unary_kernel(UnaryOp::MulScalar, a, compute_dtype(rt), rt, {b.toDouble()});
  if (needs_grad(a)) {
    const double v = b.toDouble();
    record("MulBackward1", {a}, out, [v](const variable_list& g) -> variable_list { return {g[0] * v}; });
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b, std::optional<std::string> mode) {
  ScalarType rt = result_type(a, b);
  if (!mode) {
    rt = float_result(rt);
    Tensor out = binary_kernel(BinaryOp::Div, a, b, compute_dtype(rt), rt);
    if (needs_grad(a, b)) {
      auto sa = autograd::requires_grad(b) ? save(a) : autograd::SavedTensor();
      auto sb = save(b);
      record("DivBackward0", {a, b}, out, [sa, sb](const variable_list& g) -> variable_list {
        Tensor bb = sb.get();
        Tensor ga = g[0] / bb;
        return {ga, sa.defined() ? -ga * sa.get() / bb : Tensor()};
      });
    }
    return out;
  }
  ARK_CHECK(*mode == "trunc" || *mode == "floor", "div expected rounding_mode to be one of None, 'trunc', or 'floor' "
            "but found '", *mode, "'");
  if (!is_floating_point(rt)) {
    // Integer division by zero is an error, as in PyTorch.
    ARK_CHECK(!ark::eq(b, 0).any().item<bool>(), "ZeroDivisionError: integer division by zero");
  }
  Tensor out = binary_kernel(*mode == "trunc" ? BinaryOp::DivTrunc : BinaryOp::DivFloor, a, b, compute_dtype(rt), rt);
  if (needs_grad(a, b))
    record("DivBackward2", {a, b}, out, [](const variable_list& g) -> variable_list {
      return {zeros_like(g[0]), zeros_like(g[0])};
    });
  return out;
}

Tensor div(const Tensor& a, const Scalar& b, std::optional<std::string> mode) {
  const ScalarType rt = result_type(a, b);
  if (!mode && is_floating_point(rt)) {
    Tensor out = binary_kernel(BinaryOp::Div, a, wrap(b, compute_dtype(rt), a), compute_dtype(rt), rt);
    if (needs_grad(a)) {
      const double v = b.toDouble();
      record("DivBackward1", {a}, out, [v](const variable_list& g) -> variable_list { return {g[0] / v}; });
    }
    return out;
  }
  return div(a, wrap(b, mode ? rt : float_result(rt), a), mode);
}

Tensor remainder(const Tensor& a, const Scalar& b) {
  const ScalarType rt = result_type(a, b);
  if (!is_floating_point(rt)) ARK_CHECK(b.toLong() != 0, "ZeroDivisionError: integer division by zero");
  Tensor out = binary_kernel(BinaryOp::Remainder, a, wrap(b, rt, a), compute_dtype(rt), rt);
  if (needs_grad(a)) record("RemainderBackward0", {a}, out, [](const variable_list& g) -> variable_list { return {g[0]}; });
  return out;
}

// ---- unary math ----
namespace {
// A float-valued unary op (integers promote to float32), recorded with `backward`.
template <class Bw>
Tensor float_unary(UnaryOp op, const Tensor& x, const char* name, Bw backward, bool save_out, bool save_in) {
  const ScalarType rt = float_result(x.dtype());
  Tensor out = unary_kernel(op, x, compute_dtype(rt), rt);
  if (needs_grad(x)) {
    auto so = save_out ? save_output(out) : autograd::SavedTensor();
    auto si = save_in ? save(x) : autograd::SavedTensor();
    record(name, {x}, out, [so, si, backward](const variable_list& g) -> variable_list {
      return {backward(g[0], si.defined() ? si.get() : Tensor(), so.defined() ? so.get() : Tensor())};
    });
  }
  return out;
}
}  // namespace

Tensor exp(const Tensor& x) {
  return float_unary(UnaryOp::Exp, x, "ExpBackward0", [](const Tensor& g, const Tensor&, const Tensor& y) { return g * y; },
                     true, false);
}
Tensor log(const Tensor& x) {
  return float_unary(UnaryOp::Log, x, "LogBackward0", [](const Tensor& g, const Tensor& a, const Tensor&) { return g / a; },
                     false, true);
}
Tensor log1p(const Tensor& x) {
  return float_unary(UnaryOp::Log1p, x, "Log1PBackward0",
                     [](const Tensor& g, const Tensor& a, const Tensor&) { return g / (a + 1); }, false, true);
}
Tensor sqrt(const Tensor& x) {
  return float_unary(UnaryOp::Sqrt, x, "SqrtBackward0",
                     [](const Tensor& g, const Tensor&, const Tensor& y) { return g / (y * 2); }, true, false);
}
Tensor rsqrt(const Tensor& x) {
  return float_unary(UnaryOp::Rsqrt, x, "RsqrtBackward0",
                     [](const Tensor& g, const Tensor&, const Tensor& y) { return g * y.pow(3) * -0.5; }, true, false);
}
Tensor sin(const Tensor& x) {
  return float_unary(UnaryOp::Sin, x, "SinBackward0",
                     [](const Tensor& g, const Tensor& a, const Tensor&) { return g * a.cos(); }, false, true);
}
Tensor cos(const Tensor& x) {
  return float_unary(UnaryOp::Cos, x, "CosBackward0",
                     [](const Tensor& g, const Tensor& a, const Tensor&) { return g * -a.sin(); }, false, true);
}
Tensor tanh(const Tensor& x) {
  return float_unary(UnaryOp::Tanh, x, "TanhBackward0", [](const Tensor& g, const Tensor&, const Tensor& y) {
    if (GradMode::is_enabled()) return g * (1 - y * y);
    return binary_kernel(BinaryOp::TanhBackward, g, y, g.dtype(), g.dtype());
  }, true, false);
}
Tensor sigmoid(const Tensor& x) {
  return float_unary(UnaryOp::Sigmoid, x, "SigmoidBackward0", [](const Tensor& g, const Tensor&, const Tensor& y) {
    if (GradMode::is_enabled()) return g * y * (1 - y);
    return binary_kernel(BinaryOp::SigmoidBackward, g, y, g.dtype(), g.dtype());
  }, true, false);
}
Tensor reciprocal(const Tensor& x) {
  return float_unary(UnaryOp::Reciprocal, x, "ReciprocalBackward0",
                     [](const Tensor& g, const Tensor&, const Tensor& y) { return -g * y * y; }, true, false);
}
Tensor erf(const Tensor& x) {
  return float_unary(UnaryOp::Erf, x, "ErfBackward0", [](const Tensor& g, const Tensor& a, const Tensor&) {
    return g * (a * a * -1).exp() * 1.1283791670955126;  // 2/sqrt(pi)
  }, false, true);
}
Tensor floor(const Tensor& x) {
  if (!x.is_floating_point()) return clone(x);
  return float_unary(UnaryOp::Floor, x, "FloorBackward0", [](const Tensor& g, const Tensor&, const Tensor&) { return zeros_like(g); },
                     false, false);
}
Tensor ceil(const Tensor& x) {
  if (!x.is_floating_point()) return clone(x);
  return float_unary(UnaryOp::Ceil, x, "CeilBackward0", [](const Tensor& g, const Tensor&, const Tensor&) { return zeros_like(g); },
                     false, false);
}
Tensor round(const Tensor& x) {
  if (!x.is_floating_point()) return clone(x);
  return float_unary(UnaryOp::Round, x, "RoundBackward0", [](const Tensor& g, const Tensor&, const Tensor&) { return zeros_like(g); },
                     false, false);
}

Tensor neg(const Tensor& x) {
  ARK_CHECK(x.dtype() != kBool, "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
            "invert a mask, use the `~` or `logical_not()` operator instead.");
  Tensor out = unary_kernel(UnaryOp::Neg, x, compute_dtype(x.dtype()), x.dtype());
  if (needs_grad(x)) record("NegBackward0", {x}, out, [](const variable_list& g) -> variable_list { return {-g[0]}; });
  return out;
}

Tensor abs(const Tensor& x) {
  Tensor out = unary_kernel(UnaryOp::Abs, x, compute_dtype(x.dtype()), x.dtype());
  if (needs_grad(x)) {
    auto si = save(x);
    record("AbsBackward0", {x}, out, [si](const variable_list& g) -> variable_list { return {g[0] * si.get().sign()}; });
  }
  return out;
}

Tensor sign(const Tensor& x) {
  Tensor out = unary_kernel(UnaryOp::Sign, x, compute_dtype(x.dtype()), x.dtype());
  if (needs_grad(x)) record("SignBackward0", {x}, out, [](const variable_list& g) -> variable_list { return {zeros_like(g[0])}; });
  return out;
}

Tensor square(const Tensor& x) {
  if (x.dtype() == kBool) return pow(x.to(kLong), 2);
  return pow(x, 2);
}

// ---- pow ----
Tensor pow(const Tensor& x, const Scalar& e) {
  const ScalarType rt = result_type(x, e);
  if (!is_floating_point(rt)) ARK_CHECK(e.toLong() >= 0, "Integers to negative integer powers are not allowed.");
  Tensor out = unary_kernel(UnaryOp::PowScalar, x, compute_dtype(rt), rt, {e.toDouble()});
  if (needs_grad(x)) {
    auto si = save(x);
    const double ev = e.toDouble();
    record("PowBackward0", {x}, out, [si, ev](const variable_list& g) -> variable_list {
      if (ev == 0.0) return {zeros_like(g[0])};
      Tensor a = si.get();
      if (ev == 2.0) return {g[0] * a * 2.0};
      return {g[0] * a.pow(ev - 1) * ev};
    });
  }
  return out;
}

Tensor pow(const Tensor& x, const Tensor& e) {
  const ScalarType rt = result_type(x, e);
  Tensor out = binary_kernel(BinaryOp::Pow, x, e, compute_dtype(rt), rt);
  if (needs_grad(x, e)) {
    auto sx = save(x), se = save(e);
    auto so = autograd::requires_grad(e) ? save_output(out) : autograd::SavedTensor();
    record("PowBackward1", {x, e}, out, [sx, se, so](const variable_list& g) -> variable_list {
      Tensor a = sx.get(), b = se.get();
      Tensor ga = g[0] * b * a.pow(b - 1);
      ga = where(b == 0, zeros_like(ga), ga);
      Tensor gb;
      if (so.defined()) {
        Tensor y = so.get();
        gb = g[0] * y * a.log();
        gb = where((a == 0) & (b >= 0), zeros_like(gb), gb);
      }
      return {ga, gb};
    });
  }
  return out;
}

Tensor pow(const Scalar& s, const Tensor& e) {
  const ScalarType rt = result_type(e, s);
  Tensor out = unary_kernel(UnaryOp::RPowScalar, e, compute_dtype(rt), rt, {s.toDouble()});
  if (!is_floating_point(rt)) out = binary_kernel(BinaryOp::Pow, wrap(s, rt, e), e, rt, rt);
  if (needs_grad(e)) {
    auto so = save_output(out);
    const double sv = s.toDouble();
    record("PowBackward2", {e}, out, [so, sv](const variable_list& g) -> variable_list {
      if (sv == 0.0) return {zeros_like(g[0])};
      return {g[0] * so.get() * std::log(sv)};
    });
  }
  return out;
}

// ---- clamp, where, maximum, minimum ----
namespace {
Tensor clamp_impl(const Tensor& x, const std::optional<Scalar>& min, const std::optional<Scalar>& max, const char* name) {
  ARK_CHECK(min || max, "torch.clamp: At least one of 'min' or 'max' must not be None");
  ScalarType rt = x.dtype();
  if (min) rt = result_type(scalar_tensor(0, rt), *min) == kFloat && !is_floating_point(rt) ? kFloat : rt;
  if (max) rt = result_type(scalar_tensor(0, rt), *max) == kFloat && !is_floating_point(rt) ? kFloat : rt;
  const double lo = min ? min->toDouble() : -INFINITY, hi = max ? max->toDouble() : INFINITY;
  Tensor out = unary_kernel(UnaryOp::Clamp, x, compute_dtype(rt), rt, {lo, hi});
  if (needs_grad(x)) {
    auto si = save(x);
    record(name, {x}, out,
           [si, lo, hi](const variable_list& g) -> variable_list {
             Tensor a = si.get();
             if (GradMode::is_enabled()) return {g[0] * ((a >= lo) & (a <= hi))};
             return {binary_kernel(BinaryOp::ClampBackward, g[0], a, g[0].dtype(), g[0].dtype(), {lo, hi})};
           });
  }
  return out;
}
}  // namespace

Tensor clamp(const Tensor& x, const std::optional<Scalar>& min, const std::optional<Scalar>& max) {
  return clamp_impl(x, min, max, "ClampBackward1");
}
Tensor hardtanh(const Tensor& x, const Scalar& min_val, const Scalar& max_val) {
  return clamp_impl(x, min_val, max_val, "HardtanhBackward0");
}

Tensor clamp(const Tensor& x, const std::optional<Tensor>& min, const std::optional<Tensor>& max) {
  ARK_CHECK(min || max, "torch.clamp: At least one of 'min' or 'max' must not be None");
  Tensor r = x;
  if (min) r = maximum(r, *min);
  if (max) r = minimum(r, *max);
  return r;
}
Tensor clamp_min(const Tensor& x, const Scalar& min) { return clamp_impl(x, min, std::nullopt, "ClampMinBackward0"); }
Tensor clamp_max(const Tensor& x, const Scalar& max) { return clamp_impl(x, std::nullopt, max, "ClampMaxBackward0"); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  ARK_CHECK(cond.dtype() == kBool || cond.dtype() == kByte, "where expected condition to be a boolean tensor, but got a "
            "tensor with dtype ", dtype_name(cond.dtype()));
  const ScalarType rt = result_type(a, b);
  DimVector shape = broadcast_shapes(broadcast_shapes(cond.sizes(), a.sizes()), b.sizes());
  Tensor out = empty(shape, a.options().dtype(rt));
  backend_for(a).where(detail::cast(cond, kBool), detail::cast(a, rt), detail::cast(b, rt), out);
  if (needs_grad(a, b)) {
    auto sc = save(cond);
    record("WhereBackward0", {a, b}, out, [sc](const variable_list& g) -> variable_list {
      Tensor c = sc.get(), z = zeros({}, g[0].options());
      return {where(c, g[0], z), where(c, z, g[0])};
    });
  }
  return out;
}
Tensor where(const Tensor& c, const Scalar& a, const Tensor& b) {
  return where(c, full({}, a, b.options().dtype(result_type(b, a))), b);
}
Tensor where(const Tensor& c, const Tensor& a, const Scalar& b) {
  return where(c, a, full({}, b, a.options().dtype(result_type(a, b))));
}
Tensor where(const Tensor& c, const Scalar& a, const Scalar& b) {
  const ScalarType t = a.isFloatingPoint() || b.isFloatingPoint() ? kFloat : kLong;
  return where(c, full({}, a, t), full({}, b, t));
}

namespace {
Tensor max_min(bool is_max, const Tensor& a, const Tensor& b) {
  const ScalarType rt = result_type(a, b);
  Tensor out = binary_kernel(is_max ? BinaryOp::Maximum : BinaryOp::Minimum, a, b, compute_dtype(rt), rt);
  if (needs_grad(a, b)) {
    auto sa = save(a), sb = save(b);
    record(is_max ? "MaximumBackward0" : "MinimumBackward0", {a, b}, out,
           [sa, sb, is_max](const variable_list& g) -> variable_list {
             Tensor x = sa.get(), y = sb.get();
             // Ties split the gradient evenly (PyTorch 1.13).
             Tensor half = where(x == y, g[0] / 2, g[0]);
             Tensor ga = is_max ? half.masked_fill(x < y, 0) : half.masked_fill(x > y, 0);
             Tensor gb = is_max ? half.masked_fill(y < x, 0) : half.masked_fill(y > x, 0);
             return {ga, gb};
           });
  }
  return out;
}
}  // namespace
Tensor maximum(const Tensor& a, const Tensor& b) { return max_min(true, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return max_min(false, a, b); }

Tensor masked_fill(const Tensor& self, const Tensor& mask, const Scalar& value) {
  ARK_CHECK(mask.dtype() == kBool, "masked_fill only supports boolean masks, but got mask with dtype ",
            dtype_name(mask.dtype()));
  DimVector b = broadcast_shapes(self.sizes(), mask.sizes());
  ARK_CHECK(IntArrayRef(b) == self.sizes(), "masked_fill: the mask of shape ", mask.sizes(),
            " cannot be broadcast to the tensor's shape ", self.sizes());
  ARK_CHECK(is_floating_point(self.dtype()) || !value.isFloatingPoint() || value.toDouble() == std::trunc(value.toDouble()),
            "masked_fill: value cannot be converted to type ", dtype_name(self.dtype()), " without overflow");
  Tensor out = empty(self.sizes(), self.options());
  backend_for(self).where(mask, full({}, value, self.dtype()), self, out);
  if (needs_grad(self)) {
    auto sm = save(mask);
    record("MaskedFillBackward0", {self}, out,
           [sm](const variable_list& g) -> variable_list { return {g[0].masked_fill(sm.get(), 0)}; });
  }
  return out;
}

Tensor masked_fill(const Tensor& self, const Tensor& mask, const Tensor& value) {
  ARK_CHECK(value.dim() == 0, "masked_fill only supports a 0-dimensional value tensor, but got tensor with ",
            value.dim(), " dimension(s).");
  if (!needs_grad(value)) return masked_fill(self, mask, value.item());
  return where(mask, value.to(self.dtype()), self);
}

Tensor lerp(const Tensor& self, const Tensor& end, const Scalar& weight) { return self + (end - self) * weight; }
Tensor addcmul(const Tensor& self, const Tensor& t1, const Tensor& t2, const Scalar& value) {
  return self + t1 * t2 * value;
}
Tensor addcdiv(const Tensor& self, const Tensor& t1, const Tensor& t2, const Scalar& value) {
  return self + t1 / t2 * value;
}

// ---- comparison and logic (never differentiable) ----
namespace {
Tensor compare(BinaryOp op, const Tensor& a, const Tensor& b) {
  return binary_kernel(op, a, b, compute_dtype(result_type(a, b)), kBool);
}
Tensor compare(BinaryOp op, const Tensor& a, const Scalar& b) {
  const ScalarType rt = result_type(a, b);
  return binary_kernel(op, a, wrap(b, compute_dtype(rt), a), compute_dtype(rt), kBool);
}
Tensor bitwise(BinaryOp op, const Tensor& a, const Tensor& b) {
  const ScalarType rt = result_type(a, b);
  ARK_CHECK(!is_floating_point(rt), "bitwise ops are only defined for integer and bool tensors, got ", dtype_name(rt));
  return binary_kernel(op, a, b, rt, rt);
}
}  // namespace

Tensor eq(const Tensor& a, const Tensor& b) { return compare(BinaryOp::Eq, a, b); }
Tensor eq(const Tensor& a, const Scalar& b) { return compare(BinaryOp::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare(BinaryOp::Ne, a, b); }
Tensor ne(const Tensor& a, const Scalar& b) { return compare(BinaryOp::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare(BinaryOp::Lt, a, b); }
Tensor lt(const Tensor& a, const Scalar& b) { return compare(BinaryOp::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare(BinaryOp::Le, a, b); }
Tensor le(const Tensor& a, const Scalar& b) { return compare(BinaryOp::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare(BinaryOp::Gt, a, b); }
Tensor gt(const Tensor& a, const Scalar& b) { return compare(BinaryOp::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare(BinaryOp::Ge, a, b); }
Tensor ge(const Tensor& a, const Scalar& b) { return compare(BinaryOp::Ge, a, b); }
Tensor logical_and(const Tensor& a, const Tensor& b) { return compare(BinaryOp::LogicalAnd, a, b); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return compare(BinaryOp::LogicalOr, a, b); }
Tensor logical_xor(const Tensor& a, const Tensor& b) { return compare(BinaryOp::LogicalXor, a, b); }
Tensor logical_not(const Tensor& a) { return unary_kernel(UnaryOp::LogicalNot, a, compute_dtype(a.dtype()), kBool); }
Tensor bitwise_and(const Tensor& a, const Tensor& b) { return bitwise(BinaryOp::BitwiseAnd, a, b); }
Tensor bitwise_or(const Tensor& a, const Tensor& b) { return bitwise(BinaryOp::BitwiseOr, a, b); }
Tensor bitwise_xor(const Tensor& a, const Tensor& b) { return bitwise(BinaryOp::BitwiseXor, a, b); }
Tensor bitwise_not(const Tensor& a) {
  ARK_CHECK(!a.is_floating_point(), "bitwise_not is only defined for integer and bool tensors, got ",
            dtype_name(a.dtype()));
  return unary_kernel(UnaryOp::BitwiseNot, a, a.dtype(), a.dtype());
}
Tensor isnan(const Tensor& a) { return unary_kernel(UnaryOp::IsNan, a, compute_dtype(a.dtype()), kBool); }
Tensor isinf(const Tensor& a) { return unary_kernel(UnaryOp::IsInf, a, compute_dtype(a.dtype()), kBool); }
Tensor isfinite(const Tensor& a) { return unary_kernel(UnaryOp::IsFinite, a, compute_dtype(a.dtype()), kBool); }

bool equal(const Tensor& a, const Tensor& b) {
  if (a.sizes() != b.sizes()) return false;
  if (a.numel() == 0) return true;
  return eq(a, b).all().item<bool>();
}

Tensor isclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  NoGradGuard ng;
  const ScalarType rt = float_result(result_type(a, b));
  Tensor x = a.to(rt), y = b.to(rt);
  Tensor close = (x == y) | ((x - y).abs() <= (y.abs() * rtol + atol));
  if (equal_nan) close = close | (isnan(x) & isnan(y));
  return close;
}
bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  return isclose(a, b, rtol, atol, equal_nan).all().item<bool>();
}

// ---- operators ----
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, const Scalar& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Scalar& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Scalar& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Scalar& b) { return div(a, b); }
Tensor operator+(const Scalar& a, const Tensor& b) { return add(b, a); }
Tensor operator-(const Scalar& a, const Tensor& b) { return rsub(b, a); }
Tensor operator*(const Scalar& a, const Tensor& b) { return mul(b, a); }
Tensor operator/(const Scalar& a, const Tensor& b) {
  return div(full({}, a, b.options().dtype(float_result(result_type(b, a)))), b);
}
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor& operator+=(Tensor& a, const Tensor& b) { return a.add_(b); }
Tensor& operator-=(Tensor& a, const Tensor& b) { return a.sub_(b); }
Tensor& operator*=(Tensor& a, const Tensor& b) { return a.mul_(b); }
Tensor& operator/=(Tensor& a, const Tensor& b) { return a.div_(b); }
Tensor& operator+=(Tensor& a, const Scalar& b) { return a.add_(b); }
Tensor& operator-=(Tensor& a, const Scalar& b) { return a.sub_(b); }
Tensor& operator*=(Tensor& a, const Scalar& b) { return a.mul_(b); }
Tensor& operator/=(Tensor& a, const Scalar& b) { return a.div_(b); }
Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator==(const Tensor& a, const Scalar& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Scalar& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Scalar& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Scalar& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Scalar& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Scalar& b) { return ge(a, b); }
Tensor operator&(const Tensor& a, const Tensor& b) { return bitwise_and(a, b); }
Tensor operator|(const Tensor& a, const Tensor& b) { return bitwise_or(a, b); }
Tensor operator^(const Tensor& a, const Tensor& b) { return bitwise_xor(a, b); }
Tensor operator~(const Tensor& a) { return bitwise_not(a); }

// ---- in-place methods ----
Tensor& Tensor::add_(const Tensor& o, const Scalar& alpha) {
  const ScalarType rt = result_type(*this, o);
  return inplace(*this, "add_", rt, autograd::needs_grad(*this, o), [&](const Tensor& s) { return ark::add(s, o, alpha); },
                 [&](ScalarType c) { backend_for(*this).binary(BinaryOp::Add, *this, detail::cast(o, c), *this, {alpha.toDouble()}); });
}
Tensor& Tensor::add_(const Scalar& o, const Scalar& alpha) {
  const ScalarType rt = result_type(*this, o);
  return inplace(*this, "add_", rt, autograd::needs_grad(*this), [&](const Tensor& s) { return ark::add(s, o, alpha); },
                 [&](ScalarType) { backend_for(*this).unary(UnaryOp::AddScalar, *this, *this, {o.toDouble() * alpha.toDouble()}); });
}
Tensor& Tensor::sub_(const Tensor& o, const Scalar& alpha) {
  const ScalarType rt = result_type(*this, o);
  return inplace(*this, "sub_", rt, autograd::needs_grad(*this, o), [&](const Tensor& s) { return ark::sub(s, o, alpha); },
                 [&](ScalarType c) { backend_for(*this).binary(BinaryOp::Sub, *this, detail::cast(o, c), *this, {alpha.toDouble()}); });
}
Tensor& Tensor::sub_(const Scalar& o, const Scalar& alpha) { return add_(-o, alpha); }
Tensor& Tensor::mul_(const Tensor& o) {
  const ScalarType rt = result_type(*this, o);
  return inplace(*this, "mul_", rt, autograd::needs_grad(*this, o), [&](const Tensor& s) { return ark::mul(s, o); },
                 [&](ScalarType c) { backend_for(*this).binary(BinaryOp::Mul, *this, detail::cast(o, c), *this, {}); });
}
Tensor& Tensor::mul_(const Scalar& o) {
  const ScalarType rt = result_type(*this, o);
  return inplace(*this, "mul_", rt, autograd::needs_grad(*this), [&](const Tensor& s) { return ark::mul(s, o); },
                 [&](ScalarType) { backend_for(*this).unary(UnaryOp::MulScalar, *this, *this, {o.toDouble()}); });
}
Tensor& Tensor::div_(const Tensor& o) {
  const ScalarType rt = float_result(result_type(*this, o));
  return inplace(*this, "div_", rt, autograd::needs_grad(*this, o), [&](const Tensor& s) { return ark::div(s, o); },
                 [&](ScalarType c) { backend_for(*this).binary(BinaryOp::Div, *this, detail::cast(o, c), *this, {}); });
}
Tensor& Tensor::div_(const Scalar& o) {
  const ScalarType rt = float_result(result_type(*this, o));
  return inplace(*this, "div_", rt, autograd::needs_grad(*this), [&](const Tensor& s) { return ark::div(s, o); },
                 [&](ScalarType c) {
                   backend_for(*this).binary(BinaryOp::Div, *this, full({}, o, c), *this, {});
                 });
}
Tensor& Tensor::addcmul_(const Tensor& a, const Tensor& b, const Scalar& value) {
  if (!autograd::needs_grad(*this, a, b) && a.dtype() == dtype() && b.dtype() == dtype()) {
    Tensor prod = ark::mul(a, b);
    return add_(prod, value);
  }
  return ark::copy_(*this, ark::addcmul(this->clone(), a, b, value));
}
Tensor& Tensor::addcdiv_(const Tensor& a, const Tensor& b, const Scalar& value) {
  if (!autograd::needs_grad(*this, a, b) && a.dtype() == dtype() && b.dtype() == dtype()) {
    Tensor q = ark::div(a, b);
    return add_(q, value);
  }
  return ark::copy_(*this, ark::addcdiv(this->clone(), a, b, value));
}
Tensor& Tensor::lerp_(const Tensor& end, const Scalar& weight) {
  if (!autograd::needs_grad(*this, end)) {
    Tensor d = ark::sub(end, *this);
    return add_(d, weight);
  }
  return ark::copy_(*this, ark::lerp(this->clone(), end, weight));
}

namespace {
// In-place unary: written back into self (through autograd when needed).
template <class F>
Tensor& unary_inplace(Tensor& self, const char* op, const F& f) {
  const bool grad = autograd::needs_grad(self);
  Tensor r = grad ? f(self.clone()) : f(self);
  ARK_CHECK(can_cast(r.dtype(), self.dtype()), op, ": result type ", dtype_name(r.dtype()),
            " can't be cast to the desired output type ", dtype_name(self.dtype()));
  return grad ? autograd::rebase_history(self, r, op) : ark::copy_(self, r);
}
}  // namespace
Tensor& Tensor::neg_() { return unary_inplace(*this, "neg_", [](const Tensor& s) { return ark::neg(s); }); }
Tensor& Tensor::exp_() { return unary_inplace(*this, "exp_", [](const Tensor& s) { return ark::exp(s); }); }
Tensor& Tensor::log_() { return unary_inplace(*this, "log_", [](const Tensor& s) { return ark::log(s); }); }
Tensor& Tensor::sqrt_() { return unary_inplace(*this, "sqrt_", [](const Tensor& s) { return ark::sqrt(s); }); }
Tensor& Tensor::abs_() { return unary_inplace(*this, "abs_", [](const Tensor& s) { return ark::abs(s); }); }
Tensor& Tensor::tanh_() { return unary_inplace(*this, "tanh_", [](const Tensor& s) { return ark::tanh(s); }); }
Tensor& Tensor::sigmoid_() { return unary_inplace(*this, "sigmoid_", [](const Tensor& s) { return ark::sigmoid(s); }); }
Tensor& Tensor::relu_() { return unary_inplace(*this, "relu_", [](const Tensor& s) { return ark::relu(s); }); }
Tensor& Tensor::pow_(const Scalar& e) { return unary_inplace(*this, "pow_", [&](const Tensor& s) { return ark::pow(s, e); }); }
Tensor& Tensor::clamp_(std::optional<Scalar> min, std::optional<Scalar> max) {
  return unary_inplace(*this, "clamp_", [&](const Tensor& s) { return ark::clamp(s, min, max); });
}
Tensor& Tensor::clamp_min_(const Scalar& min) {
  return unary_inplace(*this, "clamp_min_", [&](const Tensor& s) { return ark::clamp_min(s, min); });
}
Tensor& Tensor::masked_fill_(const Tensor& mask, const Scalar& v) {
  if (!autograd::needs_grad(*this)) {
    ARK_CHECK(mask.dtype() == kBool, "masked_fill_ only supports boolean masks, but got mask with dtype ",
              dtype_name(mask.dtype()));
    autograd::check_inplace(*this, "masked_fill_");
    backend_for(*this).where(mask, full({}, v, dtype()), *this, *this);
    return *this;
  }
  return ark::copy_(*this, ark::masked_fill(this->clone(), mask, v));
}

}  // namespace ark
