#!/bin/bash
# usage: run1.sh NAME SEED CONNECTOR [extra experiment flags...]; one run, nice 5, logged to sweep-log.txt
cd /work/wt-online7
name=$1; s=$2; c=$3; shift 3
out=data/runs/cand/$name/seed-$s-$c
mkdir -p data/runs/cand/$name
echo "$(date -u +%FT%TZ) start $name $s $c load $(cut -d' ' -f1 /proc/loadavg) flags $*" >> data/runs/cand/sweep-log.txt
nice -n 5 npx tsx src/cli/experiment.ts --connectors $c --episodes ${EPISODES:-100} --eval-every 25 --trials 20 --seed $s --robust-mm 0 \
  --trainer-wait-s 3000 --no-baselines --critics 10 --target-critics 2 --sync-every 1 "$@" --out $out > $out.log 2>&1
rc=$?
echo "$(date -u +%FT%TZ) end $name $s $c rc $rc load $(cut -d' ' -f1 /proc/loadavg)" >> data/runs/cand/sweep-log.txt
