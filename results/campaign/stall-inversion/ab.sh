#!/bin/bash
# Interleaved lives, a switch off/on (AB_ENV, default INSERTION_FORK_CEILING), each under run.sh's perf, classified
# right after (then the perf data is deleted: it is large). usage: [AB_ENV=NAME] [ROUNDS=2] [ORDER='off on on off']
#   [HOGS=1] [SECONDS_PER_LIFE=45] [BENCH_ARGS=...] bash ab.sh OUTDIR        then: npx tsx summarize.ts OUTDIR
cd "$(dirname "$0")/../../.."
OUT=$1
for i in $(seq 1 "${ROUNDS:-2}"); do
  for arm in ${ORDER:-off on on off}; do
    env=${AB_ENV:-INSERTION_FORK_CEILING}
    tag="$(echo "$env" | tr 'A-Z_' 'a-z-' | sed 's/^insertion-//')-$arm-$i-$(date -u +%H%M%S)"
    bash results/campaign/stall-inversion/run.sh "$OUT" "$tag" "$env=$arm"
    nice -n 5 npx tsx results/campaign/stall-inversion/classify.ts "$OUT" "$tag" 5 > "$OUT/$tag.txt" 2>&1
    head -12 "$OUT/$tag.txt" | cut -c1-400
    rm -f "$OUT/$tag.perf.data" "$OUT/$tag.stacks.perf.data"
  done
done
