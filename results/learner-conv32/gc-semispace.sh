#!/usr/bin/env bash
# The young generation's size against V8's garbage collection cost per update: update-threads.ts with node's default
# semi-space and with --max-semi-space-size=64 (MB), alternating, ROUNDS each (default 4). Run from this directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
for r in $(seq 1 "${1:-4}"); do
  for flags in "" "--max-semi-space-size=64"; do
    echo "== round $r flags [${flags}] load $(cut -d' ' -f1-3 /proc/loadavg)"
    nice -n 5 node $flags --import tsx update-threads.ts
  done
done
