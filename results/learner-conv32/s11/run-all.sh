#!/usr/bin/env bash
# This session's measurements, in order (01:10-01:40 UTC, beside the lead's online sweep): bash run-all.sh BASE_DIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; branch="$(cd "$here/../../.." && pwd)"; base="$1"
cd "$branch"
echo "== ab-inproc $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
nice -n 5 npx tsx results/learner-conv32/ab-inproc.ts "$base/native/build/gemm.node" "$branch/native/build/gemm.node" 25 > "$here/ab-inproc-32.json"
echo "== steady $(date -u +%H:%M:%S)"
OUT="$here/steady.txt" bash "$here/ab-steady.sh" "$base" "$branch" 4 20 20
echo "== bench default $(date -u +%H:%M:%S)"
OUT="$here/bench-32x32" bash "$here/ab-bench.sh" "$base" "$branch" 5 32x32
echo "== bench warmup 8 $(date -u +%H:%M:%S)"
OUT="$here/bench-32x32-warmup8" bash "$here/ab-bench.sh" "$base" "$branch" 5 32x32 --warmup 8
echo "== others $(date -u +%H:%M:%S)"
OUT="$here/bench-others" bash "$here/ab-bench.sh" "$base" "$branch" 1 64x64,features
echo "== done $(date -u +%H:%M:%S)"
