#!/bin/bash
# Copies each run's small outputs (not its SQLite log or trainer checkpoints) of arm TAG from data/runs/s14/TAG into
# results/online-s14/TAG/runs/, with the search baselines of results/online-depth-default/'s run of the same seed and
# connector (the same evaluation starts), and the run's lines of the sweep log.
#   bash results/online-s14/collect.sh TAG
set -eu
tag=$1; cd "$(dirname "$0")/../.."
src=data/runs/s14/$tag; dest=results/online-s14/$tag
for d in "$src"/seed-*; do
  [ -d "$d" ] || continue
  n=$(basename "$d"); c=${n##*-}; o=$dest/runs/$n
  mkdir -p "$o/$c"
  for f in curve.png curve.svg results.json settings.json table.md; do [ -f "$d/$f" ] && cp "$d/$f" "$o/"; done
  [ -f "$d/$c/curve.json" ] && cp "$d/$c/curve.json" "$o/$c/"
  if [ -f "$d.log" ]; then cp "$d.log" "$o/run.log"; else echo "$n: no run log (lost, see README)"; fi
  cp "results/online-depth-default/runs/$n/baselines.json" "$o/"
  grep -E " $tag/$n " data/runs/s14/sweep-log.txt > "$o/time.txt" || true
done
