#!/bin/bash
# When the image DAIB classifier is exported, stop that stage before its ERM run (kept for later if time) and start
# the depth classifiers with the exact command models.ts runs for them.
cd /work/wt-models
L=results/models-from-scratch/logs
OUT=results/models-from-scratch/models
stamp() { echo "$(date -u +%FT%TZ) $* load $(cut -d' ' -f1-3 /proc/loadavg)" >> $L/stages.txt; }
until grep -q "exported $OUT/reward.onnx" $L/reward.log; do sleep 5; done
for p in $(pgrep -f "train-reward.ts --db data/prior.db .*--out $OUT"); do kill $p; done
for p in $(pgrep -f "src/cli/models.ts --out $OUT --skip-collect --skip-offline --skip-tables"); do kill $p; done
stamp "image daib exported; stopped the reward stage before image erm seed 0"
stamp "start reward-depth"
t0=$(date +%s)
nice -n 5 npx tsx src/cli/train-reward.ts --db data/prior.db --heldout-db data/heldout.db --split data/splits/default.json --steps 1500 \
  --image-size 64 --color-jitter 0.2 --adversary moments --method daib,erm --seed 0 --out $OUT \
  --results $OUT/reward-table8-64px-depth.json --cue depth --export-file reward-depth.onnx --card-version 1 > $L/reward-depth.log 2>&1
stamp "end reward-depth rc $? $(( $(date +%s) - t0 ))s"
