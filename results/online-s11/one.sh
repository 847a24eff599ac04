#!/bin/bash
# one run of the candidate default: float Adam and Polyak (cdbcd89) + bf16 GEMM inputs + evidence gate
s=$1; c=$2; n=seed-$s-$c; out=/work/main/data/runs/s11/$n
cd /work/main/data/runs/s11-snap
echo "$(date -u +%T) start $n load $(cut -d' ' -f1-3 /proc/loadavg)" >> /work/main/data/runs/s11/sweep-log.txt
start=$(date +%s)
INSERTION_GEMM_PRECISION=bf16 nice -n 5 npx tsx src/cli/experiment.ts --connectors $c --episodes 100 --eval-every 25 --trials 20 --seed $s \
  --robust-mm 0 --trainer-wait-s 3000 --no-baselines --evidence-gate --out $out > /work/main/data/runs/s11/$n.log 2>&1
rc=$?
echo "$(date -u +%T) end $n rc $rc $(( $(date +%s) - start )) s load $(cut -d' ' -f1-3 /proc/loadavg)" >> /work/main/data/runs/s11/sweep-log.txt
