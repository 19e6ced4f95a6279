#!/usr/bin/env bash
# The benchmark harness's lock-step pairing (tools/bench/paired.py, run.sh's PAIRED=1): ark-bench and
# torch_bench.py take turns sample by sample within each case, the side that goes first alternating, each
# case's two lines adjacent; --filter =GROUP/CASE selects exactly one case; --list-cases names them all,
# both sides alike.
#   bench_paired_test.sh ARK_BENCH PYTHON
set -euo pipefail
ark_bench=${1:?ark-bench}
py=${2:?python with torch}
bench=$(cd "$(dirname "$0")/../../tools/bench" && pwd)
fail() { echo "bench_paired_test: $*" >&2; exit 1; }

ark_cases=$("$ark_bench" --list-cases overhead models)
torch_cases=$("$py" "$bench/torch_bench.py" --list-cases overhead models)
[[ "$ark_cases" = "$torch_cases" ]] || fail "the two sides name different cases: $ark_cases / $torch_cases"
grep -qx "models/resnet50_b1" <<<"$ark_cases" && grep -qx "models/resnet50_b16" <<<"$ark_cases" ||
  fail "--list-cases misses resnet50_b1 or resnet50_b16: $ark_cases"

only=$("$ark_bench" --threads 1 --reps 1 --filter =overhead/add64 overhead | grep -v '^#')
[[ $(wc -l <<<"$only") = 1 && "$only" = ark,overhead,add64,* ]] || fail "--filter =overhead/add64 ran: $only"

# The real sides: each case's two lines adjacent, one from each side.
for order in "" --torch-first; do
  out=$("$py" "$bench/paired.py" $order -- "$ark_bench" --threads 1 --reps 2 --filter add64 overhead \
          --- "$py" "$bench/torch_bench.py" --threads 1 --reps 2 --filter add64 overhead | grep -v '^#')
  cases=$(cut -d, -f3 <<<"$out" | tr '\n' ' ')
  [[ "$cases" = "add64 add64 add64_autograd add64_autograd add64_inference add64_inference " ]] ||
    fail "order ${order:-ark-first}: cases $cases"
  pairs=$(cut -d, -f1 <<<"$out" | paste -d' ' - - | sort -u | tr '\n' ';')
  [[ "$pairs" = "ark torch;torch ark;" || "$pairs" = "ark torch;" || "$pairs" = "torch ark;" ]] ||
    fail "order ${order:-ark-first}: a case without one line from each side: $(tr '\n' ' ' <<<"$out")"
done

# The turns, with stand-in sides that log what they run: setup and warm-up, then each sample, one turn
# each, the side going first alternating from turn to turn and from case to case; a side done with a case
# (A's second case has fewer samples) waits at "#step" for the other, so the next case starts together.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/side.py" <<'PY'
import sys
name, log, samples = sys.argv[1], sys.argv[2], [int(k) for k in sys.argv[3].split(",")]
def pause(marker):
    print(marker, flush=True)
    if not sys.stdin.readline():
        sys.exit(0)
def note(what):
    with open(log, "a") as f:
        f.write(f"{name}{what} ")
pause("#step")
for case, k in enumerate(samples, 1):
    note(f"{case}")
    for s in range(1, k + 1):
        pause("#sample")
        note(f"{case}.{s}")
    print(f"{name},g,c{case}", flush=True)
    pause("#step")
PY
"$py" "$bench/paired.py" -- "$py" "$tmp/side.py" A "$tmp/log" 2,1,1 --- "$py" "$tmp/side.py" B "$tmp/log" 2,3,0 \
  >"$tmp/out"
want="A1 B1 B1.1 A1.1 A1.2 B1.2 B2 A2 A2.1 B2.1 B2.2 B2.3 A3 B3 A3.1 "
[[ "$(cat "$tmp/log")" = "$want" ]] || fail "turns: $(cat "$tmp/log"), expected $want"
[[ "$(tr '\n' ' ' <"$tmp/out")" = "A,g,c1 B,g,c1 A,g,c2 B,g,c2 B,g,c3 A,g,c3 " ]] ||
  fail "result lines: $(tr '\n' ' ' <"$tmp/out")"
echo "bench_paired_test: ok"
