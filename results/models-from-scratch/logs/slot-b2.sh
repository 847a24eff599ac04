#!/bin/bash
# Slot B after the new-model runs: controls on europlug with today's code: the shipped (old) models as they are, then
# the shipped policy/checkpoint with the new image reward.
cd /work/wt-models
L=results/models-from-scratch/logs
OUT=results/models-from-scratch/models
stamp() { echo "$(date -u +%FT%TZ) $* load $(cut -d' ' -f1-3 /proc/loadavg)" >> $L/stages.txt; }
while pgrep -f online-b.sh > /dev/null; do sleep 5; done
run() { # name, extra flags
  local name=$1; shift
  stamp "start online $name"
  local t0=$(date +%s)
  nice -n 5 npx tsx src/cli/experiment.ts --connectors europlug --episodes 100 --eval-every 25 --trials 20 --seed 0 --robust-mm 0 \
    --trainer-wait-s 3000 --no-baselines "$@" --out data/runs/mfs/$name-europlug > $L/online-$name-europlug.log 2>&1
  stamp "end online $name europlug rc $? $(( $(date +%s) - t0 ))s"
}
run old-models
run oldpolicy-newreward --reward $OUT/reward.onnx
