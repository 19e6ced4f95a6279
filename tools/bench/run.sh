#!/usr/bin/env bash
# run.sh: ark and PyTorch 1.13 side by side, in one go, on the same threads, then one markdown table.
#
#   tools/bench/run.sh BUILD_DIR [GROUP...]        (make bench: BUILD_DIR = build, all groups)
#
# Groups: overhead matmul eltwise conv_b1 conv_b16 bottleneck mnist mnist_layers models memory memory_optimized
#         text text_memory
# (`ark finetune` end to end against a PyTorch training script is tools/bench/finetune_bench.sh; make bench runs both)
# (default: these), llama_bf16 (ark only, a 1.1B model: only when named).
# Each group runs in its own process per side, so memory's peak-RSS figure sees only its own work.
# Environment:
#   THREADS=2     threads for both sides (ark::set_num_threads / torch.set_num_threads + OMP env)
#   ROUNDS=1      rounds over all groups; the table takes the median of the round medians
#   REPS=         samples per case (default: the policy of bench_common.h)
#   FILTER=       only cases whose "group/case" contains this string
#   LIBTORCH=1    build and run libtorch-overhead (the C++ libtorch dispatch figure) if find_package(Torch)
#                 works; 0 skips it
#   OUT=          folder for the raw CSV and the table (default BUILD_DIR/bench-results/<date-time>)
#   WAIT_IDLE=0   1: before each group, wait (up to 10 min) until the machine's CPUs are >= 85 % idle over
#                 3 s, since compiles of other users on a shared machine wreck 2-thread figures
#   PAIRED=1      within each group the two sides take turns sample by sample (tools/bench/paired.py: both
#                 processes live through the group, each waiting while the other runs a timed sample), so
#                 each case's two figures are taken side by side instead of a group apart: a slow spell of
#                 this shared machine then hits both sides of a case, not one side of many cases.
#                 0: one side runs the whole group, then the other
# ark-bench inherits the caller's environment; torch_bench.py always sets OMP_WAIT_POLICY=passive for
# PyTorch. Run `OMP_WAIT_POLICY=passive tools/bench/run.sh ...` to give ark the same policy (libgomp's
# default spins, which costs ~4 ms scheduler ticks per parallel region when the cores are contended).
# Which side goes first alternates from case to case (PAIRED=0: from group to group), so load from
# other processes on this shared machine hits both alike.
set -euo pipefail

if [[ $# -lt 1 ]]; then
  sed -n '2,30p' "$0" >&2
  exit 2
fi
BUILD=$1
shift
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
[[ "$BUILD" = /* ]] || BUILD="$PWD/$BUILD"
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-1}
REPS=${REPS:-0}
FILTER=${FILTER:-}
LIBTORCH=${LIBTORCH:-1}
WAIT_IDLE=${WAIT_IDLE:-0}
PAIRED=${PAIRED:-1}
PY=/usr/bin/python3  # Debian's python3-torch; the pyenv python3 on PATH has no torch
BENCH_GROUPS=("$@")
[[ ${#BENCH_GROUPS[@]} -gt 0 ]] || BENCH_GROUPS=(overhead matmul eltwise conv_b1 conv_b16 bottleneck mnist mnist_layers models memory memory_optimized
                                          text text_memory)
OUT=${OUT:-$BUILD/bench-results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
RAW="$OUT/results.csv"
: >"$RAW"

if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
if ! cmake --build "$BUILD" --target ark-bench -j "$(nproc)" >"$OUT/build.log" 2>&1; then
  tail -30 "$OUT/build.log" >&2
  echo "run.sh: building ark-bench failed (log: $OUT/build.log)" >&2
  exit 1
fi
ARK_BENCH="$BUILD/tools/bench/ark-bench"

# libtorch-overhead: optional; a failure here only drops the libtorch rows.
LT_BENCH=""
if [[ "$LIBTORCH" = 1 && " ${BENCH_GROUPS[*]} " = *" overhead "* ]]; then
  LT_BUILD="$BUILD/bench-libtorch"
  if cmake -S "$HERE/libtorch" -B "$LT_BUILD" -DCMAKE_BUILD_TYPE=Release >"$OUT/libtorch-build.log" 2>&1 &&
     cmake --build "$LT_BUILD" -j "$(nproc)" >>"$OUT/libtorch-build.log" 2>&1; then
    LT_BENCH="$LT_BUILD/libtorch-overhead"
  else
    echo "run.sh: libtorch-overhead not built (see $OUT/libtorch-build.log); libtorch rows left out" >&2
  fi
fi

common=(--threads "$THREADS" --reps "$REPS")
# Busy fraction of all CPUs over 3 s, in percent, from /proc/stat.
cpu_busy() {
  local a b
  read -r -a a < <(grep '^cpu ' /proc/stat)
  sleep 3
  read -r -a b < <(grep '^cpu ' /proc/stat)
  local total=0 idle i
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  idle=$((b[4] - a[4] + b[5] - a[5]))
  echo $((total > 0 ? 100 * (total - idle) / total : 0))
}
wait_idle() {
  [[ "$WAIT_IDLE" = 1 ]] || return 0
  local t0=$SECONDS busy
  while busy=$(cpu_busy) && ((busy > 15 && SECONDS - t0 < 600)); do
    echo "# waiting for an idle machine (CPUs ${busy} % busy)" >&2
  done
  echo "# CPUs ${busy} % busy at start of group" | tee -a "$RAW" >&2
}
# One group, both sides: in lock-step sample by sample (PAIRED=1) or one side after the other.
run_group() {
  local ark=("$ARK_BENCH" "${common[@]}" --filter "$FILTER" "$1")
  local torch=("$PY" "$HERE/torch_bench.py" "${common[@]}" --filter "$FILTER" "$1")
  if [[ "$PAIRED" = 1 ]]; then
    local order=()
    ((flip)) && order=(--torch-first)
    "$PY" "$HERE/paired.py" "${order[@]}" -- "${ark[@]}" --- "${torch[@]}" | tee -a "$RAW" >&2
  elif ((flip)); then
    { "${torch[@]}"; "${ark[@]}"; } | tee -a "$RAW" >&2
  else
    { "${ark[@]}"; "${torch[@]}"; } | tee -a "$RAW" >&2
  fi
  flip=$((1 - flip))
}

{
  echo "# $(date -Is) $(hostname) threads=$THREADS rounds=$ROUNDS paired=$PAIRED groups=${BENCH_GROUPS[*]}"
  echo "# ark's OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset (libgomp default)}; PyTorch's: passive"
  echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$RAW" >&2
flip=0
for ((round = 1; round <= ROUNDS; round++)); do
  for g in "${BENCH_GROUPS[@]}"; do
    echo "# round $round/$ROUNDS, group $g" >&2
    wait_idle
    run_group "$g"
    if [[ "$g" = overhead && -n "$LT_BENCH" ]]; then
      OMP_NUM_THREADS=$THREADS OMP_WAIT_POLICY=passive "$LT_BENCH" "${common[@]}" --filter "$FILTER" | tee -a "$RAW" >&2
    fi
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RAW" >&2

"$PY" "$HERE/report.py" "$RAW" | tee "$OUT/table.md"
echo >&2
echo "raw results: $RAW; table: $OUT/table.md" >&2
