#!/bin/bash
# results/online-s15/collect.sh with this session's paths (data/runs/s16, results/online-s16): each run's small outputs of
# arm TAG, the search baselines of the same seed and connector, and its lines of the sweep log.
#   bash results/online-s16/collect.sh TAG
set -eu
cd "$(dirname "$0")/../.."
sed -e "s#s15#s16#g" -e "s#^tag=\$1; cd .*#tag=\$1#" results/online-s15/collect.sh | bash -s "$1"
