#!/bin/bash
# step 1500 of the same run (not kept by the from-scratch run): trained again from scratch, seed 0, then scored as the others
cd /work/wt-repro
R=data/runs/repro; LOG=$R/logs/stages.txt
while kill -0 29125 2>/dev/null; do sleep 15; done
echo "$(date -u +%H:%M:%S) start offline 1500 load $(cut -d' ' -f1 /proc/loadavg)" >> $LOG
nice -n 5 npx tsx src/cli/train-offline.ts --db $R/fs-prior.db --split data/splits/default.json --steps 1500 --image-size 32 --batch-size 128   --card-version 3 --checkpoint-dir $R/iql-1500 --checkpoint-every 500 --eval-trials 0 --out $R/m-1500 > $R/logs/offline1500.log 2>&1
echo "$(date -u +%H:%M:%S) end offline 1500 rc $? load $(cut -d' ' -f1 /proc/loadavg)" >> $LOG
echo "$(date -u +%H:%M:%S) start eval 1500 load $(cut -d' ' -f1 /proc/loadavg)" >> $LOG
nice -n 5 npx tsx $R/evalck.ts $R/eval-1500.json 4 8 $R/m-1500/policy.onnx > $R/logs/eval-1500.log 2>&1
echo "$(date -u +%H:%M:%S) end eval 1500 rc $? load $(cut -d' ' -f1 /proc/loadavg)" >> $LOG
