#!/bin/bash
# a repeat of the selected checkpoint on dt12, seed 0 (same command; timing makes repeats differ)
cd /work/wt-repro
while kill -0 17815 2>/dev/null; do sleep 15; done
data/runs/repro/online.sh sel7500r data/runs/repro/m-7500 dt12
