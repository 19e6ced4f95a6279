"""Reference for `ark predict` and `ark eval` (tests/apps/test_cli_predict.cpp, test_cli_eval.cpp).

Usage: predict_ref.py OUT_DIR
Writes into OUT_DIR (atomically: a temp folder renamed in):
  resnet18_2.pth   torchvision 0.14 resnet18(num_classes=2), seeded; BatchNorm running statistics
                   and the head are perturbed so that eval-mode normalisation matters and the two
                   classes get clearly different probabilities
  images/*.png     eight RGB images of different sizes (one stored as 8-bit grey), seeded noise
                   over a gradient so that resizing has something to smooth
  data/<class>/    the same images as an ImageFolder (classes cat, dog), labelled so that the model
                   is right on five of them and wrong on three (both classes present)
  manifest.csv     path,label,site for the same images (site: north / south, alternating)
  ref.json         per image: PyTorch's probabilities and predicted class; the label given; the
                   accuracy overall and per site; the preprocessing used
Preprocessing is timm's eval transform for input (3, 64, 64), crop_pct 0.875, bilinear,
ImageNet mean/std, on tensors as torchvision computes it: to_tensor -> Resize(73, antialias=True)
-> CenterCrop(64) -> Normalize.
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
import torchvision
import torchvision.transforms.functional as F
from PIL import Image

SIZES = [(60, 80), (100, 64), (64, 64), (90, 120), (73, 73), (50, 70), (128, 96), (81, 67)]  # (H, W)
CLASSES = ["cat", "dog"]
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def make_image(rng, h, w, grey):
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    base = np.stack([yy * 200, xx * 200, (1 - yy) * 150 + 50], axis=-1)
    img = np.clip(base + rng.normal(0, 40, size=(h, w, 3)), 0, 255).astype(np.uint8)
    if grey:
        return Image.fromarray(img[:, :, 0], mode="L")
    return Image.fromarray(img, mode="RGB")


def preprocess(img):
    x = F.to_tensor(img.convert("RGB"))
    x = F.resize(x, [73], interpolation=F.InterpolationMode.BILINEAR, antialias=True)
    x = F.center_crop(x, [64, 64])
    return F.normalize(x, MEAN, STD)


def main(out):
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "images"))
    for c in CLASSES:
        os.makedirs(os.path.join(tmp, "data", c))
    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    model = torchvision.models.resnet18(num_classes=2)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn_like(m.running_mean) * 0.1)
                m.running_var.copy_(torch.rand_like(m.running_var) + 0.5)
    model.eval()

    names = [f"img{i}.png" for i in range(len(SIZES))]
    images = []
    for i, (h, w) in enumerate(SIZES):
        img = make_image(rng, h, w, grey=(i == 2))
        img.save(os.path.join(tmp, "images", names[i]))
        images.append(img)

    with torch.no_grad():
        x = torch.stack([preprocess(img) for img in images])
        # A head that splits these images: logits a few units apart, the two classes'
        # difference centred on its median (random features alone give one class to all).
        fc = model.fc
        model.fc = torch.nn.Identity()
        feats = model(x)
        model.fc = fc
        fc.weight.copy_(torch.randn_like(fc.weight) / feats.norm(dim=1).mean() * 0.2 * feats.shape[1] ** 0.5)
        diff = (feats @ (fc.weight[1] - fc.weight[0]))
        fc.bias.copy_(torch.tensor([0.0, -diff.median().item() - 0.1]))
        probs = torch.softmax(model(x), dim=1)
    torch.save(model.state_dict(), os.path.join(tmp, "resnet18_2.pth"))
    pred = probs.argmax(1).tolist()
    # Right on the first five, wrong on the last three.
    labels = [p if i < 5 else 1 - p for i, p in enumerate(pred)]
    if len(set(labels)) < 2:  # both classes must have samples
        labels[0] = 1 - labels[0]
    correct = [int(l == p) for l, p in zip(labels, pred)]
    sites = ["north" if i % 2 == 0 else "south" for i in range(len(names))]

    rows = ["path,label,site"]
    for i, name in enumerate(names):
        images[i].save(os.path.join(tmp, "data", CLASSES[labels[i]], name))
        rows.append(f"images/{name},{CLASSES[labels[i]]},{sites[i]}")
    with open(os.path.join(tmp, "manifest.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")

    site_acc = {}
    for s in sorted(set(sites)):
        idx = [i for i in range(len(names)) if sites[i] == s]
        site_acc[s] = sum(correct[i] for i in idx) / len(idx)
    ref = {
        "classes": CLASSES,
        "preprocess": {"input_size": [3, 64, 64], "crop_pct": 0.875, "interpolation": "bilinear", "mean": MEAN,
                       "std": STD},
        "images": {
            name: {"probs": probs[i].tolist(), "pred": pred[i], "label": labels[i], "site": sites[i]}
            for i, name in enumerate(names)
        },
        "accuracy": sum(correct) / len(correct),
        "site_accuracy": site_acc,
    }
    with open(os.path.join(tmp, "ref.json"), "w") as f:
        json.dump(ref, f, indent=1)

    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)


if __name__ == "__main__":
    main(sys.argv[1])
