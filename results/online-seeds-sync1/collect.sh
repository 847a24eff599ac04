#!/bin/bash
# copy each finished run's small outputs to results/online-seeds-sync1/runs/ (not the SQLite log or trainer checkpoints)
cd /work/wt-online
for d in data/runs/sync1/runs/seed-*; do
  [ -d "$d" ] || continue
  n=$(basename $d); c=${n##*-}; o=results/online-seeds-sync1/runs/$n
  [ -f $d/results.json ] || continue
  mkdir -p $o/$c
  for f in curve.png curve.svg results.json settings.json table.md; do [ -f $d/$f ] && cp $d/$f $o/; done
  [ -f $d/$c/curve.json ] && cp $d/$c/curve.json $o/$c/
  cp $d.log $o/run.log
  s=${n#seed-}; s=${s%%-*}; grep -E " (start|end) sync1 $s $c " data/runs/sync1/sweep-log.txt > $o/time.txt
done
