#!/bin/bash
# copy each finished candidate run's small outputs to results/online-candidates/<name>/runs/ (not the SQLite log or
# trainer checkpoints), and the sweep log and load samples
cd /work/wt-online7
for d in data/runs/cand/*/seed-*; do
  [ -d "$d" ] || continue
  [ -f $d/results.json ] || continue
  n=$(basename $d); c=${n##*-}; name=$(basename $(dirname $d)); o=results/online-candidates/$name/runs/$n
  mkdir -p $o/$c
  for f in curve.svg results.json settings.json table.md; do [ -f $d/$f ] && cp $d/$f $o/; done
  [ -f $d/$c/curve.json ] && cp $d/$c/curve.json $o/$c/
  cp $d.log $o/run.log
done
cp data/runs/cand/sweep-log.txt data/runs/cand/load.txt data/runs/cand/run1.sh results/online-candidates/
