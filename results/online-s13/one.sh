#!/bin/bash
# one online run: $1 tag, $2 seed, $3 connector, rest: extra experiment flags; run from the snapshot $SNAP
# (data/runs/<SNAP>, a git archive of the code with its models/; default s13-snap: the from-scratch models)
tag=$1; s=$2; c=$3; shift 3; n=$tag/seed-$s-$c; out=/work/main/data/runs/s13/$n
mkdir -p /work/main/data/runs/s13/$tag
cd /work/main/data/runs/${SNAP:-s13-snap}
echo "$(date -u +%T) start $n [$*] load $(cut -d' ' -f1-3 /proc/loadavg)" >> /work/main/data/runs/s13/sweep-log.txt
start=$(date +%s)
nice -n 5 npx tsx src/cli/experiment.ts --connectors $c --episodes 100 --eval-every 25 --trials 20 --seed $s \
  --robust-mm 0 --trainer-wait-s 3000 --no-baselines "$@" --out $out > $out.log 2>&1
rc=$?
echo "$(date -u +%T) end $n rc $rc $(( $(date +%s) - start )) s load $(cut -d' ' -f1-3 /proc/loadavg)" >> /work/main/data/runs/s13/sweep-log.txt
