#!/bin/bash
# copies each run's small outputs (not the SQLite logs, trainer checkpoints or feature caches) from data/runs/repro/
# to results/offline-stage/runs/<set>/, and the offline evaluations and logs beside them
cd "$(dirname "$0")/../.."
R=data/runs/repro; O=results/offline-stage
for set in fs10 u9k sel7500 sel7500r; do
  for d in $R/$set/seed-*; do
    [ -d "$d" ] || continue
    n=$(basename $d); c=${n##*-}; o=$O/runs/$set/$n
    mkdir -p $o/$c
    for f in curve.png curve.svg results.json settings.json table.md; do [ -f $d/$f ] && cp $d/$f $o/; done
    [ -f $d/$c/curve.json ] && cp $d/$c/curve.json $o/$c/
    cp $R/logs/$set-$c.log $o/run.log
    grep -E " (start|end) $set $c " $R/logs/stages.txt > $o/time.txt
  done
done
mkdir -p $O/logs $O/eval
cp $R/logs/stages.txt $R/logs/offline9k.log $O/logs/
cp $R/eval-*.json $O/eval/ 2>/dev/null
cp $R/*.sh $R/evalck.ts $O/logs/
