#!/bin/bash
# one run: run1.sh LABEL S C [extra flags...]; logs start/end with load to sweep-log.txt
label=$1; s=$2; c=$3; shift 3
cd /work/wt-online
out=data/runs/utd/$label/seed-$s-$c
mkdir -p "$out"
echo "$(date -u +%FT%TZ) start $label $s $c load $(cut -d' ' -f1-3 /proc/loadavg)" >> data/runs/utd/sweep-log.txt
t0=$(date +%s)
nice -n 5 npx tsx src/cli/experiment.ts --connectors $c --episodes 100 --eval-every 25 --trials 20 --seed $s --robust-mm 0 \
  --trainer-wait-s 3000 --no-baselines "$@" --out $out > $out.log 2>&1
rc=$?
t1=$(date +%s)
echo "$(date -u +%FT%TZ) end $label $s $c rc $rc $((t1-t0))s load $(cut -d' ' -f1-3 /proc/loadavg)" >> data/runs/utd/sweep-log.txt
