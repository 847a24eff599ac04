#!/usr/bin/env bash
# Debian packages the project needs beyond Node, then the trainer's native GEMM addon (native/build.sh).
#   (default)  what the tests need: an independent ONNX checker (python3-onnx), a C toolchain for
#              better-sqlite3's source build and the GEMM addon, headless Chromium for anything a person looks at,
#              and OpenBLAS (libopenblas0-pthread: 6.7 MB download, 43 MB installed) whose cblas_sgemm the trainer's
#              matMuls run on. Without it (or without the addon) the trainer falls back to tfjs-wasm's own matMul.
#   --bench    also the trainer's yardstick: PyTorch (CPU, python3-torch; about 640 MB with its dependencies).
set -euo pipefail
pkgs=(python3 python3-onnx build-essential chromium libopenblas0-pthread)
if [ "${1:-}" = "--bench" ]; then pkgs+=(python3-torch); fi
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system deps: all present"
else
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Rebuilt every time (a second with gcc): it must match the headers of the Node that runs the tests.
bash "$(dirname "${BASH_SOURCE[0]}")/../native/build.sh"
