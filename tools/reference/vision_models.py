"""Reference data for ark's ResNet and ViT families (tests/models/test_registry_parity.cpp,
test_vit.cpp, test_registry.cpp).

Run with Debian's Python (PyTorch 1.13, torchvision 0.14):
    /usr/bin/python3 tools/reference/vision_models.py OUT.safetensors MODEL
MODEL: resnet18, resnet50, resnext50_32x4d, wide_resnet50_2, vit_b_16; or `keys` (below).

The torchvision model is built with a fixed seed, then made non-trivial:
  * ResNet: BatchNorm affine parameters are randomised, then the running statistics are set from
    one train-mode pass over random images (so eval-mode activations stay O(1) through 50
    layers) and perturbed, so eval-mode BN differs from train-mode BN.
  * ViT: the parameters torchvision starts at zero or near zero (class token, head, attention and
    MLP biases, LayerNorm affine) are randomised.
Written (generated at test time into the build tree, never committed):
  OUT.zip.pth, OUT.legacy.pth   (OUT without ".safetensors") the model's state_dict saved with
                       torch.save in the zip format and in the legacy format
                       (_use_new_zipfile_serialization=False): what ark::load_weights reads
  OUT.safetensors      written last (its presence means the .pth files are complete):
    input              (2, 3, S, S) images: S = 64 for ResNets (every layer still runs, 2x2 at
                       layer4; 12x cheaper than 224), 224 for ViT (its checkpoint's size)
    eval.logits        logits in eval mode (no_grad)
    train.target       (2, num_classes) random weights of the loss sum(logits * target)
    train.logits       logits in train mode (batch statistics for BN)
    grad.<param>       d loss / d param for a handful of parameters (first conv, middle, head)
    after.<buffer>     BN running statistics after the train-mode forward
  ResNet only:
    train64.logits, grad64.<param>   the same train step in float64 (model.double() on the same
                       weights): float32 gradients behind ReLUs are ill-conditioned (a
                       pre-activation within rounding of 0 flips the kink; see
                       test_registry_parity.cpp). ViT needs none (GELU is smooth).
  ViT only (position-embedding interpolation, torchvision's interpolate_embeddings):
    pos384             encoder.pos_embedding resized for 384x384 input (bicubic, align_corners)
    input112, eval112.logits   a (2, 3, 112, 112) batch and the logits of the 112 model built
                       from the 224 weights with its resized (7x7) position embedding

`keys` writes text instead, one line per state_dict entry of every torchvision architecture ark
registers from these families, in state_dict() order: "<model> <key> <d0,d1,...>" ("-" for a
scalar), for tests/models/test_registry.cpp.
"""
import copy
import os
import sys

import torch
import torchvision
from torchvision.models import vision_transformer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_py  # noqa: E402  (the shared hand-written safetensors writer)

torch.set_num_threads(1)  # one accumulation order, run to run

IMAGE_SIZE = {"resnet": 64, "vit": 224}


def randomise_resnet(model, gen, image_size):
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.copy_(torch.empty_like(bn.weight).uniform_(0.5, 1.5, generator=gen))
            bn.bias.copy_(torch.randn(bn.bias.shape, generator=gen) * 0.1)
            bn.momentum = None  # cumulative average: one pass sets the statistics of that pass
            bn.reset_running_stats()
        model.train()
        # 16 images: enough samples per channel at layer4 (2x2 maps at 64x64) for statistics that
        # keep eval-mode activations O(1) rather than amplified by a noisy small variance.
        model(torch.randn(16, 3, image_size, image_size, generator=gen))
        for bn in bns:
            std = bn.running_var.sqrt()
            bn.running_mean.add_(torch.randn(bn.running_mean.shape, generator=gen) * 0.1 * std)
            bn.running_var.mul_(torch.empty_like(bn.running_var).uniform_(0.8, 1.25, generator=gen))
            bn.momentum = 0.1


def randomise_vit(model, gen, image_size):
    del image_size
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "class_token" or name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
            elif ".ln" in name and name.endswith("weight"):
                p.copy_(1 + torch.randn(p.shape, generator=gen) * 0.1)
        head = model.heads.head
        bound = head.in_features ** -0.5
        head.weight.copy_(torch.empty_like(head.weight).uniform_(-bound, bound, generator=gen))


def grad_names(model, family):
    names = [n for n, _ in model.named_parameters()]
    n = len(names)
    picked = names[:3] + [names[n // 3], names[n // 2], names[2 * n // 3]] + names[-4:]
    if family == "resnet":
        picked += ["layer3.0.downsample.0.weight", "layer4.0.bn1.weight"]
    else:
        picked += ["encoder.pos_embedding", "encoder.layers.encoder_layer_5.self_attention.in_proj_weight",
                   "encoder.layers.encoder_layer_5.self_attention.out_proj.weight",
                   "encoder.layers.encoder_layer_5.mlp.0.weight", "encoder.layers.encoder_layer_5.mlp.3.bias"]
    return sorted(set(picked))


KEY_MODELS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2",
              "vit_b_16", "vit_b_32", "vit_l_16"]


def write_keys(out_path):
    # Only names and shapes are needed: skip the initialisers (vit_l_16 alone has 300M parameters
    # to fill), leaving the tensors uninitialised.
    def skip(tensor, *args, **kwargs):
        return tensor
    for fn in ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "xavier_uniform_",
               "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"):
        setattr(torch.nn.init, fn, skip)
    lines = []
    for name in KEY_MODELS:
        model = getattr(torchvision.models, name)()
        for k, v in model.state_dict().items():
            lines.append("%s %s %s" % (name, k, ",".join(str(d) for d in v.shape) or "-"))
    with open(out_path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(out_path + ".tmp", out_path)


def save_atomically(obj, path, **kwargs):
    torch.save(obj, path + ".tmp", **kwargs)
    os.replace(path + ".tmp", path)


def main():
    out_path, name = sys.argv[1], sys.argv[2]
    if name == "keys":
        return write_keys(out_path)
    base = out_path[:-len(".safetensors")] if out_path.endswith(".safetensors") else out_path
    family = "vit" if name.startswith("vit") else "resnet"
    size = IMAGE_SIZE[family]
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    model = getattr(torchvision.models, name)()
    (randomise_vit if family == "vit" else randomise_resnet)(model, gen, size)

    state = copy.deepcopy(model.state_dict())
    save_atomically(state, base + ".zip.pth")
    save_atomically(state, base + ".legacy.pth", _use_new_zipfile_serialization=False)

    out = {}
    x = torch.randn(2, 3, size, size, generator=gen)
    out["input"] = x
    model.eval()
    with torch.no_grad():
        out["eval.logits"] = model(x)

    target = torch.randn(2, 1000, generator=gen)
    out["train.target"] = target
    # The train step in float32, and for ResNets again in float64 from the same float32 weights.
    steps = [(model, "", torch.float32)]
    if family == "resnet":
        steps.append((copy.deepcopy(model).double(), "64", torch.float64))
    for m, suffix, dtype in steps:
        m.train()
        logits = m(x.to(dtype))
        (logits * target.to(dtype)).sum().backward()
        out["train%s.logits" % suffix] = logits.detach()
        params = dict(m.named_parameters())
        for n in grad_names(m, family):
            out["grad%s.%s" % (suffix, n)] = params[n].grad
    for k, v in model.state_dict().items():
        if "running_" in k:
            out["after." + k] = v.clone()

    if family == "vit":
        out["pos384"] = vision_transformer.interpolate_embeddings(384, 16, dict(state))["encoder.pos_embedding"]
        small = getattr(torchvision.models, name)(image_size=112)
        small.load_state_dict(vision_transformer.interpolate_embeddings(112, 16, dict(state)))
        small.eval()
        x112 = torch.randn(2, 3, 112, 112, generator=gen)
        out["input112"] = x112
        with torch.no_grad():
            out["eval112.logits"] = small(x112)

    meta = {"torch": torch.__version__, "torchvision": torchvision.__version__, "model": name,
            "image_size": str(size), "generator": "tools/reference/vision_models.py"}
    safetensors_py.save(out_path, out, meta)


if __name__ == "__main__":
    main()
