#!/bin/bash
# Copies each experiment run's small outputs (not its SQLite log or trainer checkpoints) into results/DEST/runs/, with
# the run's search baselines and its line of the sweep's log, and the sweep's scripts beside.
#   bash results/collect-runs.sh data/runs/SWEEP DEST ref|own
# ref: the baselines of results/online-depth-default/'s run of the same seed and connector (the same evaluation
# starts: baselines do not depend on the learner); own: the run's own, made by --baselines-only into RUN-bl/.
set -eu
src=$1; dest=results/$2; bl=$3
cd "$(dirname "$0")/.."
for d in "$src"/seed-*; do
  [ -d "$d" ] || continue
  case $d in *-bl) continue ;; esac
  n=$(basename "$d"); c=${n##*-}; o=$dest/runs/$n
  mkdir -p "$o/$c"
  for f in curve.png curve.svg results.json settings.json table.md; do [ -f "$d/$f" ] && cp "$d/$f" "$o/"; done
  [ -f "$d/$c/curve.json" ] && cp "$d/$c/curve.json" "$o/$c/"
  cp "$d.log" "$o/run.log"
  if [ "$bl" = ref ]; then cp "results/online-depth-default/runs/$n/baselines.json" "$o/"; else cp "$d-bl/baselines.json" "$o/"; fi
  grep -E " $n " "$src/sweep-log.txt" > "$o/time.txt" || true
done
cp "$src/sweep-log.txt" "$src/one.sh" "$src/sweep.sh" "$dest/"
