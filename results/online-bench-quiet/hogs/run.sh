#!/bin/bash
cd /work/main
out=/work/notes/s6/hog-online; mkdir -p $out
for run in h1 h2 h2b h1b; do
  case $run in h1*) t=1;; h2*) t=2;; esac
  timeout 75 taskset -c 0 node -e 'for(;;){}' & timeout 75 taskset -c 1 node -e 'for(;;){}' &
  echo "$run start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $out/log
  INSERTION_GEMM_THREADS=$t timeout 120 npx tsx bench/online.bench.ts --hidden 256,256 --z 32,16 --utd 40 --critics 2 --seconds 45 --swaps 2 > $out/$run.txt 2>&1
  echo "$run end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $out/log
  wait
done
