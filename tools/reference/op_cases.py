"""Reference values for ark's op tests, computed by PyTorch 1.13.

Each case names an op applied to seeded random inputs. This script computes its outputs and, for
float inputs, the gradients of sum(output * grad_output) for a random grad_output, and writes
everything to one safetensors file:
  <case>.in<i>    inputs            <case>.out<k>   outputs
  <case>.gout<k>  output gradients  <case>.grad<i>  input gradients
tests/framework/test_ops.cpp holds the same cases written with ark (a test fails if the two
tables differ) and also checks every differentiable case by finite differences in float64.

Run: /usr/bin/python3 tools/reference/op_cases.py OUT.safetensors
"""
import math
import sys
import zlib

import torch
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import safetensors_py  # noqa: E402


# ---- input specs ----
def N(*shape):  # standard normal
    return ("normal", shape)


def P(*shape):  # positive, away from 0 (log, sqrt, pow bases)
    return ("positive", shape)


def U(lo, hi, *shape):
    return ("uniform", shape, lo, hi)


def I(lo, hi, *shape):  # int64 in [lo, hi)
    return ("int", shape, lo, hi)


def B(*shape):  # bool
    return ("bool", shape)


def D(spec):  # the same as spec but float64
    return ("double",) + (spec,)


def K(spec):  # a float input that is a constant (no gradient), e.g. a loss weight
    return ("const",) + (spec,)


def make(spec, gen):
    kind = spec[0]
    if kind == "const":
        return make(spec[1], gen)
    if kind == "double":
        return make(spec[1], gen).double()
    shape = spec[1]
    if kind == "normal":
        return torch.randn(shape, generator=gen)
    if kind == "positive":
        return torch.rand(shape, generator=gen) * 1.5 + 0.5
    if kind == "uniform":
        return torch.rand(shape, generator=gen) * (spec[3] - spec[2]) + spec[2]
    if kind == "int":
        return torch.randint(spec[2], spec[3], shape, generator=gen)
    if kind == "bool":
        return torch.rand(shape, generator=gen) > 0.5
    raise ValueError(kind)


CASES = []


def C(name, inputs, fn):
    CASES.append((name, inputs, fn))


def sdpa(q, k, v, mask=None, causal=False):
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        L, S = q.shape[-2], k.shape[-2]
        s = s.masked_fill(~torch.ones(L, S, dtype=torch.bool).tril(), float("-inf"))
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else s + mask
    return torch.softmax(s, -1) @ v


def rms_norm(x, shape, w=None, eps=None):
    eps = torch.finfo(x.dtype).eps if eps is None else eps
    dims = tuple(range(x.dim() - len(shape), x.dim()))
    y = x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps)
    return y * w if w is not None else y


# ---- elementwise binary, broadcasting, promotion ----
C("add", [N(3, 4), N(3, 4)], lambda a, b: a + b)
C("add_broadcast", [N(3, 1, 4), N(5, 1)], lambda a, b: a + b)
C("add_alpha", [N(2, 3), N(3)], lambda a, b: torch.add(a, b, alpha=2.5))
C("add_scalar", [N(4)], lambda a: a + 1.5)
C("add_size0", [N(0, 3), N(3)], lambda a, b: a + b)
C("add_size1", [N(1, 1), N(2, 1, 3)], lambda a, b: a + b)
C("add_noncontig", [N(4, 3), N(3, 4)], lambda a, b: a.t() + b)
C("add_int_float", [I(-5, 5, 3), N(3)], lambda a, b: a + b)
C("add_int_int", [I(-5, 5, 2, 3), I(-5, 5, 3)], lambda a, b: a + b)
C("add_zero_dim", [N(2, 3), N()], lambda a, b: a + b)
C("add_double_zero_dim", [N(2, 3), D(N())], lambda a, b: a + b)
C("sub", [N(2, 3), N(2, 3)], lambda a, b: a - b)
C("sub_alpha_broadcast", [N(4, 1), N(1, 3)], lambda a, b: torch.sub(a, b, alpha=0.5))
C("rsub_scalar", [N(5)], lambda a: 1 - a)
C("mul", [N(3, 4), N(3, 4)], lambda a, b: a * b)
C("mul_broadcast", [N(2, 1, 3), N(4, 1)], lambda a, b: a * b)
C("mul_scalar", [N(3, 2)], lambda a: a * -3.0)
C("mul_bool", [B(4), B(4)], lambda a, b: a * b)
C("div", [N(3, 4), P(3, 4)], lambda a, b: a / b)
C("div_broadcast", [N(2, 3), P(3)], lambda a, b: a / b)
C("div_scalar", [N(6)], lambda a: a / 3.0)
C("rdiv_scalar", [P(6)], lambda a: 2.0 / a)
C("div_int_int", [I(-9, 9, 5), I(1, 4, 5)], lambda a, b: a / b)
C("div_trunc", [N(8), P(8)], lambda a, b: torch.div(a * 5, b, rounding_mode="trunc"))
C("div_floor", [N(8), P(8)], lambda a, b: torch.div(a * 5, b, rounding_mode="floor"))
C("div_floor_int", [I(-9, 9, 6), I(1, 4, 6)], lambda a, b: torch.div(a, b, rounding_mode="floor"))
C("remainder", [N(7)], lambda a: torch.remainder(a * 4, 1.5))
C("pow_tensor", [P(3, 4), N(3, 4)], lambda a, b: torch.pow(a, b))
C("pow_scalar_3", [N(2, 5)], lambda a: a ** 3)
C("pow_scalar_half", [P(5)], lambda a: a ** 0.5)
C("pow_scalar_neg", [P(5)], lambda a: a ** -1.5)
C("pow_scalar_base", [N(5)], lambda a: 2.0 ** a)
C("pow_int", [I(-3, 4, 6)], lambda a: a ** 2)
C("maximum", [N(3, 4), N(4)], lambda a, b: torch.maximum(a, b))
C("minimum", [N(3, 4), N(3, 1)], lambda a, b: torch.minimum(a, b))
C("where", [B(3, 4), N(3, 4), N(4)], lambda c, a, b: torch.where(c, a, b))
C("where_scalar", [B(5), N(5)], lambda c, a: torch.where(c, a, 0.5))
C("masked_fill", [N(3, 4), B(4)], lambda a, m: a.masked_fill(m, 2.0))
C("masked_fill_ninf_softmax", [N(2, 5), B(2, 5)], lambda a, m: torch.softmax(a.masked_fill(m, -1e9), -1))
C("lerp", [N(4), N(4)], lambda a, b: torch.lerp(a, b, 0.3))
C("addcmul", [N(4), N(4), N(4)], lambda a, b, c: torch.addcmul(a, b, c, value=0.5))
C("addcdiv", [N(4), N(4), P(4)], lambda a, b, c: torch.addcdiv(a, b, c, value=-2))

# ---- comparison and logic ----
C("eq", [I(0, 3, 6), I(0, 3, 6)], lambda a, b: a == b)
C("ne_scalar", [I(0, 3, 6)], lambda a: a != 1)
C("lt_broadcast", [N(3, 1), N(4)], lambda a, b: a < b)
C("le", [N(5), N(5)], lambda a, b: a <= b)
C("gt_scalar", [N(5)], lambda a: a > 0.1)
C("ge_int_float", [I(-3, 3, 5), N(5)], lambda a, b: a >= b)
C("logical_and", [B(6), B(6)], lambda a, b: torch.logical_and(a, b))
C("logical_or", [B(6), B(6)], lambda a, b: torch.logical_or(a, b))
C("logical_xor", [N(6), B(6)], lambda a, b: torch.logical_xor(a, b))
C("logical_not", [N(6)], lambda a: torch.logical_not(a > 0))
C("bitwise_and_bool", [B(5), B(5)], lambda a, b: a & b)
C("isfinite", [N(4)], lambda a: torch.isfinite(a / (a > 0)))

# ---- unary math and activations ----
C("neg", [N(3, 4)], lambda a: -a)
C("exp", [N(3, 4)], lambda a: torch.exp(a))
C("exp_noncontig", [N(5, 4)], lambda a: torch.exp(a[::2, 1:]))
C("exp_int", [I(-3, 3, 4)], lambda a: torch.exp(a))
C("log", [P(3, 4)], lambda a: torch.log(a))
C("log1p", [P(3, 4)], lambda a: torch.log1p(a))
C("sqrt", [P(7)], lambda a: torch.sqrt(a))
C("rsqrt", [P(7)], lambda a: torch.rsqrt(a))
C("abs", [N(7)], lambda a: torch.abs(a))
C("sign", [N(7)], lambda a: torch.sign(a))
C("sin", [N(7)], lambda a: torch.sin(a))
C("cos", [N(7)], lambda a: torch.cos(a))
C("tanh", [N(3, 5)], lambda a: torch.tanh(a))
C("sigmoid", [N(3, 5)], lambda a: torch.sigmoid(a))
C("reciprocal", [P(5)], lambda a: torch.reciprocal(a))
C("square", [N(5)], lambda a: torch.square(a))
C("erf", [N(6)], lambda a: torch.erf(a))
C("relu", [N(4, 5)], lambda a: torch.relu(a))
C("relu6", [N(8)], lambda a: F.relu6(a * 4))
C("leaky_relu", [N(8)], lambda a: F.leaky_relu(a, 0.2))
C("elu", [N(8)], lambda a: F.elu(a, alpha=1.3))
C("gelu", [N(8)], lambda a: F.gelu(a))
C("gelu_tanh", [N(8)], lambda a: F.gelu(a, approximate="tanh"))
C("silu", [N(8)], lambda a: F.silu(a))
C("hardswish", [N(8)], lambda a: F.hardswish(a * 3))
C("hardsigmoid", [N(8)], lambda a: F.hardsigmoid(a * 3))
C("softplus", [N(8)], lambda a: F.softplus(a * 3, beta=2, threshold=5))
C("clamp", [N(8)], lambda a: torch.clamp(a, -0.5, 0.7))
C("clamp_min", [N(8)], lambda a: torch.clamp(a, min=0.1))
C("clamp_max", [N(8)], lambda a: torch.clamp(a, max=0.2))
C("clamp_int", [I(-9, 9, 8)], lambda a: torch.clamp(a, -3, 4))

# ---- in-place forms and views ----
C("inplace_chain", [N(3, 4), N(4)], lambda a, b: a.clone().add_(b).mul_(2).sigmoid_())
C("inplace_on_view", [N(3, 4), N(3)], lambda a, b: _view_write(a, b))
C("inplace_scalar_ops", [N(5)], lambda a: a.clone().mul_(3).add_(1).div_(2).sub_(0.5))
C("inplace_relu_after_mul", [N(5), N(5)], lambda a, b: (a * b).relu_())
C("copy_into_slice", [N(2, 6), N(2, 3)], lambda a, b: _copy_slice(a, b))


def _view_write(a, b):
    y = a.clone()
    y[:, 1].mul_(b)
    return y


def _copy_slice(a, b):
    y = a.clone()
    y[:, 1:4] = b
    return y * 2


# ---- reductions ----
C("sum", [N(3, 4, 5)], lambda a: a.sum())
C("sum_dim", [N(3, 4, 5)], lambda a: a.sum(1))
C("sum_dims_keepdim", [N(3, 4, 5)], lambda a: a.sum((0, 2), keepdim=True))
C("sum_neg_dim", [N(3, 4)], lambda a: a.sum(-1))
C("sum_noncontig", [N(4, 6)], lambda a: a.t()[1:].sum(0))
C("sum_int", [I(-5, 5, 4, 3)], lambda a: a.sum(1))
C("sum_bool", [B(10)], lambda a: a.sum())
C("sum_size0", [N(0, 3)], lambda a: a.sum(0))
C("sum_outer_dim", [N(64, 33)], lambda a: a.sum(0))
C("sum_large", [N(100000)], lambda a: a.sum())
C("mean", [N(3, 4)], lambda a: a.mean())
C("mean_dims", [N(2, 3, 4)], lambda a: a.mean((1, 2)))
C("var", [N(3, 7)], lambda a: a.var(1))
C("var_biased_keepdim", [N(3, 7)], lambda a: a.var(0, unbiased=False, keepdim=True))
C("var_all", [N(20)], lambda a: a.var())
C("std", [N(4, 6)], lambda a: a.std(1))
C("prod", [P(3, 4)], lambda a: a.prod(1))
C("prod_all", [P(6)], lambda a: a.prod())
C("prod_with_zero", [N(3, 4)], lambda a: (a * (a.abs() > 0.3)).prod(1))
C("max_all", [N(4, 5)], lambda a: a.max())
C("max_dim", [N(4, 5)], lambda a: a.max(1))
C("min_dim_keepdim", [N(4, 5)], lambda a: a.min(0, keepdim=True))
C("amax", [N(3, 4, 5)], lambda a: a.amax((0, 2)))
C("amin", [N(3, 4)], lambda a: a.amin(-1))
C("argmax", [N(4, 5)], lambda a: a.argmax(1))
C("argmax_all", [N(4, 5)], lambda a: a.argmax())
C("argmin_keepdim", [N(4, 5)], lambda a: a.argmin(0, keepdim=True))
C("logsumexp", [N(3, 6)], lambda a: torch.logsumexp(a * 10, 1))
C("logsumexp_dims", [N(2, 3, 4)], lambda a: torch.logsumexp(a, (0, 2), keepdim=True))
C("norm", [N(3, 4)], lambda a: a.norm())
C("norm_p1_dim", [N(3, 4)], lambda a: a.norm(1, 1))
C("norm_p3", [N(3, 4)], lambda a: a.norm(3, 0))
C("norm_inf", [N(3, 4)], lambda a: a.norm(float("inf"), 1))
C("cumsum", [N(3, 5)], lambda a: a.cumsum(1))
C("cumsum_int", [I(0, 5, 6)], lambda a: a.cumsum(0))
C("topk", [N(3, 8)], lambda a: a.topk(3))
C("topk_smallest_dim0", [N(6, 4)], lambda a: a.topk(2, 0, largest=False))
C("sort", [N(3, 6)], lambda a: a.sort(1))
C("sort_descending", [N(5, 3)], lambda a: a.sort(0, descending=True))
C("all_any", [B(3, 4)], lambda a: (a.all(1), a.any(0), a.all(), a.any()))

# ---- linear algebra ----
C("mm", [N(5, 7), N(7, 3)], lambda a, b: a @ b)
C("mm_transposed", [N(7, 5), N(3, 7)], lambda a, b: a.t() @ b.t())
C("bmm", [N(2, 5, 7), N(2, 7, 3)], lambda a, b: torch.bmm(a, b))
C("bmm_noncontig", [N(5, 2, 7), N(2, 3, 7)], lambda a, b: torch.bmm(a.transpose(0, 1), b.transpose(1, 2)))
C("matmul_1d_1d", [N(6), N(6)], lambda a, b: a @ b)
C("matmul_2d_1d", [N(4, 6), N(6)], lambda a, b: a @ b)
C("matmul_1d_2d", [N(6), N(6, 3)], lambda a, b: a @ b)
C("matmul_3d_2d", [N(2, 4, 6), N(6, 3)], lambda a, b: a @ b)
C("matmul_3d_1d", [N(2, 4, 6), N(6)], lambda a, b: a @ b)
C("matmul_1d_3d", [N(4), N(2, 4, 3)], lambda a, b: a @ b)
C("matmul_2d_3d", [N(4, 6), N(2, 6, 3)], lambda a, b: a @ b)
C("matmul_batch_broadcast", [N(2, 1, 4, 6), N(3, 6, 5)], lambda a, b: a @ b)
C("matmul_empty_k", [N(3, 0), N(0, 4)], lambda a, b: a @ b)
C("addmm", [N(3), N(4, 5), N(5, 3)], lambda c, a, b: torch.addmm(c, a, b))
C("addmm_beta_alpha", [N(4, 3), N(4, 5), N(5, 3)], lambda c, a, b: torch.addmm(c, a, b, beta=0.5, alpha=2))
C("baddbmm", [N(2, 4, 3), N(2, 4, 5), N(2, 5, 3)], lambda c, a, b: torch.baddbmm(c, a, b, beta=2, alpha=0.5))
C("linear", [N(2, 3, 6), N(4, 6), N(4)], lambda x, w, b: F.linear(x, w, b))
C("linear_no_bias", [N(5, 6), N(4, 6)], lambda x, w: F.linear(x, w))
C("dot", [N(7), N(7)], lambda a, b: torch.dot(a, b))
C("mv", [N(3, 7), N(7)], lambda a, b: torch.mv(a, b))
C("outer", [N(3), N(4)], lambda a, b: torch.outer(a, b))
C("matmul_double", [D(N(4, 5)), D(N(5, 2))], lambda a, b: a @ b)

# ---- convolution and pooling ----
C("conv1d", [N(2, 3, 11), N(4, 3, 3), N(4)], lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1))
C("conv1d_same", [N(2, 3, 10), N(4, 3, 4)], lambda x, w: F.conv1d(x, w, padding="same"))
C("conv2d", [N(2, 3, 7, 6), N(4, 3, 3, 3), N(4)], lambda x, w, b: F.conv2d(x, w, b))
C("conv2d_stride_pad_dilation", [N(2, 3, 9, 8), N(5, 3, 3, 2)],
  lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=(1, 2), dilation=(2, 1)))
C("conv2d_groups", [N(2, 4, 6, 6), N(6, 2, 3, 3), N(6)], lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=2))
C("conv2d_depthwise", [N(2, 4, 7, 7), N(4, 1, 3, 3)], lambda x, w: F.conv2d(x, w, stride=2, padding=1, groups=4))
C("conv2d_same_even_kernel", [N(1, 2, 6, 7), N(3, 2, 4, 2)], lambda x, w: F.conv2d(x, w, padding="same"))
C("conv2d_valid", [N(1, 2, 6, 7), N(3, 2, 3, 3)], lambda x, w: F.conv2d(x, w, padding="valid"))
C("conv2d_1x1", [N(2, 5, 4, 4), N(3, 5, 1, 1)], lambda x, w: F.conv2d(x, w))
C("conv2d_unbatched", [N(3, 5, 5), N(2, 3, 3, 3)], lambda x, w: F.conv2d(x, w, padding=1))
C("conv2d_noncontig", [N(2, 3, 6, 5), N(4, 3, 3, 3)], lambda x, w: F.conv2d(x.transpose(2, 3), w))
C("conv2d_double", [D(N(1, 2, 5, 5)), D(N(3, 2, 3, 3))], lambda x, w: F.conv2d(x, w, stride=2))
C("conv_transpose2d", [N(2, 4, 5, 5), N(4, 3, 3, 3), N(3)],
  lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1))
C("conv_transpose2d_groups", [N(1, 4, 4, 3), N(4, 2, 2, 2)],
  lambda x, w: F.conv_transpose2d(x, w, stride=2, groups=2))
C("max_pool2d", [N(2, 3, 8, 8)], lambda x: F.max_pool2d(x, 2))
C("max_pool2d_k3s2p1", [N(2, 3, 9, 7)], lambda x: F.max_pool2d(x, 3, 2, 1))
C("max_pool2d_ceil", [N(1, 2, 7, 7)], lambda x: F.max_pool2d(x, 2, ceil_mode=True))
C("max_pool2d_dilation", [N(1, 2, 9, 9)], lambda x: F.max_pool2d(x, 2, 1, 0, dilation=2))
C("max_pool2d_indices", [N(1, 2, 6, 6)], lambda x: F.max_pool2d(x, 3, 2, 1, return_indices=True))
C("avg_pool2d", [N(2, 3, 8, 6)], lambda x: F.avg_pool2d(x, 2))
C("avg_pool2d_pad_exclude", [N(1, 2, 7, 7)], lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False))
C("avg_pool2d_ceil_divisor", [N(1, 2, 7, 7)], lambda x: F.avg_pool2d(x, 2, ceil_mode=True, divisor_override=3))
C("adaptive_avg_pool2d", [N(2, 3, 7, 7)], lambda x: F.adaptive_avg_pool2d(x, 3))
C("adaptive_avg_pool2d_rect", [N(1, 2, 5, 7)], lambda x: F.adaptive_avg_pool2d(x, (2, 3)))
C("adaptive_avg_pool2d_global", [N(2, 3, 4, 5)], lambda x: F.adaptive_avg_pool2d(x, 1))

# ---- normalisation and softmax ----
C("batch_norm_train", [N(4, 3, 5, 5), N(3), N(3), K(N(3)), K(P(3))],
  lambda x, w, b, rm, rv: _bn(x, w, b, rm, rv, True))
C("batch_norm_eval", [N(4, 3, 5, 5), N(3), N(3), K(N(3)), K(P(3))],
  lambda x, w, b, rm, rv: _bn(x, w, b, rm, rv, False))
C("batch_norm_1d", [N(8, 5), N(5), N(5)], lambda x, w, b: F.batch_norm(x, None, None, w, b, True, 0.1, 1e-5))
C("batch_norm_no_affine", [N(4, 3, 6)], lambda x: F.batch_norm(x, None, None, None, None, True, 0.1, 1e-5))
C("layer_norm", [N(3, 4, 8), N(8), N(8)], lambda x, w, b: F.layer_norm(x, (8,), w, b))
C("layer_norm_2d_shape", [N(2, 3, 4), N(3, 4), N(3, 4)], lambda x, w, b: F.layer_norm(x, (3, 4), w, b, eps=1e-3))
C("layer_norm_no_affine", [N(5, 6)], lambda x: F.layer_norm(x, (6,)))
C("group_norm", [N(2, 6, 3, 3), N(6), N(6)], lambda x, w, b: F.group_norm(x, 3, w, b))
C("rms_norm", [N(3, 8), N(8)], lambda x, w: rms_norm(x, (8,), w))
C("rms_norm_eps", [N(2, 3, 4)], lambda x: rms_norm(x, (3, 4), eps=1e-2))
C("softmax", [N(3, 7)], lambda x: torch.softmax(x, -1))
C("softmax_dim0", [N(4, 5)], lambda x: torch.softmax(x, 0))
C("log_softmax", [N(2, 5, 3)], lambda x: torch.log_softmax(x, 1))
C("softmax_double", [D(N(3, 4))], lambda x: torch.softmax(x, 1))


def _bn(x, w, b, rm, rv, training):
    rm, rv = rm.detach().clone(), rv.detach().clone()
    y = F.batch_norm(x, rm, rv, w, b, training, 0.1, 1e-5)
    return (y, rm, rv)


# ---- embedding, attention, resampling, padding ----
C("embedding", [N(10, 4), I(0, 10, 3, 5)], lambda w, i: F.embedding(i, w))
C("embedding_padding_idx", [N(10, 4), I(0, 10, 20)], lambda w, i: F.embedding(i, w, padding_idx=3))
C("sdpa", [N(2, 3, 5, 4), N(2, 3, 6, 4), N(2, 3, 6, 8)], lambda q, k, v: sdpa(q, k, v))
C("sdpa_causal", [N(2, 5, 4), N(2, 5, 4), N(2, 5, 3)], lambda q, k, v: sdpa(q, k, v, causal=True))
C("sdpa_float_mask", [N(1, 4, 4), N(1, 6, 4), N(1, 6, 4), N(4, 6)], lambda q, k, v, m: sdpa(q, k, v, mask=m))
C("sdpa_bool_mask", [N(2, 4, 4), N(2, 6, 4), N(2, 6, 4), B(2, 1, 6)],
  lambda q, k, v, m: sdpa(q, k, v, mask=m | torch.arange(6).eq(0)))
C("interpolate_nearest", [N(1, 2, 3, 4)], lambda x: F.interpolate(x, scale_factor=2, mode="nearest"))
C("interpolate_nearest_size", [N(1, 2, 5, 4)], lambda x: F.interpolate(x, size=(7, 3), mode="nearest"))
C("interpolate_bilinear", [N(1, 2, 4, 5)], lambda x: F.interpolate(x, size=(7, 9), mode="bilinear", align_corners=False))
C("interpolate_bilinear_down", [N(1, 2, 8, 9)], lambda x: F.interpolate(x, size=(5, 4), mode="bilinear", align_corners=False))
C("interpolate_bilinear_corners", [N(2, 1, 4, 4)], lambda x: F.interpolate(x, size=(6, 7), mode="bilinear", align_corners=True))
C("pad_constant", [N(2, 3, 4)], lambda x: F.pad(x, (1, 2, 0, 1), value=0.5))
C("pad_negative", [N(2, 5, 6)], lambda x: F.pad(x, (-1, 2, 1, -2)))
C("pad_reflect", [N(1, 2, 5)], lambda x: F.pad(x, (2, 3), mode="reflect"))
C("pad_replicate", [N(1, 2, 4, 3)], lambda x: F.pad(x, (1, 2, 2, 1), mode="replicate"))
C("pad_circular", [N(1, 2, 5)], lambda x: F.pad(x, (2, 1), mode="circular"))
C("one_hot", [I(0, 5, 7)], lambda i: F.one_hot(i, 6))

# ---- losses ----
C("cross_entropy", [N(6, 5), I(0, 5, 6)], lambda x, t: F.cross_entropy(x, t))
C("cross_entropy_weight_ignore", [N(8, 4), I(0, 4, 8), K(P(4))],
  lambda x, t, w: F.cross_entropy(x, t.masked_fill(t == 1, -100), weight=w))
C("cross_entropy_smoothing", [N(6, 5), I(0, 5, 6), K(P(5))],
  lambda x, t, w: F.cross_entropy(x, t, weight=w, label_smoothing=0.2))
C("cross_entropy_sum_none", [N(4, 3), I(0, 3, 4)],
  lambda x, t: (F.cross_entropy(x, t, reduction="sum"), F.cross_entropy(x, t, reduction="none")))
C("cross_entropy_probs", [N(4, 5), K(P(4, 5))], lambda x, p: F.cross_entropy(x, p / p.sum(1, keepdim=True), label_smoothing=0.1))
C("cross_entropy_kdim", [N(2, 4, 3, 3), I(0, 4, 2, 3, 3)], lambda x, t: F.cross_entropy(x, t))
C("cross_entropy_smoothing_ignore_none", [N(5, 4), I(0, 4, 5)],
  lambda x, t: F.cross_entropy(x, t.masked_fill(t == 0, -100), label_smoothing=0.3, reduction="none"))
C("nll_loss", [N(5, 4), I(0, 4, 5)], lambda x, t: F.nll_loss(torch.log_softmax(x, 1), t))
C("nll_loss_sum_weight", [N(5, 4), I(0, 4, 5), K(P(4))], lambda x, t, w: F.nll_loss(x, t, weight=w, reduction="sum"))
C("mse_loss", [N(3, 4), N(3, 4)], lambda a, b: F.mse_loss(a, b))
C("l1_loss_sum", [N(3, 4), N(3, 4)], lambda a, b: F.l1_loss(a, b, reduction="sum"))
C("smooth_l1_loss", [N(3, 4), N(3, 4)], lambda a, b: F.smooth_l1_loss(a, b, beta=0.5))
C("binary_cross_entropy", [N(6), K(U(0, 1, 6)), K(P(6))], lambda x, t, w: F.binary_cross_entropy(torch.sigmoid(x), t, weight=w))
C("bce_with_logits", [N(3, 4), K(U(0, 1, 3, 4)), K(P(4))],
  lambda x, t, pw: F.binary_cross_entropy_with_logits(x * 3, t, pos_weight=pw))

# ---- shape and indexing ----
C("cat", [N(2, 3), N(4, 3), N(0, 3)], lambda a, b, c: torch.cat([a, b, c]))
C("cat_dim1_mixed", [N(2, 3), D(N(2, 1))], lambda a, b: torch.cat([a, b], 1))
C("stack", [N(2, 3), N(2, 3)], lambda a, b: torch.stack([a, b], 1))
C("index_select", [N(5, 4), I(0, 5, 7)], lambda x, i: x.index_select(0, i))
C("index_select_dim1", [N(3, 6, 2), I(0, 6, 4)], lambda x, i: x.index_select(1, i))
C("gather", [N(4, 5), I(0, 5, 4, 3)], lambda x, i: x.gather(1, i))
C("scatter", [N(4, 5), N(4, 5)], lambda x, s: x.scatter(1, torch.tensor([[0, 2], [1, 3], [4, 0], [2, 1]]), s[:, :2]))
C("scatter_value", [N(3, 4)], lambda x: x.scatter(0, torch.tensor([[1, 0, 2, 1]]), 7.0))
C("scatter_add", [N(3, 5), N(2, 5), I(0, 3, 2, 5)], lambda x, s, i: x.scatter_add(0, i, s))
C("index_add", [N(5, 3), N(4, 3), I(0, 5, 4)], lambda x, s, i: x.index_add(0, i, s))
C("index_tensor", [N(5, 4), I(0, 5, 3)], lambda x, i: x[i])
C("index_second_dim", [N(3, 5, 2), I(-5, 5, 2, 2)], lambda x, i: x[:, i])
C("index_two_broadcast", [N(4, 5, 3), I(0, 4, 3, 1), I(0, 5, 2)], lambda x, i, j: x[i, j])
C("index_non_adjacent", [N(4, 3, 5), I(0, 4, 2), I(0, 5, 2)], lambda x, i, j: x[i, :, j])
C("index_mask", [N(4, 5), B(4, 5)], lambda x, m: x[m])
C("index_row_mask", [N(4, 5), B(4)], lambda x, m: x[m] * 2)
C("index_slice_int", [N(4, 5, 6)], lambda x: x[1:3, 2, ::2])
C("index_none_ellipsis", [N(3, 4, 5)], lambda x: x[None, ..., 1])
C("index_put", [N(5, 3), N(2, 3)], lambda x, v: x.index_put((torch.tensor([4, 1]),), v))
C("index_put_accumulate", [N(5, 3), N(3, 3)], lambda x, v: x.index_put((torch.tensor([1, 1, 3]),), v, accumulate=True))
C("setitem_mask", [N(3, 4)], lambda x: _setitem_mask(x))
C("masked_select", [N(3, 4), B(4)], lambda x, m: torch.masked_select(x, m))
C("repeat", [N(2, 3)], lambda x: x.repeat(2, 1, 3))
C("roll", [N(3, 4)], lambda x: torch.roll(x, (1, -2), (0, 1)))
C("roll_flat", [N(3, 4)], lambda x: torch.roll(x, 5))
C("flip", [N(3, 4, 2)], lambda x: torch.flip(x, (0, 2)))
C("tril", [N(4, 5)], lambda x: torch.tril(x, 1))
C("triu_batched", [N(2, 4, 4)], lambda x: torch.triu(x, -1))
C("nonzero", [I(0, 2, 3, 4)], lambda x: torch.nonzero(x))
C("views", [N(2, 3, 4)], lambda x: x.permute(2, 0, 1).reshape(4, 6).t().unsqueeze(0).squeeze())
C("views_narrow_select", [N(4, 5, 6)], lambda x: x.narrow(1, 1, 3).select(2, 4).transpose(0, 1))
C("views_expand", [N(3, 1)], lambda x: x.expand(2, 3, 4) * 1.5)
C("views_flatten_unflatten", [N(2, 3, 4)], lambda x: x.flatten(1).unflatten(1, (4, 3)).flatten())
C("chunk_split", [N(7, 4)], lambda x: tuple(x.chunk(3)) + tuple(x.split([1, 3], 1)))
C("unbind", [N(3, 2)], lambda x: tuple(torch.unbind(x, 1)))
C("contiguous_clone", [N(3, 4)], lambda x: x.t().contiguous().clone() * 3)
C("to_double_and_back", [N(5)], lambda x: (x.double() * 3).float())
C("diagonal", [N(4, 5)], lambda x: torch.diagonal(x, 1))


def _setitem_mask(x):
    y = x.clone()
    y[y > 0] = 0.5
    return y * x


def main(path):
    tensors = {}
    names = set()
    grad_fns = {}
    for name, inputs, fn in CASES:
        assert name not in names, name
        names.add(name)
        gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
        ins = [make(s, gen) for s in inputs]
        wants = [t.is_floating_point() and s[0] != "const" for t, s in zip(ins, inputs)]
        leaves = [t.clone().requires_grad_(w) for t, w in zip(ins, wants)]
        tensors[f"{name}.requires_grad"] = torch.tensor(wants, dtype=torch.bool)
        out = fn(*leaves)
        outs = list(out) if isinstance(out, tuple) else [out]
        for i, t in enumerate(ins):
            tensors[f"{name}.in{i}"] = t
        float_outs, gouts = [], []
        for k, o in enumerate(outs):
            tensors[f"{name}.out{k}"] = o.detach()
            if o.grad_fn is not None:
                grad_fns[f"{name}.out{k}"] = type(o.grad_fn).__name__
            if o.is_floating_point() and o.requires_grad:
                g = torch.randn(o.shape, generator=gen, dtype=o.dtype)
                tensors[f"{name}.gout{k}"] = g
                float_outs.append(o)
                gouts.append(g)
        if float_outs:
            torch.autograd.backward(float_outs, gouts)
        for i, leaf in enumerate(leaves):
            if leaf.grad is not None:
                tensors[f"{name}.grad{i}"] = leaf.grad
    import json
    safetensors_py.save(path, tensors, {"torch": torch.__version__, "cases": str(len(CASES)),
                                        "grad_fn": json.dumps(grad_fns, sort_keys=True)})


if __name__ == "__main__":
    main(sys.argv[1])
