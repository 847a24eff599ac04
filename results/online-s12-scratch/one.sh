#!/bin/bash
# one online run with the models `npm run models` made from scratch this session (models-s12-snap/models-new, copied
# into the snapshot's models/), today's defaults otherwise
s=$1; c=$2; n=seed-$s-$c; out=/work/main/data/runs/s12m/$n
cd /work/main/data/runs/s12m-snap
echo "$(date -u +%T) start $n load $(cut -d' ' -f1-3 /proc/loadavg)" >> /work/main/data/runs/s12m/sweep-log.txt
start=$(date +%s)
nice -n 5 npx tsx src/cli/experiment.ts --connectors $c --episodes 100 --eval-every 25 --trials 20 --seed $s \
  --robust-mm 0 --trainer-wait-s 3000 --no-baselines --out $out > /work/main/data/runs/s12m/$n.log 2>&1
rc=$?
echo "$(date -u +%T) end $n rc $rc $(( $(date +%s) - start )) s load $(cut -d' ' -f1-3 /proc/loadavg)" >> /work/main/data/runs/s12m/sweep-log.txt
