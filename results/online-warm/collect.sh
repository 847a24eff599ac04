#!/bin/bash
# copy each run's small outputs to results/online-warm/runs/ (not the SQLite log or trainer checkpoints)
cd /work/wt-warm13
for d in data/runs/warm/seed-*; do
  [ -d "$d" ] || continue
  n=$(basename $d); c=${n##*-}; o=results/online-warm/runs/$n
  mkdir -p $o/$c
  for f in curve.png curve.svg results.json settings.json table.md; do [ -f $d/$f ] && cp $d/$f $o/; done
  [ -f $d/$c/curve.json ] && cp $d/$c/curve.json $o/$c/
  cp $d.log $o/run.log
  grep -E " $n " data/runs/warm/runs.log > $o/time.txt
done
