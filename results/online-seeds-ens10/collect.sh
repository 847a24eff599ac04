#!/bin/bash
# copy each run's small outputs to results/online-seeds-ens10/runs/ (not the SQLite log or trainer checkpoints)
cd /work/wt-online
for d in data/runs/ens/ens10/seed-*; do
  [ -d "$d" ] || continue
  n=$(basename $d); c=${n##*-}; o=results/online-seeds-ens10/runs/$n
  mkdir -p $o/$c
  for f in curve.png curve.svg results.json settings.json table.md; do [ -f $d/$f ] && cp $d/$f $o/; done
  [ -f $d/$c/curve.json ] && cp $d/$c/curve.json $o/$c/
  cp $d.log $o/run.log
  s=${n#seed-}; s=${s%%-*}; grep -E " (start|end|stopped) ens10 $s $c " data/runs/ens/sweep-log.txt > $o/time.txt
done
