#!/usr/bin/env bash
# Fetches the real pretrained weights ark's tests use that can be had offline (shared/ASSETS.md),
# into ${ARK_ASSETS:-~/.cache/ark/assets}; nothing from the packages is committed. Idempotent: a
# finished asset has a .complete marker and is skipped. Called from scripts/setup.sh.
#
#   nsfwjs-4.4.0/mobilenet_v2/{model.json,group1-shard1of1}
#     npm's nsfwjs@4.4.0 (MIT) ships its Keras MobileNetV2 as two JavaScript bundles: model.min.js
#     exports the TF.js model.json object, group1-shard1of1.min.js the weight shard as base64. The
#     shard is written under the name model.json's weightsManifest gives it ("group1-shard1of1", no
#     extension), so the folder is a TF.js model as it is served.
#     The tarball is checked against the registry's sha512 (pinned here), the bundles are evaluated
#     by node in an empty vm context (no require, no process, no fs), and the decoded shard is
#     checked against a pinned sha256.
#
# Without network (or npm/node) it warns and exits 0: the tests that need an asset skip, saying so.
set -euo pipefail

ASSETS=${ARK_ASSETS:-$HOME/.cache/ark/assets}
warn() { echo "fetch_assets: $*" >&2; }

fetch_nsfwjs() {
  local name=nsfwjs version=4.4.0
  local integrity="sha512-krC1fgeTLXtZwgdpKJ0jm7hqv0gTSRQQRL+FhOaxaJ9Wj92t42BO3csO2odwgTAgZgf2RvkwPtp0R8Aa7dc+MA=="
  local shard_sha256=8e7dddbb16acacc1bf1601b1b8a761e730ff934b7f2d7771312b2f000e5f5f13
  local dest="$ASSETS/$name-$version/mobilenet_v2"
  [ -f "$dest/.complete" ] && return 0
  for tool in npm node tar openssl sha256sum; do
    command -v "$tool" >/dev/null || { warn "$tool not found; skipping $name@$version"; return 0; }
  done

  mkdir -p "$ASSETS"
  local work
  work=$(mktemp -d "$ASSETS/.$name-$version.XXXXXX")
  trap 'rm -rf "$work"; trap - RETURN' RETURN
  if ! (cd "$work" && npm pack --silent "$name@$version" >/dev/null 2>"$work/npm.log"); then
    warn "npm pack $name@$version failed (offline?); tests that need it will skip"
    sed 's/^/  /' "$work/npm.log" >&2 || true
    return 0
  fi
  local tgz="$work/$name-$version.tgz"
  local got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$got" != "$integrity" ]; then
    warn "$name-$version.tgz integrity mismatch: expected $integrity, got $got"
    return 1
  fi
  tar xzf "$tgz" -C "$work" package/dist/models/mobilenet_v2

  mkdir -p "$work/out"
  node - "$work/package/dist/models/mobilenet_v2" "$work/out" <<'EOF'
// Evaluates a UMD bundle in an empty context and returns what it assigns to module.exports.
const fs = require('fs'), vm = require('vm'), path = require('path');
const [src, out] = process.argv.slice(2);
function load(file) {
  const module = {exports: {}};
  vm.runInNewContext(fs.readFileSync(path.join(src, file), 'utf8'), {module, exports: module.exports},
                     {timeout: 30000});
  return module.exports;
}
const model = load('model.min.js');
if (typeof model !== 'object' || !Array.isArray(model.weightsManifest)) throw new Error('model.min.js: no weightsManifest');
const b64 = load('group1-shard1of1.min.js');
if (typeof b64 !== 'string') throw new Error('group1-shard1of1.min.js: not a base64 string');
fs.writeFileSync(path.join(out, 'model.json'), JSON.stringify(model));
const paths = model.weightsManifest.flatMap(g => g.paths);
if (paths.length !== 1 || !/^[A-Za-z0-9_.-]+$/.test(paths[0])) throw new Error('unexpected shard paths ' + paths);
fs.writeFileSync(path.join(out, paths[0]), Buffer.from(b64, 'base64'));
EOF
  got=$(sha256sum "$work/out/group1-shard1of1" | cut -d' ' -f1)
  if [ "$got" != "$shard_sha256" ]; then
    warn "decoded shard sha256 mismatch: expected $shard_sha256, got $got"
    return 1
  fi
  touch "$work/out/.complete"
  mkdir -p "$(dirname "$dest")"
  rm -rf "$dest"
  mv "$work/out" "$dest"
  echo "fetch_assets: $name@$version mobilenet_v2 -> $dest" >&2
}

fetch_nsfwjs
