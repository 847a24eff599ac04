#!/bin/bash
# the depth reward as npm run models trains reward-depth.onnx (DAIB only here), on the 25-connector prior data
cd /work/main
W=data/runs/s14/wide
mkdir -p $W/reward
nice -n 5 npx tsx src/cli/train-reward.ts --db $W/prior.db --heldout-db data/heldout.db --split $W/split.json --steps 1500 \
  --image-size 64 --color-jitter 0.2 --adversary moments --method daib --seed 0 --out $W/reward \
  --results $W/reward/reward-table8-64px-depth.json --cue depth-dy --export-file reward-depth.onnx --card-version 1 \
  > data/runs/s14/logs/wide-reward.log 2>&1
echo "rc $? $(date -u +%T)" >> data/runs/s14/logs/wide-reward.log
