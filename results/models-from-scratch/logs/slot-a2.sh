#!/bin/bash
# Slot A, last: the control on dt12 (the shipped models as they are, today's code).
cd /work/wt-models
L=results/models-from-scratch/logs
stamp() { echo "$(date -u +%FT%TZ) $* load $(cut -d' ' -f1-3 /proc/loadavg)" >> $L/stages.txt; }
while pgrep -f slot-a.sh > /dev/null; do sleep 5; done
[ $(date +%s) -gt $(date -d '00:33' +%s) ] && { stamp "old-models dt12 not started (too late)"; exit 0; }
stamp "start online old-models dt12"
t0=$(date +%s)
nice -n 5 timeout $(( $(date -d '00:41' +%s) - $(date +%s) )) npx tsx src/cli/experiment.ts --connectors dt12 --episodes 100 --eval-every 25 --trials 20 --seed 0 --robust-mm 0 \
  --trainer-wait-s 3000 --no-baselines --out data/runs/mfs/old-models-dt12 > $L/online-old-models-dt12.log 2>&1
stamp "end online old-models dt12 rc $? $(( $(date +%s) - t0 ))s"
