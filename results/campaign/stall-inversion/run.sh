#!/bin/bash
# One daemon life (bench/daemon-thread.bench.ts, threaded, as npm start runs it) beside HOGS CPU hogs pinned per core,
# under a system-wide perf recording started BEFORE the daemon (so its start-up, the trainer's fork and every later
# moment are covered): every sched_switch without stacks (who held which CPU, who was preempted), and with kernel+user
# stacks (DWARF) every switch-out of a real-time thread and every wake-up of one (the waker's stack names the lock it
# released), plus every fork. classify.ts then lists the control thread's sleeps and what ended them.
# usage: [HOGS=1] [SECONDS_PER_LIFE=45] [BENCH_ARGS='--spawn-every-ms 500'] bash run.sh OUTDIR TAG [ENV=VALUE ...]   (ENV: e.g. INSERTION_FORK_CEILING=off)
cd "$(dirname "$0")/../../.."
OUT=$(realpath -m "$1"); TAG=$2; shift 2
mkdir -p "$OUT"
S=${SECONDS_PER_LIFE:-45}
limit=$((S + 400))
HP=""
for i in $(seq 1 "${HOGS:-1}"); do
  timeout $limit taskset -c 0 sh -c 'while :; do :; done' & HP="$HP $!"
  timeout $limit taskset -c 1 sh -c 'while :; do :; done' & HP="$HP $!"
done
trap 'kill $HP 2>/dev/null' EXIT
echo "$(date -u +%T) $TAG start load $(cut -d' ' -f1-3 /proc/loadavg) env: $*" | tee -a "$OUT/runs.log"
# Two recordings. Every switch, wake-up and fork from before the daemon starts. The stacks (DWARF; perf's per-event
# call-graph term does not unwind user stacks here) from 3 s after the daemon's process starts: perf unwinds a
# process's user stack only if the process existed when it started.
perf record -q -k mono -a -m 16M -e sched:sched_switch -e sched:sched_waking -e sched:sched_process_fork \
  -o "$OUT/$TAG.perf.data" > "$OUT/$TAG.perf.log" 2>&1 & P=$!
sleep 2
env "$@" node --single-threaded-gc --import tsx bench/daemon-thread.bench.ts --modes threaded --seconds "$S" --estops 3 \
  --tag "stall-$TAG" $BENCH_ARGS > "$OUT/$TAG.out" 2>&1 & B=$!
# After the process has mapped node and libc (its addons' later maps are recorded as they come): its start-up is in the
# normal class, so the filter keeps this cheap until the control thread is real-time.
sleep 3
perf record -q -k mono -a -m 16M --call-graph dwarf,8192 -e sched:sched_switch --filter 'prev_prio < 100' \
  -e sched:sched_waking --filter 'prio < 100' -o "$OUT/$TAG.stacks.perf.data" > "$OUT/$TAG.stacks.perf.log" 2>&1 & PS=$!
echo "  stacks from $(date -u +%T)" | tee -a "$OUT/runs.log"
echo "$B" > "$OUT/$TAG.pid"
wait $B
kill -INT $P $PS; wait $P $PS
echo "$(date -u +%T) $TAG end load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/runs.log"
cp "bench/results/daemon-thread-single-threaded-gc-stall-$TAG.json" "$OUT/$TAG.json" 2>/dev/null || echo "  $TAG: no results" | tee -a "$OUT/runs.log"
grep -h ' life: \|late ticks kept' "$OUT/$TAG.out" | tee -a "$OUT/runs.log"
