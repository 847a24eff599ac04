#!/bin/bash
# The fresh-connector check of results/online-s20/ in one command: a snapshot of this checkout with the five fresh
# connectors added to its data/connectors (as an engineer adds one), their search baselines, and the online target's
# runs of each arm, two at a time (data/runs/s16/TAG/seed-S-C, with a .log beside each), the command of README.md.
#   bash results/online-s20/fresh-check.sh [SEEDS] [ARM=FLAGS ...]
#   e.g. bash results/online-s20/fresh-check.sh "0 1 2 3 4" "fnew=" "fold=--temperature checkpoint --warmup-updates 800"
# CONNECTORS="usbc xlr3" limits the connectors. Then: bash results/online-s20/collect.sh TAG; python3 results/online-s16/meets.py results/online-s20/TAG/runs
set -eu
cd "$(dirname "$0")/../.."
seeds=${1:-"0 1 2 3 4"}; shift || true
[ $# -gt 0 ] || set -- "fnew="
R=data/runs/s16; S=$R/snap-fresh; C=${CONNECTORS:-"dt06 usbc xlr3 hdmi bs1363"}
mkdir -p $S
git ls-files -co --exclude-standard | grep -v "^data/runs\|^results/" | tar -cf - -T - | tar -x -C $S
ln -sfn "$PWD/node_modules" $S/node_modules
cp -r native/build $S/native/; cp -r native/dds/build native/dds/gen $S/native/dds/; cp -r dist $S/
for f in prior.db heldout.db; do [ -f data/$f ] && ln -sf "$PWD/data/$f" $S/data/; done
cp results/online-s20/fresh-connectors/*.json $S/data/connectors/
mkdir -p $R/bl-fresh
for s in $seeds; do for c in $C; do
  [ -f results/online-s20/baselines/seed-$s-$c/baselines.json ] && continue
  mkdir -p results/online-s20/baselines/seed-$s-$c
  (cd $S && nice -n 10 npx tsx src/cli/experiment.ts --connectors $c --episodes 100 --eval-every 25 --trials 20 --seed $s \
    --robust-mm 0 --baselines-only --out ../bl-fresh/seed-$s-$c > ../bl-fresh/seed-$s-$c.log 2>&1)
  cp $R/bl-fresh/seed-$s-$c/baselines.json results/online-s20/baselines/seed-$s-$c/
done; done
# One run: TAG SEED CONNECTOR [FLAGS], from the snapshot.
run_one() {
  local tag=$1 s=$2 c=$3; shift 3
  mkdir -p "$ROOT/$R/$tag"
  (cd "$ROOT/$S" && nice -n 5 npx tsx src/cli/experiment.ts --connectors $c --episodes 100 --eval-every 25 --trials 20 --seed $s \
    --robust-mm 0 --trainer-wait-s 3000 --no-baselines "$@" --out "$ROOT/$R/$tag/seed-$s-$c" > "$ROOT/$R/$tag/seed-$s-$c.log" 2>&1)
}
export -f run_one; export ROOT=$PWD R S
for s in $seeds; do for c in $C; do for arm in "$@"; do echo "${arm%%=*} $s $c ${arm#*=}" | sed "s/ *$//"; done; done; done > $R/sweep-fresh-check.txt  # xargs -L joins a line ending in a blank to the next
xargs -P 2 -L 1 bash -c 'run_one "$@"' _ < $R/sweep-fresh-check.txt
