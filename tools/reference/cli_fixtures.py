"""Fixtures for the `ark inspect` / `ark convert` tests (tests/apps/test_cli.cpp).

Usage: cli_fixtures.py OUT_DIR
Writes into OUT_DIR (atomically: a temp folder renamed in):
  small.pth          torch.save of a small state dict (zip format) with several dtypes, a shared
                     storage and a non-contiguous view
  small_legacy.pth   the same, legacy (pre-1.6) format
  small.json         names, dtypes, shapes and values of the state dict above
  resnet18.pth       torchvision 0.14 resnet18(num_classes=10), seeded random weights (zip)
  resnet18.json      its state_dict keys and shapes
  small.h5           a Keras 2 weights-only file (layer_names / weight_names attributes), via h5py
  tfjs/model.json    a TF.js layers-model manifest with one float32 and one uint8-quantized weight,
  tfjs/group1-shard1of1.bin
"""
import json
import os
import shutil
import struct
import sys

import numpy as np
import torch
import torchvision


def main(out):
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    torch.manual_seed(0)

    base = torch.randn(4, 6)
    sd = {
        "linear.weight": base,
        "linear.weight_t": base.t(),  # shares base's storage, strides (1, 6)
        "linear.bias": torch.randn(4).double(),
        "emb.half": torch.randn(3, 2).half(),
        "emb.bf16": torch.randn(5).bfloat16(),
        "counts": torch.arange(7, dtype=torch.int64),
        "mask": torch.tensor([True, False, True]),
    }
    torch.save(sd, os.path.join(tmp, "small.pth"))
    torch.save(sd, os.path.join(tmp, "small_legacy.pth"), _use_new_zipfile_serialization=False)
    desc = {
        k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape),
            "values": v.double().flatten().tolist()}
        for k, v in sd.items()
    }
    with open(os.path.join(tmp, "small.json"), "w") as f:
        json.dump(desc, f)

    model = torchvision.models.resnet18(num_classes=10).eval()
    torch.save(model.state_dict(), os.path.join(tmp, "resnet18.pth"))
    with open(os.path.join(tmp, "resnet18.json"), "w") as f:
        json.dump({k: list(v.shape) for k, v in model.state_dict().items()}, f)

    import h5py  # Debian python3-h5py

    rng = np.random.default_rng(0)
    with h5py.File(os.path.join(tmp, "small.h5"), "w") as f:
        f.attrs["keras_version"] = b"2.11.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["layer_names"] = np.array([b"Conv1", b"Logits"])
        g = f.create_group("Conv1")
        g.attrs["weight_names"] = np.array([b"Conv1/kernel:0"])
        g.create_dataset("Conv1/kernel:0", data=rng.standard_normal((3, 3, 3, 8)).astype(np.float32))
        g = f.create_group("Logits")
        g.attrs["weight_names"] = np.array([b"Logits/kernel:0", b"Logits/bias:0"])
        g.create_dataset("Logits/kernel:0", data=rng.standard_normal((8, 5)).astype(np.float32))
        g.create_dataset("Logits/bias:0", data=rng.standard_normal(5).astype(np.float32))

    os.makedirs(os.path.join(tmp, "tfjs"))
    dense = rng.standard_normal((4, 3)).astype(np.float32)
    quant = np.arange(6, dtype=np.uint8)
    with open(os.path.join(tmp, "tfjs", "group1-shard1of1.bin"), "wb") as f:
        f.write(dense.astype("<f4").tobytes())
        f.write(quant.tobytes())
    manifest = {
        "format": "layers-model",
        "modelTopology": {"class_name": "Sequential"},
        "weightsManifest": [{
            "paths": ["group1-shard1of1.bin"],
            "weights": [
                {"name": "dense/kernel", "shape": [4, 3], "dtype": "float32"},
                {"name": "dense/bias", "shape": [6], "dtype": "float32",
                 "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}},
            ],
        }],
    }
    with open(os.path.join(tmp, "tfjs", "model.json"), "w") as f:
        json.dump(manifest, f)

    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)


if __name__ == "__main__":
    main(sys.argv[1])
