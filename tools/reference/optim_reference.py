#!/usr/bin/python3
"""Reference data for tests/framework/test_optim.cpp: PyTorch 1.13's optimizers, LR schedulers and
gradient clipping on a fixed small problem, written as one JSON file.

Run with Debian's /usr/bin/python3 (the one with torch):  optim_reference.py OUT.json

What it records
- optimizers: for every configuration in CASES, 20 steps of torch.optim.<Opt>(foreach=False, i.e. the
  single-tensor code path ark follows) on params W (3, 4), b (3,), v (5,), u (2,) with
      loss = 0.5 * sum((W @ x + b - y)^2) + 0.3 * sum(tanh(2 v)) + 0.5 * sum(s * v * v)
  (u never gets a gradient, so it checks that such params are skipped). Every step records the loss
  and all params, in float64 and float32.
- schedulers: get_last_lr() after construction and after each step (and the momentum / beta1 that
  OneCycleLR cycles), for an optimizer with two param groups (lr 0.1 and 0.05).
- clip: clip_grad_norm_ / clip_grad_value_ on fixed gradients.
The file is written to a temporary name and renamed, so concurrent test processes never read half a file.
"""
import json
import warnings
import math
import os
import sys

import torch

STEPS = 20

INIT = {
    "W": [[0.5 * math.sin(1 + 4 * i + j) for j in range(4)] for i in range(3)],
    "b": [0.1, -0.2, 0.3],
    "v": [-1.0, -0.4, 0.2, 0.8, 1.4],
    "u": [0.5, -0.5],
}
CONSTS = {
    "x": [0.5, -1.0, 1.5, 2.0],
    "y": [1.0, -1.0, 0.5],
    "s": [0.5, 1.0, 1.5, 2.0, 2.5],
}

# name -> (optimizer, defaults, groups); a group is (param names, per-group options).
ALL = (["W", "b", "v", "u"], {})
CASES = {
    "sgd_plain": ("SGD", {"lr": 0.1}, [ALL]),
    "sgd_momentum": ("SGD", {"lr": 0.05, "momentum": 0.9}, [ALL]),
    "sgd_dampening": ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}, [ALL]),
    "sgd_nesterov_wd": ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01}, [ALL]),
    "sgd_weight_decay": ("SGD", {"lr": 0.1, "weight_decay": 0.05}, [ALL]),
    "sgd_maximize": ("SGD", {"lr": 0.01, "momentum": 0.5, "maximize": True}, [ALL]),
    "sgd_groups": ("SGD", {"lr": 0.1, "momentum": 0.9},
                   [(["W", "b"], {}), (["v", "u"], {"lr": 0.02, "momentum": 0.5})]),
    "adam": ("Adam", {"lr": 0.05}, [ALL]),
    "adam_amsgrad_wd": ("Adam", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.1, "betas": [0.8, 0.99]}, [ALL]),
    "adam_wd_eps": ("Adam", {"lr": 0.01, "weight_decay": 0.05, "eps": 1e-6}, [ALL]),
    "adam_groups": ("Adam", {"lr": 0.05},
                    [(["W", "b"], {}), (["v", "u"], {"lr": 0.01, "betas": [0.5, 0.9], "maximize": True})]),
    "adamw": ("AdamW", {"lr": 0.05}, [ALL]),
    "adamw_amsgrad": ("AdamW", {"lr": 0.03, "weight_decay": 0.1, "amsgrad": True}, [ALL]),
    "rmsprop": ("RMSprop", {"lr": 0.01}, [ALL]),
    "rmsprop_momentum_wd": ("RMSprop", {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.01}, [ALL]),
    "rmsprop_centered": ("RMSprop", {"lr": 0.01, "centered": True, "alpha": 0.9}, [ALL]),
    "rmsprop_centered_momentum": ("RMSprop", {"lr": 0.005, "centered": True, "momentum": 0.5, "eps": 1e-6}, [ALL]),
}


def loss_fn(p, c):
    r = p["W"] @ c["x"] + p["b"] - c["y"]
    return 0.5 * (r * r).sum() + 0.3 * torch.tanh(2 * p["v"]).sum() + 0.5 * (c["s"] * p["v"] * p["v"]).sum()


def flat(t):
    return t.detach().to(torch.float64).reshape(-1).tolist()


def run_case(opt_name, defaults, groups, dtype):
    p = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in INIT.items()}
    c = {k: torch.tensor(v, dtype=dtype) for k, v in CONSTS.items()}
    kw = dict(defaults)
    if "betas" in kw:
        kw["betas"] = tuple(kw["betas"])
    param_groups = []
    for names, opts in groups:
        g = dict(opts)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        g["params"] = [p[n] for n in names]
        param_groups.append(g)
    opt = getattr(torch.optim, opt_name)(param_groups, foreach=False, **kw)
    losses, traj = [], []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(p, c)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        traj.append({k: flat(t) for k, t in p.items()})
    return {"losses": losses, "params": traj}


def optimizers():
    out = []
    for name, (opt_name, defaults, groups) in CASES.items():
        for dtype, dname in ((torch.float64, "float64"), (torch.float32, "float32")):
            r = run_case(opt_name, defaults, groups, dtype)
            r.update({"name": name, "optimizer": opt_name, "dtype": dname, "defaults": defaults,
                      "groups": [{"params": n, "options": o} for n, o in groups]})
            out.append(r)
    return out


# ---- schedulers ----
def sched_opt(kind):
    a = torch.zeros(2, requires_grad=True)
    b = torch.zeros(3, requires_grad=True)
    if kind == "sgd":
        return torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.05}], lr=0.1, momentum=0.9)
    return torch.optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.05}], lr=0.1, betas=(0.9, 0.99))


def lam_inv(e):
    return 1.0 / (1.0 + 0.1 * e)


def lam_pow(e):
    return 0.95 ** e


S = torch.optim.lr_scheduler
SCHEDULERS = {
    "step_lr": ("sgd", 40, lambda o: S.StepLR(o, step_size=7, gamma=0.5)),
    "step_lr_default": ("sgd", 20, lambda o: S.StepLR(o, 3)),
    "multi_step_lr": ("sgd", 40, lambda o: S.MultiStepLR(o, milestones=[5, 12, 12, 30], gamma=0.3)),
    "exponential_lr": ("sgd", 40, lambda o: S.ExponentialLR(o, gamma=0.93)),
    "cosine_lr": ("sgd", 45, lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001)),
    "cosine_lr_zero": ("sgd", 30, lambda o: S.CosineAnnealingLR(o, T_max=7)),
    "linear_lr_default": ("sgd", 12, lambda o: S.LinearLR(o)),
    "linear_lr": ("sgd", 15, lambda o: S.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=8)),
    "constant_lr": ("sgd", 10, lambda o: S.ConstantLR(o, factor=0.5, total_iters=4)),
    "lambda_lr": ("sgd", 30, lambda o: S.LambdaLR(o, lam_inv)),
    "lambda_lr_groups": ("sgd", 30, lambda o: S.LambdaLR(o, [lam_pow, lam_inv])),
    "one_cycle_cos": ("sgd", 40, lambda o: S.OneCycleLR(o, max_lr=[0.5, 0.3], total_steps=40)),
    "one_cycle_linear_three_phase": ("adam", 35, lambda o: S.OneCycleLR(
        o, max_lr=0.2, epochs=5, steps_per_epoch=7, pct_start=0.25, anneal_strategy="linear", three_phase=True,
        div_factor=10.0, final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9)),
    "one_cycle_no_momentum": ("sgd", 25, lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=30, pct_start=0.4,
                                                                 cycle_momentum=False)),
    "sequential_linear_cosine": ("sgd", 35, lambda o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.1, total_iters=5), S.CosineAnnealingLR(o, T_max=20)], milestones=[5])),
    "sequential_three": ("sgd", 30, lambda o: S.SequentialLR(
        o, [S.ConstantLR(o, factor=0.5, total_iters=3), S.ExponentialLR(o, gamma=0.9), S.StepLR(o, 4, 0.5)],
        milestones=[3, 10])),
    "sequential_lambda_multistep": ("sgd", 30, lambda o: S.SequentialLR(
        o, [S.LambdaLR(o, lam_pow), S.MultiStepLR(o, [3, 9], 0.5)], milestones=[6])),
}


def momenta(opt):
    out = []
    for g in opt.param_groups:
        out.append(g["betas"][0] if "betas" in g else g["momentum"])
    return out


def schedulers():
    out = {}
    for name, (kind, n, make) in SCHEDULERS.items():
        opt = sched_opt(kind)
        s = make(opt)
        lrs, moms = [s.get_last_lr()], [momenta(opt)]
        for _ in range(n):
            opt.step()
            s.step()
            lrs.append(s.get_last_lr())
            moms.append(momenta(opt))
        out[name] = {"lrs": lrs, "momentum": moms}
    return out


# ---- gradient clipping ----
GRADS = {
    "g1": [[0.3 * math.cos(2 + 3 * i + j) for j in range(4)] for i in range(3)],
    "g2": [1.5, -2.0, 0.25, 0.0, -0.75],
    "g3": [-0.1, 0.05],
}
CLIP_NORM = [(2.0, 1.0), (2.0, 100.0), (1.0, 2.0), (math.inf, 0.5), (3.5, 1.5), (0.5, 40.0)]


def clip():
    out = []
    for dtype, dname in ((torch.float64, "float64"), (torch.float32, "float32")):
        for norm_type, max_norm in CLIP_NORM:
            ps = [torch.zeros(torch.tensor(g).shape, dtype=dtype, requires_grad=True) for g in GRADS.values()]
            for p, g in zip(ps, GRADS.values()):
                p.grad = torch.tensor(g, dtype=dtype)
            extra = torch.zeros(2, dtype=dtype, requires_grad=True)  # grad None: ignored
            total = torch.nn.utils.clip_grad_norm_(ps + [extra], max_norm, norm_type)
            out.append({"kind": "norm", "dtype": dname, "norm_type": "inf" if math.isinf(norm_type) else norm_type,
                        "max_norm": max_norm, "total_norm": total.item(), "grads": [flat(p.grad) for p in ps]})
        ps = [torch.zeros(torch.tensor(g).shape, dtype=dtype, requires_grad=True) for g in GRADS.values()]
        for p, g in zip(ps, GRADS.values()):
            p.grad = torch.tensor(g, dtype=dtype)
        torch.nn.utils.clip_grad_value_(ps, 0.3)
        out.append({"kind": "value", "dtype": dname, "clip_value": 0.3, "grads": [flat(p.grad) for p in ps]})
    return out


def main():
    warnings.filterwarnings("ignore")  # SequentialLR uses the deprecated step(epoch) internally
    torch.set_default_dtype(torch.float32)
    data = {
        "generator": "tools/reference/optim_reference.py",
        "torch_version": torch.__version__,
        "steps": STEPS,
        "init": INIT,
        "consts": CONSTS,
        "optimizers": optimizers(),
        "schedulers": schedulers(),
        "clip_grads": GRADS,
        "clip": clip(),
    }
    path = sys.argv[1]
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
