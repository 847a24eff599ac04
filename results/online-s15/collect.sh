#!/bin/bash
# Copies each run's small outputs (not its SQLite log or trainer checkpoints) of arm TAG from data/runs/s15/TAG into
# results/online-s15/TAG/runs/, with the search baselines of the same seed and connector (the same evaluation starts):
# results/online-depth-default/'s for seeds 0-2, results/online-s11c/'s for seeds 3 and 4; and the run's lines of the sweep log.
#   bash results/online-s15/collect.sh TAG
set -eu
tag=$1; cd "$(dirname "$0")/../.."
src=data/runs/s15/$tag; dest=results/online-s15/$tag
for d in "$src"/seed-*; do
  [ -d "$d" ] || continue
  n=$(basename "$d"); c=${n##*-}; o=$dest/runs/$n
  mkdir -p "$o/$c"
  for f in curve.png curve.svg results.json settings.json table.md; do [ -f "$d/$f" ] && cp "$d/$f" "$o/"; done
  [ -f "$d/$c/curve.json" ] && cp "$d/$c/curve.json" "$o/$c/"
  if [ -f "$d.log" ]; then cp "$d.log" "$o/run.log"; else echo "$n: no run log (lost, see README)"; fi
  b=results/online-depth-default/runs/$n/baselines.json; [ -f "$b" ] || b=results/online-s11c/runs/$n/baselines.json
  cp "$b" "$o/"
  grep -E " $tag/$n " data/runs/s15/sweep-log.txt > "$o/time.txt" || true
done
