"""PyTorch 1.13's side of tools/bench/finetune_bench.sh: one fine-tuning epoch of a torchvision
model on IDX images, the way a PyTorch user writes it (torch.utils.data.DataLoader with
torchvision transforms in worker processes), doing what `ark finetune ... --no-augment
--epochs 1` does: load the weights, read the data, train one epoch (train mode, cross-entropy,
AdamW with timm's no-decay groups, cosine schedule per step), validate, save the weights.

    finetune_torch.py init OUT.pth [--seed S] [--arch resnet18] [--num-classes 10]
    finetune_torch.py train INIT.pth --data IMAGES.idx3-ubyte.gz --max-samples N --val-data ...
        --val-max-samples M [--arch resnet18] [--input-size 64] [--batch-size 64] [--lr 1e-3]
        [--threads 2] [--workers 1] [--seed 7] --json OUT.json

OUT.json: epoch_seconds (from creating the DataLoader iterator, which starts the workers, to the
end of the last optimizer step: the same span as ark's train_seconds plus the worker start),
total_seconds (the whole process after the imports), train_loss, val_accuracy.
Set OMP_NUM_THREADS before starting it (the bench script does): torch reads it at import.
"""
import argparse
import json
import os
import sys
import time

T_START = time.time()
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402

import finetune_ref as ref  # noqa: E402  (IDX reader, transform, epoch order, optimizer groups)


class IdxImages(torch.utils.data.Dataset):
    """uint8 images in memory; each item is transformed when the loader asks for it."""

    def __init__(self, images_path, max_samples, size, crop_pct):
        self.x, self.y = ref.read_idx_dataset(images_path, max_samples)
        self.tf = ref.eval_transform(size, crop_pct)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.tf(ref.grey_to_rgb(self.x[i])), int(self.y[i])


def train(a):
    torch.set_num_threads(a.threads)
    t_begin = time.time()
    model = getattr(torchvision.models, a.arch)(num_classes=a.num_classes)
    model.load_state_dict(torch.load(a.model, map_location="cpu"))
    train_set = IdxImages(a.data, a.max_samples, a.input_size, a.crop_pct)
    val_set = IdxImages(a.val_data, a.val_max_samples, a.input_size, a.crop_pct)
    n = len(train_set)
    steps = (n + a.batch_size - 1) // a.batch_size
    opt = ref.make_optimizer(model, a)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, ref.lr_multiplier("cosine", 0, steps))
    loader = torch.utils.data.DataLoader(train_set, batch_size=a.batch_size, sampler=ref.epoch_permutation(n, a.seed, 0),
                                         num_workers=a.workers)
    model.train()
    t0 = time.time()
    loss_sum, seen = 0.0, 0
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sched.step()
        loss_sum += loss.item() * len(y)
        seen += len(y)
    epoch_seconds = time.time() - t0
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(val_set, batch_size=a.batch_size, num_workers=a.workers):
            correct += int((model(x).argmax(1) == y).sum())
    torch.save(model.state_dict(), a.json + ".pth")
    return {"epoch_seconds": epoch_seconds, "total_seconds": time.time() - t_begin,
            "import_seconds": t_begin - T_START, "train_loss": loss_sum / seen,
            "val_accuracy": correct / len(val_set), "samples": seen}


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "init":
        ap = argparse.ArgumentParser()
        ap.add_argument("out")
        ap.add_argument("--seed", type=int, default=0)
        ap.add_argument("--arch", default="resnet18")
        ap.add_argument("--num-classes", type=int, default=10)
        a = ap.parse_args(sys.argv[2:])
        torch.manual_seed(a.seed)
        torch.save(getattr(torchvision.models, a.arch)(num_classes=a.num_classes).state_dict(), a.out)
        return
    if len(sys.argv) < 2 or sys.argv[1] != "train":
        sys.exit(__doc__)
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--num-classes", type=int, default=10)
    ap.add_argument("--data", required=True)
    ap.add_argument("--max-samples", type=int, default=0)
    ap.add_argument("--val-data", required=True)
    ap.add_argument("--val-max-samples", type=int, default=0)
    ap.add_argument("--input-size", type=int, default=64)
    ap.add_argument("--crop-pct", type=float, default=1.0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--optimizer", default="adamw")
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", required=True)
    a = ap.parse_args(sys.argv[2:])
    result = train(a)
    with open(a.json, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
