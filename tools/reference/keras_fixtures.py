"""Keras .h5 fixtures for ark's reader, written with h5py exactly as TF-Keras 2.x lays them out
(there is no TensorFlow on this machine): the weights group's `layer_names` attribute (numpy byte
strings), one group per layer with a `weight_names` attribute, datasets at
<group>/<layer>/<weight>:0, `backend`/`keras_version` attributes; whole-model files put all that
under `model_weights/` beside a JSON `model_config`. Layers without weights have an empty
float64 `weight_names`, as Keras' np.asarray([]) writes it.

Writes into DIR = dirname(OUT)/keras_fixtures/, then OUT (a stamp) last:
  mobilenet_v2_whole.h5        whole-model Keras MobileNetV2 1.0 (layer names and order of
                               keras_applications), random weights, a model_config with a Lambda
                               layer (B56), optimizer weights; expected values in
                               mobilenet_v2_expected.safetensors ("<layer>/<weight>")
  misfit_mobilenet_v2.h5       weights-only MobileNetV2 with a mis-shaped kernel, a missing gamma
                               and an extra layer (a checkpoint that does not fit)
  resnet50_weights.h5          weights-only tf.keras ResNet50 (10 classes) with calibrated random
                               weights; resnet50_expected.safetensors: input and eval logits from a
                               PyTorch implementation of Keras' graph written here (NCHW, float64)
  small_*.h5                   valid small files: fixed/vlen/chunked name attributes, float16/64
                               and big-endian data, scoped and nested weight names, gzip
  bad_*.h5                     one malformed case each (B51, B52, B54, B55, B58, Keras 3 layout)
  small_expected.safetensors   expected tensors of the small files ("<file>|<key>")
Usage: keras_fixtures.py OUT_STAMP
"""
import json
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_py  # noqa: E402

KERAS_VERSION = "2.4.0"


def names_attr(names, style="fixed"):
    if style == "vlen":
        return np.array(names, dtype=h5py.string_dtype("utf-8"))
    return np.array([n.encode("utf8") for n in names]) if names else np.asarray([])


def write_keras(path, layers, whole_model=False, style="fixed", model_config=None, extra=None):
    """layers: [(layer_name, [(weight_name, array), ...]), ...] in model order."""
    with h5py.File(path, "w") as f:
        if whole_model:
            f.attrs["keras_version"] = KERAS_VERSION.encode("utf8")
            f.attrs["backend"] = "tensorflow".encode("utf8")
            f.attrs["model_config"] = json.dumps(model_config or {}).encode("utf8")
            f.attrs["training_config"] = json.dumps({"loss": "categorical_crossentropy"}).encode("utf8")
            g = f.create_group("model_weights")
        else:
            g = f
        layer_names = [name for name, _ in layers]
        if style == "chunked":  # what Keras does when an attribute exceeds HDF5's 64 KiB header limit
            half = (len(layer_names) + 1) // 2
            g.attrs["layer_names0"] = names_attr(layer_names[:half])
            g.attrs["layer_names1"] = names_attr(layer_names[half:])
        else:
            g.attrs["layer_names"] = names_attr(layer_names, style)
        g.attrs["backend"] = "tensorflow"
        g.attrs["keras_version"] = KERAS_VERSION
        for name, weights in layers:
            lg = g.create_group(name)
            lg.attrs["weight_names"] = names_attr([w for w, _ in weights], style)
            for wname, arr in weights:
                lg.create_dataset(wname, data=arr)
        if whole_model:
            opt = f.create_group("optimizer_weights")
            opt.create_dataset("training/SGD/iter:0", data=np.int64(10))
        if extra:
            extra(f, g)


# ---- MobileNetV2 (keras_applications/mobilenet_v2.py names and order) ----

def mobilenet_v2_layers(rng, classes=1000):
    def conv(name, k, cin, cout):
        return [(name, [(name + "/kernel:0", rng.standard_normal((k, k, cin, cout)).astype("f4") * 0.1)])]

    def dw(name, c):
        return [(name, [(name + "/depthwise_kernel:0", rng.standard_normal((3, 3, c, 1)).astype("f4") * 0.1)])]

    def bn(name, c):
        return [(name, [(name + "/gamma:0", rng.uniform(0.5, 1.5, c).astype("f4")),
                        (name + "/beta:0", rng.standard_normal(c).astype("f4") * 0.1),
                        (name + "/moving_mean:0", rng.standard_normal(c).astype("f4") * 0.1),
                        (name + "/moving_variance:0", rng.uniform(0.5, 1.5, c).astype("f4"))])]

    def none(name):
        return [(name, [])]

    L = none("input_1") + none("Conv1_pad") + conv("Conv1", 3, 3, 32) + bn("bn_Conv1", 32) + none("Conv1_relu")
    L += dw("expanded_conv_depthwise", 32) + bn("expanded_conv_depthwise_BN", 32) + none("expanded_conv_depthwise_relu")
    L += conv("expanded_conv_project", 1, 32, 16) + bn("expanded_conv_project_BN", 16)
    cin = 16
    block = 1
    for t, c, n, s in [[6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]:
        for i in range(n):
            p = "block_%d_" % block
            hid = cin * t
            L += conv(p + "expand", 1, cin, hid) + bn(p + "expand_BN", hid) + none(p + "expand_relu")
            if s == 2 and i == 0:
                L += none(p + "pad")
            L += dw(p + "depthwise", hid) + bn(p + "depthwise_BN", hid) + none(p + "depthwise_relu")
            L += conv(p + "project", 1, hid, c) + bn(p + "project_BN", c)
            if i > 0:
                L += none(p + "add")
            cin = c
            block += 1
    L += conv("Conv_1", 1, 320, 1280) + bn("Conv_1_bn", 1280) + none("out_relu") + none("global_average_pooling2d")
    L += [("Logits", [("Logits/kernel:0", rng.standard_normal((1280, classes)).astype("f4") * 0.03),
                      ("Logits/bias:0", rng.standard_normal(classes).astype("f4") * 0.01)])]
    return L


# ---- ResNet50 (tf.keras.applications, keras_applications/resnet_common.py names and order) ----

def resnet50_layers(rng, classes):
    layers = []

    def conv(name, k, cin, cout):
        w = rng.standard_normal((k, k, cin, cout)).astype("f4") * np.sqrt(2.0 / (k * k * cin))
        layers.append((name, [(name + "/kernel:0", w.astype("f4")),
                              (name + "/bias:0", (rng.standard_normal(cout) * 0.05).astype("f4"))]))

    def bn(name, c):
        layers.append((name, [(name + "/gamma:0", rng.uniform(0.5, 1.5, c).astype("f4")),
                              (name + "/beta:0", (rng.standard_normal(c) * 0.1).astype("f4")),
                              (name + "/moving_mean:0", np.zeros(c, "f4")),
                              (name + "/moving_variance:0", np.ones(c, "f4"))]))

    def none(name):
        layers.append((name, []))

    none("input_1"); none("conv1_pad"); conv("conv1_conv", 7, 3, 64); bn("conv1_bn", 64); none("conv1_relu")
    none("pool1_pad"); none("pool1_pool")
    cin = 64
    for stage, (filters, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)], start=2):
        for b in range(1, blocks + 1):
            p = "conv%d_block%d_" % (stage, b)
            # The order of model.summary(): the shortcut's conv/BN interleave with the last conv/BN.
            conv(p + "1_conv", 1, cin, filters); bn(p + "1_bn", filters); none(p + "1_relu")
            conv(p + "2_conv", 3, filters, filters); bn(p + "2_bn", filters); none(p + "2_relu")
            if b == 1:
                conv(p + "0_conv", 1, cin, 4 * filters)
            conv(p + "3_conv", 1, filters, 4 * filters)
            if b == 1:
                bn(p + "0_bn", 4 * filters)
            bn(p + "3_bn", 4 * filters); none(p + "add"); none(p + "out")
            cin = 4 * filters
    none("avg_pool")
    layers.append(("predictions", [("predictions/kernel:0", (rng.standard_normal((2048, classes)) * 0.005).astype("f4")),
                                   ("predictions/bias:0", (rng.standard_normal(classes) * 0.05).astype("f4"))]))
    return layers


def resnet50_forward(w, x, calibrate=False):
    """Keras' ResNet50 graph in PyTorch ops on Keras-layout weights (float64, NCHW). With calibrate,
    BN uses batch statistics and stores them as the moving ones (so the random net is well scaled)."""
    def conv(name, h, stride=1, pad=0):
        k = torch.from_numpy(w[name + "/kernel:0"]).double().permute(3, 2, 0, 1)
        return F.conv2d(h, k, torch.from_numpy(w[name + "/bias:0"]).double(), stride, pad)

    def bn(name, h):
        if calibrate:
            w[name + "/moving_mean:0"] = h.mean(dim=(0, 2, 3)).float().numpy()
            w[name + "/moving_variance:0"] = h.var(dim=(0, 2, 3), unbiased=False).float().numpy()
        t = {k: torch.from_numpy(w[name + "/" + k + ":0"]).double() for k in ("gamma", "beta", "moving_mean", "moving_variance")}
        return F.batch_norm(h, t["moving_mean"], t["moving_variance"], t["gamma"], t["beta"], False, 0.0, 1.001e-5)

    h = F.pad(x, (3, 3, 3, 3))                                  # conv1_pad
    h = F.relu(bn("conv1_bn", conv("conv1_conv", h, 2)))        # conv1_conv: 7x7/2 valid
    h = F.max_pool2d(F.pad(h, (1, 1, 1, 1)), 3, 2)              # pool1_pad (zeros) + pool1_pool
    for stage, blocks in zip(range(2, 6), (3, 4, 6, 3)):
        for b in range(1, blocks + 1):
            p = "conv%d_block%d_" % (stage, b)
            stride = 2 if (b == 1 and stage > 2) else 1
            sc = bn(p + "0_bn", conv(p + "0_conv", h, stride)) if b == 1 else h
            y = F.relu(bn(p + "1_bn", conv(p + "1_conv", h, stride)))  # v1: the stride is in the 1x1
            y = F.relu(bn(p + "2_bn", conv(p + "2_conv", y, 1, 1)))    # 3x3 "same", stride 1
            y = bn(p + "3_bn", conv(p + "3_conv", y))
            h = F.relu(sc + y)
    h = h.mean(dim=(2, 3))                                       # avg_pool
    k = torch.from_numpy(w["predictions/kernel:0"]).double()
    return h @ k + torch.from_numpy(w["predictions/bias:0"]).double()  # logits (before the softmax)


def small_layers(rng):
    return [("dense_1", [("dense_1/kernel:0", rng.standard_normal((3, 4)).astype("f4")),
                         ("dense_1/bias:0", rng.standard_normal(4).astype("f4"))]),
            ("flatten", []),
            ("bn", [("bn/gamma:0", rng.standard_normal(4).astype("f4")),
                    ("bn/beta:0", rng.standard_normal(4).astype("f4")),
                    ("bn/moving_mean:0", rng.standard_normal(4).astype("f4")),
                    ("bn/moving_variance:0", rng.uniform(0.5, 2, 4).astype("f4"))])]


def main():
    out = sys.argv[1]
    d = os.path.join(os.path.dirname(os.path.abspath(out)), "keras_fixtures")
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        os.remove(os.path.join(d, name))
    rng = np.random.default_rng(0)
    torch.set_num_threads(1)
    P = lambda name: os.path.join(d, name)  # noqa: E731

    def expected(layers, prefix=""):
        return {prefix + n.split(":")[0] if n.startswith(l + "/") else prefix + l + "/" + n.split(":")[0]:
                torch.from_numpy(np.ascontiguousarray(a)) for l, ws in layers for n, a in ws}

    # MobileNetV2, whole model, with a Lambda layer in its config (never interpreted: B56)
    mb = mobilenet_v2_layers(rng)
    config = {"class_name": "Model", "config": {"name": "mobilenetv2_1.00_224", "layers": [
        {"class_name": "Lambda", "name": "preprocess",
         "config": {"function": ["4wEAAAAAAAAAAQAAAAQAAABDAAAAcwgAAAB8AGQBGwBTACkCTmf/", None, None]}}]}}
    write_keras(P("mobilenet_v2_whole.h5"), mb, whole_model=True, model_config=config)
    safetensors_py.save(P("mobilenet_v2_expected.safetensors"), expected(mb))

    # ResNet50 weights-only, BN calibrated on a random batch, then eval logits of another input
    rn = resnet50_layers(rng, 10)
    w = {n: a for _, ws in rn for n, a in ws}
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        resnet50_forward(w, torch.rand(4, 3, 64, 64, generator=g).double(), calibrate=True)
        for k in w:
            if k.endswith("moving_variance:0"):
                w[k] = (w[k] * rng.uniform(0.8, 1.2, w[k].shape)).astype("f4")
        rn = [(l, [(n, w[n]) for n, _ in ws]) for l, ws in rn]
        x = torch.rand(2, 3, 64, 72, generator=g)
        logits = resnet50_forward(w, x.double())
    write_keras(P("resnet50_weights.h5"), rn)
    safetensors_py.save(P("resnet50_expected.safetensors"), {"input": x, "logits": logits.float()})

    # A MobileNetV2 that does not fit (weights-only): a mis-shaped dataset, a weight left out of
    # its layer, a layer the architecture lacks; load_weights must list all three at once.
    misfit = []
    for layer, ws in mb:
        if layer == "block_3_expand":
            ws = [("block_3_expand/kernel:0", rng.standard_normal((1, 1, 24, 100)).astype("f4"))]
        elif layer == "Conv_1_bn":
            ws = [(n, a) for n, a in ws if not n.endswith("gamma:0")]
        misfit.append((layer, ws))
    misfit.append(("extra_dense", [("extra_dense/kernel:0", rng.standard_normal((4, 2)).astype("f4"))]))
    write_keras(P("misfit_mobilenet_v2.h5"), misfit)

    # ---- small valid files ----
    small = {}
    sm = small_layers(rng)
    write_keras(P("small_weights.h5"), sm)
    small.update({"small_weights.h5|" + k: v for k, v in expected(sm).items()})
    write_keras(P("small_whole.h5"), sm, whole_model=True)
    small.update({"small_whole.h5|" + k: v for k, v in expected(sm).items()})
    write_keras(P("small_vlen.h5"), sm, style="vlen")
    small.update({"small_vlen.h5|" + k: v for k, v in expected(sm).items()})
    write_keras(P("small_chunked.h5"), sm, style="chunked")
    small.update({"small_chunked.h5|" + k: v for k, v in expected(sm).items()})

    a16 = rng.standard_normal((2, 3)).astype("f2")
    a64 = rng.standard_normal((5,)).astype("f8")
    abe = rng.standard_normal((4, 2)).astype(">f4")
    s0 = np.array(1.5, dtype="f4")
    write_keras(P("small_dtypes.h5"), [("l", [("l/half:0", a16), ("l/double:0", a64), ("l/bigendian:0", abe),
                                               ("l/scalar:0", s0)])])
    small.update({"small_dtypes.h5|l/half": torch.from_numpy(a16.astype("f4")),
                  "small_dtypes.h5|l/double": torch.from_numpy(a64),
                  "small_dtypes.h5|l/bigendian": torch.from_numpy(abe.astype("<f4")),
                  "small_dtypes.h5|l/scalar": torch.tensor(1.5)})

    k1 = rng.standard_normal((2, 2)).astype("f4")
    k2 = rng.standard_normal((3,)).astype("f4")
    # A model built twice (weight scope "dense_1_1") and a nested model (a whole MobileNet as a layer).
    write_keras(P("small_scoped.h5"), [("dense_1", [("dense_1_1/kernel:0", k1)]),
                                       ("mobilenetv2_1.00_224", [("Conv1/bias:0", k2)])])
    small.update({"small_scoped.h5|dense_1/kernel": torch.from_numpy(k1),
                  "small_scoped.h5|mobilenetv2_1.00_224/Conv1/bias": torch.from_numpy(k2)})

    kg = rng.standard_normal((64, 32)).astype("f4")
    with h5py.File(P("small_gzip.h5"), "w") as f:
        f.attrs["layer_names"] = names_attr(["d"])
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = KERAS_VERSION
        f.create_group("d").attrs["weight_names"] = names_attr(["d/kernel:0"])
        f["d"].create_dataset("d/kernel:0", data=kg, compression="gzip", chunks=(16, 16))
    small["small_gzip.h5|d/kernel"] = torch.from_numpy(kg)
    safetensors_py.save(P("small_expected.safetensors"), small)

    # ---- malformed files, one case each ----
    def one(path, build):
        with h5py.File(P(path), "w") as f:
            f.attrs["layer_names"] = names_attr(["d"])
            g = f.create_group("d")
            g.attrs["weight_names"] = names_attr(["d/kernel:0"])
            build(f, g)

    # B51: no layer_names; a listed layer without a group; a listed weight without a dataset; no weight_names
    with h5py.File(P("bad_no_layer_names.h5"), "w") as f:
        f.create_group("d").create_dataset("d/kernel:0", data=k1)
    write_keras(P("bad_missing_layer.h5"), sm, extra=lambda f, g: g.attrs.__setitem__(
        "layer_names", names_attr(["dense_1", "ghost_layer"])))
    write_keras(P("bad_missing_weight.h5"), sm, extra=lambda f, g: g["dense_1"].attrs.__setitem__(
        "weight_names", names_attr(["dense_1/kernel:0", "dense_1/ghost_weight:0"])))
    write_keras(P("bad_no_weight_names.h5"), sm, extra=lambda f, g: g["bn"].attrs.__delitem__("weight_names"))
    # B52: non-float datasets
    one("bad_dtype_int.h5", lambda f, g: g.create_dataset("d/kernel:0", data=np.arange(6, dtype="i4")))
    one("bad_dtype_string.h5", lambda f, g: g.create_dataset("d/kernel:0", data=np.array([b"abc", b"de"])))
    one("bad_dtype_compound.h5", lambda f, g: g.create_dataset(
        "d/kernel:0", data=np.zeros(3, dtype=[("a", "f4"), ("b", "i4")])))
    one("bad_dtype_vlen.h5", lambda f, g: g.create_dataset(
        "d/kernel:0", (2,), dtype=h5py.vlen_dtype(np.dtype("f4"))))
    # B54: 2^40 elements (chunked, nothing stored: a few KB on disk); and a dataset never written
    one("bad_huge_dims.h5", lambda f, g: g.create_dataset("d/kernel:0", shape=(1 << 20, 1 << 20), dtype="f4",
                                                          chunks=(1, 1024)))
    one("bad_unallocated.h5", lambda f, g: g.create_dataset("d/kernel:0", shape=(1000, 1000), dtype="f4",
                                                            chunks=(100, 100)))
    # B55: external link, soft link, external raw storage, virtual dataset
    with h5py.File(P("target.h5"), "w") as f:
        f.create_dataset("data", data=k1)
    one("bad_external_link.h5", lambda f, g: g.create_group("d").__setitem__(
        "kernel:0", h5py.ExternalLink("target.h5", "/data")))
    def soft(f, g):
        f.create_dataset("elsewhere", data=k1)
        g.create_group("d")["kernel:0"] = h5py.SoftLink("/elsewhere")
    one("bad_soft_link.h5", soft)
    k1.tofile(P("external.bin"))
    one("bad_external_storage.h5", lambda f, g: g.create_dataset(
        "d/kernel:0", shape=(2, 2), dtype="f4", external=[("external.bin", 0, 16)]))
    def vds(f, g):
        layout = h5py.VirtualLayout(shape=(2, 2), dtype="f4")
        layout[...] = h5py.VirtualSource("target.h5", "data", shape=(2, 2))
        g.create_group("d").create_virtual_dataset("kernel:0", layout)
    one("bad_virtual.h5", vds)
    # B58: a filter libhdf5 lacks (lzf is h5py's own)
    one("bad_lzf_filter.h5", lambda f, g: g.create_dataset("d/kernel:0", data=kg, compression="lzf", chunks=(16, 16)))
    # Keras 3's .weights.h5 layout
    with h5py.File(P("bad_keras3.weights.h5"), "w") as f:
        f.create_group("layers").create_group("dense").create_group("vars").create_dataset("0", data=k1)
        f.create_group("vars")

    with open(out + ".tmp", "w") as f:
        f.write("keras fixtures: h5py %s, HDF5 %s\n" % (h5py.__version__, h5py.version.hdf5_version))
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
