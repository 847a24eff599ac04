#!/bin/bash
# npm run models' table stage by hand (the same three train-reward commands as src/cli/models.ts), in the worktree of
# the command's run: $1 = which (ablations | seeds | depth-seeds)
cd /work/wt-cmd
common="--db data/prior.db --heldout-db data/heldout.db --split data/splits/default.json --steps 1500 --image-size 64 --color-jitter 0.2 --adversary moments"
case $1 in
  ablations) args="--method vib,dann,daib-nobottleneck --seed 0 --out data/runs/reward-ablations --results models-new/reward-table8-64px-ablations.json" ;;
  seeds) args="--method daib,erm --seed 1,2 --out data/runs/reward-seeds --results models-new/reward-table8-64px-seeds.json" ;;
  depth-seeds) args="--method daib,erm --seed 1,2 --out data/runs/reward-depth-seeds --results models-new/reward-table8-64px-depth-seeds.json --cue depth-dy" ;;
esac
echo "$(date -u +%T) start $1" >> /work/main/data/runs/s14/logs/tables.txt
nice -n 5 npx tsx src/cli/train-reward.ts $common $args > /work/main/data/runs/s14/logs/table-$1.log 2>&1
echo "$(date -u +%T) end $1 rc $?" >> /work/main/data/runs/s14/logs/tables.txt
