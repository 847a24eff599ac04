#!/bin/bash
# Each run's small outputs of arm TAG (data/runs/s16/TAG, made by ../online-s21/sweep.sh) into results/online-s24/TAG/runs/
# (../online-s15/collect.sh's copy), with the search baselines of the same seed and connector: baselines/ here for
# seeds 5-7, else those the earlier sessions ran; local paths made relative.
#   bash results/online-s24/collect.sh TAG
set -eu
cd "$(dirname "$0")/../.."
rm -rf "results/online-s24/$1"
sed -e "s#data/runs/s15#data/runs/s16#g" -e "s#dest=results/online-s15/#dest=results/online-s24/#" -e "s#^tag=\$1; cd .*#tag=\$1#" \
  -e 's#^  b=results/online-depth-default/.*#  b=results/online-s24/baselines/$n/baselines.json; [ -f "$b" ] || b=results/online-s20/baselines/$n/baselines.json; [ -f "$b" ] || b=results/online-depth-default/runs/$n/baselines.json; [ -f "$b" ] || b=results/online-s11c/runs/$n/baselines.json#' \
  results/online-s15/collect.sh | bash -s "$1"
grep -rl "$PWD/" "results/online-s24/$1" | xargs -r sed -i "s#$PWD/##g"
