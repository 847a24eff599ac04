#!/bin/bash
# offline IQL as `npm run models` runs it (src/cli/models.ts SHIPPED): $1 tag, $2 weight-average rate (0 = off, as the
# command), $3 seed (default 0, as the command); run from a snapshot of the code with data/prior.db
cd /work/main/data/runs/s13-ema-snap
nice -n 5 npx tsx src/cli/train-offline.ts --db data/prior.db --split data/splits/default.json --steps 3000 --image-size 32 \
  --batch-size 128 --card-version 3 --checkpoint-dir data/runs/iql-$1 --resume --eval-trials 20 --train-eval-trials 3 \
  --weight-average $2 --seed ${3:-0} --out models-$1 > logs/$1.log 2>&1
echo "rc $?" >> logs/$1.log
