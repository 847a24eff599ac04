#!/bin/bash
# Slot A after the depth classifier: eval:reward on both new rewards (and the old shipped one on the same held-out
# data), then online runs with the depth reward beside the shipped (old) policy and checkpoint.
cd /work/wt-models
L=results/models-from-scratch/logs
OUT=results/models-from-scratch/models
R=results/models-from-scratch
stamp() { echo "$(date -u +%FT%TZ) $* load $(cut -d' ' -f1-3 /proc/loadavg)" >> $L/stages.txt; }
while pgrep -f switch.sh > /dev/null; do sleep 5; done
for m in reward reward-depth; do
  stamp "start eval:reward $m"
  nice -n 5 npx tsx src/cli/eval-reward.ts --model $OUT/$m.onnx --db data/heldout.db --out $R/eval-reward-$m.json > $R/eval-reward-$m.txt 2>&1
  stamp "end eval:reward $m rc $?"
done
for C in $ONLINE; do
  stamp "start online depth-reward old-policy $C"
  t0=$(date +%s)
  nice -n 5 npx tsx src/cli/experiment.ts --connectors $C --episodes 100 --eval-every 25 --trials 20 --seed 0 --robust-mm 0 \
    --trainer-wait-s 3000 --no-baselines --reward $OUT/reward-depth.onnx --depth --out data/runs/mfs/depth-oldpolicy-$C > $L/online-depth-oldpolicy-$C.log 2>&1
  stamp "end online depth-reward old-policy $C rc $? $(( $(date +%s) - t0 ))s"
done
