#!/bin/bash
# one more offline checkpoint: the from-scratch run (3000 updates, seed 0) continued to 9000 updates; batches are a pure
# function of (seed, step), so this equals a fresh 9000-update run of the same command
cd /work/wt-repro
LOG=data/runs/repro/logs/stages.txt
STEPS=${1:-9000}
echo "$(date -u +%H:%M:%S) start offline to $STEPS load $(cut -d' ' -f1 /proc/loadavg)" >> $LOG
nice -n 5 npx tsx src/cli/train-offline.ts --db data/runs/repro/fs-prior.db --split data/splits/default.json --steps $STEPS \
  --image-size 32 --batch-size 128 --card-version 3 --checkpoint-dir data/runs/repro/iql-9k --checkpoint-every 500 --resume \
  --eval-trials 0 --out data/runs/repro/m9k >> data/runs/repro/logs/offline9k.log 2>&1
echo "$(date -u +%H:%M:%S) end offline rc $? load $(cut -d' ' -f1 /proc/loadavg)" >> $LOG
