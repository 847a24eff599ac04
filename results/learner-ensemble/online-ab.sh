#!/usr/bin/env bash
# bench/online.bench.ts beside the daemon, old tree (OLD) and this tree interleaved, one run at a time, bf16 (the
# opt-in precision) twin critics at UTD 40 and 10 critics at UTD 10, 45 s each; the load before and after each run.
set -u
new=$(cd "$(dirname "$0")/../.." && pwd)
old=${OLD:?OLD=tree}
out=${OUT:?OUT=folder}
mkdir -p "$out"
i=0
SPECS=${SPECS:-"new,2,40 old,2,40 old,10,10 new,10,10"}
for spec in $SPECS; do
  IFS=, read -r tree c u <<< "$spec"
  dir=$new; [ "$tree" = old ] && dir=$old
  i=$((i+1))
  name="$(printf %02d $i)-$tree-critics$c-utd$u-${PRECISION:-bf16}"
  echo "$(date -u +%T) start $name $(uptime)" | tee -a "$out/loads.txt"
  (cd "$dir" && INSERTION_GEMM_THREADS=2 nice -n 5 npx tsx bench/online.bench.ts --hidden 256,256 --z 32,16 --critics $c --utd $u --seconds 45 --swaps 10 --gemm-precision ${PRECISION:-bf16} > "$out/$name.log" 2>&1; cp bench/results/online.json "$out/$name.json")
  echo "$(date -u +%T) done $name $(uptime)" | tee -a "$out/loads.txt"
done
