#!/bin/bash
# Two daemons side by side on one machine (two arms), each a fresh bench process with its own trainer at UTD 20, its
# hog, a blocked main thread, activations and 3 e-stops, beside two CPU hogs pinned one per core; arms interleaved
# pair by pair. perf records every switch and wake-up on every CPU and samples stacks at 199 Hz (node
# --perf-basic-prof names the JS frames), so that classify.ts can say who held a control thread's CPU and what it did.
# usage: PAIRS=N SECONDS_PER_LIFE=S [SIDES='a b c'] bash run.sh OUTDIR 'ARM=TREE' ...
#   SIDES: the daemons started together (default two; three on two CPUs is more arms than CPUs).
#   e.g. bash run.sh data/runs/rt12/ab 'before=data/runs/base' 'after=.'
# TREE: a checkout of the project (its node_modules and native/build in place). Then classify.ts OUTDIR.
cd "$(dirname "$0")/../../.."
ROOT=$(pwd)
OUT=$(realpath -m "$1"); shift
mkdir -p "$OUT"
touch "$OUT/.start"
N=${PAIRS:-4}; S=${SECONDS_PER_LIFE:-45}; SIDES=${SIDES:-a b}; NS=$(echo $SIDES | wc -w)
limit=$(( (N * $# * (S + 240)) + 300 ))
timeout $limit taskset -c 0 sh -c 'while :; do :; done' & H0=$!
timeout $limit taskset -c 1 sh -c 'while :; do :; done' & H1=$!
trap 'kill $H0 $H1 2>/dev/null' EXIT
for i in $(seq 1 "$N"); do
  for arm in "$@"; do
    name=${arm%%=*}; tree=$(realpath "${arm#*=}")
    tag="pair-$name-$i"
    echo "$(date -u +%T) $tag ($tree) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/pairs.log"
    pids=()
    for side in $SIDES; do
      ( cd "$tree" && NODE_OPTIONS=--perf-basic-prof exec node --single-threaded-gc --import tsx bench/daemon-thread.bench.ts --modes threaded \
          --seconds "$S" --estops 3 --tag "$tag-$side" ) > "$OUT/$tag-$side.out" 2>&1 &
      pids+=($!)
    done
    # perf from the moment both control threads are real-time (right before each daemon is ready) to both ends.
    for k in $(seq 1 2400); do
      n=0
      for p in "${pids[@]}"; do ps -L -o cls= -p "$p" 2>/dev/null | grep -q FF && n=$((n + 1)); done
      [ $n -eq $NS ] && break
      alive=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
      [ $alive -eq 1 ] || break
      sleep 0.1
    done
    echo "  perf from $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg); benches ${pids[*]}" | tee -a "$OUT/pairs.log"
    kids=$(for p in "${pids[@]}"; do ps -o pid= --ppid "$p"; done | tr '\n' ' ')
    perf record -q -k mono -a -e 'sched:sched_switch/call-graph=no/' -e 'sched:sched_wakeup/call-graph=no/' \
      -e 'cpu-clock/freq=199,call-graph=fp/' -o "$OUT/$tag.perf.data" > /dev/null 2>&1 & P=$!
    for p in "${pids[@]}"; do wait "$p"; done
    kill -INT $P; wait $P
    perf script -F pid,tid,cpu,time,event,trace,ip,sym -i "$OUT/$tag.perf.data" 2>/dev/null | gzip -1 > "$OUT/$tag.perf.txt.gz"
    rm -f "$OUT/$tag.perf.data"
    for p in "${pids[@]}" $kids; do rm -f "/tmp/perf-$p.map"; done
    echo "${pids[*]}" > "$OUT/$tag.pids"
    for side in $SIDES; do
      cp "$tree/bench/results/daemon-thread-single-threaded-gc-$tag-$side.json" "$OUT/$tag-$side.json" 2>/dev/null || echo "  $tag-$side: no results" | tee -a "$OUT/pairs.log"
      grep -h ' life: \|CPU' "$OUT/$tag-$side.out" | sed "s/^/  $side: /" | tee -a "$OUT/pairs.log"
    done
  done
done
echo "$(date -u +%T) done load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/pairs.log"
