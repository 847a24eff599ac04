#!/bin/bash
# online runs of a checkpoint: online.sh NAME MODELDIR CONNECTOR...  (seed 0, today's default 10 critics / 2 target)
cd /work/wt-repro
LOG=data/runs/repro/logs/stages.txt
NAME=$1; M=$2; shift 2
for C in "$@"; do
  echo "$(date -u +%H:%M:%S) start $NAME $C load $(cut -d' ' -f1 /proc/loadavg)" >> $LOG
  nice -n 5 npx tsx src/cli/experiment.ts --connectors $C --episodes 100 --eval-every 25 --trials 20 --seed 0 --robust-mm 0 \
    --trainer-wait-s 3000 --no-baselines --checkpoint $M/iql-offline --policy $M/policy.onnx \
    --out data/runs/repro/$NAME/seed-0-$C > data/runs/repro/logs/$NAME-$C.log 2>&1
  echo "$(date -u +%H:%M:%S) end $NAME $C rc $? load $(cut -d' ' -f1 /proc/loadavg)" >> $LOG
done
