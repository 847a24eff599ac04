#!/bin/bash
# Each run's small outputs of arm TAG (data/runs/s16/TAG, made by ../online-s21/sweep.sh) into results/online-s23/TAG/runs/,
# with the search baselines of the same seed and connector (../online-s21/collect.sh), local paths made relative.
#   bash results/online-s23/collect.sh TAG
set -eu
cd "$(dirname "$0")/../.."
bash results/online-s21/collect.sh "$1"
rm -rf "results/online-s23/$1"
mv "results/online-s21/$1" "results/online-s23/$1"
grep -rl "$PWD/" "results/online-s23/$1" | xargs -r sed -i "s#$PWD/##g"
