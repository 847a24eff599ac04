#!/bin/bash
# the runs of this folder, one at a time (run1.sh), with the 1-minute load every minute in load.txt
cd "$(dirname "$0")"
( while true; do echo "$(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> load.txt; sleep 60; done ) &
lp=$!
for r in "$@"; do ./run1.sh ${r//:/ }; done
kill $lp
