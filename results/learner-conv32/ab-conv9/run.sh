#!/usr/bin/env bash
# 5 rounds alternating main (a detached worktree at the branch's base) and this branch:
#   [OUT=DIR] bash results/learner-conv32/ab-conv9/run.sh BASE_DIR BRANCH_DIR ROUNDS ONLY
set -euo pipefail
base="$1"; branch="$2"; rounds="${3:-5}"; only="${4:-32x32}"
out="${OUT:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"  # OUT: another directory for the files
mkdir -p "$out"
for r in $(seq 1 "$rounds"); do
  for wt in "$base" "$branch"; do
    name="$(basename "$wt")"
    echo "== $name round $r $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/log.txt"
    (cd "$wt" && nice -n 5 npx tsx bench/learn.bench.ts --only "$only" --torch-threads 1) >"$out/$name-$r.log" 2>&1
    cp "$wt/bench/results/learn.json" "$out/$name-$r.json"
    grep -E "^  (iql|daib)" "$out/$name-$r.log" | tee -a "$out/log.txt" || true
  done
done
