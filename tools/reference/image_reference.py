"""Reference values for ark's image decoding and preprocessing tests (tests/datasets/test_image*.cpp),
computed the way torchvision 0.14 users get them: PIL decodes (torchvision's default loader,
Image.open(f).convert("RGB")), then the tensor transforms of timm's eval pipeline
    ToTensor -> Resize(scale_size, interpolation, antialias) -> CenterCrop(H, W) -> Normalize(mean, std)
with scale_size = floor(H / crop_pct) for a square input, (int(H / crop_pct), int(W / crop_pct)) otherwise.
ark applies EXIF orientation and torchvision's loader does not, so PIL's pixels go through
ImageOps.exif_transpose here (a no-op for the photos, which carry orientation 1).

Writes one safetensors file:
  photo.<name>.rgb            uint8 (H, W, 3)  PIL's decoded pixels
  photo.<name>.<case>         float32 (3, H, W) the preprocessed input
  conv.<kind>.bytes / .rgb    an encoded image of each colour type / bit depth (uint8 bytes) and PIL's RGB
  exif.<fmt>.<o>.bytes / .rgb an image with EXIF orientation o (1-8) and the expected RGB (the
                              unrotated pixels transposed as ImageOps.exif_transpose does)
A 12-megapixel JPEG (kite.jpg enlarged to 4000 x 3000) is written beside the output for the speed
test and checked at 224 like the photos (its decoded pixels are not stored: 36 MB).
Metadata: "case.<case>" = "C H W crop_pct interpolation antialias mean0 mean1 mean2 std0 std1 std2",
"case_photos.<case>" = comma-separated photo names, "photo.<name>" = its path, "versions".

Photos: darknet's samples (Debian package darknet) and skimage's (python3-skimage); missing ones
are left out (the C++ tests then skip them and say so).

Run: /usr/bin/python3 tools/reference/image_reference.py OUT.safetensors
"""
import io
import math
import os
import struct
import sys
import zlib

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image, ImageOps
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_py  # noqa: E402

DARKNET = "/usr/share/darknet/data"
SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"
PHOTOS = {name: f"{DARKNET}/{name}.jpg" for name in ["dog", "eagle", "giraffe", "horses", "kite", "person", "scream"]}
PHOTOS.update({"astronaut": f"{SKIMAGE}/astronaut.png", "chelsea": f"{SKIMAGE}/chelsea.png",
               "coffee": f"{SKIMAGE}/coffee.png", "rocket": f"{SKIMAGE}/rocket.jpg"})

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
INCEPTION = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
ALL = list(PHOTOS)
# name: (input_size, crop_pct, interpolation, antialias, (mean, std), photos)
CASES = {
    "224_crop0.875_bilinear": ((3, 224, 224), 0.875, "bilinear", True, IMAGENET, ALL),  # 256 -> 224
    "224_crop0.875_bicubic": ((3, 224, 224), 0.875, "bicubic", True, IMAGENET, ALL),
    "224_crop0.95_bicubic": ((3, 224, 224), 0.95, "bicubic", True, IMAGENET, ALL),  # 235 -> 224
    "384_crop1.0_bicubic": ((3, 384, 384), 1.0, "bicubic", True, IMAGENET, ["dog", "kite", "astronaut", "coffee"]),
    "384_crop1.0_bilinear": ((3, 384, 384), 1.0, "bilinear", True, IMAGENET, ["dog", "kite", "astronaut", "coffee"]),
    "512_crop1.0_bilinear_upscale": ((3, 512, 512), 1.0, "bilinear", True, IMAGENET, ["scream", "chelsea"]),
    "512_crop1.0_bicubic_upscale": ((3, 512, 512), 1.0, "bicubic", True, IMAGENET, ["scream", "chelsea"]),
    "32_crop1.0_bilinear": ((3, 32, 32), 1.0, "bilinear", True, IMAGENET, ALL),
    "32_crop1.0_bicubic": ((3, 32, 32), 1.0, "bicubic", True, IMAGENET, ALL),
    "299_crop0.875_bicubic_inception": ((3, 299, 299), 0.875, "bicubic", True, INCEPTION, ["eagle", "giraffe"]),
    "256x192_crop0.95_bilinear": ((3, 256, 192), 0.95, "bilinear", True, IMAGENET, ALL),
    "224_crop1.2_bilinear_pad": ((3, 224, 224), 1.2, "bilinear", True, IMAGENET, ["horses", "scream"]),
    "224_crop0.875_nearest": ((3, 224, 224), 0.875, "nearest", False, IMAGENET, ["dog", "rocket"]),
    "224_crop0.875_bilinear_noaa": ((3, 224, 224), 0.875, "bilinear", False, IMAGENET, ["dog", "kite"]),
    "224_crop0.875_bicubic_noaa": ((3, 224, 224), 0.875, "bicubic", False, IMAGENET, ["dog", "kite"]),
}
MODES = {"nearest": InterpolationMode.NEAREST, "bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC}


def pil_rgb(im):
    return ImageOps.exif_transpose(im).convert("RGB")


def eval_transform(input_size, crop_pct, interpolation, antialias, mean, std):
    _, h, w = input_size
    scale = math.floor(h / crop_pct) if h == w else (int(h / crop_pct), int(w / crop_pct))
    return T.Compose([T.Resize(scale, interpolation=MODES[interpolation], antialias=antialias),
                      T.CenterCrop((h, w)), T.Normalize(mean, std)])


def u8(a):
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.uint8))


def png_bytes(width, height, color_type, bit_depth, rows):
    """A PNG written by hand (PIL cannot write 16-bit colour PNGs)."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def encode(im, fmt, **kw):
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def conversion_cases(base):
    """Encoded images of every colour type we convert, from a real photo crop."""
    rgb = np.asarray(base)
    h, w, _ = rgb.shape
    alpha = ((np.arange(h)[:, None] * 7 + np.arange(w)[None, :] * 13) % 256).astype(np.uint8)
    rgba = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    grey = base.convert("L")
    pal = base.convert("P", palette=Image.ADAPTIVE, colors=16)
    rng = np.random.default_rng(0)
    noise16 = rng.integers(0, 256, (h, w, 4)).astype(np.uint16)
    rgb16 = rgb.astype(np.uint16) * 257 + noise16[..., :3]  # low bytes vary: high byte must be kept
    rgba16 = np.dstack([rgb16, alpha.astype(np.uint16) * 257])
    grey16_small = (np.asarray(grey).astype(np.uint16) + noise16[..., 0] * 4)  # 0..1275: clipping shows
    grey16_full = np.asarray(grey).astype(np.uint16) * 257
    cases = {
        "png_rgb": encode(base, "PNG"),
        "png_grey": encode(grey, "PNG"),
        "png_rgba": encode(rgba, "PNG"),
        "png_la": encode(rgba.convert("LA"), "PNG"),
        "png_palette": encode(pal, "PNG"),
        "png_palette_trns": encode(pal, "PNG", transparency=3),
        "png_1bit": encode(grey.convert("1"), "PNG"),
        "png_rgb16": png_bytes(w, h, 2, 16, [rgb16[y].astype(">u2").tobytes() for y in range(h)]),
        "png_rgba16": png_bytes(w, h, 6, 16, [rgba16[y].astype(">u2").tobytes() for y in range(h)]),
        "png_grey16_small": png_bytes(w, h, 0, 16, [grey16_small[y].astype(">u2").tobytes() for y in range(h)]),
        "png_grey16_full": png_bytes(w, h, 0, 16, [grey16_full[y].astype(">u2").tobytes() for y in range(h)]),
        "jpeg_rgb_420": encode(base, "JPEG", quality=90),
        "jpeg_rgb_444": encode(base, "JPEG", quality=90, subsampling=0),
        "jpeg_progressive": encode(base, "JPEG", quality=85, progressive=True),
        "jpeg_grey": encode(grey, "JPEG", quality=90),
        "jpeg_cmyk": encode(base.convert("CMYK"), "JPEG", quality=95),
        "webp_lossless": encode(base, "WEBP", lossless=True),
        "webp_lossy": encode(base, "WEBP", quality=80),
        "webp_rgba_lossless": encode(rgba, "WEBP", lossless=True),
        "webp_rgba_lossy": encode(rgba, "WEBP", quality=80),
        "tiff_rgb": encode(base, "TIFF"),
        "tiff_rgb_lzw": encode(base, "TIFF", compression="tiff_lzw"),
        "tiff_rgba": encode(rgba, "TIFF"),
        "tiff_grey": encode(grey, "TIFF"),
        "tiff_grey16": encode(Image.fromarray(grey16_small, "I;16"), "TIFF"),
        "bmp_rgb": encode(base, "BMP"),
        "bmp_rgba": encode(rgba, "BMP"),
        "bmp_palette": encode(pal, "BMP"),
        "bmp_grey": encode(grey, "BMP"),
    }
    return cases


def exif_cases(base):
    out = {}
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        out[("jpeg", o)] = encode(base, "JPEG", quality=95, exif=exif.tobytes())
        out[("png", o)] = encode(base, "PNG", exif=exif.tobytes())
        out[("webp", o)] = encode(base, "WEBP", lossless=True, exif=exif.tobytes())
        out[("tiff", o)] = encode(base, "TIFF", tiffinfo={0x0112: o})
    return out


def main(out_path):
    tensors, meta = {}, {}
    photos = {n: p for n, p in PHOTOS.items() if os.path.exists(p)}
    big = os.path.join(os.path.dirname(os.path.abspath(out_path)), "kite_12mp.jpg")
    if "kite" in photos:
        Image.open(photos["kite"]).convert("RGB").resize((4000, 3000), Image.BICUBIC).save(big + ".tmp", "JPEG", quality=90)
        os.replace(big + ".tmp", big)
        photos["kite12mp"] = big
    for name, path in photos.items():
        meta["photo." + name] = path
        rgb = pil_rgb(Image.open(path))
        if name != "kite12mp":
            tensors[f"photo.{name}.rgb"] = u8(np.asarray(rgb))
        x = T.ToTensor()(rgb)
        for case, (size, crop_pct, interp, aa, (mean, std), names) in CASES.items():
            if name in names or (name == "kite12mp" and case.startswith("224_crop0.875_bi") and "noaa" not in case):
                tensors[f"photo.{name}.{case}"] = eval_transform(size, crop_pct, interp, aa, mean, std)(x).contiguous()
    for case, (size, crop_pct, interp, aa, (mean, std), names) in CASES.items():
        meta["case." + case] = " ".join(str(v) for v in [*size, crop_pct, interp, int(aa), *mean, *std])
        meta["case_photos." + case] = ",".join(n for n in photos if n in names or (
            n == "kite12mp" and case.startswith("224_crop0.875_bi") and "noaa" not in case))

    # A real-photo crop for the format fixtures (a synthetic fallback keeps the file complete).
    src = PHOTOS["chelsea"]
    base = Image.open(src).convert("RGB").crop((150, 60, 211, 97)) if os.path.exists(src) else \
        Image.fromarray(np.random.default_rng(1).integers(0, 256, (37, 61, 3), dtype=np.uint8))
    for kind, data in conversion_cases(base).items():
        tensors[f"conv.{kind}.bytes"] = u8(np.frombuffer(data, dtype=np.uint8))
        tensors[f"conv.{kind}.rgb"] = u8(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    # Expected: the unrotated pixels transposed as exif_transpose does. For TIFF, Pillow 9.4 mixes
    # libtiff's own orientation handling with exif_transpose (orientations 2-5 and 7 come out
    # unrotated), so the table below is the reference there; for the others it equals PIL's result.
    small = base.crop((0, 0, 40, 24))
    method = {2: Image.FLIP_LEFT_RIGHT, 3: Image.ROTATE_180, 4: Image.FLIP_TOP_BOTTOM, 5: Image.TRANSPOSE,
              6: Image.ROTATE_270, 7: Image.TRANSVERSE, 8: Image.ROTATE_90}
    cases = exif_cases(small)
    for (fmt, o), data in cases.items():
        plain = Image.open(io.BytesIO(cases[(fmt, 1)])).convert("RGB")
        expected = plain.transpose(method[o]) if o > 1 else plain
        if fmt != "tiff":
            assert np.array_equal(np.asarray(expected), np.asarray(pil_rgb(Image.open(io.BytesIO(data))))), (fmt, o)
        tensors[f"exif.{fmt}.{o}.bytes"] = u8(np.frombuffer(data, dtype=np.uint8))
        tensors[f"exif.{fmt}.{o}.rgb"] = u8(np.asarray(expected))
    meta["versions"] = f"torch {torch.__version__}, torchvision {torchvision.__version__}, PIL {PIL.__version__}"
    meta["script"] = "tools/reference/image_reference.py"
    safetensors_py.save(out_path, tensors, meta)


if __name__ == "__main__":
    main(sys.argv[1])
