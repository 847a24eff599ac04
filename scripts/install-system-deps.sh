#!/usr/bin/env bash
# Debian packages the project needs beyond Node: an independent ONNX checker for tests,
# a C toolchain for better-sqlite3's source build, and headless Chromium for the dashboard tests.
set -euo pipefail
pkgs=(python3-onnx chromium build-essential python3)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then echo "system deps: all present"; exit 0; fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
