#!/usr/bin/env bash
# finetune_bench.sh: one resnet18 fine-tuning epoch at 64x64 on a Fashion-MNIST subset, `ark finetune`
# against PyTorch 1.13 (tools/bench/finetune_torch.py: DataLoader + torchvision transforms), in one run,
# both on the same threads and with one data-loading worker, from the same random-init weights file,
# no augmentation, AdamW + cosine. Prints each run and the medians of RUNS runs, and the ratios the
# issue bounds: epoch speed (data loading included) ark >= 1.3x PyTorch, peak RSS ark <= 0.8x.
#
#   tools/bench/finetune_bench.sh [BUILD_DIR]        (default: build)
# Environment:
#   RUNS=3        runs per side (the sides alternate, and which goes first alternates too)
#   THREADS=2     compute threads of both sides (OMP_NUM_THREADS, --threads / torch.set_num_threads)
#   N=4096        training images (the first N of train-images-idx3-ubyte.gz); BATCH=64; SIZE=64
#   VAL=256       validation images (both sides validate once after the epoch; not in the epoch time)
#   OUT=          folder for the runs and results.csv (default BUILD_DIR/bench-results/finetune-<date-time>)
# Figures per run: epoch = the training epoch's wall time, data loading included (ark: metrics.jsonl
# train_seconds; PyTorch: from creating the DataLoader iterator, which starts its worker, to the last
# step); process = the whole command's wall time (start-up, weights, data, epoch, validation, save);
# peak = /usr/bin/time's maximum RSS of the process tree (for PyTorch the largest of its main process
# and its worker, so PyTorch's true total is higher: the ratio favours PyTorch).
# PyTorch runs with OMP_WAIT_POLICY=passive (its fair 2-thread setting, PERF.md); ark inherits the
# caller's environment. Timings mean something only on an otherwise idle machine.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
[[ "$BUILD" = /* ]] || BUILD="$PWD/$BUILD"
RUNS=${RUNS:-3}
THREADS=${THREADS:-2}
N=${N:-4096}
BATCH=${BATCH:-64}
SIZE=${SIZE:-64}
VAL=${VAL:-256}
PY=/usr/bin/python3  # Debian's python3-torch; the pyenv python3 on PATH has no torch
FMNIST=/usr/share/datasets/fashion-mnist
OUT=${OUT:-$BUILD/bench-results/finetune-$(date +%Y%m%d-%H%M%S)}

[[ -f "$FMNIST/train-images-idx3-ubyte.gz" ]] || { echo "finetune_bench.sh: $FMNIST missing (apt-get install dataset-fashion-mnist)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "finetune_bench.sh: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
mkdir -p "$OUT"
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
if ! cmake --build "$BUILD" --target ark-cli -j "$(nproc)" >"$OUT/build.log" 2>&1; then
  tail -30 "$OUT/build.log" >&2
  echo "finetune_bench.sh: building ark-cli failed (log: $OUT/build.log)" >&2
  exit 1
fi
ARK="$BUILD/apps/ark"
INIT="$OUT/resnet18_init.pth"
"$PY" "$ROOT/tools/bench/finetune_torch.py" init "$INIT" --seed 0

common=(--data "$FMNIST/train-images-idx3-ubyte.gz" --max-samples "$N" --val-data "$FMNIST/t10k-images-idx3-ubyte.gz"
        --val-max-samples "$VAL" --input-size "$SIZE" --crop-pct 1.0 --batch-size "$BATCH" --optimizer adamw
        --lr 1e-3 --weight-decay 0.01 --threads "$THREADS" --workers 1 --seed 7)

now() { date +%s.%N; }

run_ark() {  # $1 = run number
  local dir="$OUT/ark-$1" t0 t1
  rm -rf "$dir"
  t0=$(now)
  OMP_NUM_THREADS=$THREADS /usr/bin/time -f %M -o "$OUT/ark-$1.rss" \
    "$ARK" finetune "$INIT" --arch resnet18 "${common[@]}" --no-augment --scheduler cosine --epochs 1 \
    --out "$dir" >"$OUT/ark-$1.log" 2>&1 || { cat "$OUT/ark-$1.log" >&2; exit 1; }
  t1=$(now)
  "$PY" - "$dir/metrics.jsonl" "$OUT/ark-$1.rss" "$t0" "$t1" "$1" >>"$OUT/results.csv" <<'PYEOF'
import json, sys
row = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][-1]
rss = int(open(sys.argv[2]).read().split()[-1])
print("ark,%s,%.3f,%.3f,%d,%.5f,%.4f" % (sys.argv[5], row["train_seconds"], float(sys.argv[4]) - float(sys.argv[3]),
                                         rss, row["train_loss"], row["val_accuracy"]))
PYEOF
}

run_torch() {
  local t0 t1
  t0=$(now)
  OMP_NUM_THREADS=$THREADS OMP_WAIT_POLICY=passive /usr/bin/time -f %M -o "$OUT/torch-$1.rss" \
    "$PY" -W ignore "$ROOT/tools/bench/finetune_torch.py" train "$INIT" --arch resnet18 "${common[@]}" \
    --json "$OUT/torch-$1.json" >"$OUT/torch-$1.log" 2>&1 || { cat "$OUT/torch-$1.log" >&2; exit 1; }
  t1=$(now)
  "$PY" - "$OUT/torch-$1.json" "$OUT/torch-$1.rss" "$t0" "$t1" "$1" >>"$OUT/results.csv" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
rss = int(open(sys.argv[2]).read().split()[-1])
print("torch,%s,%.3f,%.3f,%d,%.5f,%.4f" % (sys.argv[5], r["epoch_seconds"], float(sys.argv[4]) - float(sys.argv[3]),
                                           rss, r["train_loss"], r["val_accuracy"]))
PYEOF
}

echo "side,run,epoch_s,process_s,peak_kb,train_loss,val_accuracy" >"$OUT/results.csv"
echo "finetune_bench: resnet18, $N Fashion-MNIST images at ${SIZE}x${SIZE}, batch $BATCH, AdamW, 1 epoch, $THREADS threads, 1 loader worker; $RUNS runs per side" >&2
for ((r = 1; r <= RUNS; r++)); do
  if ((r % 2)); then run_ark "$r"; run_torch "$r"; else run_torch "$r"; run_ark "$r"; fi
  tail -2 "$OUT/results.csv" >&2
done

"$PY" - "$OUT/results.csv" "$N" <<'PYEOF' | tee "$OUT/summary.md"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
n = int(sys.argv[2])
med = {}
for side in ("ark", "torch"):
    rs = [r for r in rows if r["side"] == side]
    med[side] = {k: statistics.median(float(r[k]) for r in rs) for k in ("epoch_s", "process_s", "peak_kb", "train_loss", "val_accuracy")}
print("| side | epoch s (img/s) | process s | peak RSS MB | train loss | val acc |")
print("|---|---|---|---|---|---|")
for side, name in (("ark", "ark finetune"), ("torch", "PyTorch 1.13 + DataLoader")):
    m = med[side]
    print("| %s | %.2f (%.1f) | %.2f | %.0f | %.4f | %.4f |" % (name, m["epoch_s"], n / m["epoch_s"], m["process_s"],
                                                             m["peak_kb"] / 1024, m["train_loss"], m["val_accuracy"]))
a, t = med["ark"], med["torch"]
print()
print("epoch speed ark/PyTorch: %.2fx (issue: >= 1.3x); whole process: %.2fx; peak memory ark/PyTorch: %.2fx (issue: <= 0.8x)"
      % (t["epoch_s"] / a["epoch_s"], t["process_s"] / a["process_s"], a["peak_kb"] / t["peak_kb"]))
PYEOF
echo "finetune_bench: results in $OUT" >&2
