#!/usr/bin/python3
"""PyTorch 1.13's side of the ark-vs-PyTorch benchmark suite: the same work as ark_bench.cpp, case for
case, with the same timing policy (bench_common.h) and the same CSV lines (side "torch").

    /usr/bin/python3 tools/bench/torch_bench.py [--threads N] [--reps N] [--filter SUBSTR|=GROUP/CASE] [--data DIR]
                                                [--max-batches N] [--list] [--list-cases] [--step] [GROUP...]

Run it with /usr/bin/python3 (Debian's python3-torch); the pyenv `python3` on PATH has no torch.
The thread environment is set before torch is imported, since OpenMP and OpenBLAS read it at load
time; OMP_WAIT_POLICY=passive stops PyTorch's OpenMP pool and OpenBLAS's pool from spinning against
each other on two cores (see /work/shared/PERF.md: the fair 2-thread PyTorch figure).
The overhead group measures PyTorch called from Python (the loop's own cost included); libtorch's
C++ figure comes from libtorch_overhead.cpp.
"""
import argparse
import gzip
import math
import os
import struct
import sys
import time

GROUPS = ["overhead", "matmul", "eltwise", "conv_b1", "conv_b16", "bottleneck", "mnist", "mnist_layers", "models",
          "memory", "memory_optimized", "text", "text_memory", "llama_bf16"]
# The peak-memory groups must run alone in their process; llama_bf16 is ark's only.
DEFAULT_GROUPS = [g for g in GROUPS if g not in ("memory", "memory_optimized", "text_memory", "llama_bf16")]

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--reps", type=int, default=0, help="samples per case (0: the shared policy)")
parser.add_argument("--filter", default="",
                    help="only cases whose group/case contains this; =GROUP/CASE: exactly that case")
parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
parser.add_argument("--max-batches", type=int, default=0,
                    help="mnist: stop an epoch after this many batches (0: whole epoch); for profiling")
parser.add_argument("--list", action="store_true")
parser.add_argument("--list-cases", action="store_true", help="print the cases' names instead of running them")
parser.add_argument("--step", action="store_true", help="lock-step with the other side (tools/bench/paired.py)")
parser.add_argument("groups", nargs="*")
args = parser.parse_args()
if args.list:
    print("\n".join(GROUPS))
    sys.exit(0)
for g in args.groups:
    if g not in GROUPS:
        sys.exit(f"torch_bench: unknown group '{g}' (groups: {' '.join(GROUPS)})")

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)
os.environ["OMP_WAIT_POLICY"] = "passive"

import torch  # noqa: E402  (after the environment above, on purpose)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(0)

# ---- the timing policy of bench_common.h, line for line ----
WARMUP_SECONDS = 0.2
SAMPLE_SECONDS = 0.02


def time_case(f):
    best = 1e30
    warm0 = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() - warm0 >= WARMUP_SECONDS:
            break
    inner = max(1, math.ceil(SAMPLE_SECONDS / max(best, 1e-9)))
    reps = args.reps if args.reps > 0 else 11 if best < 1e-3 else 5 if best > 1.0 else 7
    per_call = []
    for _ in range(reps):
        lockstep("#sample")
        t0 = time.perf_counter()
        for _ in range(inner):
            f()
        per_call.append((time.perf_counter() - t0) * 1e3 / inner)
    per_call.sort()
    return per_call[len(per_call) // 2], per_call[0], per_call[-1]


_named = set()


def selected(group, name):
    case = f"{group}/{name}"
    if args.list_cases:
        if case not in _named:
            _named.add(case)
            print(case, flush=True)
        return False
    if args.filter.startswith("="):
        return case == args.filter[1:]
    return not args.filter or args.filter in case


def wait_for_idle_threads(limit_s=0.1):
    """Waits, up to limit_s, until every other thread of this process is off the CPU (bench_common.h's
    wait_for_idle_threads: a pool's threads spin for work a while after a parallel region)."""
    import threading
    self_tid, t0 = str(threading.get_native_id()), time.perf_counter()
    while True:
        busy = False
        for tid in os.listdir("/proc/self/task"):
            if tid == self_tid:
                continue
            try:
                with open(f"/proc/self/task/{tid}/stat") as f:
                    stat = f.read()
            except OSError:
                continue  # the thread has ended
            busy = busy or stat[stat.rfind(")") + 2:][:1] == "R"
        if not busy or time.perf_counter() - t0 >= limit_s:
            return time.perf_counter() - t0
        time.sleep(0.0002)


def lockstep(marker="#step"):
    """--step: the marker, then wait for a line on stdin ("#step" at start and after each case, "#sample" before
    each timed sample; ark_bench.cpp's lockstep()). First this process's threads must be idle, so that none
    spins into the other side's turn."""
    if args.step:
        wait_for_idle_threads()
        print(marker, flush=True)
        if not sys.stdin.readline():
            sys.exit(0)  # the controller is gone


def emit(line):
    """One result line, then the lock-step pause."""
    print(line, flush=True)
    lockstep()


def run_case(group, name, f, flops=0.0, nbytes=0.0):
    if not selected(group, name):
        return
    med, lo, hi = time_case(f)
    gflops = f"{flops / (med * 1e-3) * 1e-9:.2f}" if flops > 0 else ""
    gbps = f"{nbytes / (med * 1e-3) * 1e-9:.2f}" if nbytes > 0 else ""
    emit(f"torch,{group},{name},{med:.6f},{lo:.6f},{hi:.6f},{gflops},{gbps}")


# ---- overhead ----
def bench_overhead():
    a, b = torch.randn(64), torch.randn(64)
    run_case("overhead", "add64", lambda: torch.add(a, b))
    ag = torch.randn(64).requires_grad_()
    run_case("overhead", "add64_autograd", lambda: torch.add(ag, b))

    def inference():
        with torch.inference_mode():
            torch.add(a, b)
    run_case("overhead", "add64_inference", inference)


# ---- matmul ----
def bench_matmul():
    with torch.inference_mode():
        for m, k, n in ((1024, 1024, 1024), (4096, 768, 768)):
            shape = f"{m}x{k}x{n}"
            flops = 2.0 * m * k * n
            a, b, w = torch.randn(m, k), torch.randn(k, n), torch.randn(n, k)
            run_case("matmul", "mm_" + shape, lambda: torch.mm(a, b), flops)
            run_case("matmul", "linear_" + shape, lambda: F.linear(a, w), flops)


# ---- eltwise ----
def bench_eltwise():
    with torch.inference_mode():
        n = 1 << 20
        fb = 4.0 * n
        x, y = torch.randn(n), torch.randn(n)
        pos = torch.rand(n) + 0.5
        m, m2, row = torch.randn(1024, 1024), torch.randn(1024, 1024), torch.randn(1024)
        acc = x.clone()
        g = "eltwise"
        run_case(g, "add", lambda: torch.add(x, y), 0, 3 * fb)
        run_case(g, "sub", lambda: torch.sub(x, y), 0, 3 * fb)
        run_case(g, "mul", lambda: torch.mul(x, y), 0, 3 * fb)
        run_case(g, "div", lambda: torch.div(x, y), 0, 3 * fb)
        run_case(g, "add_scalar", lambda: torch.add(x, 1.0), 0, 2 * fb)
        run_case(g, "add_inplace", lambda: acc.add_(y), 0, 3 * fb)
        run_case(g, "add_bcast_row", lambda: torch.add(m, row), 0, 2 * fb)
        run_case(g, "add_transposed", lambda: torch.add(m.t(), m2), 0, 3 * fb)
        run_case(g, "contiguous_transposed", lambda: m.t().contiguous(), 0, 2 * fb)
        run_case(g, "exp", lambda: torch.exp(x), 0, 2 * fb)
        run_case(g, "log", lambda: torch.log(pos), 0, 2 * fb)
        run_case(g, "sqrt", lambda: torch.sqrt(pos), 0, 2 * fb)
        run_case(g, "tanh", lambda: torch.tanh(x), 0, 2 * fb)
        run_case(g, "sigmoid", lambda: torch.sigmoid(x), 0, 2 * fb)
        run_case(g, "relu", lambda: torch.relu(x), 0, 2 * fb)
        run_case(g, "gelu", lambda: F.gelu(x), 0, 2 * fb)
        run_case(g, "gelu_tanh", lambda: F.gelu(x, approximate="tanh"), 0, 2 * fb)
        run_case(g, "silu", lambda: F.silu(x), 0, 2 * fb)
        run_case(g, "sum", lambda: torch.sum(x), 0, fb)
        run_case(g, "mean", lambda: torch.mean(x), 0, fb)
        run_case(g, "max", lambda: torch.max(x), 0, fb)
        run_case(g, "var", lambda: torch.var(x), 0, fb)
        run_case(g, "sum_dim0", lambda: torch.sum(m, 0), 0, fb)
        run_case(g, "sum_dim1", lambda: torch.sum(m, 1), 0, fb)
        run_case(g, "max_dim1", lambda: torch.max(m, 1), 0, fb)
        run_case(g, "softmax_dim1", lambda: torch.softmax(m, 1), 0, 2 * fb)
        run_case(g, "log_softmax_dim1", lambda: torch.log_softmax(m, 1), 0, 2 * fb)


# ---- conv: the distinct resnet50 conv shapes (cin, cout, k, stride, pad, input H=W), as ark_bench.cpp ----
RESNET50_CONVS = [
    (3, 64, 7, 2, 3, 224), (64, 64, 1, 1, 0, 56), (64, 64, 3, 1, 1, 56), (64, 256, 1, 1, 0, 56),
    (256, 64, 1, 1, 0, 56), (256, 128, 1, 1, 0, 56), (128, 128, 3, 2, 1, 56), (128, 512, 1, 1, 0, 28),
    (256, 512, 1, 2, 0, 56), (512, 128, 1, 1, 0, 28), (128, 128, 3, 1, 1, 28), (512, 256, 1, 1, 0, 28),
    (256, 256, 3, 2, 1, 28), (256, 1024, 1, 1, 0, 14), (512, 1024, 1, 2, 0, 28), (1024, 256, 1, 1, 0, 14),
    (256, 256, 3, 1, 1, 14), (1024, 512, 1, 1, 0, 14), (512, 512, 3, 2, 1, 14), (512, 2048, 1, 1, 0, 7),
    (1024, 2048, 1, 2, 0, 14), (2048, 512, 1, 1, 0, 7), (512, 512, 3, 1, 1, 7),
]


def bench_conv(batch):
    g = f"conv_b{batch}"
    for cin, cout, k, stride, pad, hw in RESNET50_CONVS:
        ho = (hw + 2 * pad - k) // stride + 1
        fwd_flops = 2.0 * batch * cout * ho * ho * cin * k * k
        shape = f"{cin}x{cout}_k{k}s{stride}p{pad}_{hw}"
        if not selected(g, "fwd_" + shape) and not selected(g, "bwd_" + shape):
            continue
        x, w = torch.randn(batch, cin, hw, hw), torch.randn(cout, cin, k, k) * 0.05
        with torch.inference_mode():
            run_case(g, "fwd_" + shape, lambda: F.conv2d(x, w, None, stride, pad), fwd_flops)
        if not selected(g, "bwd_" + shape):
            continue
        xg, wg = x.detach().requires_grad_(), w.detach().requires_grad_()
        y = F.conv2d(xg, wg, None, stride, pad)
        gy = torch.randn(y.shape)
        run_case(g, "bwd_" + shape, lambda: torch.autograd.grad([y], [xg, wg], [gy], retain_graph=True), 2 * fwd_flops)


# ---- bottleneck: torchvision's own class ----
def bench_bottleneck():
    from torchvision.models.resnet import Bottleneck, conv1x1
    batch = 16
    for name, inplanes, planes, stride, hw in (("layer2.0_256-128-512_s2_56", 256, 128, 2, 56),
                                               ("layer2.1_512-128-512_s1_28", 512, 128, 1, 28)):
        downsample = None
        if stride != 1 or inplanes != planes * 4:
            downsample = nn.Sequential(conv1x1(inplanes, planes * 4, stride), nn.BatchNorm2d(planes * 4))
        block = Bottleneck(inplanes, planes, stride, downsample)
        block.train()
        x = torch.randn(batch, inplanes, hw, hw).requires_grad_()
        ho = hw // stride
        fwd = (2.0 * batch * hw * hw * inplanes * planes + 2.0 * batch * ho * ho * planes * planes * 9 +
               2.0 * batch * ho * ho * planes * planes * 4)
        if downsample is not None:
            fwd += 2.0 * batch * ho * ho * inplanes * planes * 4
        gy = []

        def step():
            block.zero_grad(set_to_none=True)
            x.grad = None
            y = block(x)
            if not gy:
                gy.append(torch.ones(y.shape))
            y.backward(gy[0])
        run_case("bottleneck", "fwd_bwd_b16_" + name, step, 3 * fwd)
    # The resnet stem's max pool, nn.MaxPool2d(3, 2, 1): forward with indices (inference), and
    # forward + backward (the training step's pair). gbps counts input + values + int64 indices.
    for name, n, c, hw in (("b16_c64_112", 16, 64, 112), ("b64_c64_32", 64, 64, 32)):
        ho = (hw - 1) // 2 + 1
        nbytes = 4.0 * n * c * hw * hw + 12.0 * n * c * ho * ho
        xp = torch.randn(n, c, hw, hw)

        def fwd(xp=xp):
            with torch.inference_mode():
                F.max_pool2d(xp, 3, 2, 1, return_indices=True)
        run_case("bottleneck", "maxpool_3x3s2p1_fwd_" + name, fwd, 0, nbytes)
        xg = torch.randn(n, c, hw, hw).requires_grad_()
        gyp = torch.randn(n, c, ho, ho)

        def fwd_bwd(xg=xg, gyp=gyp):
            xg.grad = None
            F.max_pool2d(xg, 3, 2, 1).backward(gyp)
        run_case("bottleneck", "maxpool_3x3s2p1_fwd_bwd_" + name, fwd_bwd)


# ---- mnist: the classic net (pytorch/examples mnist, as the libtorch C++ example) ----
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = x.view(-1, 320)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, p=0.5, training=self.training)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def read_idx(path):
    """An IDX file (plain or .gz) as a uint8 tensor of its stated shape, as libtorch's MNIST reader."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


def find_idx(name):
    for cand in (os.path.join(args.data, name), os.path.join(args.data, name + ".gz")):
        if os.path.exists(cand):
            return cand
    sys.exit(f"torch_bench: {name}(.gz) not found in {args.data}")


def bench_mnist():
    images = read_idx(find_idx("train-images-idx3-ubyte")).float().div_(255).unsqueeze(1)  # (60000, 1, 28, 28)
    targets = read_idx(find_idx("train-labels-idx1-ubyte")).long()
    batch = 64
    n = min(images.shape[0], args.max_batches * batch) if args.max_batches > 0 else images.shape[0]
    suffix = f"_first{args.max_batches}" if args.max_batches > 0 else ""
    net = Net()
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.5)

    def step(data, target):
        opt.zero_grad(set_to_none=True)
        loss = F.nll_loss(net(data), target)
        loss.backward()
        opt.step()

    def epoch():
        perm = torch.randperm(n)
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            data = (images.index_select(0, idx) - 0.1307) / 0.3081
            step(data, targets.index_select(0, idx))
    run_case("mnist", "train_epoch_b64" + suffix, epoch)

    if selected("mnist", "train_epoch_b64_dataloader" + suffix):
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, targets), batch_size=batch,
                                             shuffle=True)

        def loader_epoch():
            for i, (data, target) in enumerate(loader):
                step((data - 0.1307) / 0.3081, target)
                if i + 1 == args.max_batches:
                    break
        run_case("mnist", "train_epoch_b64_dataloader" + suffix, loader_epoch)


def bench_mnist_layers():
    """The MNIST step cut into layers at batch 64, as ark_bench.cpp's bench_mnist_layers."""
    g, b = "mnist_layers", 64

    def fwd_bwd(name, fwd, wrt):
        run_case(g, name + "_fwd", fwd)
        if not selected(g, name + "_bwd"):
            return
        y = fwd()
        gy = torch.randn(y.shape)
        run_case(g, name + "_bwd", lambda: torch.autograd.grad([y], wrt, [gy], retain_graph=True))

    def param(*size):
        return (torch.randn(*size) * 0.1).requires_grad_()
    x1, w1, b1 = torch.randn(b, 1, 28, 28), param(10, 1, 5, 5), param(10)
    fwd_bwd("conv1_5x5_1to10_28", lambda: F.conv2d(x1, w1, b1), [w1, b1])
    p1 = torch.randn(b, 10, 24, 24).requires_grad_()
    fwd_bwd("maxpool1_2x2_10x24x24", lambda: F.max_pool2d(p1, 2), [p1])
    r1 = torch.randn(b, 10, 12, 12).requires_grad_()
    fwd_bwd("relu1_10x12x12", lambda: F.relu(r1), [r1])
    x2, w2, b2 = torch.randn(b, 10, 12, 12).requires_grad_(), param(20, 10, 5, 5), param(20)
    fwd_bwd("conv2_5x5_10to20_12", lambda: F.conv2d(x2, w2, b2), [x2, w2, b2])
    d2 = torch.randn(b, 20, 8, 8).requires_grad_()
    fwd_bwd("dropout2d_20x8x8", lambda: F.dropout2d(d2, p=0.5, training=True), [d2])
    p2 = torch.randn(b, 20, 8, 8).requires_grad_()
    fwd_bwd("maxpool2_2x2_20x8x8", lambda: F.max_pool2d(p2, 2), [p2])
    h, wf1, bf1 = torch.randn(b, 320).requires_grad_(), param(50, 320), param(50)
    fwd_bwd("fc1_320to50", lambda: F.linear(h, wf1, bf1), [h, wf1, bf1])
    d = torch.randn(b, 50).requires_grad_()
    fwd_bwd("dropout_50", lambda: F.dropout(d, p=0.5, training=True), [d])
    z, target = torch.randn(b, 10).requires_grad_(), torch.randint(0, 10, (b,))
    fwd_bwd("log_softmax_nll_10", lambda: F.nll_loss(F.log_softmax(z, 1), target), [z])

    net = Net()
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.5)
    for p in net.parameters():
        p.grad = torch.randn(p.shape) * 0.01
    run_case(g, "sgd_step", opt.step)
    data, labels = torch.randn(b, 1, 28, 28), torch.randint(0, 10, (b,))

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = F.nll_loss(net(data), labels)
        loss.backward()
        opt.step()
    run_case(g, "train_step", train_step)


# FLOPs: 2 x the multiply-adds torchvision 0.14 documents (its "GFLOPS" column counts MACs).
MODEL_FLOPS = {"resnet50": 2 * 4.09e9, "resnet18": 2 * 1.81e9, "vit_b_16": 2 * 17.56e9, "mobilenet_v2": 2 * 0.30e9}


def bench_models():
    """Whole torchvision models at 224x224, as ark_bench.cpp's bench_models."""
    import torchvision

    for arch, batch in (("resnet50", 1), ("resnet50", 16), ("resnet18", 1), ("vit_b_16", 1), ("mobilenet_v2", 1)):
        name = f"{arch}_b{batch}"
        if not selected("models", name):
            continue
        model = getattr(torchvision.models, arch)().eval()
        x = torch.randn(batch, 3, 224, 224)

        def fwd():
            with torch.inference_mode():
                model(x)

        run_case("models", name, fwd, MODEL_FLOPS[arch] * batch)
    if selected("models", "resnet18_train_b16"):
        model = torchvision.models.resnet18().train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x, labels = torch.randn(16, 3, 224, 224), torch.randint(0, 1000, (16,))

        def step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), labels).backward()
            opt.step()

        run_case("models", "resnet18_train_b16", step, 3 * MODEL_FLOPS["resnet18"] * 16)


def status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return float(line.split()[1]) / 1024.0
    return 0.0


def resnet50_peak(group, optimized):
    """Peak RSS added by building resnet50 and 5 batch-1 forwards, as ark_bench.cpp's resnet50_peak;
    optimized: PyTorch's counterpart of ark's nn::optimize_for_inference, the scripted model frozen
    and passed through torch.jit.optimize_for_inference (convolutions prepacked for MKLDNN)."""
    import torchvision

    if not selected(group, "resnet50_b1_peak_mb"):
        return
    with torch.inference_mode():
        F.conv2d(torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3))
    base = status_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    model = torchvision.models.resnet50().eval()
    if optimized:
        with torch.no_grad():
            model = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(model)))
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        for _ in range(5):
            model(x)
    peak = status_mb("VmHWM") - base
    emit(f"torch,{group},resnet50_b1_peak_mb,{peak:.6f},{peak:.6f},{peak:.6f},,")


def bench_memory():
    resnet50_peak("memory", False)


def bench_memory_optimized():
    resnet50_peak("memory_optimized", True)


# ---- text: the plain-PyTorch Hugging Face structured references of tools/reference ----

def reference_module(name):
    ref = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference")
    if ref not in sys.path:
        sys.path.insert(0, ref)
    return __import__(name)


def bert_flops(batch, length):
    per_token = 12 * 2.0 * (4.0 * 768 * 768 + 2.0 * 768 * 3072) + 12 * 4.0 * length * 768
    return per_token * batch * length


def gpt2_cached_step(model):
    """HF's cached GPT-2 forward, as tools/reference/text_decoders.py writes it."""
    return reference_module("text_decoders").gpt2_cached_step(model)


def bench_text():
    """BERT-base and GPT-2 small, as ark_bench.cpp's bench_text."""
    from types import SimpleNamespace
    enc = reference_module("text_encoders")
    length = 128
    for batch in (1, 8):
        name = f"bert_b{batch}_s128"
        if not selected("text", name):
            continue
        model = enc.BertModel(SimpleNamespace(**enc.BERT_BASE)).eval()
        ids, mask = torch.randint(1, 30522, (batch, length)), torch.ones(batch, length, dtype=torch.long)

        def fwd():
            with torch.inference_mode():
                model(ids, mask)

        run_case("text", name, fwd, bert_flops(batch, length))
    if selected("text", "bert_train_b8_s128"):
        model = enc.BertForSequenceClassification(SimpleNamespace(**enc.BERT_BASE)).train()
        opt = torch.optim.AdamW(model.parameters(), lr=2e-5)
        ids, mask = torch.randint(1, 30522, (8, length)), torch.ones(8, length, dtype=torch.long)
        labels = torch.randint(0, 2, (8,))

        def train_step():
            opt.zero_grad(set_to_none=True)
            loss = model(ids, mask, None, labels)[0]
            loss.backward()
            opt.step()

        run_case("text", "bert_train_b8_s128", train_step, 3 * bert_flops(8, length))
    if selected("text", "gpt2_prefill_32") or selected("text", "gpt2_decode_tok"):
        dec = reference_module("text_decoders")
        model = dec.GPT2LMHeadModel(dec.gpt2_config()).eval()
        step = gpt2_cached_step(model)
        prompt = torch.randint(0, 50257, (1, 32))

        def prefill():
            with torch.no_grad():
                step(prompt, None, 0)

        run_case("text", "gpt2_prefill_32", prefill)
        if selected("text", "gpt2_decode_tok"):
            nbytes = sum(p.numel() for p in model.parameters()) * 4
            per_token = []
            with torch.no_grad():
                for r in range(6):  # the first round warms up
                    logits, past = step(prompt, None, 0)
                    tok = logits[:, -1].argmax(-1, keepdim=True)
                    t0 = time.perf_counter()
                    for i in range(64):
                        logits, past = step(tok, past, 32 + i)
                        tok = logits[:, -1].argmax(-1, keepdim=True)
                    if r > 0:
                        per_token.append((time.perf_counter() - t0) * 1e3 / 64)
            per_token.sort()
            med = per_token[len(per_token) // 2]
            emit(f"torch,text,gpt2_decode_tok,{med:.6f},{per_token[0]:.6f},{per_token[-1]:.6f},,"
                 f"{nbytes / (med * 1e-3) * 1e-9:.2f}")


def bench_text_memory():
    """Peak RSS added by building GPT-2 small and generating 64 tokens, as ark_bench.cpp's."""
    if not selected("text_memory", "gpt2_generate_peak_mb"):
        return
    with torch.inference_mode():
        torch.randn(4, 8) @ torch.randn(8, 4)
    base = status_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    dec = reference_module("text_decoders")
    model = dec.GPT2LMHeadModel(dec.gpt2_config()).eval()
    step = gpt2_cached_step(model)
    prompt = torch.tensor([[(i * 7919) % 50257 for i in range(32)]])
    with torch.no_grad():
        logits, past = step(prompt, None, 0)
        tok = logits[:, -1].argmax(-1, keepdim=True)
        for i in range(64):
            logits, past = step(tok, past, 32 + i)
            tok = logits[:, -1].argmax(-1, keepdim=True)
    peak = status_mb("VmHWM") - base
    emit(f"torch,text_memory,gpt2_generate_peak_mb,{peak:.6f},{peak:.6f},{peak:.6f},,")


def main():
    if not args.list_cases:
        print(f"# side,group,case,median_ms,min_ms,max_ms,gflops,gbps (threads={args.threads}, torch {torch.__version__})")
    lockstep()
    table = {"overhead": bench_overhead, "matmul": bench_matmul, "eltwise": bench_eltwise,
             "conv_b1": lambda: bench_conv(1), "conv_b16": lambda: bench_conv(16),
             "bottleneck": bench_bottleneck, "mnist": bench_mnist, "mnist_layers": bench_mnist_layers,
             "models": bench_models, "memory": bench_memory, "memory_optimized": bench_memory_optimized, "text": bench_text,
             "text_memory": bench_text_memory, "llama_bf16": lambda: None}
    for g in GROUPS:
        if g in args.groups or (not args.groups and g in DEFAULT_GROUPS):
            table[g]()


if __name__ == "__main__":
    main()
