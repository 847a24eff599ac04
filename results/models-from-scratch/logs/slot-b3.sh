#!/bin/bash
# Slot B, last: the shipped policy/checkpoint with the new image reward on dt12.
cd /work/wt-models
L=results/models-from-scratch/logs
OUT=results/models-from-scratch/models
stamp() { echo "$(date -u +%FT%TZ) $* load $(cut -d' ' -f1-3 /proc/loadavg)" >> $L/stages.txt; }
while pgrep -f slot-b2.sh > /dev/null; do sleep 5; done
stamp "start online oldpolicy-newreward dt12"
t0=$(date +%s)
nice -n 5 npx tsx src/cli/experiment.ts --connectors dt12 --episodes 100 --eval-every 25 --trials 20 --seed 0 --robust-mm 0 \
  --trainer-wait-s 3000 --no-baselines --reward $OUT/reward.onnx --out data/runs/mfs/oldpolicy-newreward-dt12 > $L/online-oldpolicy-newreward-dt12.log 2>&1
stamp "end online oldpolicy-newreward dt12 rc $? $(( $(date +%s) - t0 ))s"
