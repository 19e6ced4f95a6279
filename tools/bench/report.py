#!/usr/bin/python3
"""Turns the CSV lines of ark-bench, torch_bench.py and libtorch-overhead into the markdown table of run.sh.

    report.py RESULTS.csv [...]

Ratio = PyTorch median / ark median (ark's speed-up; > 1 means ark is faster; for the memory group,
PyTorch's peak MB / ark's: > 1 means ark needs less). A case measured in
several rounds gets the median of its round medians, the min of its mins and the max of its maxes.
With two or more rounds on both sides, "per round" is the median of the rounds' own ratios: under
run.sh's pairing each round's two figures are taken seconds apart, so a slow spell of a shared
machine moves both and cancels in that round's ratio, where the ratio of medians can pair one
side's slow round with the other's fast one. The verdict stays on the ratio of medians.
Goals are those of the project's benchmark issue; cases without a goal are shown for information.
A miss by less than 5 % is marked "fail (< 5 %)": within the run-to-run noise of a shared 2-core
machine, so it needs more rounds before it means anything. The "% sgemm" figures divide a GFLOP/s rate by the rate PyTorch's mm 1024^3 (OpenBLAS sgemm)
reached in the same run, the measured sgemm ceiling of this machine at this thread count.
"""
import statistics
import sys
from collections import defaultdict

OVERHEAD_LIMIT_MS = 1.5e-3  # the dispatch goal: <= 1.5 µs per tiny op, absolute
GROUP_ORDER = ["overhead", "matmul", "eltwise", "conv_b1", "conv_b16", "bottleneck", "mnist", "mnist_layers", "models",
               "memory", "memory_optimized", "text", "text_memory", "llama_bf16"]
# The text-zoo issue's goals (PyTorch time / ark time; memory: PyTorch MB / ark MB).
TEXT_GOALS = {"bert_b1_s128": 1.3, "bert_b8_s128": 1.2, "bert_train_b8_s128": 1.5, "gpt2_prefill_32": 1.2,
              "gpt2_decode_tok": 2.0, "gpt2_generate_peak_mb": 1.0}
# The vision-zoo issue's goals (PyTorch time / ark time; memory: PyTorch MB / ark MB).
MODEL_GOALS = {"resnet50_b1": 1.3, "resnet50_b16": 1.3, "resnet18_b1": 1.3, "vit_b_16_b1": 1.2, "mobilenet_v2_b1": 1.3,
               "resnet18_train_b16": 1.2, "resnet50_b1_peak_mb": 1.0}


def goal_for(group, case):
    """(kind, value): ("ratio", r) needs PyTorch/ark >= r; ("abs", t) needs ark <= t ms; None: information only."""
    if group == "overhead":
        return ("abs", OVERHEAD_LIMIT_MS)
    if group == "matmul":
        return ("ratio", 0.95) if case.startswith("mm_") else None
    if group in ("eltwise", "conv_b1", "conv_b16", "bottleneck"):
        return ("ratio", 1.0)
    if group == "mnist":
        return ("ratio", 1.2) if case == "train_epoch_b64" else None
    if group in ("models", "memory", "memory_optimized") and case in MODEL_GOALS:
        return ("ratio", MODEL_GOALS[case])
    if group in ("text", "text_memory") and case in TEXT_GOALS:
        return ("ratio", TEXT_GOALS[case])
    return None


def per_round(a, t):
    """Median of the rounds' own PyTorch/ark ratios, or None unless both sides ran the same >= 2 rounds."""
    if not a or not t or len(a["meds"]) != len(t["meds"]) or len(a["meds"]) < 2:
        return None
    return statistics.median(tm / am for am, tm in zip(a["meds"], t["meds"]))


def fmt_time(ms):
    if ms < 0.1:
        return f"{ms * 1e3:.2f} µs"
    if ms < 1000:
        return f"{ms:.3g} ms" if ms < 100 else f"{ms:.0f} ms"
    return f"{ms / 1e3:.2f} s"


def load(paths):
    rows = defaultdict(list)  # (side, group, case) -> [(median, min, max, gflops, gbps)]
    order = []
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                parts = line.split(",")
                if len(parts) != 8:
                    continue
                side, group, case = parts[:3]
                med, lo, hi = (float(v) for v in parts[3:6])
                gflops = float(parts[6]) if parts[6] else None
                gbps = float(parts[7]) if parts[7] else None
                rows[(side, group, case)].append((med, lo, hi, gflops, gbps))
                if (group, case) not in order:
                    order.append((group, case))
    merged = {}
    for key, runs in rows.items():
        med = statistics.median(r[0] for r in runs)
        # Rates are work / time: recover the work from any round and divide by the merged median.
        work = lambda i: next((r[i] * r[0] for r in runs if r[i] is not None), None)
        g, b = work(3), work(4)
        merged[key] = dict(med=med, lo=min(r[1] for r in runs), hi=max(r[2] for r in runs), rounds=len(runs),
                           meds=[r[0] for r in runs],
                           gflops=g / med if g is not None else None, gbps=b / med if b is not None else None)
    return merged, order


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    res, order = load(sys.argv[1:])
    order.sort(key=lambda gc: GROUP_ORDER.index(gc[0]) if gc[0] in GROUP_ORDER else len(GROUP_ORDER))
    sgemm = res.get(("torch", "matmul", "mm_1024x1024x1024"), {}).get("gflops")

    def rate(r):
        if r is None:
            return ""
        if r["gflops"] is not None:
            pct = f" ({100 * r['gflops'] / sgemm:.0f} %)" if sgemm else ""
            return f"{r['gflops']:.1f} GFLOP/s{pct}"
        if r["gbps"] is not None:
            return f"{r['gbps']:.1f} GB/s"
        return ""

    print("| group | case | ark median (min–max) | PyTorch median (min–max) | ratio | per round | goal | pass | ark rate "
          "| PyTorch rate |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    summary = defaultdict(lambda: {"ratios": [], "pass": 0, "fail": 0, "near": 0, "round_pass": 0, "round_cases": 0})
    for group, case in order:
        a = res.get(("ark", group, case))
        refs = [("PyTorch", res.get(("torch", group, case)))]
        if group == "overhead" and ("libtorch", group, case) in res:
            refs = [("PyTorch from Python", refs[0][1]), ("libtorch C++", res[("libtorch", group, case)])]
        for label, t in refs:
            if a is None and t is None:
                continue
            name = case if label == "PyTorch" else f"{case} (vs {label})"
            ratio = t["med"] / a["med"] if a and t else None
            goal = goal_for(group, case)
            verdict, goal_txt = "", "—"
            if goal and a:
                if goal[0] == "abs":
                    goal_txt = f"≤ {goal[1] * 1e3:.1f} µs"
                    ok = a["med"] <= goal[1]
                    verdict = "pass" if ok else "**FAIL**"
                elif ratio is not None:
                    goal_txt = f"≥ {goal[1]:.2f}×"
                    ok = ratio >= goal[1]
                    # Misses by under 5 % sit inside this machine's run-to-run noise (PERF.md: 5-15 %).
                    verdict = "pass" if ok else "fail (< 5 %)" if ratio >= 0.95 * goal[1] else "**FAIL**"
                if verdict and (label in ("PyTorch", "PyTorch from Python")):
                    summary[group]["pass" if verdict == "pass" else "fail"] += 1
                    summary[group]["near"] += verdict.startswith("fail (")
            if ratio is not None and label in ("PyTorch", "PyTorch from Python"):
                summary[group]["ratios"].append(ratio)
            fmt = (lambda v: f"{v:.0f} MB") if group in ("memory", "memory_optimized", "text_memory") else fmt_time
            cell = lambda r: f"{fmt(r['med'])} ({fmt(r['lo'])}–{fmt(r['hi'])})" if r else "n/a"
            def ratio_cell(r):
                if r is None:
                    return "—"
                txt = f"{r:.2f}×"
                if goal and goal[0] == "ratio" and txt == f"{goal[1]:.2f}×":
                    txt = f"{r:.3f}×"  # a near miss (or near pass) must not read as the goal itself
                return txt
            paired = per_round(a, t)
            if paired is not None and goal and goal[0] == "ratio" and label in ("PyTorch", "PyTorch from Python"):
                summary[group]["round_cases"] += 1
                summary[group]["round_pass"] += paired >= goal[1]
            ratio_txt = "n/a" if ratio is None else ratio_cell(ratio)
            print(f"| {group} | {name} | {cell(a)} | {cell(t)} | {ratio_txt} | {ratio_cell(paired)} | {goal_txt} | {verdict} "
                  f"| {rate(a)} | {rate(t)} |")
    print()
    print("| group | cases | geomean ratio (PyTorch/ark) | min ratio | goals passed | of the misses, within 5 % "
          "| goals passed by the per-round ratio |")
    print("|---|---|---|---|---|---|---|")
    for group in sorted(summary, key=lambda g: GROUP_ORDER.index(g) if g in GROUP_ORDER else 99):
        s = summary[group]
        rs = s["ratios"]
        gm = statistics.geometric_mean(rs) if rs else float("nan")
        by_round = f"{s['round_pass']}/{s['round_cases']}" if s["round_cases"] else "—"
        print(f"| {group} | {len(rs)} | {gm:.2f}× | {min(rs) if rs else float('nan'):.2f}× | "
              f"{s['pass']}/{s['pass'] + s['fail']} | {s['near']} | {by_round} |")
    if sgemm:
        print(f"\nsgemm reference: PyTorch mm 1024³ (OpenBLAS) reached {sgemm:.1f} GFLOP/s in this run.")


if __name__ == "__main__":
    main()
