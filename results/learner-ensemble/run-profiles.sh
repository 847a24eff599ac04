#!/usr/bin/env bash
# The update profile (bench/update-profile.bench.ts) of a tree, twin and 10 critics, fp32 and bf16 side by side, with
# the load before and after each run. TREE (default: this worktree), OUT (a folder for the logs and JSON).
set -u
tree=${TREE:-$(cd "$(dirname "$0")/../.." && pwd)}
out=${OUT:?OUT=folder}
mkdir -p "$out"
cd "$tree"
for spec in "2 60" "10 30"; do
  set -- $spec
  name="$out/profile-c$1"
  { echo "$(date -u +%T) $(uptime)"; nice -n 5 npx tsx bench/update-profile.bench.ts --critics $1 --updates $2 --precisions fp32,bf16; echo "$(date -u +%T) $(uptime)"; } > "$name.txt" 2>&1
  cp bench/results/update-profile.json "$name.json"
done
