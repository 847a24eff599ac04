#!/usr/bin/env bash
# Debian packages the project needs beyond Node.
#   (default)  what the tests need: an independent ONNX checker (python3-onnx), NumPy (reads the .npz export), a C
#              toolchain for better-sqlite3's source build, headless Chromium for anything a person looks at, and
#              Cyclone DDS (cyclonedds-dev, idlc from cyclonedds-tools) for the ROS 2 wire transport; then it builds that
#              transport's native shim (native/dds/build.sh: idlc + node-gyp against Node's own headers, no download).
#              xmllint (libxml2-utils) validates the ROS 2 launch XML against launch/launch.xsd in the tests.
#              ament-cmake (Debian) configures the ROS 2 package (package.xml, CMakeLists.txt) in the tests.
#              The sqlite3 CLI: a live log must survive an operator's `sqlite3 <db>` (test/store/live-wal.test.ts).
#   --bench    also the trainer's yardstick: PyTorch (CPU) with a threaded OpenBLAS, for side-by-side figures.
set -euo pipefail
pkgs=(python3 python3-onnx python3-numpy build-essential chromium cyclonedds-dev cyclonedds-tools libxml2-utils ament-cmake sqlite3)
if [ "${1:-}" = "--bench" ]; then pkgs+=(python3-torch libopenblas0-pthread); fi
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system deps: all present"
else
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The DDS shim: rebuilt when missing or older than its sources.
root="$(cd "$(dirname "$0")/.." && pwd)"
shim="$root/native/dds/build/Release/dds_shim.node"
if [ ! -f "$shim" ] || [ -n "$(find "$root/native/dds" -maxdepth 1 -newer "$shim" \( -name '*.c' -o -name '*.h' -o -name '*.idl' -o -name '*.gyp' \))" ]; then
  # Not fatal: without the shim the DDS tests skip with the reason, and everything else still runs.
  bash "$root/native/dds/build.sh" || echo "system deps: WARNING: the DDS shim did not build; the ROS 2 DDS tests will be skipped" >&2
fi
