#!/bin/bash
# copy each finished run's small outputs to results/online-seeds-utd4/runs/ (not the SQLite log or trainer checkpoints)
cd /work/wt-online
for d in data/runs/utd/utd4/seed-*; do
  [ -f "$d/results.json" ] || continue
  n=$(basename $d); c=${n##*-}; o=results/online-seeds-utd4/runs/$n
  mkdir -p $o/$c
  cp $d/curve.png $d/curve.svg $d/results.json $d/settings.json $d/table.md $o/
  cp $d/$c/curve.json $o/$c/
  cp $d.log $o/run.log
  s=${n#seed-}; s=${s%%-*}; grep -E " (start|end) utd4 $s $c " data/runs/utd/sweep-log.txt | tail -n 2 > $o/time.txt
done
