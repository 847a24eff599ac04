#!/usr/bin/env bash
# Rounds of bench/learn.bench.ts alternating the base tree and this branch (each its own learner code and addon; the
# same bench files, this branch's, copied into the base tree), niced, with the load before each run:
#   OUT=DIR bash ab-bench.sh BASE_DIR BRANCH_DIR ROUNDS ONLY [BENCH FLAGS...]
set -euo pipefail
base="$1"; branch="$2"; rounds="$3"; only="$4"; shift 4
out="${OUT:?set OUT to a directory}"
mkdir -p "$out"
for r in $(seq 1 "$rounds"); do
  for wt in "$base" "$branch"; do
    name="$([ "$wt" = "$base" ] && echo base || echo branch)"
    echo "== $name round $r $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/log.txt"
    (cd "$wt" && nice -n 5 npx tsx bench/learn.bench.ts --only "$only" --torch-threads 1 "$@") >"$out/$name-$r.log" 2>&1
    cp "$wt/bench/results/learn.json" "$out/$name-$r.json"
    grep -E "^  (iql|daib)" "$out/$name-$r.log" | tee -a "$out/log.txt" || true
  done
done
