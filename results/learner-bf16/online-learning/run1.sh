#!/bin/bash
# usage: run1.sh SEED CONNECTOR [PRECISION]: one run of the fp32 reference's command (../../online-seeds-sync1/) with
# INSERTION_GEMM_PRECISION=PRECISION (default bf16), nice 5; outputs in data/runs/bf16/ (not in git), times in sweep-log.txt
cd "$(dirname "$0")/../../.."
s=$1; c=$2; p=${3:-bf16}
out=data/runs/bf16/$p/seed-$s-$c
mkdir -p data/runs/bf16/$p
log=results/learner-bf16/online-learning/sweep-log.txt
echo "$(date -u +%FT%TZ) start $p $s $c load $(cut -d' ' -f1-3 /proc/loadavg)" >> $log
INSERTION_GEMM_PRECISION=$p nice -n 5 npx tsx src/cli/experiment.ts --connectors $c --episodes 100 --eval-every 25 --trials 20 \
  --seed $s --robust-mm 0 --trainer-wait-s 3000 --no-baselines --critics 10 --target-critics 2 --sync-every 1 --out $out > $out.log 2>&1
rc=$?
echo "$(date -u +%FT%TZ) end $p $s $c rc $rc load $(cut -d' ' -f1-3 /proc/loadavg)" >> $log
