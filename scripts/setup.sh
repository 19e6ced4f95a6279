#!/usr/bin/env bash
# Installs exactly what ark needs that this Debian 12 machine lacks: quiet, idempotent, no
# downloads beyond Debian's packages (and, for later issues, the npm registry).
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config
  # kernels: OpenBLAS's OpenMP build and oneDNN share libgomp's thread pool with ark
  libopenblas-openmp-dev libdnnl-dev zlib1g-dev
  # Debian's dnnl-config.cmake does find_package(OpenCL) (its GPU runtime); the package only
  # recommends the OpenCL headers, which --no-install-recommends leaves out
  ocl-icd-opencl-dev
  # libraries: JSON headers, CLI, HTTP test server, images (OpenCV), Keras weights (HDF5)
  nlohmann-json3-dev libcli11-dev libcpp-httplib-dev libopencv-dev libhdf5-dev
  # PNG figures (plots) through libpng, without loading OpenCV's codec library and its ~140 dependencies
  libpng-dev
  # the weights downloader: libcurl (http/https, proxies, TLS) and OpenSSL's libcrypto (sha256);
  # curl itself is the baseline of tools/bench/pull_bench.sh
  libcurl4-openssl-dev libssl-dev curl
  # tests: GoogleTest, the PyTorch 1.13 oracle, libFuzzer (clang), the Fashion-MNIST data
  libgtest-dev googletest python3-torch python3-torchvision clang libclang-rt-14-dev
  dataset-fashion-mnist
  # tests: real photos for the image decoding/preprocessing tests (darknet's samples, skimage's data)
  darknet python3-skimage
  # tests: Keras .h5 fixtures (h5py); the nsfwjs reference also uses darknet's dog.jpg (above)
  python3-h5py
  # tokenizers: SentencePiece models (LLaMA, ALBERT) load and train through the C++ library
  libsentencepiece-dev
)

"$(dirname "$0")/fetch_assets.sh"  # npm assets (nsfwjs' Keras MobileNetV2); needs node/npm, not apt

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
