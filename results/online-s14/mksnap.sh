#!/bin/bash
# A snapshot to run online experiments from: $1 tag, $2 offline run dir (off-X: its models/ and ck/), $3 reward dir
# (default: the shipped models). The code is HEAD's; models/ = the shipped ones with policy, encoders and iql-offline
# replaced by the offline run's (and the rewards by $3's when given).
set -e
cd /work/main
S=data/runs/s14/snap-$1
rm -rf $S; mkdir -p $S
git archive HEAD | tar -x -C $S
ln -s /work/main/node_modules $S/node_modules
mkdir -p $S/native/dds $S/data
cp -r native/build $S/native/; cp -r native/dds/build native/dds/gen $S/native/dds/
cp -r dist $S/ 2>/dev/null || true
ln -s /work/main/data/prior.db $S/data/prior.db; ln -s /work/main/data/heldout.db $S/data/heldout.db
if [ -n "$2" ]; then
  O=data/runs/s14/$2
  cp $O/models/policy.onnx $O/models/policy.onnx.json $O/models/encoder-*.onnx* $S/models/
  rm -rf $S/models/iql-offline
  (cd $S && npx tsx -e "import { shipCheckpoint } from './src/offline/ship-checkpoint.ts'; shipCheckpoint('/work/main/$O/ck', 'models/iql-offline', 'npx tsx src/cli/models.ts');")
fi
if [ -n "$3" ]; then cp data/runs/s14/$3/reward*.onnx* $S/models/; fi
echo "snapshot $S"
