#!/bin/bash
# tag snap seed connector [flags]; SKIP_TAGS: tags left out (the n2 arm was stopped after its first run)
tag=$1; export SNAP=$2; shift 2
case " $(cat /work/main/data/runs/s13/skip-tags 2>/dev/null) " in *" $tag "*) exit 0 ;; esac
exec bash /work/main/data/runs/s13/one2.sh $tag "$@"
# lines of the sweep file:
#   base 0 dt12
#   base 0 europlug
#   base 0 megablock
#   base 0 nema15
#   base 0 roundkey
#   base 1 dt12
#   base 1 europlug
#   base 1 megablock
#   base 1 nema15
#   base 1 roundkey
#   base 2 dt12
#   base 2 europlug
#   base 2 megablock
#   base 2 nema15
#   base 2 roundkey
