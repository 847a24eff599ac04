#!/bin/bash
# exportck.sh N: the kept checkpoint at step N exported as train-offline does (policy + encoders + cards) to m-N/
cd /work/wt-repro/data/runs/repro
N=$1; C=$(printf 'ckpt-%09d' $N)
mkdir -p ck-$N m-$N && cp -r keep/$C ck-$N/ && cp iql-9k/run.json ck-$N/ && echo "{\"checkpoint\":\"$C\",\"step\":$N}" > ck-$N/latest.json
cd /work/wt-repro
nice -n 5 npx tsx src/cli/train-offline.ts --db data/runs/repro/fs-prior.db --split data/splits/default.json --steps $N \
  --image-size 32 --batch-size 128 --card-version 3 --checkpoint-dir data/runs/repro/ck-$N --resume --eval-trials 0 \
  --out data/runs/repro/m-$N > data/runs/repro/logs/export-$N.log 2>&1
data/runs/repro/ship.sh data/runs/repro/ck-$N data/runs/repro/m-$N >> data/runs/repro/logs/ship.log 2>&1
