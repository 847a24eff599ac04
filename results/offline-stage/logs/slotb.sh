#!/bin/bash
cd /work/wt-repro
until grep -q "end offline" data/runs/repro/logs/stages.txt; do sleep 15; done
data/runs/repro/ship.sh data/runs/repro/iql-9k data/runs/repro/m9k >> data/runs/repro/logs/ship.log 2>&1
data/runs/repro/online.sh u9k data/runs/repro/m9k europlug dt12
data/runs/repro/online.sh fs10 results/models-from-scratch/models dt12 nema15
