#!/bin/bash
# Stage runner of this folder's reproduction (not part of the product): each stage is `npm run models` with --skip flags.
cd /work/wt-models
L=results/models-from-scratch/logs
OUT=results/models-from-scratch/models
stamp() { echo "$(date -u +%FT%TZ) $* load $(cut -d' ' -f1-3 /proc/loadavg)" >> $L/stages.txt; }
stage() { # name, flags...
  local name=$1; shift
  stamp "start $name"
  local t0=$(date +%s)
  nice -n 5 npx tsx src/cli/models.ts --out $OUT "$@" > $L/$name.log 2>&1
  local rc=$?
  stamp "end $name rc $rc $(( $(date +%s) - t0 ))s"
}
case "$1" in
  offline) # waits for the prior data (the held-out collection is the last collect command)
    until grep -q -- '--connectors heldout' $L/collect.log; do sleep 10; done
    stamp "prior.db complete"
    stage offline --skip-collect --skip-reward --skip-tables ;;
  reward)
    until [ -f $L/collect.end ]; do sleep 10; done
    stamp "collection ended"
    stage reward --skip-collect --skip-offline --skip-tables ;;
  tables)
    stage tables --skip-collect --skip-reward --skip-offline ;;
esac
