#!/bin/bash
# ship.sh CKPTDIR OUTDIR: the checkpoint as npm run models ships it (src/offline/ship-checkpoint.ts)
cd /work/wt-repro
npx tsx -e "import('./src/offline/ship-checkpoint.ts').then(m => console.log(JSON.stringify(m.shipCheckpoint('$1', '$2/iql-offline', 'npx tsx src/cli/models.ts').checkpoint)))"
