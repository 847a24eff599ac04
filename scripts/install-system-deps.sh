#!/usr/bin/env bash
# Debian packages the project needs beyond Node.
#   (default)  what the tests need: an independent ONNX checker (python3-onnx), a C toolchain for
#              better-sqlite3's source build, headless Chromium for anything a person looks at, and the sqlite3
#              CLI (a live log must survive an operator's `sqlite3 <db>`: test/store/live-wal.test.ts).
#   --bench    also the trainer's yardstick: PyTorch (CPU) with a threaded OpenBLAS, for side-by-side figures.
set -euo pipefail
pkgs=(python3 python3-onnx build-essential chromium sqlite3)
if [ "${1:-}" = "--bench" ]; then pkgs+=(python3-torch libopenblas0-pthread); fi
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then echo "system deps: all present"; exit 0; fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
