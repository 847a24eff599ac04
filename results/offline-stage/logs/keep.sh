#!/bin/bash
# keeps every 1500th checkpoint of the 9000-update run (train-offline prunes old ones)
cd /work/wt-repro/data/runs/repro
mkdir -p keep
while true; do
  for d in iql-9k/ckpt-*; do
    s=$((10#${d##*-}))
    if [ $((s % 1500)) -eq 0 ] && [ ! -d keep/${d##*/} ] && [ -f $d/weights.bin ]; then sleep 3; cp -r $d keep/; fi
  done
  sleep 15
done
