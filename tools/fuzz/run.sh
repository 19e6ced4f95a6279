#!/usr/bin/env bash
# Runs every fuzz target for a bounded time over its committed seed corpus (copied to a scratch
# corpus so new inputs don't pollute the repository). Usage: tools/fuzz/run.sh BUILD_DIR SECONDS
set -euo pipefail
build=${1:?build dir}
seconds=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
status=0
for bin in "$build"/tools/fuzz/fuzz_*; do
  name=$(basename "$bin" | sed 's/^fuzz_//')
  work="$build/fuzz-corpus/$name"
  mkdir -p "$work"
  cp -n "$here/corpus/$name/"* "$work/" 2>/dev/null || true
  echo "fuzz: $name for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
       -artifact_prefix="$build/fuzz-$name-" "$work" 2>"$build/fuzz-$name.log"; then
    echo "fuzz: $name FAILED; see $build/fuzz-$name.log and the crash input in $build/fuzz-$name-*"
    tail -n 30 "$build/fuzz-$name.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$build/fuzz-$name.log" | tail -n 2
  fi
done
exit $status
