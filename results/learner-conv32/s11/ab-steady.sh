#!/usr/bin/env bash
# Steady-state CPU per 32x32 update (steady.ts: W warm-up, N timed), processes alternating base tree and branch:
#   OUT=FILE bash ab-steady.sh BASE_DIR BRANCH_DIR ROUNDS [W] [N]
set -euo pipefail
base="$1"; branch="$2"; rounds="$3"; w="${4:-20}"; n="${5:-20}"
for r in $(seq 1 "$rounds"); do
  for wt in "$base" "$branch"; do
    name="$([ "$wt" = "$base" ] && echo base || echo branch)"
    line="$(cd "$wt" && nice -n 5 npx tsx results/learner-conv32/s11/steady.ts "$w" "$n")"
    echo "$name $r $(date -u +%H:%M:%S) $line" | tee -a "${OUT:?set OUT to a file}"
  done
done
