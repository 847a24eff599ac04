#!/bin/bash
# tag snap seed connector [flags]; SKIP_TAGS: tags left out (the n2 arm was stopped after its first run)
tag=$1; export SNAP=$2; shift 2
case " $(cat /work/main/data/runs/s13/skip-tags 2>/dev/null) " in *" $tag "*) exit 0 ;; esac
exec bash /work/main/data/runs/s13/one2.sh $tag "$@"
# lines of the sweep file:
#   ema s13-ema-snap 0 dt12
#   ema s13-ema-snap 0 europlug
#   ema s13-ema-snap 0 megablock
#   ema s13-ema-snap 0 nema15
#   ema s13-ema-snap 0 roundkey
#   ema s13-ema-snap 1 dt12
#   ema s13-ema-snap 1 europlug
#   ema s13-ema-snap 1 megablock
#   ema s13-ema-snap 1 nema15
#   ema s13-ema-snap 1 roundkey
#   ema s13-ema-snap 2 dt12
#   ema s13-ema-snap 2 europlug
#   ema s13-ema-snap 2 megablock
#   ema s13-ema-snap 2 nema15
#   ema s13-ema-snap 2 roundkey
