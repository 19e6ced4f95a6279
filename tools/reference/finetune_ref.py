"""`ark finetune`'s recipe written in PyTorch 1.13, for the parity tests (tests/apps/
test_finetune_parity.cpp) and by hand.

    /usr/bin/python3 tools/reference/finetune_ref.py OUT.json CASE [ASSETS_DIR]
CASE fmnist: resnet18 (torchvision, num_classes=10, pretrained here briefly at 32x32 on the last
  2048 Fashion-MNIST training images: see resnet18_pretrained for why) fine-tuned on the first 512
  at 64x64 with SGD + cosine, validated on the first 256 test images.
CASE spam: a small BERT (2 x 64, seeded init, WordPiece vocabulary of the training emails)
  fine-tuned on a balanced SpamAssassin subset with AdamW + warmup + cosine (needs ASSETS_DIR,
  default ~/.cache/ark/assets; without the asset OUT.json says {"skipped": why}).
Beside OUT (STEM = OUT without ".json") it writes the inputs both sides use: STEM.init.pth (fmnist)
or the Hugging Face folder STEM.bert/ and STEM.spam_{train,val}.jsonl (spam). OUT.json, written
last, holds "model" and "ark_args" (the `ark finetune MODEL ARGS... --out RUN` command line of the
same recipe), "epochs" (one object per epoch, the fields of RUN/metrics.jsonl) and the final
"val_accuracy".

    /usr/bin/python3 tools/reference/finetune_ref.py train MODEL [ark finetune's flags] --out RESULT.json
runs any recipe of the flags below on a torchvision .pth state dict (--arch) or a BERT folder.

The recipe (what ark finetune does, in the same order):
- data: IDX images (first --max-samples in file order; grey repeated to RGB; ToTensor,
  Resize(floor(size / crop_pct), bilinear, antialias), CenterCrop(size), ImageNet Normalize), or
  JSONL texts tokenised [CLS] ... [SEP] to --max-length, padded per batch to the longest with [PAD]=0;
  classes are the sorted label values of the training data.
- order: epoch e visits the samples in epoch_permutation(n, seed, e) (ark/datasets/augment.h:
  SplitMix64), batches of --batch-size, the last one short.
- train mode, cross_entropy(label_smoothing) mean over the batch, backward, step, zero_grad.
- parameters with ndim <= 1 get no weight decay (timm's rule); SGD (momentum, dampening 0) or
  AdamW (betas 0.9/0.999, eps 1e-8); LambdaLR per optimizer step: linear warmup over W steps, then
  cosine to 0 over the remaining T - W (Hugging Face's get_cosine_schedule_with_warmup) or constant.
- per epoch: train_loss = sum of per-sample losses / samples; validation in eval mode, no grad,
  --batch-size batches in file order; val_loss without label smoothing.
"""
import argparse
import copy
import gzip
import json
import math
import os
import struct
import sys
import time
from types import SimpleNamespace

# Before torch loads OpenMP: a spinning pool on a busy 2-core machine makes the reference
# many times slower (PERF.md); the results do not depend on it.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

MASK64 = (1 << 64) - 1
FMNIST = "/usr/share/datasets/fashion-mnist"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# ---------------------------------------------------------------- ark/datasets/augment.h

class SplitMix64:
    def __init__(self, state):
        self.state = state & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)


def stream(seed, a, b):
    k1 = SplitMix64(seed).next()
    k2 = SplitMix64(k1 ^ ((a * 0xD1B54A32D192ED03) & MASK64)).next()
    return SplitMix64(k2 ^ ((b * 0xABC98388FB8FAC03) & MASK64))


def epoch_permutation(n, seed, epoch):
    g = stream(seed, epoch, MASK64)
    p = list(range(n))
    for i in range(n - 1, 0, -1):
        j = g.next() % (i + 1)
        p[i], p[j] = p[j], p[i]
    return p


# ---------------------------------------------------------------- data

def read_idx(path, max_samples=0):
    """uint8 array of an IDX file (gzipped or not): (N, H, W) images or (N,) labels."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim not in (1, 3):
        raise ValueError("%s: not an IDX uint8 file (magic 0x%x)" % (path, magic))
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)
    return arr[:max_samples] if max_samples else arr


def idx_labels_path(images_path):
    d, name = os.path.split(images_path)
    return os.path.join(d, name.replace("images", "labels").replace("idx3", "idx1"))


def read_idx_dataset(images_path, max_samples):
    x = read_idx(images_path, max_samples)
    y = read_idx(idx_labels_path(images_path), max_samples)
    assert len(x) == len(y), images_path
    return x, y.astype(np.int64)


def eval_transform(size, crop_pct):
    import torchvision.transforms as T
    return T.Compose([
        T.ToTensor(),
        T.Resize(int(math.floor(size / crop_pct)), interpolation=T.InterpolationMode.BILINEAR, antialias=True),
        T.CenterCrop(size),
        T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def grey_to_rgb(img):
    """(H, W) uint8 -> (H, W, 3), the channel repeated (LabeledData::image)."""
    return np.repeat(img[:, :, None], 3, axis=2)


def vision_tensors(images, size, crop_pct):
    tf = eval_transform(size, crop_pct)
    return torch.stack([tf(grey_to_rgb(img)) for img in images])


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------- models

def resnet18_init(path, seed, num_classes=10):
    import torchvision
    torch.manual_seed(seed)
    model = torchvision.models.resnet18(num_classes=num_classes)
    torch.save(model.state_dict(), path)


def resnet18_pretrained(path, seed, images_path, n=2048, size=32, epochs=2, batch_size=64, lr=0.05):
    """A resnet18 trained briefly on the LAST n images of `images_path` (disjoint from the first
    ones the fine-tuning uses) at size x size, saved like resnet18_init.

    Why not a random init: from random weights the first steps are chaotic: scaling every weight by
    (1 + 1e-6 * noise) changes the third step's loss by 5 % and the epoch means by 2-7 %, at any
    learning rate that trains, so two correct implementations (or PyTorch on 1 and 2 threads) cannot
    agree to 1 %. From these weights the same perturbation moves the epoch means by < 0.05 %: that
    is fine-tuning, the thing the parity test is about. Pretraining at 32x32 and fine-tuning at
    64x64 is also a real transfer: the loss starts high and falls."""
    import torchvision
    x, y = read_idx_dataset(images_path, 0)
    xs, ys = vision_tensors(x[-n:], size, 1.0), torch.from_numpy(y[-n:].copy())
    torch.manual_seed(seed)
    model = torchvision.models.resnet18(num_classes=int(ys.max()) + 1)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    steps = epochs * ((n + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_multiplier("cosine", 0, steps))
    model.train()
    for epoch in range(epochs):
        order = torch.tensor(epoch_permutation(n, seed + 1, epoch))
        for b in range(0, n, batch_size):
            idx = order[b:b + batch_size]
            F.cross_entropy(model(xs[idx]), ys[idx]).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            sched.step()
    torch.save(model.state_dict(), path)


BERT_CONFIG = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                   hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                   max_position_embeddings=128, type_vocab_size=2, initializer_range=0.02, layer_norm_eps=1e-12,
                   pad_token_id=0, position_embedding_type="absolute", model_type="bert")


def bert_init_(model, std):
    """transformers' BertPreTrainedModel._init_weights: N(0, std) matrices and embeddings (the
    padding row zero), zero biases, LayerNorm 1 / 0."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.normal_(0.0, std)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, torch.nn.Embedding):
                m.weight.normal_(0.0, std)
                if m.padding_idx is not None:
                    m.weight[m.padding_idx].zero_()
            elif isinstance(m, torch.nn.LayerNorm):
                m.weight.fill_(1.0)
                m.bias.zero_()


def bert_folder(folder, train_jsonl, seed, labels):
    """A Hugging Face BertForSequenceClassification folder: config.json, model.safetensors (seeded
    random init), vocab.txt built from the training texts, tokenizer_config.json."""
    import hf_common
    import text_encoders
    import wordpiece_vocab
    texts = [r["text"] for r in read_jsonl(train_jsonl)]
    vocab = wordpiece_vocab.build_vocab(texts)
    cfg = dict(BERT_CONFIG, vocab_size=len(vocab), num_labels=len(labels))
    torch.manual_seed(seed)
    model = text_encoders.BertForSequenceClassification(SimpleNamespace(**cfg))
    bert_init_(model, cfg["initializer_range"])
    config = dict(cfg, architectures=["BertForSequenceClassification"])
    config.pop("num_labels")
    config["id2label"] = {str(i): name for i, name in enumerate(labels)}
    config["label2id"] = {name: i for i, name in enumerate(labels)}
    hf_common.save_folder(folder, model.state_dict(), config)
    wordpiece_vocab.write_vocab(os.path.join(folder, "vocab.txt"), vocab)
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "model_max_length": cfg["max_position_embeddings"],
                   "tokenizer_class": "BertTokenizer"}, f, indent=2)


def load_bert_folder(folder):
    import safetensors_py
    import text_encoders
    from wordpiece_ref import BertTokenizer
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    cfg = dict(BERT_CONFIG)
    cfg.update({k: v for k, v in config.items() if k in BERT_CONFIG or k == "vocab_size"})
    cfg["num_labels"] = len(config["id2label"])
    model = text_encoders.BertForSequenceClassification(SimpleNamespace(**cfg))
    model.load_state_dict(safetensors_py.load(os.path.join(folder, "model.safetensors")), strict=True)
    with open(os.path.join(folder, "vocab.txt"), encoding="utf-8") as f:
        vocab = {t: i for i, t in enumerate(f.read().split("\n")[:-1])}
    labels = [config["id2label"][str(i)] for i in range(cfg["num_labels"])]
    return model, BertTokenizer(vocab), labels


# ---------------------------------------------------------------- training

def lr_multiplier(scheduler, warmup, total):
    def m(t):
        if t < warmup:
            return t / warmup
        if scheduler == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * (t - warmup) / max(1, total - warmup)))
        return 1.0
    return m


def make_optimizer(model, a):
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if a.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=a.lr, momentum=a.momentum, dampening=0, nesterov=False)
    if a.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    raise SystemExit("finetune_ref.py: unknown optimizer " + a.optimizer)


def macro_f1(pred, target, num_classes):
    f1s = []
    for c in range(num_classes):
        tp = int(((pred == c) & (target == c)).sum())
        fp = int(((pred == c) & (target != c)).sum())
        fn = int(((pred != c) & (target == c)).sum())
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / num_classes


class VisionTask:
    def __init__(self, a):
        import torchvision
        xs, ys = read_idx_dataset(a.data, a.max_samples)
        self.classes = sorted(set(int(v) for v in ys))
        remap = {c: i for i, c in enumerate(self.classes)}
        self.x = vision_tensors(xs, a.input_size, a.crop_pct)
        self.y = torch.tensor([remap[int(v)] for v in ys])
        vx, vy = read_idx_dataset(a.val_data, a.val_max_samples)
        self.vx = vision_tensors(vx, a.input_size, a.crop_pct)
        self.vy = torch.tensor([remap[int(v)] for v in vy])
        self.model = getattr(torchvision.models, a.arch)(num_classes=len(self.classes))
        self.model.load_state_dict(torch.load(a.model, map_location="cpu"), strict=True)

    def n(self):
        return len(self.y)

    def n_val(self):
        return len(self.vy)

    def train_batch(self, idx):
        return self.model(self.x[idx]), self.y[idx]

    def val_batch(self, lo, hi):
        return self.model(self.vx[lo:hi]), self.vy[lo:hi]


class TextTask:
    def __init__(self, a):
        self.model, self.tok, labels = load_bert_folder(a.model)
        rows = read_jsonl(a.data)
        self.classes = sorted(set(r["label"] for r in rows))
        assert len(self.classes) == len(labels), (self.classes, labels)
        remap = {c: i for i, c in enumerate(self.classes)}
        self.max_length = a.max_length

        def encode(rs):
            return ([self.tok.encode_plus(r["text"], max_length=self.max_length, truncation=True)["ids"] for r in rs],
                    torch.tensor([remap[r["label"]] for r in rs]))
        self.ids, self.y = encode(rows)
        self.vids, self.vy = encode(read_jsonl(a.val_data))

    @staticmethod
    def pad(seqs):
        longest = max(len(s) for s in seqs)
        ids = torch.zeros(len(seqs), longest, dtype=torch.long)
        mask = torch.zeros(len(seqs), longest, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.tensor(s)
            mask[i, :len(s)] = 1
        return ids, mask

    def n(self):
        return len(self.y)

    def n_val(self):
        return len(self.vy)

    def logits(self, seqs):
        ids, mask = self.pad(seqs)
        return self.model(ids, mask, torch.zeros_like(ids))[1]

    def train_batch(self, idx):
        return self.logits([self.ids[i] for i in idx]), self.y[idx]

    def val_batch(self, lo, hi):
        return self.logits(self.vids[lo:hi]), self.vy[lo:hi]


def train(a, verbose=True):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)  # nothing should draw from it (no dropout); fixed anyway
    task = TextTask(a) if os.path.isdir(a.model) else VisionTask(a)
    model = task.model
    n, bs = task.n(), a.batch_size
    steps_per_epoch = (n + bs - 1) // bs
    total = a.epochs * steps_per_epoch
    opt = make_optimizer(model, a)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_multiplier(a.scheduler, a.warmup, total))
    epochs = []
    for epoch in range(a.epochs):
        t0 = time.time()
        model.train()
        order = torch.tensor(epoch_permutation(n, a.seed, epoch))
        loss_sum, correct = 0.0, 0
        for b in range(steps_per_epoch):
            idx = order[b * bs:(b + 1) * bs]
            logits, y = task.train_batch(idx)
            loss = F.cross_entropy(logits, y, label_smoothing=a.label_smoothing)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            lr = opt.param_groups[0]["lr"]
            sched.step()
            loss_sum += float(loss) * len(idx)
            correct += int((logits.detach().argmax(1) == y).sum())
        model.eval()
        vloss, preds, top5 = 0.0, [], 0
        with torch.no_grad():
            for lo in range(0, task.n_val(), bs):
                logits, y = task.val_batch(lo, lo + bs)
                vloss += float(F.cross_entropy(logits, y, reduction="sum"))
                preds.append(logits.argmax(1))
                k = min(5, logits.size(1))
                top5 += int((logits.topk(k, 1).indices == y[:, None]).any(1).sum())
        pred = torch.cat(preds)
        nv = task.n_val()
        epochs.append({
            "epoch": epoch + 1, "train_loss": loss_sum / n, "train_accuracy": correct / n,
            "val_loss": vloss / nv, "val_accuracy": int((pred == task.vy).sum()) / nv, "val_top5": top5 / nv,
            "val_macro_f1": macro_f1(pred, task.vy, len(task.classes)), "lr": lr, "seconds": time.time() - t0,
        })
        if verbose:
            print(json.dumps(epochs[-1]), file=sys.stderr)
    return {"epochs": epochs, "val_accuracy": epochs[-1]["val_accuracy"]}


def parser():
    ap = argparse.ArgumentParser(description="ark finetune's recipe in PyTorch")
    ap.add_argument("model", help="torchvision state dict (.pth) with --arch, or a BERT folder")
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--data", required=True)
    ap.add_argument("--max-samples", type=int, default=0)
    ap.add_argument("--val-data", required=True)
    ap.add_argument("--val-max-samples", type=int, default=0)
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--crop-pct", type=float, default=0.875)
    ap.add_argument("--no-augment", action="store_true", help="required: the reference has no augmentation")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--optimizer", choices=["sgd", "adamw"], default="adamw")
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--scheduler", choices=["cosine", "constant"], default="cosine")
    ap.add_argument("--warmup", type=int, default=0, help="warmup steps")
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1, help="ignored (the reference loads in the main thread)")
    ap.add_argument("--out", required=True, help="result JSON")
    return ap


# ---------------------------------------------------------------- the test cases

def case_fmnist(stem):
    init = stem + ".init.pth"
    torch.set_num_threads(2)
    resnet18_pretrained(init, 0, FMNIST + "/train-images-idx3-ubyte.gz")
    args = ["--arch", "resnet18", "--data", FMNIST + "/train-images-idx3-ubyte.gz", "--max-samples", "512",
            "--val-data", FMNIST + "/t10k-images-idx3-ubyte.gz", "--val-max-samples", "256",
            "--input-size", "64", "--crop-pct", "1.0", "--no-augment", "--optimizer", "sgd", "--momentum", "0.9",
            "--lr", "0.01", "--weight-decay", "1e-4", "--scheduler", "cosine", "--warmup", "0",
            "--label-smoothing", "0", "--epochs", "3", "--batch-size", "32", "--seed", "7", "--threads", "2",
            "--workers", "1"]
    return init, args


def case_spam(stem, assets):
    import spam_data
    split = spam_data.make_split(assets, 400, 200)
    if split is None:
        return None, "no spam-assassin-0.2.3 under " + assets
    train_path, val_path = stem + ".spam_train.jsonl", stem + ".spam_val.jsonl"
    spam_data.write_jsonl(train_path, split[0])
    spam_data.write_jsonl(val_path, split[1])
    folder = stem + ".bert"
    bert_folder(folder, train_path, seed=0, labels=["ham", "spam"])
    args = ["--data", train_path, "--val-data", val_path, "--max-length", "128", "--optimizer", "adamw",
            "--lr", "2e-3", "--weight-decay", "0.01", "--scheduler", "cosine", "--warmup", "10",
            "--label-smoothing", "0", "--epochs", "3", "--batch-size", "16", "--seed", "7", "--threads", "2",
            "--workers", "1"]
    return folder, args


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "train":
        a = parser().parse_args(sys.argv[2:])
        if not os.path.isdir(a.model) and not a.no_augment:
            raise SystemExit("finetune_ref.py: pass --no-augment (the reference has no augmentation)")
        result = train(a)
    else:
        if len(sys.argv) < 3 or sys.argv[2] not in ("fmnist", "spam"):
            raise SystemExit(__doc__)
        out, case = sys.argv[1], sys.argv[2]
        assets = sys.argv[3] if len(sys.argv) > 3 else os.path.expanduser("~/.cache/ark/assets")
        stem = out[:-5] if out.endswith(".json") else out
        model, args = case_fmnist(stem) if case == "fmnist" else case_spam(stem, assets)
        if model is None:
            result = {"skipped": args}
        else:
            result = train(parser().parse_args([model] + args + ["--out", out]), verbose=False)
            result.update({"model": model, "ark_args": args})
        a = SimpleNamespace(out=out)
    with open(a.out + ".tmp", "w") as f:
        json.dump(result, f, indent=1)
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
