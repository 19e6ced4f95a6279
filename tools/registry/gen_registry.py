#!/usr/bin/env python3
"""Generates pretrained/ark/pretrained/registry.json and imagenet_labels.txt, ark's pretrained
weights registry (compiled into libark_pretrained by tools/registry/embed.cmake).

Run once with Debian's /usr/bin/python3 (torchvision 0.14) and commit the output:
    /usr/bin/python3 tools/registry/gen_registry.py NSFWJS_MODEL_JSON_SHA256=<hex> NSFWJS_ST_SIZE=<bytes> NSFWJS_ST_SHA256=<hex>
(the nsfwjs pins: the sha256 of fetch_assets.sh's model.json, and the size and sha256 of the
safetensors `ark convert mobilenet_v2_keras.nsfwjs_tfjs` writes; scripts/make_mirror.sh prints them)

Sources:
  * vision: torchvision 0.14's Weights enums for every architecture ark implements: the URL, the
    eval transform (crop, resize, interpolation, mean, std) and meta["categories"] (the 1000
    ImageNet class names, written once to imagenet_labels.txt and referenced as "imagenet-1k").
    torchvision pins the first 8 hex digits of each file's sha256 in its name (torch.hub's
    check_hash): that prefix is the entry's sha256 ("prefix" pin). Sizes are unknown offline.
  * text: the Hugging Face Hub files of four repositories, resolved through the Hub's
    /resolve/<revision>/ scheme. Their sha256 and sizes could not be looked up offline, so sha256
    is empty: the downloader verifies each file against the Hub's X-Linked-Etag / X-Linked-Size.
  * offline: nsfwjs@4.4.0's Keras MobileNetV2 (scripts/fetch_assets.sh), served from the local
    mirror scripts/make_mirror.sh builds; every file's sha256 pinned in full.
"""
import json
import os
import sys

import torchvision
from torchvision.models import get_model_weights

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "pretrained", "ark", "pretrained")

# ark architecture -> (torchvision weights enum member -> tag, license)
VISION = {
    "resnet18": {"IMAGENET1K_V1": "tv_in1k"},
    "resnet34": {"IMAGENET1K_V1": "tv_in1k"},
    "resnet50": {"IMAGENET1K_V1": "tv_in1k", "IMAGENET1K_V2": "tv2_in1k"},
    "resnet101": {"IMAGENET1K_V1": "tv_in1k", "IMAGENET1K_V2": "tv2_in1k"},
    "resnet152": {"IMAGENET1K_V1": "tv_in1k", "IMAGENET1K_V2": "tv2_in1k"},
    "resnext50_32x4d": {"IMAGENET1K_V1": "tv_in1k", "IMAGENET1K_V2": "tv2_in1k"},
    "wide_resnet50_2": {"IMAGENET1K_V1": "tv_in1k", "IMAGENET1K_V2": "tv2_in1k"},
    "vit_b_16": {"IMAGENET1K_V1": "tv_in1k", "IMAGENET1K_SWAG_E2E_V1": "swag_e2e_in1k",
                 "IMAGENET1K_SWAG_LINEAR_V1": "swag_lin_in1k"},
    "vit_b_32": {"IMAGENET1K_V1": "tv_in1k"},
    "vit_l_16": {"IMAGENET1K_V1": "tv_in1k", "IMAGENET1K_SWAG_E2E_V1": "swag_e2e_in1k",
                 "IMAGENET1K_SWAG_LINEAR_V1": "swag_lin_in1k"},
    "mobilenet_v2": {"IMAGENET1K_V1": "tv_in1k", "IMAGENET1K_V2": "tv2_in1k"},
}

HF = "https://huggingface.co"


def hf_files(repo, names):
    return [{"name": n, "urls": [f"{HF}/{repo}/resolve/main/{n}"]} for n in names]


TEXT = [
    {
        "name": "bert-base-uncased", "architecture": "bert", "repo": "google-bert/bert-base-uncased",
        "weights": "model.safetensors", "tokenizer": ["tokenizer.json", "tokenizer_config.json", "vocab.txt"],
        "license": "apache-2.0", "tasks": ["fill-mask", "feature-extraction"],
        "description": "BERT base (uncased), 110M parameters, Google's original English checkpoint",
    },
    {
        "name": "distilbert-base-uncased", "architecture": "distilbert", "repo": "distilbert/distilbert-base-uncased",
        "weights": "model.safetensors", "tokenizer": ["tokenizer.json", "tokenizer_config.json", "vocab.txt"],
        "license": "apache-2.0", "tasks": ["fill-mask", "feature-extraction"],
        "description": "DistilBERT base (uncased), 66M parameters, distilled from bert-base-uncased",
    },
    {
        "name": "gpt2", "architecture": "gpt2", "repo": "openai-community/gpt2",
        "weights": "model.safetensors", "tokenizer": ["tokenizer.json", "vocab.json", "merges.txt"],
        "license": "mit", "tasks": ["text-generation"],
        "description": "GPT-2 small, 124M parameters, OpenAI",
    },
    {
        "name": "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "architecture": "llama",
        "repo": "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "weights": "model.safetensors",
        "tokenizer": ["tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json"],
        "license": "apache-2.0", "tasks": ["text-generation", "chat"],
        "description": "TinyLlama 1.1B chat v1.0 (LLaMA 2 architecture, 22 layers, grouped-query attention)",
    },
]

# nsfwjs@4.4.0 (npm, MIT): the Keras MobileNetV2 backbone of its 5-class NSFW classifier, as TF.js
# files (fetch_assets.sh decodes them; the shard's sha256 is pinned there too) and as the
# safetensors `ark convert` writes from them (make_mirror.sh checks it against the pin below).
NSFWJS_MODEL_JSON = ("model.json", 117928, "@NSFWJS_MODEL_JSON_SHA256@")
NSFWJS_SHARD = ("group1-shard1of1", 2619461, "8e7dddbb16acacc1bf1601b1b8a761e730ff934b7f2d7771312b2f000e5f5f13")
NSFWJS_SAFETENSORS = ("model.safetensors", "@NSFWJS_ST_SIZE@", "@NSFWJS_ST_SHA256@")
NSFWJS_PRE = {"input_size": [3, 224, 224], "crop_pct": 1.0, "interpolation": "bilinear",
              "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
NSFWJS_NOTE = ("nsfwjs@4.4.0's Keras MobileNetV2 backbone (uint8-quantized TF.js weights, dequantized). "
               "nsfwjs' head (Dense 256 -> 128 -> 5: Drawing, Hentai, Neutral, Porn, Sexy) is not an ark "
               "architecture and is dropped: the model returns pooled 1280-d features. nsfwjs resizes the "
               "whole image to 224x224 (bilinear, align_corners) and scales to [0, 1].")


def vision_entries():
    entries, labels = [], None
    for arch, tags in VISION.items():
        weights = get_model_weights(arch)
        for member, tag in tags.items():
            w = weights[member]
            t = w.transforms()
            cats = list(w.meta["categories"])
            if labels is None:
                labels = cats
            assert cats == labels, f"{arch}.{member}: other categories"
            crop, resize = t.crop_size[0], t.resize_size[0]
            fname = w.url.rsplit("/", 1)[1]
            prefix = fname.rsplit("-", 1)[1].split(".")[0]
            assert len(prefix) >= 8 and all(c in "0123456789abcdef" for c in prefix), fname
            config = {"num_classes": len(cats)}
            if arch.startswith("vit") and crop != 224:
                config["image_size"] = crop
            lic = w.meta.get("license", "")
            lic = "cc-by-nc-4.0" if "SWAG" in member else "bsd-3-clause"
            docs = " ".join(w.meta.get("_docs", "").split())
            metrics = w.meta.get("_metrics", {}).get("ImageNet-1K", {})
            entries.append({
                "name": f"{arch}.{tag}",
                "architecture": arch,
                "config": config,
                "files": [{"name": fname, "sha256": prefix, "urls": [w.url]}],
                "weights": fname,
                "format": "pth",
                "remap": "torchvision",
                "preprocess": {"input_size": [3, crop, crop], "resize_size": resize,
                               "crop_pct": round(crop / resize, 4),
                               "interpolation": t.interpolation.value,
                               "mean": list(t.mean), "std": list(t.std)},
                "labels": "imagenet-1k",
                "license": lic,
                "source": f"torchvision 0.14 {type(w).__name__}.{member}",
                "tasks": ["image-classification"],
                "description": (f"ImageNet-1k top-1 {metrics['acc@1']}%, top-5 {metrics['acc@5']}%. " if metrics else "")
                + docs,
                "num_params": w.meta.get("num_params"),
            })
    return entries, labels


def text_entries():
    out = []
    for t in TEXT:
        files = ["config.json", t["weights"]] + t["tokenizer"]
        out.append({
            "name": t["name"],
            "architecture": t["architecture"],
            "config": {"file": "config.json"},
            "files": hf_files(t["repo"], files),
            "weights": t["weights"],
            "format": "safetensors",
            "remap": "huggingface",
            "tokenizer": t["tokenizer"],
            "license": t["license"],
            "source": f"huggingface.co/{t['repo']} (revision main; sha256 from the Hub's X-Linked-Etag at download)",
            "tasks": t["tasks"],
            "description": t["description"],
        })
    return out


def offline_entries():
    def spec(f):
        return {"name": f[0], "size": f[1], "sha256": f[2], "urls": []}
    return [
        {
            "name": "mobilenet_v2_keras.nsfwjs",
            "architecture": "mobilenet_v2_keras",
            "config": {"num_classes": 0},
            "files": [spec(NSFWJS_SAFETENSORS)],
            "weights": NSFWJS_SAFETENSORS[0],
            "format": "safetensors",
            "remap": "identity",
            "preprocess": NSFWJS_PRE,
            "license": "mit",
            "source": "npm nsfwjs@4.4.0, converted by scripts/make_mirror.sh (ark convert, deterministic); "
                      "offline: served from ARK_ENDPOINT=<mirror>",
            "tasks": ["feature-extraction", "offline"],
            "description": NSFWJS_NOTE,
        },
        {
            "name": "mobilenet_v2_keras.nsfwjs_tfjs",
            "architecture": "mobilenet_v2_keras",
            "config": {"num_classes": 0},
            "files": [spec(NSFWJS_MODEL_JSON), spec(NSFWJS_SHARD)],
            "weights": NSFWJS_MODEL_JSON[0],
            "format": "tfjs",
            "remap": "keras",
            "drop_keys": ["dense_1/", "dense_2/", "dense_3/"],
            "preprocess": NSFWJS_PRE,
            "license": "mit",
            "source": "npm nsfwjs@4.4.0 dist/models/mobilenet_v2 (scripts/fetch_assets.sh); "
                      "offline: served from ARK_ENDPOINT=<mirror>",
            "tasks": ["feature-extraction", "offline"],
            "description": NSFWJS_NOTE,
        },
    ]


def main():
    pins = {}
    for arg in sys.argv[1:]:
        k, v = arg.split("=", 1)
        pins[k] = v
    vision, labels = vision_entries()
    assert len(labels) == 1000
    entries = vision + text_entries() + offline_entries()
    text = json.dumps({"version": 1, "entries": entries}, indent=1, ensure_ascii=False)
    for k, v in pins.items():
        text = text.replace(f'"@{k}@"', v if k.endswith("_SIZE") else f'"{v}"')
    assert "@NSFWJS" not in text, "pass NSFWJS_MODEL_JSON_SHA256=, NSFWJS_ST_SIZE=, NSFWJS_ST_SHA256="
    with open(os.path.join(OUT, "registry.json"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(OUT, "imagenet_labels.txt"), "w") as f:
        f.write("\n".join(labels) + "\n")
    print(f"{len(entries)} entries, {len(labels)} labels -> {OUT}")


if __name__ == "__main__":
    main()
