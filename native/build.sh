#!/usr/bin/env bash
# Builds native/build/gemm.node (the trainer's OpenBLAS GEMM, see gemm.c) with the system C compiler against the
# headers of the Node that runs it. Nothing is downloaded; OpenBLAS (and oneDNN, for bf16) only at run time (dlopen).
# Exits 0 with a message when it cannot build: the trainer then uses tfjs-wasm's own matMul.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
node_bin="$(command -v node || true)"
[ -n "$node_bin" ] || { echo "native gemm: not built (node not on PATH)"; exit 0; }
inc="$(dirname "$(dirname "$(readlink -f "$node_bin")")")/include/node"
[ -f "$inc/node_api.h" ] || { echo "native gemm: not built (no $inc/node_api.h: Node's headers are missing)"; exit 0; }
cc_bin="${CC:-cc}"
command -v "$cc_bin" >/dev/null || { echo "native gemm: not built (no C compiler; install build-essential)"; exit 0; }
mkdir -p "$here/build"
# oneDNN's header (Debian libdnnl-dev) enables the opt-in bf16 GEMM inputs; the library itself is dlopened at run time.
dnnl_flags=()
if echo '#include <oneapi/dnnl/dnnl.h>' | "$cc_bin" -E -x c - >/dev/null 2>&1; then dnnl_flags=(-DHAVE_DNNL); fi
# NAPI_VERSION 8 (Node >= 12.22): a stable ABI, so one build serves later Node versions too.
if ! "$cc_bin" -O3 -fno-math-errno -fPIC -shared -std=c11 -Wall -Wextra -DNAPI_VERSION=8 -DNODE_GYP_MODULE_NAME=gemm "${dnnl_flags[@]}" -I"$inc" \
  -o "$here/build/gemm.node.tmp" "$here/gemm.c" -ldl -lm -lpthread; then
  echo "native gemm: not built (compile failed, see above); the trainer uses tfjs-wasm's own matMul"
  exit 0
fi
mv "$here/build/gemm.node.tmp" "$here/build/gemm.node"
echo "native gemm: built $here/build/gemm.node${dnnl_flags:+ (with oneDNN bf16)}"
