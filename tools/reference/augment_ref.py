"""Reference values for ark's seeded training augmentation (tests/datasets/test_augment.cpp,
tests/datasets/test_loader.cpp).

An independent Python port of the SplitMix64 streams and of the draw order that
datasets/ark/datasets/augment.h documents picks every random choice (crop box, flip, colour-jitter
order and factors); torchvision 0.14's functional tensor transforms then apply those choices:
    ToTensor -> resized_crop(antialias=True) -> hflip -> adjust_{brightness,contrast,saturation,hue}
    in the drawn order -> Normalize
so the C++ test checks both the draws (exactly) and the pixels (to float rounding, plus the
resize's).

Writes one safetensors file:
  image                      uint8 (40, 48, 3)   a small synthetic photo-like image
  perm.<k>                   int64 (n,)          epoch_permutation(n, seed, epoch)
  rng.<k>                    int64 (8,)          the first 8 next() of sample_rng(seed, epoch, index), as int64 bits
  uniform.<k>                float64 (4,)        the next 4 uniform() of that stream
  crop.<k>                   int64 (4,)          random_resized_crop_params (top, left, height, width)
  piece.<op>.<k>             float32 (3, 40, 48) one torchvision op on ToTensor(image)
  case.<name>                float32 (3, H, W)   the whole training transform
  draws.<name>               int64 (9,)          crop (4), flip, order (4)
  factors.<name>             float64 (4,)        brightness, contrast, saturation, hue (NaN: not drawn)
Metadata: "perm.<k>" = "n seed epoch", "rng.<k>" = "seed epoch index", "crop.<k>" = "H W scale_min
scale_max ratio_min ratio_max seed epoch index", "piece.<op>.<k>" = factor, "case.<name>" = "H W
interpolation antialias scale_min scale_max ratio_min ratio_max hflip brightness contrast saturation
hue seed epoch index mean0 mean1 mean2 std0 std1 std2", "versions".

Run: /usr/bin/python3 tools/reference/augment_ref.py OUT.safetensors
"""
import math
import os
import sys

import numpy as np
import torch
import torchvision
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_py  # noqa: E402

M64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, state):
        self.state = state & M64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & M64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def uniform(self, lo=0.0, hi=1.0):
        u = (self.next() >> 11) * (1.0 / 9007199254740992.0)
        return lo + (hi - lo) * u

    def randint(self, n):  # [0, n)
        return self.next() % n


def stream(seed, a, b):
    k1 = SplitMix64(seed).next()
    k2 = SplitMix64(k1 ^ ((a * 0xD1B54A32D192ED03) & M64)).next()
    return SplitMix64(k2 ^ ((b * 0xABC98388FB8FAC03) & M64))


def sample_rng(seed, epoch, index):
    return stream(seed, epoch, index)


def epoch_permutation(n, seed, epoch):
    g = stream(seed, epoch, M64)
    p = list(range(n))
    for i in range(n - 1, 0, -1):
        j = g.randint(i + 1)
        p[i], p[j] = p[j], p[i]
    return p


def crop_params(height, width, scale, ratio, rng):
    """torchvision 0.14 RandomResizedCrop.get_params with the stream's numbers (double precision)."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect_ratio = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            i = rng.randint(height - h + 1)
            j = rng.randint(width - w + 1)
            return i, j, h, w
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:
        w = width
        h = height
    return (height - h) // 2, (width - w) // 2, h, w


def draw(height, width, cfg, rng):
    """The order of augment.h: crop, flip, then (if any jitter) the op order and the factors."""
    crop = crop_params(height, width, cfg["scale"], cfg["ratio"], rng)
    flip = rng.uniform() < cfg["hflip"]
    order = [0, 1, 2, 3]
    factors = [None] * 4
    b, c, s, h = cfg["jitter"]
    if b > 0 or c > 0 or s > 0 or h > 0:
        for i in range(3, 0, -1):
            j = rng.randint(i + 1)
            order[i], order[j] = order[j], order[i]
        for k, v in enumerate((b, c, s)):
            if v > 0:
                factors[k] = rng.uniform(max(0.0, 1.0 - v), 1.0 + v)
        if h > 0:
            factors[3] = rng.uniform(-h, h)
    return crop, flip, order, factors


def make_image():
    """40 x 48 RGB: smooth gradients, two coloured discs, a grey stripe (equal channels: the hue
    code's max == min branch), clipped highlights and shadows, and sensor-like noise."""
    rs = np.random.RandomState(1234)
    y, x = np.mgrid[0:40, 0:48].astype(np.float64)
    img = np.stack([90 + 2.5 * x, 60 + 3.0 * y, 200 - 1.5 * x - 1.0 * y], axis=-1)
    disc = (x - 14) ** 2 + (y - 12) ** 2 < 60
    img[disc] = [230, 40, 30]
    disc2 = (x - 34) ** 2 + (y - 27) ** 2 < 80
    img[disc2] = [30, 200, 120]
    img += rs.normal(0, 6, img.shape)
    img[30:34, :, :] = (20 + 5 * x[30:34, :, None]).repeat(3, axis=-1)  # grey ramp
    img[0:3, 40:48] = 255  # clipped highlight
    img[36:40, 0:6] = 0    # crushed shadow
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


INTERP = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC}
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
INCEPTION = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))

# name: config; "index" picks sample_rng(seed, epoch, index).
CASES = {
    "bilinear_32": dict(size=(32, 32), interp="bilinear", scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), hflip=0.5,
                        jitter=(0.4, 0.4, 0.4, 0.0), seed=7, epoch=0, index=3, norm=IMAGENET),
    "bicubic_24x28_hue": dict(size=(24, 28), interp="bicubic", scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), hflip=0.5,
                              jitter=(0.4, 0.4, 0.4, 0.1), seed=7, epoch=2, index=5, norm=IMAGENET),
    "bicubic_upscale_64": dict(size=(64, 64), interp="bicubic", scale=(0.25, 1.0), ratio=(3 / 4, 4 / 3), hflip=1.0,
                               jitter=(0.3, 0.5, 0.6, 0.3), seed=99, epoch=1, index=0, norm=INCEPTION),
    "strong_jitter": dict(size=(30, 36), interp="bilinear", scale=(0.5, 1.0), ratio=(0.5, 2.0), hflip=0.5,
                          jitter=(0.9, 0.9, 1.0, 0.5), seed=2024, epoch=4, index=17, norm=IMAGENET),
    "no_jitter": dict(size=(20, 20), interp="bilinear", scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), hflip=0.5,
                      jitter=(0.0, 0.0, 0.0, 0.0), seed=5, epoch=3, index=1, norm=IMAGENET),
    # The crop is the whole image and the resize the identity: everything but float rounding is
    # exact, so the C++ test holds this one to 1e-5.
    "no_resize": dict(size=(40, 48), interp="bilinear", scale=(1.0, 1.0), ratio=(1.2, 1.2), hflip=0.5,
                      jitter=(0.4, 0.4, 0.4, 0.2), seed=11, epoch=6, index=2, norm=IMAGENET),
    # Unreachable area/ratio: the ten attempts miss and the centre fallback is used.
    "fallback": dict(size=(16, 16), interp="bilinear", scale=(0.9, 1.0), ratio=(3.0, 4.0), hflip=0.5,
                     jitter=(0.4, 0.0, 0.4, 0.0), seed=3, epoch=0, index=9, norm=IMAGENET),
}

PIECES = {
    "brightness": [0.6, 1.3, 1.9],
    "contrast": [0.0, 0.7, 1.35],
    "saturation": [0.0, 0.55, 1.4],
    "hue": [-0.5, -0.27, 0.1, 0.45],
}


def apply_case(x, cfg, crop, flip, order, factors):
    top, left, h, w = crop
    x = F.resized_crop(x, top, left, h, w, list(cfg["size"]), INTERP[cfg["interp"]], antialias=True)
    if flip:
        x = F.hflip(x)
    for fn in order:
        if factors[fn] is None:
            continue
        if fn == 0:
            x = F.adjust_brightness(x, factors[0])
        elif fn == 1:
            x = F.adjust_contrast(x, factors[1])
        elif fn == 2:
            x = F.adjust_saturation(x, factors[2])
        else:
            x = F.adjust_hue(x, factors[3])
    return F.normalize(x, list(cfg["norm"][0]), list(cfg["norm"][1]))


def as_i64(values):
    return torch.from_numpy(np.array(values, dtype=np.uint64).view(np.int64).copy())


def main(out_path):
    torch.set_num_threads(1)
    tensors, meta = {}, {"versions": f"torch {torch.__version__} torchvision {torchvision.__version__}"}
    image = make_image()
    tensors["image"] = torch.from_numpy(image)
    x = torch.from_numpy(image).permute(2, 0, 1).float().div(255)  # ToTensor

    for k, (n, seed, epoch) in enumerate([(37, 7, 3), (1000, 12345, 0), (10, M64, 5), (1, 3, 0), (2, 0, 1)]):
        tensors[f"perm.{k}"] = torch.tensor(epoch_permutation(n, seed, epoch), dtype=torch.int64)
        meta[f"perm.{k}"] = f"{n} {seed} {epoch}"
    for k, (seed, epoch, index) in enumerate([(7, 3, 11), (0, 0, 0), (M64, 123456789, M64 - 1)]):
        g = sample_rng(seed, epoch, index)
        tensors[f"rng.{k}"] = as_i64([g.next() for _ in range(8)])
        tensors[f"uniform.{k}"] = torch.tensor([g.uniform() for _ in range(4)], dtype=torch.float64)
        meta[f"rng.{k}"] = f"{seed} {epoch} {index}"
    crops = [(40, 48, 0.08, 1.0, 3 / 4, 4 / 3, 7, 0, i) for i in range(12)]
    crops += [(480, 640, 0.08, 1.0, 3 / 4, 4 / 3, 1, 2, 3), (17, 300, 0.08, 1.0, 3 / 4, 4 / 3, 1, 2, 4),
              (300, 17, 0.08, 1.0, 3 / 4, 4 / 3, 1, 2, 5), (50, 50, 0.9, 1.0, 3.0, 4.0, 4, 1, 0),
              (50, 50, 0.9, 1.0, 0.2, 0.25, 4, 1, 0), (1, 1, 0.08, 1.0, 3 / 4, 4 / 3, 0, 0, 0)]
    for k, (H, W, s0, s1, r0, r1, seed, epoch, index) in enumerate(crops):
        params = crop_params(H, W, (s0, s1), (r0, r1), sample_rng(seed, epoch, index))
        tensors[f"crop.{k}"] = torch.tensor(params, dtype=torch.int64)
        meta[f"crop.{k}"] = f"{H} {W} {s0!r} {s1!r} {r0!r} {r1!r} {seed} {epoch} {index}"

    ops = {"brightness": F.adjust_brightness, "contrast": F.adjust_contrast, "saturation": F.adjust_saturation,
           "hue": F.adjust_hue}
    for op, factors in PIECES.items():
        for k, f in enumerate(factors):
            tensors[f"piece.{op}.{k}"] = ops[op](x, f)
            meta[f"piece.{op}.{k}"] = repr(f)
    tensors["piece.hflip.0"] = F.hflip(x)
    meta["piece.hflip.0"] = "0"

    for name, cfg in CASES.items():
        crop, flip, order, factors = draw(40, 48, cfg, sample_rng(cfg["seed"], cfg["epoch"], cfg["index"]))
        tensors[f"case.{name}"] = apply_case(x, cfg, crop, flip, order, factors)
        tensors[f"draws.{name}"] = torch.tensor(list(crop) + [int(flip)] + order, dtype=torch.int64)
        tensors[f"factors.{name}"] = torch.tensor([math.nan if f is None else f for f in factors],
                                                  dtype=torch.float64)
        (mean, std), (h, w) = cfg["norm"], cfg["size"]
        fields = [h, w, cfg["interp"], 1, *cfg["scale"], *cfg["ratio"], cfg["hflip"], *cfg["jitter"], cfg["seed"],
                  cfg["epoch"], cfg["index"], *mean, *std]
        meta[f"case.{name}"] = " ".join(repr(v) if isinstance(v, float) else str(v) for v in fields)

    safetensors_py.save(out_path, tensors, meta)


if __name__ == "__main__":
    main(sys.argv[1])
