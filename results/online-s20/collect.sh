#!/bin/bash
# results/online-s15/collect.sh with this session's paths (runs in data/runs/s16, kept in results/online-s20): each run's
# small outputs of arm TAG, the search baselines of the same seed and connector (this session's --baselines-only runs of
# the fresh connectors, results/online-s20/baselines/), and its lines of the sweep log.
#   bash results/online-s20/collect.sh TAG
set -eu
cd "$(dirname "$0")/../.."
sed -e "s#data/runs/s15#data/runs/s16#g" -e "s#dest=results/online-s15/#dest=results/online-s20/#" -e "s#^tag=\$1; cd .*#tag=\$1#" \
  -e 's#^  b=results/online-depth-default/.*#  b=results/online-s20/baselines/$n/baselines.json#' \
  results/online-s15/collect.sh | bash -s "$1"
