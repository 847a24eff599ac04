#!/usr/bin/env bash
# This session's measurements, in order (beside the lead's `npm run models` and online sweep): bash run-all.sh BASE_DIR
# BASE_DIR: a tree of main at eab3f79 with its own addon build (git archive eab3f79; node_modules linked; native/build/gemm.node
# built from that commit's native/gemm.c with native/build.sh's flags).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; branch="$(cd "$here/../../.." && pwd)"; base="$1"
cd "$branch"
for r in 1 2 3; do
  echo "== ab-inproc $r $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  nice -n 5 npx tsx results/learner-conv32/ab-inproc.ts "$base/native/build/gemm.node" "$branch/native/build/gemm.node" 25 > "$here/ab-inproc-32-$r.json"
done
echo "== bench default $(date -u +%H:%M:%S)"
OUT="$here/bench-32x32" bash "$here/../s11/ab-bench.sh" "$base" "$branch" 5 32x32
echo "== bench warmup 8 $(date -u +%H:%M:%S)"
OUT="$here/bench-32x32-warmup8" bash "$here/../s11/ab-bench.sh" "$base" "$branch" 3 32x32 --warmup 8
echo "== others $(date -u +%H:%M:%S)"
OUT="$here/bench-others" bash "$here/../s11/ab-bench.sh" "$base" "$branch" 1 64x64,features
echo "== done $(date -u +%H:%M:%S)"
# Run after it, by hand, in this order: OUT=$here/bench-features-recheck bash $here/../s11/ab-bench.sh BASE BRANCH 2 features;
# npx tsx results/learner-conv32/prof32.ts 32 (prof32-branch.txt); OUT=$here/bench-32x32b bash $here/../s11/ab-bench.sh
# BASE BRANCH 3 32x32; two more ab-inproc runs (ab-inproc-32-4/5.json); threads.ts (threads.txt: its loop in that file's
# header) and group.ts (group.txt) earlier, at 03:22 and 03:36.
