#!/usr/bin/env bash
# Debian packages the project needs beyond Node, then its two native pieces (built here, nothing downloaded).
#   (default)  what the tests need:
#              - python3-onnx: an independent ONNX checker; python3-numpy: reads the .npz export;
#              - build-essential: better-sqlite3's source build and the native pieces below;
#              - chromium: headless Chromium for anything a person looks at (the dashboard tests);
#              - libopenblas0-pthread (6.7 MB download, 43 MB installed): cblas_sgemm for the trainer's native engine
#                (native/gemm.c); without it the trainer falls back to tfjs-wasm's own kernels;
#              - libdnnl-dev (oneDNN 2.6.3 with libdnnl2: 7 MB download, 40 MB installed): bf16 GEMM inputs for the
#                trainer (learning.gemmPrecision: bf16, opt-in); the addon builds and runs in float32 without it;
#              - cyclonedds-dev, cyclonedds-tools (idlc): the ROS 2 wire transport's native shim (native/dds);
#              - libxml2-utils (xmllint) checks the ROS 2 launch XML, ament-cmake configures the ROS 2 package;
#              - sqlite3: a live log must survive an operator's `sqlite3 <db>` (test/store/live-wal.test.ts);
#              - postgresql: the fleet store's server (Debian's, 15 on bookworm); tests and the fleet demo start a
#                throw-away cluster on loopback (src/store/pg/cluster.ts, scripts/pg-cluster.sh). The package's own
#                cluster is not used (apt-get does not start it in a container without init).
#   --bench    also the trainer's yardstick: PyTorch (CPU, python3-torch; about 640 MB with its dependencies).
set -euo pipefail
pkgs=(python3 python3-onnx python3-numpy build-essential chromium libopenblas0-pthread libdnnl-dev cyclonedds-dev cyclonedds-tools libxml2-utils ament-cmake sqlite3 postgresql)
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
root="$(cd "$(dirname "$0")/.." && pwd)"
# The trainer's GEMM addon: rebuilt every time (a second with gcc), so it matches the headers of the Node that runs.
bash "$root/native/build.sh"
# The DDS shim: rebuilt when missing or older than its sources. Not fatal: without it the DDS tests skip with the
# reason, and everything else still runs.
shim="$root/native/dds/build/Release/dds_shim.node"
if [ ! -f "$shim" ] || [ -n "$(find "$root/native/dds" -maxdepth 1 -newer "$shim" \( -name '*.c' -o -name '*.h' -o -name '*.idl' -o -name '*.gyp' \))" ]; then
  bash "$root/native/dds/build.sh" || echo "system deps: WARNING: the DDS shim did not build; the ROS 2 DDS tests will be skipped" >&2
fi
