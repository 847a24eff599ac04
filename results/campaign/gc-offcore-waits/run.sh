#!/bin/bash
# Bench beside HOGS CPU hogs per core, with perf on the control thread (SCHED_FIFO thread of the bench process).
# usage: run.sh TAG [extra node flags...]
cd "$(dirname "$0")/../../.."
TAG=$1; shift
D=data/runs/gc10; mkdir -p $D
taskset -c 0 sh -c 'while :; do :; done' & H0=$!
taskset -c 1 sh -c 'while :; do :; done' & H1=$!
XH=""; for i in $(seq 2 ${HOGS:-1}); do taskset -c 0 sh -c 'while :; do :; done' & XH="$XH $!"; taskset -c 1 sh -c 'while :; do :; done' & XH="$XH $!"; done
uptime > $D/$TAG.load
node --single-threaded-gc "$@" --import tsx bench/daemon-thread.bench.ts --modes threaded --seconds 90 --estops 6 --tag $TAG > $D/$TAG.out 2>&1 &
B=$!
TID=""
for i in $(seq 1 600); do
  for p in $B $(pgrep -P $B); do
    TID=$(ps -L -o tid=,cls= -p $p 2>/dev/null | awk '$2=="FF"{print $1; exit}')
    [ -n "$TID" ] && break
  done
  [ -n "$TID" ] && break
  sleep 0.1
done
echo "bench $B control tid $TID" | tee $D/$TAG.tid
ps -L -o tid=,comm= -p $B > $D/$TAG.threads
perf record -k mono -a --call-graph dwarf,8192 -e sched:sched_switch --filter "prev_pid == $TID" -e sched:sched_waking --filter "pid == $TID" -o $D/$TAG.perf.data > $D/$TAG.perf.log 2>&1 &
P=$!
wait $B
kill -INT $P; wait $P
kill $H0 $H1 $XH
uptime >> $D/$TAG.load
echo done
