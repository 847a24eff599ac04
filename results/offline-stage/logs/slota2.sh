#!/bin/bash
cd /work/wt-repro
data/runs/repro/online.sh sel7500 data/runs/repro/m-7500 europlug dt12 megablock nema15 roundkey
