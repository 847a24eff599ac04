#!/usr/bin/env bash
# Interleaved fp32 / bf16 online bench runs (twin UTD 40, then 10 critics UTD 10), one at a time.
set -u
cd "$(dirname "$0")/../.."
out=${OUT:-data/runs/bf16-bench}
mkdir -p "$out"
i=0
# SPECS: space-separated critics,utd,precision triples (default: the interleaved eight below).
SPECS=${SPECS:-"2,40,fp32 2,40,bf16 2,40,bf16 2,40,fp32 10,10,fp32 10,10,bf16 10,10,bf16 10,10,fp32"}
for spec in $SPECS; do
  IFS=, read -r c u p <<< "$spec"
  set -- "$c" "$u" "$p"
  i=$((i+1))
  name="$(printf %02d $i)-critics$1-utd$2-$3"
  echo "$(date -u +%T) start $name load $(cut -d' ' -f1-3 /proc/loadavg)"
  INSERTION_GEMM_THREADS=2 npx tsx bench/online.bench.ts --hidden 256,256 --z 32,16 --critics $1 --utd $2 --seconds 45 --swaps 10 --gemm-precision $3 > $out/$name.log 2>&1
  cp bench/results/online.json $out/$name.json
  echo "$(date -u +%T) done $name load $(cut -d' ' -f1-3 /proc/loadavg)"
done
