#!/bin/bash
# offline IQL as npm run models runs it, on the 25-connector prior data: $1 seed
cd /work/main
W=data/runs/s14/wide
nice -n 5 npx tsx src/cli/train-offline.ts --db $W/prior.db --split $W/split.json --steps 3000 --image-size 32 \
  --batch-size 128 --card-version 3 --checkpoint-dir $W/off-s$1/ck --resume --eval-trials 0 --seed $1 \
  --out $W/off-s$1/models > data/runs/s14/logs/wide-off-s$1.log 2>&1
echo "rc $? $(date -u +%T)" >> data/runs/s14/logs/wide-off-s$1.log
