#!/usr/bin/env bash
# Fills the local mirror ${ARK_MIRROR:-~/.cache/ark/mirror} with the registry entries that can be
# had offline, laid out as ARK_ENDPOINT serves them (<mirror>/<entry name>/<file name>), so that
#   ARK_ENDPOINT=~/.cache/ark/mirror ark pull mobilenet_v2_keras.nsfwjs
# runs the same code path (fetch, sha256 and size checks, manifest written last) as a real
# download. Called by `make mirror` (and `make test`) after the build; idempotent.
#
#   mobilenet_v2_keras.nsfwjs_tfjs/{model.json,group1-shard1of1}
#       nsfwjs@4.4.0's TF.js MobileNetV2, copied from scripts/fetch_assets.sh's asset folder.
#   mobilenet_v2_keras.nsfwjs/model.safetensors
#       the same weights in ark's layout, written by `ark convert mobilenet_v2_keras.nsfwjs_tfjs`
#       (through the mirror, with a scratch ARK_HOME): the conversion is deterministic, and the
#       result must match the size and sha256 the registry pins (else nothing is published).
# Every file is checked against the registry's pins (`ark info --json`), written to a temp folder
# and renamed into place. Without the nsfwjs asset it warns and exits 0.
#
# Usage: scripts/make_mirror.sh [path/to/ark]   (default: build/apps/ark)
set -euo pipefail

ARK=${1:-${ARK_BIN:-build/apps/ark}}
MIRROR=${ARK_MIRROR:-$HOME/.cache/ark/mirror}
ASSETS=${ARK_ASSETS:-$HOME/.cache/ark/assets}
NSFWJS=$ASSETS/nsfwjs-4.4.0/mobilenet_v2
warn() { echo "make_mirror: $*" >&2; }

[ -x "$ARK" ] || { warn "$ARK is not built (make build); nothing done"; exit 0; }
if [ ! -f "$NSFWJS/.complete" ]; then
  warn "nsfwjs@4.4.0 is not in $NSFWJS (scripts/fetch_assets.sh needs the npm registry); mirror left as it is"
  exit 0
fi

# pins ENTRY: "name size sha256" per file, from the compiled-in registry.
pins() {
  "$ARK" info "$1" --json | /usr/bin/python3 -c '
import json, sys
for f in json.load(sys.stdin)["files"]:
    print(f["name"], f.get("size", -1), f["sha256"])'
}

# check FILE SIZE SHA256: the file matches its pin.
check() {
  local got_size got_sha
  got_size=$(stat -c %s "$1")
  got_sha=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got_size" != "$2" ] || [ "$got_sha" != "$3" ]; then
    warn "$1: size $got_size sha256 $got_sha, the registry pins size $2 sha256 $3"
    return 1
  fi
}

# publish ENTRY DIR: renames the checked folder DIR to <mirror>/ENTRY.
publish() {
  mkdir -p "$(dirname "$MIRROR/$1")"
  rm -rf "$MIRROR/$1.old"
  [ -e "$MIRROR/$1" ] && mv "$MIRROR/$1" "$MIRROR/$1.old"
  mv "$2" "$MIRROR/$1"
  rm -rf "$MIRROR/$1.old"
  echo "make_mirror: $1 -> $MIRROR/$1" >&2
}

# up_to_date ENTRY: every pinned file is in the mirror with its pins.
up_to_date() {
  local name size sha
  while read -r name size sha; do
    [ -f "$MIRROR/$1/$name" ] && check "$MIRROR/$1/$name" "$size" "$sha" 2>/dev/null || return 1
  done < <(pins "$1")
}

mkdir -p "$MIRROR"
work=$(mktemp -d "$MIRROR/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT

entry=mobilenet_v2_keras.nsfwjs_tfjs
if ! up_to_date $entry; then
  mkdir -p "$work/$entry"
  while read -r name size sha; do
    cp "$NSFWJS/$name" "$work/$entry/$name"
    check "$work/$entry/$name" "$size" "$sha"
  done < <(pins $entry)
  publish $entry "$work/$entry"
fi

entry=mobilenet_v2_keras.nsfwjs
if ! up_to_date $entry; then
  mkdir -p "$work/$entry" "$work/home"
  ARK_HOME="$work/home" ARK_ENDPOINT="$MIRROR" ARK_OFFLINE=1 \
    "$ARK" convert mobilenet_v2_keras.nsfwjs_tfjs "$work/$entry/model.safetensors" 2>"$work/convert.log" ||
    { sed 's/^/  /' "$work/convert.log" >&2; warn "ark convert failed"; exit 1; }
  read -r name size sha < <(pins $entry)
  check "$work/$entry/$name" "$size" "$sha" ||
    { warn "the conversion is not the pinned one (another ark build?); regenerate the pin with tools/registry/gen_registry.py"; exit 1; }
  publish $entry "$work/$entry"
fi

# The real code path once, offline, into a scratch cache.
rm -rf "$work/home"
ARK_HOME="$work/home" ARK_ENDPOINT="$MIRROR" "$ARK" pull --offline mobilenet_v2_keras.nsfwjs mobilenet_v2_keras.nsfwjs_tfjs >/dev/null 2>"$work/pull.log" ||
  { sed 's/^/  /' "$work/pull.log" >&2; warn "ark pull from the mirror failed"; exit 1; }
echo "make_mirror: $MIRROR ready (ARK_ENDPOINT=$MIRROR ark pull mobilenet_v2_keras.nsfwjs)" >&2
