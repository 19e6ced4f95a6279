"""Reference outputs of nsfwjs@4.4.0's Keras MobileNetV2 (a TF.js layers model), computed with
PyTorch ops straight from the TF.js files, independently of ark's MobileNetV2 module and remap.

Reads model.json + its shards, dequantizes exactly as TF.js does (q * scale + min in double, then
float32), and runs the Keras graph by walking model.json's layer list (the layers this model uses:
ZeroPadding2D, Conv2D, DepthwiseConv2D with TF "same"/"valid" padding, BatchNormalization, ReLU,
Add, AveragePooling2D, Flatten, Dense, Dropout) in float64, NCHW. Inputs follow nsfwjs' own
preprocessing: RGB / 255, resized to 224x224 with bilinear align_corners=True.

Usage: nsfwjs_reference.py OUT.safetensors ASSET_DIR [PHOTO]
Writes {random,photo}_{input,features,logits,probs}: a seeded random batch (2, 3, 224, 224) in
[0, 1] and, when a photo is found (darknet's dog.jpg, else skimage's astronaut), that photo.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_py  # noqa: E402


def load_weights(asset_dir):
    with open(os.path.join(asset_dir, "model.json")) as f:
        model = json.load(f)
    weights = {}
    for group in model["weightsManifest"]:
        data = b"".join(open(os.path.join(asset_dir, p), "rb").read() for p in group["paths"])
        off = 0
        for w in group["weights"]:
            n = int(np.prod(w["shape"])) if w["shape"] else 1
            q = w.get("quantization")
            if q is None:
                v = np.frombuffer(data, "<f4", n, off).astype(np.float64)
                off += 4 * n
            elif q["dtype"] in ("uint8", "uint16"):
                dt, size = ("<u1", 1) if q["dtype"] == "uint8" else ("<u2", 2)
                raw = np.frombuffer(data, dt, n, off).astype(np.float64)
                v = (raw * q["scale"] + q["min"]).astype(np.float32).astype(np.float64)  # TF.js: Float32Array
                off += size * n
            elif q["dtype"] == "float16":
                v = np.frombuffer(data, "<f2", n, off).astype(np.float64)
                off += 2 * n
            else:
                raise ValueError(q["dtype"])
            weights[w["name"]] = torch.from_numpy(v.reshape(w["shape"]).copy())
        assert off == len(data), "shard size mismatch"
    return model, weights


def tf_same(size, k, s, d=1):
    out = (size + s - 1) // s
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2  # the odd pixel goes bottom/right, as TF does


def activation(x, name):
    if name in (None, "linear"):
        return x
    if name == "relu":
        return F.relu(x)
    if name == "softmax":
        return F.softmax(x, dim=-1)
    raise ValueError(name)


def conv_padding(x, cfg):
    kh, kw = cfg["kernel_size"]
    sh, sw = cfg["strides"]
    dh, dw = cfg.get("dilation_rate", [1, 1])
    if cfg["padding"] == "same":
        t, b = tf_same(x.shape[2], kh, sh, dh)
        l, r = tf_same(x.shape[3], kw, sw, dw)
        x = F.pad(x, (l, r, t, b))
    return x, (sh, sw), (dh, dw)


def run(model, w, x):
    """x: (N, 3, H, W) float64. Returns (pooled features, logits, probs)."""
    cfg = model["modelTopology"]["model_config"]["config"]
    out = {}
    features = logits = None
    for layer in cfg["layers"]:
        name, cls, c = layer["name"], layer["class_name"], layer["config"]
        ins = [out[n[0]] for n in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else [x]
        h = ins[0]
        if cls == "InputLayer":
            y = x
        elif cls == "ZeroPadding2D":
            (t, b), (l, r) = c["padding"]
            y = F.pad(h, (l, r, t, b))
        elif cls == "Conv2D":
            h, s, d = conv_padding(h, c)
            k = w[name + "/kernel"].permute(3, 2, 0, 1)
            y = F.conv2d(h, k, w[name + "/bias"] if c["use_bias"] else None, s, 0, d)
            y = activation(y, c["activation"])
        elif cls == "DepthwiseConv2D":
            h, s, d = conv_padding(h, c)
            k = w[name + "/depthwise_kernel"]  # H W C M
            kh, kw, ch, m = k.shape
            k = k.permute(2, 3, 0, 1).reshape(ch * m, 1, kh, kw)
            y = F.conv2d(h, k, w[name + "/bias"] if c["use_bias"] else None, s, 0, d, groups=ch)
            y = activation(y, c["activation"])
        elif cls == "BatchNormalization":
            assert c["axis"] in (-1, 3)
            ch = h.shape[1]
            gamma = w[name + "/gamma"] if c["scale"] else torch.ones(ch, dtype=h.dtype)
            beta = w[name + "/beta"] if c["center"] else torch.zeros(ch, dtype=h.dtype)
            y = F.batch_norm(h, w[name + "/moving_mean"], w[name + "/moving_variance"], gamma, beta, False, 0.0,
                             c["epsilon"])
        elif cls == "ReLU":
            assert c.get("threshold", 0) == 0 and c.get("negative_slope", 0) == 0
            y = F.relu(h) if c.get("max_value") is None else torch.clamp(h, 0, c["max_value"])
        elif cls == "Add":
            y = sum(ins)
        elif cls == "AveragePooling2D":
            assert c["padding"] == "valid"
            y = F.avg_pool2d(h, c["pool_size"], c["strides"])
        elif cls == "GlobalAveragePooling2D":
            y = h.mean(dim=(2, 3))
        elif cls == "Flatten":
            y = h.permute(0, 2, 3, 1).flatten(1) if h.dim() == 4 else h.flatten(1)  # Keras flattens NHWC
            features = y
        elif cls == "Dropout":
            y = h
        elif cls == "Dense":
            pre = h @ w[name + "/kernel"] + (w[name + "/bias"] if c["use_bias"] else 0)
            if c["activation"] == "softmax":
                logits = pre
            y = activation(pre, c["activation"])
        else:
            raise ValueError("layer type not in this reference: " + cls)
        out[name] = y
    final = out[cfg["output_layers"][0][0]]
    return features, logits, final


def find_photo(arg):
    for p in ([arg] if arg else []) + ["/usr/share/darknet/data/dog.jpg"]:
        if p and os.path.exists(p):
            from PIL import Image
            return p, np.asarray(Image.open(p).convert("RGB"))
    try:
        from skimage import data
        return "skimage.data.astronaut", data.astronaut()
    except ImportError:
        return None, None


def main():
    out_path, asset_dir = sys.argv[1], sys.argv[2]
    photo_arg = sys.argv[3] if len(sys.argv) > 3 else None
    torch.set_num_threads(1)
    model, w = load_weights(asset_dir)
    tensors = {}

    def record(prefix, x32):
        with torch.no_grad():
            feats, logits, probs = run(model, w, x32.double())
        tensors[prefix + "_input"] = x32
        tensors[prefix + "_features"] = feats.float()
        tensors[prefix + "_logits"] = logits.float()
        tensors[prefix + "_probs"] = probs.float()

    g = torch.Generator().manual_seed(0)
    record("random", torch.rand(2, 3, 224, 224, generator=g))
    photo, img = find_photo(photo_arg)
    if img is not None:
        # nsfwjs: fromPixels -> /255 -> resizeBilinear(224, alignCorners=true)
        x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].double() / 255
        x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=True)
        record("photo", x.float())
    meta = {"script": "tools/reference/nsfwjs_reference.py", "torch": torch.__version__,
            "photo": photo or "none", "model": "nsfwjs@4.4.0 mobilenet_v2"}
    safetensors_py.save(out_path, tensors, meta)


if __name__ == "__main__":
    main()
