#!/bin/bash
# Each run's small outputs of arm TAG (data/runs/s16/TAG) into results/online-s23/TAG/runs/: ../online-s22/collect.sh,
# then moved here.
#   bash results/online-s23/collect.sh TAG
set -eu
cd "$(dirname "$0")/../.."
bash results/online-s22/collect.sh "$1"
rm -rf "results/online-s23/$1"
mv "results/online-s22/$1" "results/online-s23/$1"
