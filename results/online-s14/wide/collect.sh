#!/bin/bash
# prior data of the 25 training connectors, as src/cli/models.ts collects data/prior.db
cd /work/main
W=data/runs/s14/wide
common="--scenario I,II --seed 0 --image-size 64 --goal-noise-mm 2 --workers 2 --split $W/split.json --depth"
nice -n 5 npx tsx src/cli/collect.ts --db $W/prior.db --connectors train --episodes-per-connector 100 --controllers expert $common
nice -n 5 npx tsx src/cli/collect.ts --db $W/prior.db --connectors train --episodes-per-connector 20 --controllers p $common
echo "rc $? $(date -u +%T)"
