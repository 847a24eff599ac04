#!/bin/bash
# offline IQL as `npm run models` runs it (3000 updates, batch 128, 32 px), no evaluation: $1 tag, $2 schedule, $3 seed
cd /work/main
D=data/runs/s14/off-$1
nice -n 5 npx tsx src/cli/train-offline.ts --db data/prior.db --split data/splits/default.json --steps 3000 --image-size 32 \
  --batch-size 128 --card-version 3 --checkpoint-dir $D/ck --resume --eval-trials 0 --actor-lr-schedule $2 --seed $3 \
  --out $D/models > data/runs/s14/logs/off-$1.log 2>&1
echo "rc $? $(date -u +%T)" >> data/runs/s14/logs/off-$1.log
