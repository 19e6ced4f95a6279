#!/usr/bin/env bash
# tools/bench/report.py on a hand-made CSV: the ratio of medians and its verdict, and the median of
# the rounds' own ratios (per round) beside it, which cancels a slow round that hit both sides.
#   bench_report_test.sh PYTHON        (checked to fail with a per-round figure that is the ratio of medians)
set -euo pipefail
PY=$1
HERE=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Case a: round 2 slow for both sides (ark 10, 20, 12; PyTorch 11, 22, 10): the ratio of medians
# 11/12 = 0.92 fails, pairing ark's round 3 with PyTorch's round 1; the rounds' own ratios 1.1,
# 1.1, 0.83 give 1.10.
# Case b: ark 10, 12, 14 against PyTorch 9, 13, 15: ratio 13/12 = 1.08; per round 0.9, 1.08, 1.07 -> 1.07.
# Case c: one round only: no per-round figure.
cat >"$dir/r.csv" <<'CSV'
# a comment line
ark,conv_b16,a,10,9,11,,
torch,conv_b16,a,11,10,12,,
ark,conv_b16,b,10,9,11,,
torch,conv_b16,b,9,8,10,,
ark,conv_b1,c,5,4,6,,
torch,conv_b1,c,4,3,5,,
ark,conv_b16,a,20,19,21,,
torch,conv_b16,a,22,21,23,,
ark,conv_b16,b,12,11,13,,
torch,conv_b16,b,13,12,14,,
ark,conv_b16,a,12,11,13,,
torch,conv_b16,a,10,9,11,,
ark,conv_b16,b,14,13,15,,
torch,conv_b16,b,15,14,16,,
CSV
out=$("$PY" "$HERE/../../tools/bench/report.py" "$dir/r.csv")
echo "$out"
fail() { echo "bench_report_test: $1" >&2; exit 1; }
grep -q '^| conv_b16 | a | .* | 0\.92× | 1\.10× | ≥ 1\.00× | \*\*FAIL\*\* |' <<<"$out" || fail "case a: ratio 0.92x FAIL, per round 1.10x"
grep -q '^| conv_b16 | b | .* | 1\.08× | 1\.07× | ≥ 1\.00× | pass |' <<<"$out" || fail "case b: ratio 1.08x, per round 1.07x"
grep -q '^| conv_b1 | c | .* | 0\.80× | — | ≥ 1\.00× | \*\*FAIL\*\* |' <<<"$out" || fail "case c: 0.80x FAIL, no per-round figure"
grep -q '^| conv_b16 | 2 | .* | 1/2 | 0 | 2/2 |$' <<<"$out" || fail "summary of conv_b16"
grep -q '^| conv_b1 | 1 | .* | 0/1 | 0 | — |$' <<<"$out" || fail "summary of conv_b1"
echo "bench_report_test: ok"
