"""Reference data for ark's nn layers (tests/framework/test_nn_reference.cpp).

Run with Debian's Python (PyTorch 1.13):  /usr/bin/python3 tools/reference/nn_reference.py OUT.safetensors

For each case a torch layer is built with a fixed seed, run forward on a random input and
backward with a random output gradient. Written per case:
  <case>.<state key>            the layer's state_dict (parameters and buffers) before forward
  <case>.input, .grad_output    the input and the output gradient
  <case>.output, .input_grad    the forward result and d(output . grad_output)/d(input)
  <case>.<param>.grad           every parameter's gradient
  <case>.after.<buffer>         buffers after the forward (BatchNorm running statistics)
  extras: .key/.value (+ _grad) for cross-attention, .key_padding_mask, .attn_mask, .weights
Metadata: "<case>.state" lists the state keys, "<case>.kind" the layer, "torch" the version.
torch 1.13 has no nn.RMSNorm: the RMSNorm cases use torch.nn.RMSNorm's formula (PyTorch 2.4).
"""
import math
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_py  # noqa: E402  (the shared hand-written safetensors writer)

torch.manual_seed(0)
torch.set_num_threads(1)  # one accumulation order, run to run

OUT = {}
META = {"torch": torch.__version__, "generator": "tools/reference/nn_reference.py"}


class RMSNormRef(nn.Module):
    """torch.nn.RMSNorm (PyTorch 2.4): y = x * rsqrt(mean(x^2) + eps) * weight; eps None = finfo.eps."""

    def __init__(self, normalized_shape, eps=None):
        super().__init__()
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(self.normalized_shape))

    def forward(self, x):
        eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps
        dims = tuple(range(-len(self.normalized_shape), 0))
        return x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps) * self.weight


def randomize_affine(m):
    """Non-trivial weight/bias for normalisation layers (their defaults are ones/zeros)."""
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(torch.rand_like(p) + 0.5 if name.endswith("weight") else torch.randn_like(p) * 0.5)


def save_case(case, module, inputs, forward, extras=None, after_buffers=False):
    """inputs: dict name -> tensor ('input' first); float inputs get gradients."""
    state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    for k, v in state.items():
        OUT[f"{case}.{k}"] = v
    META[f"{case}.state"] = ",".join(state.keys())
    META[f"{case}.kind"] = type(module).__name__
    leaves = {}
    for name, t in inputs.items():
        t = t.detach().clone()
        if t.is_floating_point():
            t.requires_grad_(True)
        leaves[name] = t
        OUT[f"{case}.{name}"] = t.detach().clone()
    out = forward(module, leaves)
    weights = None
    if isinstance(out, tuple):
        out, weights = out
    grad_output = torch.randn_like(out)
    out.backward(grad_output)
    OUT[f"{case}.grad_output"] = grad_output
    OUT[f"{case}.output"] = out.detach()
    if weights is not None:
        OUT[f"{case}.weights"] = weights.detach()
    for name, t in leaves.items():
        if t.is_floating_point():
            OUT[f"{case}.{name}_grad"] = t.grad.detach()
    for name, p in module.named_parameters():
        if p.grad is not None:
            OUT[f"{case}.{name}.grad"] = p.grad.detach()
    if after_buffers:
        for name, b in module.named_buffers():
            OUT[f"{case}.after.{name}"] = b.detach().clone()
    for k, v in (extras or {}).items():
        OUT[f"{case}.{k}"] = v


def call(m, x):
    return m(x["input"])


# ---- linear and convolution ----
save_case("linear", nn.Linear(6, 5), {"input": torch.randn(3, 4, 6)}, call)
save_case("linear_nobias", nn.Linear(6, 5, bias=False), {"input": torch.randn(7, 6)}, call)
save_case("conv1d", nn.Conv1d(4, 6, 3, stride=2, padding=1), {"input": torch.randn(2, 4, 11)}, call)
save_case("conv1d_same", nn.Conv1d(3, 4, 4, padding="same", dilation=2), {"input": torch.randn(2, 3, 10)}, call)
save_case("conv2d", nn.Conv2d(4, 6, 3, stride=2, padding=1), {"input": torch.randn(2, 4, 9, 9)}, call)
save_case("conv2d_groups_dilation", nn.Conv2d(4, 8, 3, padding=2, dilation=2, groups=2),
          {"input": torch.randn(2, 4, 8, 8)}, call)
save_case("conv2d_same", nn.Conv2d(3, 5, (3, 4), padding="same", dilation=(1, 2)), {"input": torch.randn(2, 3, 7, 8)},
          call)
save_case("conv2d_valid_nobias", nn.Conv2d(3, 4, 2, padding="valid", bias=False), {"input": torch.randn(1, 3, 5, 6)},
          call)
save_case("conv2d_reflect", nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), {"input": torch.randn(2, 3, 6, 6)},
          call)
save_case("conv2d_circular", nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode="circular"),
          {"input": torch.randn(1, 2, 5, 6)}, call)
save_case("conv2d_unbatched", nn.Conv2d(2, 3, 3, padding=1), {"input": torch.randn(2, 5, 6)}, call)
save_case("conv_transpose2d", nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1),
          {"input": torch.randn(2, 4, 5, 5)}, call)
save_case("conv_transpose2d_groups", nn.ConvTranspose2d(4, 6, (3, 2), stride=(2, 1), groups=2, dilation=(1, 2), bias=False),
          {"input": torch.randn(2, 4, 4, 5)}, call)

# ---- normalisation ----
bn = nn.BatchNorm2d(5)
randomize_affine(bn)
save_case("batchnorm2d_train", bn.train(), {"input": torch.randn(4, 5, 3, 3) * 2 + 1}, call, after_buffers=True)

bn = nn.BatchNorm2d(5, momentum=0.3)
randomize_affine(bn)
with torch.no_grad():
    bn.running_mean.copy_(torch.randn(5) * 0.5)
    bn.running_var.copy_(torch.rand(5) + 0.5)
    bn.num_batches_tracked.fill_(7)
save_case("batchnorm2d_eval", bn.eval(), {"input": torch.randn(4, 5, 3, 3)}, call, after_buffers=True)

bn = nn.BatchNorm1d(4, momentum=None)  # cumulative average: factor 1 / num_batches_tracked
randomize_affine(bn)
with torch.no_grad():
    bn.running_mean.copy_(torch.randn(4))
    bn.running_var.copy_(torch.rand(4) + 0.5)
    bn.num_batches_tracked.fill_(3)
save_case("batchnorm1d_train_cumulative", bn.train(), {"input": torch.randn(6, 4, 5)}, call, after_buffers=True)

bn = nn.BatchNorm1d(4, affine=False, track_running_stats=False)
save_case("batchnorm1d_no_stats_eval", bn.eval(), {"input": torch.randn(8, 4)}, call)

ln = nn.LayerNorm([4, 5])
randomize_affine(ln)
save_case("layernorm", ln, {"input": torch.randn(3, 4, 5) * 3 + 2}, call)

gn = nn.GroupNorm(2, 6)
randomize_affine(gn)
save_case("groupnorm", gn, {"input": torch.randn(2, 6, 4, 4)}, call)

rms = RMSNormRef([8])
randomize_affine(rms)
save_case("rmsnorm", rms, {"input": torch.randn(3, 5, 8)}, call)
rms = RMSNormRef([3, 4], eps=1e-6)
randomize_affine(rms)
save_case("rmsnorm_eps", rms, {"input": torch.randn(2, 3, 4) * 0.1}, call)

# ---- embedding ----
emb = nn.Embedding(10, 4, padding_idx=-2)  # wraps to 8
save_case("embedding", emb, {"input": torch.tensor([[1, 8, 3, 3], [8, 0, 9, 1]])}, call)

# ---- attention ----
def mha_call(need_weights=True, masks=False):
    def f(m, x):
        q = x["input"]
        k = x.get("key", q)
        v = x.get("value", k)
        kw = {"need_weights": need_weights}
        if "key_padding_mask" in x:
            kw["key_padding_mask"] = x["key_padding_mask"]
        if "attn_mask" in x:
            kw["attn_mask"] = x["attn_mask"]
        out, w = m(q, k, v, **kw)
        return (out, w) if need_weights else out
    return f


save_case("mha_seq_first", nn.MultiheadAttention(8, 2), {"input": torch.randn(5, 3, 8)}, mha_call())

kpm = torch.tensor([[False, False, False, True, True], [False] * 5, [False, True, False, False, True]])
save_case("mha_batch_first_kpm", nn.MultiheadAttention(8, 2, batch_first=True),
          {"input": torch.randn(3, 5, 8), "key_padding_mask": kpm}, mha_call())

causal = torch.triu(torch.ones(4, 6, dtype=torch.bool), diagonal=3)  # True = may not attend
kpm = torch.tensor([[False, False, False, False, True, True], [False] * 6])
save_case("mha_cross_kdim", nn.MultiheadAttention(8, 4, kdim=6, vdim=5),
          {"input": torch.randn(4, 2, 8), "key": torch.randn(6, 2, 6), "value": torch.randn(6, 2, 5),
           "key_padding_mask": kpm, "attn_mask": causal}, mha_call())

float_mask = torch.randn(5, 5) * 0.5
save_case("mha_cross_batch_first_float_mask", nn.MultiheadAttention(8, 2, batch_first=True),
          {"input": torch.randn(2, 5, 8), "key": torch.randn(2, 5, 8), "value": torch.randn(2, 5, 8),
           "attn_mask": float_mask}, mha_call(need_weights=False))

kpm = torch.tensor([[False, False, True, True], [False, False, False, True]])
save_case("mha_bias_kv_zero_attn", nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True),
          {"input": torch.randn(4, 2, 8), "key_padding_mask": kpm}, mha_call())

save_case("mha_unbatched", nn.MultiheadAttention(8, 2, batch_first=True),
          {"input": torch.randn(5, 8), "key_padding_mask": torch.tensor([False, False, True, False, True])}, mha_call())

# ---- transformer encoder layer (eval: dropout off) ----
def tel_call(m, x):
    return m(x["input"], src_mask=x.get("attn_mask"), src_key_padding_mask=x.get("key_padding_mask"))


kpm = torch.tensor([[False, False, False, True, True], [False] * 5, [False, False, True, True, True]])
save_case("transformer_relu_postnorm", nn.TransformerEncoderLayer(8, 2, dim_feedforward=16).eval(),
          {"input": torch.randn(5, 3, 8), "key_padding_mask": kpm}, tel_call)
causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
save_case("transformer_gelu_prenorm",
          nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, activation="gelu", norm_first=True, batch_first=True,
                                     layer_norm_eps=1e-6).eval(),
          {"input": torch.randn(3, 5, 8), "attn_mask": causal}, tel_call)
save_case("transformer_relu_prenorm_batch_first",
          nn.TransformerEncoderLayer(8, 4, dim_feedforward=12, norm_first=True, batch_first=True).eval(),
          {"input": torch.randn(2, 5, 8), "key_padding_mask": kpm[:2]}, tel_call)
save_case("transformer_gelu_postnorm",
          nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, activation="gelu").eval(),
          {"input": torch.randn(5, 2, 8)}, tel_call)

if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "nn_reference.safetensors"
    safetensors_py.save(out, OUT, META)
    print(f"wrote {len(OUT)} tensors to {out}")
