#!/bin/bash
# task 1: from-scratch checkpoint + policy with today's online default (10 critics, 2 target), seed 0
cd /work/wt-repro
M=results/models-from-scratch/models
LOG=data/runs/repro/logs/stages.txt
for C in "$@"; do
  echo "$(date -u +%H:%M:%S) start fs10 $C load $(cut -d' ' -f1 /proc/loadavg)" >> $LOG
  nice -n 5 npx tsx src/cli/experiment.ts --connectors $C --episodes 100 --eval-every 25 --trials 20 --seed 0 --robust-mm 0 \
    --trainer-wait-s 3000 --no-baselines --checkpoint $M/iql-offline --policy $M/policy.onnx \
    --out data/runs/repro/fs10/seed-0-$C > data/runs/repro/logs/fs10-$C.log 2>&1
  echo "$(date -u +%H:%M:%S) end fs10 $C rc $? load $(cut -d' ' -f1 /proc/loadavg)" >> $LOG
done
