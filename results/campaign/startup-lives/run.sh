#!/bin/bash
# Many short daemon lives, each a fresh process (a start-up is what is measured: V8 compiles the control thread's code
# and MuJoCo's wasm anew in each), beside two CPU hogs pinned one per core, arms interleaved life by life.
# usage: [PERF=1] LIVES=N SECONDS_PER_LIFE=S bash run.sh OUTDIR 'ARM=[ENV=V ...]|[BENCH ARGS]' ...
#   e.g. PERF=1 bash run.sh data/runs/gc12/ab 'warm=|' 'cold=|--control-warmup-ticks 0'
# Each life: node --single-threaded-gc --import tsx bench/daemon-thread.bench.ts --modes threaded --seconds S --estops 3
# (trainer at UTD 20, the bench's hog, a blocked main thread, activations). Then summarize.ts OUTDIR.
cd "$(dirname "$0")/../../.."
OUT=$1; shift
mkdir -p "$OUT"
N=${LIVES:-10}; S=${SECONDS_PER_LIFE:-30}
limit=$(( (N * $# * (S + 180)) + 300 ))
timeout $limit taskset -c 0 sh -c 'while :; do :; done' & H0=$!
timeout $limit taskset -c 1 sh -c 'while :; do :; done' & H1=$!
# Every real-time thread of user space on the machine, twice a second (kernel threads run at 50 and 99): another
# daemon's SCHED_FIFO control thread on the same CPU is a neighbour no nice value or hog placement accounts for.
( while :; do ps -eLo tid=,pid=,cls=,rtprio=,psr=,stat=,comm= | awk -v t="$(date -u +%T.%N | cut -c1-12)" '$3=="FF" && $4<50 {print t, $0}' | tee -a "$OUT/fifo.log" | awk '{print $3}' | sort -u | while read p; do grep -q "^$p " "$OUT/fifo-procs.log" 2>/dev/null || echo "$p $(ps -o etime=,args= -p $p | cut -c1-300)" >> "$OUT/fifo-procs.log"; done; sleep 0.5; done ) 2>/dev/null & S0=$!
trap 'kill $H0 $H1 $S0 2>/dev/null' EXIT
for i in $(seq 1 "$N"); do
  for arm in "$@"; do
    name=${arm%%=*}; spec=${arm#*=}; envs=${spec%%|*}; extra=${spec#*|}
    tag="life-$name-$i"
    echo "$(date -u +%T) $tag load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/lives.log"
    env $envs node --single-threaded-gc --import tsx bench/daemon-thread.bench.ts --modes threaded --seconds "$S" --estops 3 --tag "$tag" $extra > "$OUT/$tag.out" 2>&1 &
    B=$!
    if [ -n "$PERF" ]; then
      # perf on the control thread's CPU (the last): every switch and wake-up there, no stacks; its SCHED_FIFO thread is
      # found once it takes that class (right before the daemon is ready).
      TID=""
      for k in $(seq 1 1800); do
        TID=$(ps -L -o tid=,cls= -p $B 2>/dev/null | awk '$2=="FF"{print $1; exit}')
        [ -n "$TID" ] || ! kill -0 $B 2>/dev/null && break
        sleep 0.1
      done
      perf record -q -k mono -C $(( $(nproc) - 1 )) -e sched:sched_switch -e sched:sched_wakeup -o "$OUT/$tag.perf.data" > /dev/null 2>&1 & P=$!
    fi
    wait $B
    if [ -n "$PERF" ]; then
      kill -INT $P; wait $P
      perf script -F tid,cpu,time,event,trace -i "$OUT/$tag.perf.data" 2>/dev/null | node --import tsx results/campaign/startup-lives/run-queue.ts "$TID" 10 > "$OUT/$tag.waits.json"
      rm -f "$OUT/$tag.perf.data"
      node -e 'const f = (v) => (Number.isInteger(v) ? v.toFixed(1) : String(v)); const w = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).waits; console.log("  run-queue waits >= 10 ms:", w.map((x) => `${f(x.ms)} ms: ` + Object.entries(x.ran).slice(0, 3).map(([k, v]) => `${k} ${f(v)}`).join(", ")).join("; ") || "none")' "$OUT/$tag.waits.json" | tee -a "$OUT/lives.log"
    fi
    cp bench/results/daemon-thread-single-threaded-gc-$tag.json "$OUT/$tag.json" 2>/dev/null || echo "  $tag: no results" | tee -a "$OUT/lives.log"
    grep -h ' life: ' "$OUT/$tag.out" | tee -a "$OUT/lives.log"
  done
done
echo "$(date -u +%T) done load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/lives.log"
