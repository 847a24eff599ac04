#!/bin/bash
# usage: reward-run.sh NAME METHOD SEED [extra flags...]
cd /work/wt-reward
name=$1; method=$2; seed=$3; shift 3
C="--db data/prior.db --heldout-db data/heldout.db --split data/splits/default.json --steps 1500 --image-size 64 --color-jitter 0.2"
mkdir -p data/runs/reward-seeds/$name results/reward-seeds/logs
start=$(date -u +%s); echo "start $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)" > results/reward-seeds/logs/$name.time
/usr/bin/time -v npx tsx src/cli/train-reward.ts $C --method $method --seed $seed "$@" --out data/runs/reward-seeds/$name --results results/reward-seeds/$name.json > results/reward-seeds/logs/$name.log 2>&1
rc=$?
end=$(date -u +%s); echo "end $(date -u +%FT%TZ) rc $rc wall $((end-start)) s load $(cut -d' ' -f1-3 /proc/loadavg)" >> results/reward-seeds/logs/$name.time
