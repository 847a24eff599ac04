#!/bin/bash
# Slot B: when the offline stage has exported the policy, stop it before its (long) policy evaluation, ship the
# checkpoint as models.ts does (shipCheckpoint), then the online runs with the new models and the image reward.
cd /work/wt-models
L=results/models-from-scratch/logs
OUT=results/models-from-scratch/models
stamp() { echo "$(date -u +%FT%TZ) $* load $(cut -d' ' -f1-3 /proc/loadavg)" >> $L/stages.txt; }
until grep -q "exported $OUT/policy.onnx and encoder" $L/offline.log; do sleep 5; done
for p in $(pgrep -f "train-offline.ts --db data/prior.db .*--out $OUT"); do kill $p; done
for p in $(pgrep -f "src/cli/models.ts --out $OUT --skip-collect --skip-reward --skip-tables"); do kill $p; done
stamp "offline exported; stopped before its policy evaluation"
nice -n 5 npx tsx -e "import('./src/offline/ship-checkpoint.ts').then((m) => m.shipCheckpoint('data/runs/iql', '$OUT/iql-offline', 'npx tsx src/cli/models.ts'))" >> $L/offline.log 2>&1
stamp "shipped checkpoint rc $?"
for C in $ONLINE; do
  stamp "start online image $C"
  t0=$(date +%s)
  nice -n 5 npx tsx src/cli/experiment.ts --connectors $C --episodes 100 --eval-every 25 --trials 20 --seed 0 --robust-mm 0 \
    --trainer-wait-s 3000 --no-baselines --checkpoint $OUT/iql-offline --policy $OUT/policy.onnx --reward $OUT/reward.onnx \
    --out data/runs/mfs/image-$C > $L/online-image-$C.log 2>&1
  stamp "end online image $C rc $? $(( $(date +%s) - t0 ))s"
done
