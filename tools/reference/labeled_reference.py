"""Reference data for ark's labelled-data readers (tests/datasets/test_labeled.cpp).

Writes, beside OUT.json, a folder OUT_DIR/labeled/ holding:
  photos/          an ImageFolder tree (real PNG/JPEG/BMP/WebP/TIFF files from PIL, hidden files and
                   folders, a non-image file, nested folders whose os.walk order differs from a plain
                   path sort); its samples as torchvision 0.14's make_dataset lists them, and the
                   data hash as labeled.h defines it, computed here with hashlib
  h5/grey.h5       images uint8 (1000, 64, 64) chunked + gzip, labels int16 in {-2, 3, 8}
  h5/rgb.h5        x uint8 (10, 4, 5, 3), y uint8
  h5/bad.h5        datasets of the wrong type / rank / count
  idx/*            small IDX files: good (plain images + gzipped labels), truncated, cut gzip
                   stream, count mismatch, trailing bytes, missing labels
Pixels in the HDF5 and IDX files follow (i*7 + y*3 + x*5 + c*11) % 256, so the test recomputes them.

OUT.json: {"photos": {"classes", "samples": [[relpath, class_index], ...], "sha256"},
           "fashion": {"train_labels": first 100, "train_sums": pixel sums of the first 100,
                       "t10k_count", "t10k_class_counts"}} (fashion is null without the files).

Run: /usr/bin/python3 tools/reference/labeled_reference.py OUT.json
"""
import gzip
import hashlib
import json
import os
import shutil
import struct
import sys

import h5py
import numpy as np
from PIL import Image
from torchvision.datasets.folder import make_dataset

FASHION = "/usr/share/datasets/fashion-mnist"
EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")  # what ark's image.h decodes


def pattern(n, h, w, c=None):
    i, y, x = np.meshgrid(np.arange(n), np.arange(h), np.arange(w), indexing="ij")
    if c is None:
        return ((i * 7 + y * 3 + x * 5) % 256).astype(np.uint8)
    out = np.stack([(i * 7 + y * 3 + x * 5 + k * 11) % 256 for k in range(c)], axis=-1)
    return out.astype(np.uint8)


def rgb_image(w, h, seed):
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([(x * 40 + seed) % 256, (y * 60 + seed) % 256, np.full_like(x, 100)], axis=-1)
    return Image.fromarray(a.astype(np.uint8), "RGB")


def write_photos(root):
    files = {
        "cat/a.png": ("PNG", 4, 3, 0),
        "cat/B.JPG": ("JPEG", 8, 8, 1),
        "cat/sub/c.png": ("PNG", 2, 2, 2),
        "cat/sub-x/d.png": ("PNG", 3, 2, 3),
        "cat/sub/deeper/e.TIFF": ("TIFF", 3, 3, 4),
        "cat/.hidden.png": ("PNG", 2, 2, 5),
        "cat/.hiddendir/f.png": ("PNG", 2, 2, 6),
        "dog/x.bmp": ("BMP", 5, 4, 7),
        "dog/y.webp": ("WEBP", 4, 4, 8),
        ".cache/z.png": ("PNG", 2, 2, 9),
    }
    for rel, (fmt, w, h, seed) in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        kwargs = {"lossless": True} if fmt == "WEBP" else {}
        rgb_image(w, h, seed).save(path, fmt, **kwargs)
    with open(os.path.join(root, "cat", "notes.txt"), "w") as f:  # not an image: ignored
        f.write("not an image\n")
    with open(os.path.join(root, "README.md"), "w") as f:  # a file beside the class folders
        f.write("ignored\n")

    # torchvision's listing with ark's rules on hidden entries and extensions.
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    class_to_idx = {c: i for i, c in enumerate(classes)}

    def valid(path):
        rel = os.path.relpath(path, root)
        return rel.lower().endswith(EXTS) and not any(p.startswith(".") for p in rel.split(os.sep))

    samples = [(os.path.relpath(p, root), c) for p, c in make_dataset(root, class_to_idx, is_valid_file=valid)]

    def field(h, b):
        h.update(struct.pack("<Q", len(b)))
        h.update(b)

    h = hashlib.sha256()
    for rel, c in samples:
        field(h, rel.replace(os.sep, "/").encode())
        field(h, classes[c].encode())
        with open(os.path.join(root, rel), "rb") as f:
            field(h, f.read())
    return {"classes": classes, "samples": samples, "sha256": h.hexdigest()}


def write_h5(root):
    os.makedirs(root, exist_ok=True)
    with h5py.File(os.path.join(root, "grey.h5"), "w") as f:
        f.create_dataset("images", data=pattern(1000, 64, 64), chunks=(100, 64, 64), compression="gzip")
        f.create_dataset("labels", data=(np.arange(1000) % 3 * 5 - 2).astype(np.int16))
    with h5py.File(os.path.join(root, "rgb.h5"), "w") as f:
        f.create_dataset("x", data=pattern(10, 4, 5, 3))
        f.create_dataset("y", data=(np.arange(10) % 2).astype(np.uint8))
    with h5py.File(os.path.join(root, "bad.h5"), "w") as f:
        f.create_dataset("images", data=pattern(5, 4, 4))
        f.create_dataset("labels", data=np.arange(5, dtype=np.int32) % 2)
        f.create_dataset("float_images", data=pattern(5, 4, 4).astype(np.float32))
        f.create_dataset("int8_images", data=pattern(5, 4, 4).astype(np.int8))
        f.create_dataset("images_c2", data=pattern(5, 4, 4, 2))
        f.create_dataset("images_2d", data=pattern(5, 4, 4)[:, 0, :])
        f.create_dataset("labels_2d", data=(np.arange(5, dtype=np.int32) % 2).reshape(5, 1))
        f.create_dataset("labels_short", data=np.arange(4, dtype=np.int32) % 2)
        f.create_dataset("float_labels", data=np.arange(5, dtype=np.float32))
        f.create_group("group")


def idx_images(n_header, pixels, extra=b""):
    n, h, w = pixels.shape
    return struct.pack(">IIII", 0x803, n_header, h, w) + pixels.tobytes() + extra


def idx_labels(n_header, labels, extra=b""):
    return struct.pack(">II", 0x801, n_header) + bytes(labels) + extra


def write_idx(root):
    os.makedirs(root, exist_ok=True)
    px = pattern(6, 3, 4)
    labels = [3, 1, 3, 0, 1, 3]

    def put(name, data, gz=False):
        path = os.path.join(root, name + (".gz" if gz else ""))
        with (gzip.open(path, "wb") if gz else open(path, "wb")) as f:
            f.write(data)

    put("good-images-idx3-ubyte", idx_images(6, px))
    put("good-labels-idx1-ubyte", idx_labels(6, labels), gz=True)
    put("trunc-images-idx3-ubyte", idx_images(6, px)[:-7], gz=True)
    put("trunc-labels-idx1-ubyte", idx_labels(6, labels))
    put("shortlabels-images-idx3-ubyte", idx_images(6, px))
    put("shortlabels-labels-idx1-ubyte", idx_labels(6, labels)[:-2])
    put("count-images-idx3-ubyte", idx_images(6, px))
    put("count-labels-idx1-ubyte", idx_labels(5, labels[:5]))
    put("extra-images-idx3-ubyte", idx_images(6, px, b"\0\0"))
    put("extra-labels-idx1-ubyte", idx_labels(6, labels))
    put("nolabels-images-idx3-ubyte", idx_images(6, px))
    put("badmagic-images-idx3-ubyte", struct.pack(">I", 0x802) + idx_images(6, px)[4:])
    put("badmagic-labels-idx1-ubyte", idx_labels(6, labels))
    put("header-images-idx3-ubyte", idx_images(6, px)[:10])
    put("header-labels-idx1-ubyte", idx_labels(6, labels))
    # A gzip stream cut in the middle of its deflate data.
    whole = gzip.compress(idx_images(6, px))
    with open(os.path.join(root, "cut-images-idx3-ubyte.gz"), "wb") as f:
        f.write(whole[: len(whole) // 2])
    put("cut-labels-idx1-ubyte", idx_labels(6, labels))


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion():
    if not os.path.exists(os.path.join(FASHION, "train-images-idx3-ubyte.gz")):
        return None
    images = read_idx(os.path.join(FASHION, "train-images-idx3-ubyte.gz"))[:100]
    labels = read_idx(os.path.join(FASHION, "train-labels-idx1-ubyte.gz"))[:100]
    test_labels = read_idx(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz"))
    return {
        "train_labels": [int(v) for v in labels],
        "train_sums": [int(im.astype(np.int64).sum()) for im in images],
        "t10k_count": int(len(test_labels)),
        "t10k_class_counts": [int(v) for v in np.bincount(test_labels, minlength=10)],
    }


def main():
    out = sys.argv[1]
    root = os.path.join(os.path.dirname(os.path.abspath(out)), "labeled")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    result = {"photos": write_photos(os.path.join(root, "photos"))}
    write_h5(os.path.join(root, "h5"))
    write_idx(os.path.join(root, "idx"))
    result["fashion"] = fashion()
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
