#!/bin/bash
cd "$(dirname "$0")"
echo "start $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)" >> stages.txt
nice -n 5 npx tsx src/cli/models.ts --out models-new --skip-collect --skip-tables > models.log 2>&1
echo "end rc=$? $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)" >> stages.txt
