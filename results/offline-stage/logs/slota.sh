#!/bin/bash
cd /work/wt-repro
R=data/runs/repro; LOG=$R/logs/stages.txt
while kill -0 25588 2>/dev/null; do sleep 15; done
ev() { # name policy
  echo "$(date -u +%H:%M:%S) start eval $1 load $(cut -d' ' -f1 /proc/loadavg)" >> $LOG
  nice -n 5 npx tsx $R/evalck.ts $R/eval-$1.json 4 8 $2 > $R/logs/eval-$1.log 2>&1
  echo "$(date -u +%H:%M:%S) end eval $1 rc $? load $(cut -d' ' -f1 /proc/loadavg)" >> $LOG
}
ev 3000 results/models-from-scratch/models/policy.onnx
ev shipped models/policy.onnx
for N in 4500 6000 7500; do
  until [ -d $R/keep/$(printf 'ckpt-%09d' $N) ]; do sleep 15; done
  sleep 5
  echo "$(date -u +%H:%M:%S) start export $N load $(cut -d' ' -f1 /proc/loadavg)" >> $LOG
  $R/exportck.sh $N
  echo "$(date -u +%H:%M:%S) end export $N load $(cut -d' ' -f1 /proc/loadavg)" >> $LOG
  ev $N $R/m-$N/policy.onnx
done
until grep -q "end offline" $LOG; do sleep 15; done
ev 9000 $R/m9k/policy.onnx
