#!/usr/bin/env bash
# oneDNN bf16 matmul against OpenBLAS sgemm on the learner's shapes (see bf16-gemm.c). Needs libdnnl-dev.
# Usage: bash bench/native/bf16-gemm.sh [out.json]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-/dev/stdout}"
bin="$(mktemp -d)/bf16-gemm"
cc -O3 -fopenmp -std=c11 -Wall -o "$bin" "$here/bf16-gemm.c" -ldnnl /usr/lib/x86_64-linux-gnu/libopenblas.so.0 -lm
OMP_WAIT_POLICY=passive "$bin" > "$out"
