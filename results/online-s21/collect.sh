#!/bin/bash
# Each run's small outputs of arm TAG (data/runs/s16/TAG, made by sweep.sh) into results/online-s21/TAG/runs/, with
# the search baselines of the same seed and connector: results/online-s20/baselines/ for the fresh connectors, else
# results/online-depth-default/ (seeds 0-2) or results/online-s11c/ (seeds 3, 4) for the held-out five.
#   bash results/online-s21/collect.sh TAG
set -eu
cd "$(dirname "$0")/../.."
sed -e "s#data/runs/s15#data/runs/s16#g" -e "s#dest=results/online-s15/#dest=results/online-s21/#" -e "s#^tag=\$1; cd .*#tag=\$1#" \
  -e 's#^  b=results/online-depth-default/.*#  b=results/online-s20/baselines/$n/baselines.json; [ -f "$b" ] || b=results/online-depth-default/runs/$n/baselines.json; [ -f "$b" ] || b=results/online-s11c/runs/$n/baselines.json#' \
  results/online-s15/collect.sh | bash -s "$1"
