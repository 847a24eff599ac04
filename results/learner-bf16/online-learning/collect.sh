#!/bin/bash
# copy each finished run's small outputs to runs/ (not the SQLite log or trainer checkpoints)
cd "$(dirname "$0")/../../.."
for d in data/runs/bf16/*/seed-*; do
  [ -d "$d" ] && [ -f $d/results.json ] || continue
  n=$(basename $d); p=$(basename $(dirname $d)); c=${n##*-}; o=results/learner-bf16/online-learning/runs/$p/$n
  mkdir -p $o/$c
  for f in curve.svg results.json settings.json table.md; do [ -f $d/$f ] && cp $d/$f $o/; done
  [ -f $d/$c/curve.json ] && cp $d/$c/curve.json $o/$c/
  cp $d.log $o/run-log.txt
done
