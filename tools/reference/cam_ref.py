"""Reference data for ark's Grad-CAM and attention rollout (tests/models/test_cam.cpp).

Run with Debian's Python (PyTorch 1.13, torchvision 0.14):
    /usr/bin/python3 tools/reference/cam_ref.py OUT.safetensors

Grad-CAM is computed by its formula with PyTorch hooks, as pytorch-grad-cam does: a forward hook
keeps the target layer's output A and registers a tensor hook for dA; backward of logit[target];
weights = mean of dA over (h, w); cam = relu(sum_k weights_k A_k); F.interpolate bilinear
(align_corners=False) to the input size; min-max to [0, 1]. Attention rollout follows
vit-explain (head fusion, drop the lowest entries but never flat index 0, (A + I) / 2, product
over layers, class-token row over the patches) with rows renormalised by their own sums, the
attention probabilities read from nn.MultiheadAttention with need_weights=True.

Written (generated at test time into the build tree, never committed), all float32 unless noted:
  resnet.<key>        torchvision resnet18(num_classes=10), BN randomised as vision_models.py does
  resnet.input        (1, 3, 96, 96); resnet.logits (1, 10)
  gradcam.<case>      (96, 96) heatmap; gradcam.<case>.target (1,) int64, the class explained
                      cases: layer4 (the default layer, top-1 class), layer3 (class 3),
                      layer2.1.conv2 (class 7: behind BN, ReLUs and two stages)
  vit.<key>           torchvision VisionTransformer(image_size=48, patch_size=8, num_layers=3,
                      num_heads=4, hidden_dim=32, mlp_dim=64, num_classes=10), randomised
  vit.input           (1, 3, 48, 48); vit.logits (1, 10)
  vit.attn.<i>        (1, 4, 37, 37) attention probabilities of encoder layer i
  rollout.<case>      (48, 48) heatmap; cases mean_0, mean_0.3, max_0.5, min_0.9 (fusion_discard)
"""
import os
import sys

import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_py  # noqa: E402
from vision_models import randomise_resnet, randomise_vit  # noqa: E402

torch.set_num_threads(1)


def to_heatmap(cam, size):
    up = F.interpolate(cam[None, None].float(), size=size, mode="bilinear", align_corners=False)[0, 0]
    lo, hi = up.min(), up.max()
    return (up - lo) / (hi - lo) if hi > lo else torch.zeros_like(up)


def grad_cam(model, x, layer, target):
    module = dict(model.named_modules())[layer]
    store = {}

    def hook(_m, _inp, out):
        store["A"] = out
        out.register_hook(lambda g: store.__setitem__("dA", g))

    handle = module.register_forward_hook(hook)
    logits = model(x)
    handle.remove()
    if target is None:
        target = int(logits.argmax(1))
    model.zero_grad()
    logits[0, target].backward()
    A, dA = store["A"].detach()[0], store["dA"][0]
    weights = dA.mean(dim=(1, 2))
    cam = torch.relu((weights[:, None, None] * A).sum(0))
    return to_heatmap(cam, x.shape[-2:]), target


def rollout(attentions, fusion, discard_ratio, size):
    T = attentions[0].size(-1)
    result = torch.eye(T, dtype=torch.float64)
    for attn in attentions:
        fused = {"mean": lambda a: a.mean(1), "max": lambda a: a.max(1)[0], "min": lambda a: a.min(1)[0]}[fusion](attn)
        fused = fused[0].clone()
        flat = fused.view(-1)
        _, idx = flat.topk(int(flat.numel() * discard_ratio), -1, False)
        idx = idx[idx != 0]
        flat[idx] = 0
        a = (fused.double() + torch.eye(T, dtype=torch.float64)) / 2
        a = a / a.sum(dim=-1, keepdim=True)
        result = a @ result
    g = int(round((T - 1) ** 0.5))
    return to_heatmap(result[0, 1:].reshape(g, g), size)


def main():
    out_path = sys.argv[1]
    out = {}
    gen = torch.Generator().manual_seed(4321)

    # ---- Grad-CAM on resnet18 ----
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18(num_classes=10)
    randomise_resnet(resnet, gen, 96)
    with torch.no_grad():  # a classifier with some spread, so the classes' maps differ
        resnet.fc.weight.copy_(torch.randn(resnet.fc.weight.shape, generator=gen) * 0.1)
    resnet.eval()
    for k, v in resnet.state_dict().items():
        out["resnet." + k] = v.clone()
    x = torch.randn(1, 3, 96, 96, generator=gen)
    out["resnet.input"] = x
    with torch.no_grad():
        out["resnet.logits"] = resnet(x)
    for case, layer, target in [("layer4", "layer4", None), ("layer3", "layer3", 3),
                                ("layer2.1.conv2", "layer2.1.conv2", 7)]:
        heat, t = grad_cam(resnet, x, layer, target)
        out["gradcam." + case] = heat
        out["gradcam.%s.target" % case] = torch.tensor([t], dtype=torch.int64)

    # ---- attention rollout on a tiny ViT ----
    torch.manual_seed(1)
    vit = torchvision.models.VisionTransformer(image_size=48, patch_size=8, num_layers=3, num_heads=4,
                                               hidden_dim=32, mlp_dim=64, num_classes=10)
    randomise_vit(vit, gen, 48)
    with torch.no_grad():  # sharper attention than the init's near-uniform one, so rollout has structure
        for layer in vit.encoder.layers:
            layer.self_attention.in_proj_weight.mul_(4.0)
    vit.eval()
    for k, v in vit.state_dict().items():
        out["vit." + k] = v.clone()
    xv = torch.randn(1, 3, 48, 48, generator=gen)
    out["vit.input"] = xv

    attentions = []
    for layer in vit.encoder.layers:
        mha = layer.self_attention
        orig = mha.forward

        def forward(*args, orig=orig, **kwargs):  # torchvision passes query=, key=, value= by name
            kwargs.update(need_weights=True, average_attn_weights=False)
            o, w = orig(*args, **kwargs)
            attentions.append(w.detach())
            return o, w
        mha.forward = forward
    with torch.no_grad():
        out["vit.logits"] = vit(xv)
    for i, a in enumerate(attentions):
        out["vit.attn.%d" % i] = a
    for fusion, ratio in [("mean", 0.0), ("mean", 0.3), ("max", 0.5), ("min", 0.9)]:
        out["rollout.%s_%g" % (fusion, ratio)] = rollout(attentions, fusion, ratio, (48, 48))

    meta = {"torch": torch.__version__, "torchvision": torchvision.__version__,
            "generator": "tools/reference/cam_ref.py"}
    safetensors_py.save(out_path, out, meta)


if __name__ == "__main__":
    main()
