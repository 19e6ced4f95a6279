"""Reference values for ark's classification metrics (tests/datasets/test_metrics.cpp).

sklearn is not installed, so its definitions are written out plainly in numpy:
  confusion[t][p]         counts of (true t, argmax p); argmax is numpy's (first maximum, first NaN)
  precision_c = tp / predicted_c, recall_c = tp / support_c, f1_c = 2 p r / (p + r), each 0 when
                its denominator is 0 (precision_recall_fscore_support(zero_division=0))
  macro = mean over all C classes (labels=range(C)); weighted = sum(metric * support) / N
  accuracy = trace / N (accuracy_score)
  top-k (k = min(5, C)) = the target is among torch.topk(logits, k).indices, timm's accuracy()
    (torch itself, so ties resolve as PyTorch's CPU kernel does)
  loss = mean of the per-sample cross-entropy (F.cross_entropy(reduction="none"))
  classification_report's text, as sklearn 1.x formats it (digits=2)
Groups: the same per group value; gaps = max - min of accuracy, macro_f1, macro_precision,
macro_recall over groups, ties to the first group in name order.

Writes one safetensors file; for each case <c>:
  <c>.logits (N, C) float32, <c>.labels (N,) int64, <c>.losses (N,) float32 (if any),
  <c>.groups (N,) int64 codes into metadata <c>.group_names (if any)
  <c>.confusion (C, C) int64, <c>.per_class (C, 5) float64 [support, predicted, precision, recall, f1],
  <c>.summary float64 [count, loss, accuracy, topk, k, macro p, r, f1, weighted p, r, f1]
  <c>.group.<g>.confusion / .per_class / .summary for each group g
Metadata: <c>.classes (names joined by "|"), <c>.batches (comma-separated batch sizes),
<c>.group_names ("|"), <c>.gaps (JSON), <c>.report (the text), "cases" (comma-separated), "versions".

Run: /usr/bin/python3 tools/reference/metrics_ref.py OUT.safetensors
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_py  # noqa: E402


def report(logits, labels, losses, C):
    N = len(labels)
    pred = np.argmax(logits, axis=1) if N else np.zeros(0, dtype=np.int64)
    conf = np.zeros((C, C), dtype=np.int64)
    np.add.at(conf, (labels, pred), 1)
    tp = np.diag(conf).astype(np.float64)
    support = conf.sum(axis=1).astype(np.float64)
    predicted = conf.sum(axis=0).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(predicted > 0, tp / predicted, 0.0)
        r = np.where(support > 0, tp / support, 0.0)
        f = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    k = min(5, C)
    if N:
        top = torch.topk(torch.from_numpy(logits), k, 1, True, True).indices.numpy()
        topk = float(np.mean(np.any(top == labels[:, None], axis=1)))
        acc = float(tp.sum() / N)
        wp, wr, wf = (float((m * support).sum() / N) for m in (p, r, f))
    else:
        topk = acc = wp = wr = wf = 0.0
    loss = float(np.mean(losses.astype(np.float64))) if losses is not None and N else float("nan")
    summary = np.array([N, loss, acc, topk, k, p.mean(), r.mean(), f.mean(), wp, wr, wf], dtype=np.float64)
    per_class = np.stack([support, predicted, p, r, f], axis=1)
    return conf, per_class, summary


def sklearn_text(names, per_class, summary):
    # sklearn.metrics.classification_report(digits=2), _classification.py (1.x)
    digits = 2
    headers = ["precision", "recall", "f1-score", "support"]
    width = max(max(len(n) for n in names), len("weighted avg"), digits)
    out = ("{:>{width}s} " + " {:>9}" * 4).format("", *headers, width=width) + "\n\n"
    row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    for n, (s, _, p, r, f) in zip(names, per_class):
        out += row_fmt.format(n, p, r, f, int(s), width=width, digits=digits)
    out += "\n"
    N = int(summary[0])
    out += ("{:>{width}s} " + " {:>9.{digits}}" * 2 + " {:>9.{digits}f}" + " {:>9}\n").format(
        "accuracy", "", "", summary[2], N, width=width, digits=digits)
    out += row_fmt.format("macro avg", *summary[5:8], N, width=width, digits=digits)
    out += row_fmt.format("weighted avg", *summary[8:11], N, width=width, digits=digits)
    return out


def main(out):
    rng = np.random.default_rng(1234)
    tensors, meta, cases = {}, {}, []

    def add_case(name, logits, labels, batches, classes, with_loss=True, groups=None, group_names=None):
        C = logits.shape[1]
        assert sum(batches) == len(labels)
        logits = logits.astype(np.float32)
        labels = labels.astype(np.int64)
        losses = None
        if with_loss:
            losses = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels), reduction="none").numpy()
            tensors[f"{name}.losses"] = torch.from_numpy(losses)
        tensors[f"{name}.logits"] = torch.from_numpy(logits)
        tensors[f"{name}.labels"] = torch.from_numpy(labels)
        conf, per_class, summary = report(logits, labels, losses, C)
        tensors[f"{name}.confusion"] = torch.from_numpy(conf)
        tensors[f"{name}.per_class"] = torch.from_numpy(per_class)
        tensors[f"{name}.summary"] = torch.from_numpy(summary)
        meta[f"{name}.classes"] = "|".join(classes)
        meta[f"{name}.batches"] = ",".join(str(b) for b in batches)
        meta[f"{name}.report"] = sklearn_text(classes, per_class, summary)
        if groups is not None:
            tensors[f"{name}.groups"] = torch.from_numpy(groups.astype(np.int64))
            meta[f"{name}.group_names"] = "|".join(group_names)
            per_group = {}
            for gi, g in enumerate(group_names):
                m = groups == gi
                if not m.any():
                    continue
                res = report(logits[m], labels[m], None if losses is None else losses[m], C)
                for key, value in zip(("confusion", "per_class", "summary"), res):
                    tensors[f"{name}.group.{g}.{key}"] = torch.from_numpy(value)
                per_group[g] = res[2]
            gaps = []
            if len(per_group) >= 2:
                for metric, col in (("accuracy", 2), ("macro_f1", 7), ("macro_precision", 5), ("macro_recall", 6)):
                    order = sorted(per_group)
                    vals = [per_group[g][col] for g in order]
                    b, w = int(np.argmax(vals)), int(np.argmin(vals))
                    gaps.append({"metric": metric, "best_group": order[b], "best": vals[b],
                                 "worst_group": order[w], "worst": vals[w], "gap": vals[b] - vals[w]})
            meta[f"{name}.gaps"] = json.dumps(gaps)
        cases.append(name)

    # Random logits, three groups, uneven batches (one empty).
    N, C = 600, 10
    labels = rng.integers(0, C, N)
    logits = rng.normal(size=(N, C)) + 1.5 * np.eye(C)[labels] * rng.random((N, 1))
    groups = rng.choice(3, N, p=[0.5, 0.3, 0.2])
    add_case("random10", logits, labels, [128, 0, 300, 172], [f"class_{i}" for i in range(C)],
             groups=groups, group_names=["site_b", "site_a", "hospital_c"])
    # Heavy ties (integer logits in {0, 1, 2}): top-5 of 7 goes through std::nth_element.
    N, C = 400, 7
    add_case("ties7", rng.integers(0, 3, (N, C)), rng.integers(0, C, N), [400], [f"t{i}" for i in range(C)])
    # Ties with 400 classes: 5 * 64 <= 400, so torch uses std::partial_sort.
    N, C = 150, 400
    add_case("ties400", rng.integers(0, 2, (N, C)), rng.integers(0, C, N), [50, 100], [str(i) for i in range(C)],
             with_loss=False)
    # Constant logits: every row is one big tie.
    N, C = 64, 12
    add_case("constant12", np.zeros((N, C)), rng.integers(0, C, N), [64], [f"c{i}" for i in range(C)])
    # A class absent from the labels (5) and one never predicted (4); long and short names.
    N, C = 200, 6
    labels = rng.integers(0, 5, N)
    logits = rng.normal(size=(N, C)) + 2.0 * np.eye(C)[labels]
    logits[:, 4] = -50.0
    groups = rng.choice(2, N)
    add_case("absent6", logits, labels, [77, 123],
             ["cat", "dog", "a rather long class name", "x", "never predicted", "never seen"],
             groups=groups, group_names=["f", "m"])
    # NaN logits (a diverged model): NaN is the largest value for argmax and topk alike.
    N, C = 90, 8
    logits = rng.normal(size=(N, C))
    logits[rng.random((N, C)) < 0.1] = np.nan
    add_case("nan8", logits, rng.integers(0, C, N), [45, 45], [f"n{i}" for i in range(C)], with_loss=False)
    # Fewer than five classes: top-k is top-3 (always 1).
    N, C = 50, 3
    add_case("three", rng.normal(size=(N, C)), rng.integers(0, C, N), [50], ["a", "b", "c"],
             groups=np.zeros(N, dtype=np.int64), group_names=["only"])
    # One class.
    add_case("one", rng.normal(size=(5, 1)), np.zeros(5), [2, 3], ["single"])

    meta["cases"] = ",".join(cases)
    meta["versions"] = f"torch {torch.__version__}, numpy {np.__version__}"
    safetensors_py.save(out, tensors, meta)


if __name__ == "__main__":
    main(sys.argv[1])
