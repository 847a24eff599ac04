#!/bin/bash
# Each run's small outputs of arm TAG (data/runs/s16/TAG, made by ../online-s21/sweep.sh) into results/online-s24/TAG/runs/:
# results, settings, table, curves, the run's log and sweep-log lines, and the search baselines of the same seed and
# connector (baselines/ here for seeds 5-7, else those the earlier sessions ran); local paths made relative.
#   bash results/online-s24/collect.sh TAG
set -eu
tag=$1; cd "$(dirname "$0")/../.."
src=data/runs/s16/$tag; dest=results/online-s24/$tag
rm -rf "$dest"
for d in "$src"/seed-*; do
  [ -d "$d" ] || continue
  n=$(basename "$d"); c=${n##*-}; o=$dest/runs/$n
  mkdir -p "$o/$c"
  for f in curve.png curve.svg results.json settings.json table.md; do [ -f "$d/$f" ] && cp "$d/$f" "$o/"; done
  [ -f "$d/$c/curve.json" ] && cp "$d/$c/curve.json" "$o/$c/"
  cp "$d.log" "$o/run.log"
  for b in results/online-s24/baselines/$n results/online-s20/baselines/$n results/online-depth-default/runs/$n results/online-s11c/runs/$n; do
    [ -f "$b/baselines.json" ] && { cp "$b/baselines.json" "$o/"; break; }
  done
  grep -E " $tag/$n " data/runs/s16/sweep-log.txt > "$o/time.txt" || true
done
grep -rl "$PWD/" "$dest" | xargs -r sed -i "s#$PWD/##g"
