#!/usr/bin/env bash
# The benchmark harness's lock-step pairing (tools/bench/paired.py, run.sh's PAIRED=1): ark-bench and
# torch_bench.py take turns case by case, the side that goes first alternating, each case's two lines
# adjacent; --filter =GROUP/CASE selects exactly one case; --list-cases names them all, both sides alike.
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

for order in "" --torch-first; do
  out=$("$py" "$bench/paired.py" $order -- "$ark_bench" --threads 1 --reps 1 --filter add64 overhead \
          --- "$py" "$bench/torch_bench.py" --threads 1 --reps 1 --filter add64 overhead | grep -v '^#')
  sides=$(cut -d, -f1 <<<"$out" | tr '\n' ' ')
  cases=$(cut -d, -f3 <<<"$out" | tr '\n' ' ')
  want_sides="ark torch torch ark ark torch "
  [[ -z "$order" ]] || want_sides="torch ark ark torch torch ark "
  [[ "$sides" = "$want_sides" ]] || fail "order ${order:-ark-first}: sides $sides, expected $want_sides"
  [[ "$cases" = "add64 add64 add64_autograd add64_autograd add64_inference add64_inference " ]] ||
    fail "order ${order:-ark-first}: cases $cases"
done
echo "bench_paired_test: ok"
