#!/bin/bash
# Slot B, if time: the new policy's offline evaluation on the held-out connectors (the evaluation train-offline runs,
# by the same code), stopped at 00:40 UTC; it writes each finished scenario as it goes.
cd /work/wt-models
L=results/models-from-scratch/logs
OUT=results/models-from-scratch/models
stamp() { echo "$(date -u +%FT%TZ) $* load $(cut -d' ' -f1-3 /proc/loadavg)" >> $L/stages.txt; }
while pgrep -f slot-b3.sh > /dev/null; do sleep 5; done
left=$(( $(date -d '00:40' +%s) - $(date +%s) ))
stamp "start eval:policy heldout (timeout ${left}s)"
nice -n 5 timeout $left npx tsx src/cli/eval-policy.ts --model $OUT/policy.onnx --sets heldout --trials 20 --out results/models-from-scratch/policy-eval-heldout.json > $L/eval-policy.log 2>&1
stamp "end eval:policy rc $?"
