#!/usr/bin/env bash
# The two-thread learner after session 14's rows-only GEMM split (native/gemm.c, 4cf5cc6), on this machine
# (OPENBLAS_CORETYPE=Haswell), one bench at a time, nothing else running:
#  1. bench/update-profile.bench.ts, twin and 10 critics, bf16 (the default) and fp32: one, two threads and two lanes
#     side by side in one process (its twoThreads block);
#  2. bench/online.bench.ts beside the daemon, one thread then two (INSERTION_GEMM_THREADS), twin at UTD 40 and
#     10 critics at UTD 10, 45 s each, interleaved 1-2-2-1.
set -u
cd "$(dirname "$0")/../.."
out=results/learner-rows48
for c in 2 10; do
  echo "$(date -u +%T) profile critics $c $(cut -d' ' -f1-3 /proc/loadavg)" >> $out/loads.txt
  npx tsx bench/update-profile.bench.ts --critics $c --updates 100 --precisions bf16,fp32 > $out/profile-critics$c.txt 2>&1
  cp bench/results/update-profile.json $out/update-profile-critics$c.json
done
i=0
for spec in 2,40,1 2,40,2 10,10,2 10,10,1 2,40,2 2,40,1; do
  IFS=, read -r c u t <<< "$spec"; i=$((i+1))
  name=$(printf %02d $i)-critics$c-utd$u-threads$t
  echo "$(date -u +%T) start $name $(cut -d' ' -f1-3 /proc/loadavg)" >> $out/loads.txt
  INSERTION_GEMM_THREADS=$t npx tsx bench/online.bench.ts --hidden 256,256 --z 32,16 --critics $c --utd $u --seconds 45 --swaps 10 > $out/$name.txt 2>&1
  cp bench/results/online.json $out/$name.json
  echo "$(date -u +%T) end $name $(cut -d' ' -f1-3 /proc/loadavg)" >> $out/loads.txt
done
