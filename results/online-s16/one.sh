#!/bin/bash
# one online run: TAG SNAP SEED CONNECTOR [FLAGS], from data/runs/s16/snap-SNAP
tag=$1; snap=$2; s=$3; c=$4; shift 4; R=/work/main/data/runs/s16; n=$tag/seed-$s-$c; out=$R/$n
mkdir -p $R/$tag
cd $R/snap-$snap
echo "$(date -u +%T) start $n [$*] load $(cut -d' ' -f1-3 /proc/loadavg)" >> $R/sweep-log.txt
start=$(date +%s)
GATE_TRACE=$out.trace nice -n 5 npx tsx src/cli/experiment.ts --connectors $c --episodes 100 --eval-every 25 --trials 20 --seed $s \
  --robust-mm 0 --trainer-wait-s 3000 --no-baselines "$@" --out $out > $out.log 2>&1
rc=$?
echo "$(date -u +%T) end $n rc $rc $(( $(date +%s) - start )) s load $(cut -d' ' -f1-3 /proc/loadavg)" >> $R/sweep-log.txt
