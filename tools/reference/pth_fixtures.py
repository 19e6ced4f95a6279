"""Real torch.save checkpoints for ark's .pth reader and load_weights tests, written by PyTorch 1.13.

Writes, next to OUT (a JSON manifest), a folder OUT minus ".json" holding:
  zip.pth, legacy.pth, proto4.pth   one state dict (every dtype, shared-storage views, a Parameter,
                                    a tied entry, 0-d and empty tensors) in the zip format, the legacy
                                    format and the zip format with pickle protocol 4
  nested.pth, nested_legacy.pth     {'state_dict': ..., 'optimizer': SGD state, 'epoch': 3, ...}
  model.pth, pytorch_model.bin      a small model's state_dict (Linear, BatchNorm1d, Linear), the second
  model.safetensors                 named as Hugging Face names it; the same weights as safetensors
  model_nested.pth, model_dp.pth    the same under {'model': sd, 'epoch': 2} (torchvision's recipes), and
                                    with nn.DataParallel's "module." prefix
  model_io.safetensors              an input and the model's eval-mode output
  expected.safetensors              the state dict's values, contiguous, under the same keys
  int16.pth, int8.pth               dtypes ark refuses
  malicious.pth, malicious_legacy.pth  a tensor plus an object whose unpickling would run
                                    os.system('touch <folder>/CANARY') (nothing runs it here)
  torchscript.pt                    torch.jit.save output
The manifest records each state-dict tensor's shape, stride, storage offset and dtype as PyTorch
sees them, and which keys share a storage.

Run: /usr/bin/python3 tools/reference/pth_fixtures.py OUT.json
"""
import collections
import json
import os
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import safetensors_py  # noqa: E402


class Evil:
    """Pickles as os.system(cmd): what a malicious checkpoint carries."""

    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def state_dict():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(4, 6, generator=g)
    sd = collections.OrderedDict()
    sd["f32"] = base
    sd["f32_every_other"] = base[:, ::2]  # a view: stride (6, 2)
    sd["f32_t"] = base.t()                # stride (1, 6)
    sd["f32_row"] = base[1]               # storage offset 6
    sd["f64"] = torch.randn(3, generator=g, dtype=torch.float64)
    sd["f16"] = torch.randn(5, generator=g).half()
    sd["bf16"] = torch.randn(2, 3, generator=g).bfloat16()
    sd["i64"] = torch.arange(-3, 4)
    sd["i32"] = torch.tensor([-2**31, 0, 2**31 - 1], dtype=torch.int32)
    sd["u8"] = torch.arange(0, 256, 51, dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(2, 0)
    sd["param"] = torch.nn.Parameter(torch.randn(3, generator=g))
    sd["tied"] = sd["f32"]                # the same tensor object twice
    return sd


def model():
    torch.manual_seed(1)
    m = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    with torch.no_grad():  # non-trivial BatchNorm buffers
        m[1].running_mean.copy_(torch.randn(3))
        m[1].running_var.copy_(torch.rand(3) + 0.5)
        m[1].num_batches_tracked.fill_(7)
    return m.eval()


def main():
    out = sys.argv[1]
    folder = out[:-5] if out.endswith(".json") else out + ".d"
    os.makedirs(folder, exist_ok=True)
    path = lambda name: os.path.join(folder, name)  # noqa: E731

    sd = state_dict()
    torch.save(sd, path("zip.pth"))
    torch.save(sd, path("legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save(sd, path("proto4.pth"), pickle_protocol=4)
    with open(path("expected.safetensors"), "wb") as f:
        f.write(safetensors_py.serialize({k: v.detach() for k, v in sd.items()}))

    small = collections.OrderedDict((k, sd[k]) for k in ["f32", "f32_t", "i64", "param"])
    net = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.ones(1, 2)).sum().backward()
    opt.step()
    nested = {"state_dict": small, "optimizer": opt.state_dict(), "epoch": 3, "best_acc": 0.75, "arch": "tiny"}
    torch.save(nested, path("nested.pth"))
    torch.save(nested, path("nested_legacy.pth"), _use_new_zipfile_serialization=False)

    m = model()
    torch.save(m.state_dict(), path("model.pth"))
    torch.save(m.state_dict(), path("pytorch_model.bin"))
    with open(path("model.safetensors"), "wb") as f:
        f.write(safetensors_py.serialize(m.state_dict()))
    torch.save({"model": m.state_dict(), "epoch": 2}, path("model_nested.pth"))
    torch.save(torch.nn.DataParallel(m).state_dict(), path("model_dp.pth"))
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y = m(x)
    with open(path("model_io.safetensors"), "wb") as f:
        f.write(safetensors_py.serialize({"x": x, "y": y}))

    torch.save({"x": torch.arange(4, dtype=torch.int16)}, path("int16.pth"))
    torch.save({"x": torch.arange(4, dtype=torch.int8)}, path("int8.pth"))

    canary = path("CANARY")
    if os.path.exists(canary):
        os.remove(canary)
    evil = {"weight": torch.ones(2), "payload": Evil("touch " + canary)}
    torch.save(evil, path("malicious.pth"))
    torch.save(evil, path("malicious_legacy.pth"), _use_new_zipfile_serialization=False)
    assert not os.path.exists(canary)

    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path("torchscript.pt"))

    tensors = {}
    for k, v in sd.items():
        tensors[k] = {"shape": list(v.shape), "stride": list(v.stride()), "offset": v.storage_offset(),
                      "dtype": str(v.dtype).replace("torch.", "")}
    shares = [["f32", "f32_every_other", "f32_t", "f32_row", "tied"]]
    manifest = {"folder": folder, "canary": canary, "tensors": tensors, "shares": shares,
                "model_keys": list(m.state_dict().keys()), "torch": torch.__version__}
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
