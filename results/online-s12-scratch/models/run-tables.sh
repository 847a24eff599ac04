#!/bin/bash
cd "$(dirname "$0")"
echo "tables start $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)" >> stages.txt
nice -n 5 npx tsx src/cli/models.ts --out models-new --skip-collect --skip-reward --skip-offline > tables.log 2>&1
echo "tables end rc=$? $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)" >> stages.txt
