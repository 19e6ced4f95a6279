"""Writing Hugging Face model folders from plain PyTorch (Debian ships neither transformers nor
safetensors): config.json plus the weights as model.safetensors, a sharded
model.safetensors.index.json, or pytorch_model.bin (torch.save of the state dict), the layouts
transformers' save_pretrained produces. Shared by the text-model reference scripts."""
import json
import os
import shutil

import torch

import safetensors_py


def _write_config(folder, config):
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)


def save_folder(folder, state_dict, config, fmt="safetensors", dtype=None, shards=1):
    """Writes `folder` atomically (a temp folder renamed into place).
    fmt: "safetensors" (model.safetensors, or `shards` files + model.safetensors.index.json) or
    "bin" (pytorch_model.bin, or `shards` files + pytorch_model.bin.index.json).
    dtype: cast floating tensors first (torch.float16 / torch.bfloat16), as torch_dtype does."""
    tmp = folder + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    sd = {}
    for k, v in state_dict.items():
        v = v.detach().contiguous().clone()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        sd[k] = v
    config = dict(config)
    if dtype is not None:
        config["torch_dtype"] = str(dtype).replace("torch.", "")
    _write_config(tmp, config)
    ext = "safetensors" if fmt == "safetensors" else "bin"
    base = "model" if fmt == "safetensors" else "pytorch_model"

    def write(path, part):
        if fmt == "safetensors":
            safetensors_py.save(path, part, {"format": "pt"})
        else:
            torch.save(part, path)

    if shards == 1:
        write(os.path.join(tmp, "%s.%s" % (base, ext)), sd)
    else:
        keys = list(sd.keys())
        per = (len(keys) + shards - 1) // shards
        weight_map, total = {}, 0
        for i in range(shards):
            name = "%s-%05d-of-%05d.%s" % (base, i + 1, shards, ext)
            part = {k: sd[k] for k in keys[i * per:(i + 1) * per]}
            write(os.path.join(tmp, name), part)
            for k, v in part.items():
                weight_map[k] = name
                total += v.numel() * v.element_size()
        with open(os.path.join(tmp, "%s.%s.index.json" % (base, ext)), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def randomise_(model, gen):
    """Seeded, non-trivial weights: every matrix N(0, 1/fan_in) (activations stay O(1)), biases N(0, 0.1), LayerNorm weights
    U(0.5, 1.5); embeddings N(0, 1) (their LayerNorm follows). HF's init (N(0, 0.02), zero biases)
    would leave outputs nearly independent of many parameters."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or "layer_norm" in name:
                if name.endswith("weight"):
                    p.copy_(torch.empty_like(p).uniform_(0.5, 1.5, generator=gen))
                else:
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            elif "embeddings" in name:
                p.copy_(torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5)
