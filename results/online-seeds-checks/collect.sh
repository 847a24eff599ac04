#!/bin/bash
# copy each run's small outputs to results/online-seeds-checks/runs/ (not the SQLite log or trainer checkpoints)
cd "$(dirname "$0")/../.."
for d in data/runs/chk/seed-*; do
  [ -d "$d" ] || continue
  n=$(basename $d); c=${n##*-}; o=results/online-seeds-checks/runs/$n
  [ -f $d/results.json ] || continue
  mkdir -p $o/$c
  for f in curve.png curve.svg results.json settings.json table.md; do [ -f $d/$f ] && cp $d/$f $o/; done
  [ -f $d/$c/curve.json ] && cp $d/$c/curve.json $o/$c/
  cp $d.log $o/run.log
  s=${n#seed-}; s=${s%%-*}; grep -E " (start|end) chk $s $c " data/runs/chk/sweep-log.txt > $o/time.txt
done
cp data/runs/chk/sweep-log.txt results/online-seeds-checks/sweep-log.txt
