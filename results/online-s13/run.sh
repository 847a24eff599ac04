#!/bin/bash
# TAG SNAPSHOT SEED CONNECTOR [FLAGS]: one line of a sweep.txt. The tags listed in data/runs/s13/skip-tags are left out
# (how the n2, n05 and ema arms were stopped early).
tag=$1; export SNAP=$2; shift 2
case " $(cat /work/main/data/runs/s13/skip-tags 2>/dev/null) " in *" $tag "*) exit 0 ;; esac
exec bash "$(dirname "$0")/one.sh" $tag "$@"
