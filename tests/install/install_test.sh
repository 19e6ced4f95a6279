#!/usr/bin/env bash
# Installs ark from BUILD_DIR into a temporary prefix, then configures, builds and runs a
# downstream project that uses find_package(ark) and links ark::ark.
set -euo pipefail
build=${1:?build dir}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$here" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/consumer" -j 2 >/dev/null
"$tmp/consumer/consumer"
