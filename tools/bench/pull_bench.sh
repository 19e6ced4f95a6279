#!/usr/bin/env bash
# Builds pull_bench and times ark's downloader (fetch(), and `ark pull` when the CLI has it)
# against `curl -o` on a 1 GB file served from loopback; prints each run and the medians of 3.
#   tools/bench/pull_bench.sh [build-dir] [size-mb]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build}"
size="${2:-1024}"
cmake --build "$build" --target pull_bench ark-cli -j"$(nproc)" >/dev/null
args=(--size-mb "$size" --runs 3 --dir "${TMPDIR:-/tmp}/ark-pull-bench")
if "$build/apps/ark" pull --help >/dev/null 2>&1; then args+=(--ark-cli "$build/apps/ark"); fi
"$build/tools/bench/pull_bench" "${args[@]}"
