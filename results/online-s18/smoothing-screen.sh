#!/bin/bash
a=$1; c=$2; cd /work/main/data/runs/s16/snap-flt
RESIDUAL_ALPHA=$a nice -n 5 npx tsx src/cli/experiment.ts --connectors $c --episodes 1 --eval-every 1 --trials 100 --seed 0 --robust-mm 0 --trainer-wait-s 600 --no-baselines --out ../flt/a$a-$c > ../flt/a$a-$c.log 2>&1
grep -h "offline: scenario" ../flt/a$a-$c.log | sed "s/^/a=$a $c /"
