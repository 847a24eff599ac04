#!/bin/bash
# runs the lines of a job file, two at a time
cd /work/wt-online/data/runs/utd
xargs -P 2 -L 1 ./run1w.sh < "$1"
echo "$(date -u +%FT%TZ) queue $1 done" >> sweep-log.txt
