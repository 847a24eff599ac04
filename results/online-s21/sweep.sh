#!/bin/bash
# Online runs of this session, two at a time, from a snapshot of this checkout (its models/, data/prior.db and
# data/connectors plus the five fresh connectors of results/online-s20/fresh-connectors), with the command of README.md:
#   bash results/online-s21/sweep.sh SNAP TAG "SEEDS" "CONNECTORS" [FLAGS...]
#   e.g. bash results/online-s21/sweep.sh s21 dnew "0 1 2" "dt12 megablock nema15 europlug roundkey usbc xlr3 hdmi bs1363 dt06"
# Each run: data/runs/s16/TAG/seed-S-C (results.json, curves) and seed-S-C.log. Then bash results/online-s21/collect.sh TAG
# and python3 results/online-s16/meets.py results/online-s21/TAG/runs (with each start's search baselines).
# Or from an explicit queue of lines "TAG SEED CONNECTOR FLAGS..." (two arms interleaved by connector, say):
#   bash results/online-s21/sweep.sh SNAP --queue FILE
set -eu
cd "$(dirname "$0")/../.."
snap=$1
if [ "$2" = --queue ]; then queue=$3; tag=; else tag=$2 seeds=$3 conns=$4; shift 4; fi
R=data/runs/s16; S=$R/snap-$snap
if [ ! -d $S ]; then
  mkdir -p $S
  git ls-files -co --exclude-standard | grep -v "^data/runs\|^results/" | tar -cf - -T - | tar -x -C $S
  ln -sfn "$PWD/node_modules" $S/node_modules
  cp -r native/build $S/native/; cp -r native/dds/build native/dds/gen $S/native/dds/; cp -r dist $S/
  for f in prior.db heldout.db; do cp data/$f $S/data/; done
  cp results/online-s20/fresh-connectors/*.json $S/data/connectors/
fi
run_one() {
  local tag=$1 s=$2 c=$3; shift 3
  mkdir -p "$ROOT/$R/$tag"
  local out="$ROOT/$R/$tag/seed-$s-$c"
  echo "$(date -u +%T) start $tag/seed-$s-$c load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$ROOT/$R/sweep-log.txt"
  (cd "$ROOT/$S" && nice -n 5 npx tsx src/cli/experiment.ts --connectors $c --episodes 100 --eval-every 25 --trials 20 --seed $s \
    --robust-mm 0 --trainer-wait-s 3000 --no-baselines "$@" --out "$out" > "$out.log" 2>&1) || true
  echo "$(date -u +%T) end $tag/seed-$s-$c load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$ROOT/$R/sweep-log.txt"
}
export -f run_one; export ROOT=$PWD R S
if [ -n "$tag" ]; then
  queue=$R/sweep-$tag.txt
  for s in $seeds; do for c in $conns; do echo "$tag $s $c $*" | sed "s/ *$//"; done; done > $queue  # xargs -L joins a line ending in a blank to the next
fi
xargs -P 2 -L 1 bash -c 'run_one "$@"' _ < $queue
