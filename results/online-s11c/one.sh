#!/bin/bash
# one run of the daemon's defaults at 6056afc (evidence gate, bf16 GEMM inputs, float32 Adam), seeds beyond 0-2
s=$1; c=$2; n=seed-$s-$c; out=/work/main/data/runs/s11c/$n
cd /work/main/data/runs/s11c-snap
echo "$(date -u +%T) start $n load $(cut -d' ' -f1-3 /proc/loadavg)" >> /work/main/data/runs/s11c/sweep-log.txt
start=$(date +%s)
nice -n 5 npx tsx src/cli/experiment.ts --connectors $c --episodes 100 --eval-every 25 --trials 20 --seed $s \
  --robust-mm 0 --trainer-wait-s 3000 --no-baselines --out $out > /work/main/data/runs/s11c/$n.log 2>&1
rc=$?
nice -n 5 npx tsx src/cli/experiment.ts --connectors $c --episodes 100 --eval-every 25 --trials 20 --seed $s --robust-mm 0 --baselines-only --out $out-bl > /work/main/data/runs/s11c/$n-baselines.log 2>&1
echo "$(date -u +%T) end $n rc $rc $(( $(date +%s) - start )) s load $(cut -d' ' -f1-3 /proc/loadavg)" >> /work/main/data/runs/s11c/sweep-log.txt
