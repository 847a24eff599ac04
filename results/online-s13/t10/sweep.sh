#!/bin/bash
# tag snap seed connector [flags]; SKIP_TAGS: tags left out (the n2 arm was stopped after its first run)
tag=$1; export SNAP=$2; shift 2
case " $(cat /work/main/data/runs/s13/skip-tags 2>/dev/null) " in *" $tag "*) exit 0 ;; esac
exec bash /work/main/data/runs/s13/one2.sh $tag "$@"
# lines of the sweep file:
#   t10 0 dt12 --temperature 10
#   t10 0 europlug --temperature 10
#   t10 0 megablock --temperature 10
#   t10 0 nema15 --temperature 10
#   t10 0 roundkey --temperature 10
#   t10 1 dt12 --temperature 10
#   t10 1 europlug --temperature 10
#   t10 1 megablock --temperature 10
#   t10 1 nema15 --temperature 10
#   t10 1 roundkey --temperature 10
#   t10 2 dt12 --temperature 10
#   t10 2 europlug --temperature 10
#   t10 2 megablock --temperature 10
#   t10 2 nema15 --temperature 10
#   t10 2 roundkey --temperature 10
