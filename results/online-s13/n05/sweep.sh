#!/bin/bash
# tag snap seed connector [flags]; SKIP_TAGS: tags left out (the n2 arm was stopped after its first run)
tag=$1; export SNAP=$2; shift 2
case " $(cat /work/main/data/runs/s13/skip-tags 2>/dev/null) " in *" $tag "*) exit 0 ;; esac
exec bash /work/main/data/runs/s13/one2.sh $tag "$@"
# lines of the sweep file:
#   n05 s13-snap 0 dt12 --noise 0.0005
#   n05 s13-snap 0 europlug --noise 0.0005
#   n05 s13-snap 0 megablock --noise 0.0005
#   n05 s13-snap 0 nema15 --noise 0.0005
#   n05 s13-snap 0 roundkey --noise 0.0005
#   n05 s13-snap 1 dt12 --noise 0.0005
#   n05 s13-snap 1 europlug --noise 0.0005
#   n05 s13-snap 1 megablock --noise 0.0005
#   n05 s13-snap 1 nema15 --noise 0.0005
#   n05 s13-snap 1 roundkey --noise 0.0005
#   n05 s13-snap 2 dt12 --noise 0.0005
#   n05 s13-snap 2 europlug --noise 0.0005
#   n05 s13-snap 2 megablock --noise 0.0005
#   n05 s13-snap 2 nema15 --noise 0.0005
#   n05 s13-snap 2 roundkey --noise 0.0005
