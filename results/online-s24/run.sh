#!/bin/bash
# Session 24: today's defaults (no flags) on seeds the earlier sweeps never ran, 5-7, the held-out five and the five
# fresh connectors of ../online-s20/fresh-connectors, with the target's command in the daemon's regime
# (../online-s21/sweep.sh, snapshot s23b = this code at the defaults); then the search baselines of the same starts
# (--baselines-only) into baselines/seed-S-C/. Then: bash results/online-s24/collect.sh d57
#   bash results/online-s24/run.sh
set -eu
cd "$(dirname "$0")/../.."
C="dt12 megablock nema15 europlug roundkey usbc xlr3 hdmi bs1363 dt06"
bash results/online-s21/sweep.sh s23b d57 "5 6 7" "$C"
R=data/runs/s16; S=$R/snap-s23b
bl() {
  local s=$1 c=$2
  mkdir -p "$ROOT/results/online-s24/baselines/seed-$s-$c" "$ROOT/$R/bl57"
  (cd "$ROOT/$S" && nice -n 5 npx tsx src/cli/experiment.ts --connectors $c --episodes 100 --eval-every 25 --trials 20 --seed $s \
    --robust-mm 0 --baselines-only --out "$ROOT/$R/bl57/seed-$s-$c" > "$ROOT/$R/bl57/seed-$s-$c.log" 2>&1) || true
  cp "$ROOT/$R/bl57/seed-$s-$c/baselines.json" "$ROOT/$R/bl57/seed-$s-$c.log" "$ROOT/results/online-s24/baselines/seed-$s-$c/" || true
}
export -f bl; export ROOT=$PWD R S
for s in 5 6 7; do for c in $C; do echo "$s $c"; done; done | xargs -P 2 -L 1 bash -c 'bl "$@"' _
