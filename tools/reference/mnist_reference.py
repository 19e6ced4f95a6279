"""The classic MNIST recipe of tests/libtorch/mnist_classic.cpp in PyTorch 1.13, on the same
IDX files: prints the test accuracy after one epoch. The test compares ark's accuracy with it.

Run: /usr/bin/python3 tools/reference/mnist_reference.py OUT.json [DATA_DIR]
"""
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(root, prefix):
    def find(name):
        for cand in (name, name + ".gz"):
            if os.path.exists(os.path.join(root, cand)):
                return os.path.join(root, cand)
        raise FileNotFoundError(name)
    x = torch.from_numpy(read_idx(find(f"{prefix}-images-idx3-ubyte")).copy()).float().div_(255).unsqueeze(1)
    y = torch.from_numpy(read_idx(find(f"{prefix}-labels-idx1-ubyte")).copy()).long()
    return (x - 0.1307) / 0.3081, y


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, 5)
        self.conv2 = nn.Conv2d(10, 20, 5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = x.view(-1, 320)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, 0.5, self.training)
        return F.log_softmax(self.fc2(x), 1)


def main(out, root="/usr/share/datasets/fashion-mnist", seed=1):
    seed = int(seed)
    torch.manual_seed(seed)
    xtr, ytr = load(root, "train")
    xte, yte = load(root, "t10k")
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    start = time.time()
    model.train()
    for i in range(0, len(xtr), 64):
        opt.zero_grad()
        loss = F.nll_loss(model(xtr[i:i + 64]), ytr[i:i + 64])
        loss.backward()
        opt.step()
    train_seconds = time.time() - start
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(xte), 1000):
            correct += (model(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item()
    result = {"accuracy": correct / len(xte), "train_seconds": train_seconds, "seed": seed}
    with open(out, "w") as f:
        json.dump(result, f)
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:])
