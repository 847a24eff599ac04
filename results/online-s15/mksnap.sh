#!/bin/bash
# A snapshot to run online experiments from: $1 tag, $2 a models directory made by `npm run models` (copied over the
# snapshot's models/). The code is HEAD's (git archive), with this checkout's node_modules, native builds and data.
set -e
cd /work/main
S=data/runs/s15/snap-$1
rm -rf $S; mkdir -p $S
git archive HEAD | tar -x -C $S
ln -s /work/main/node_modules $S/node_modules
mkdir -p $S/native/dds $S/data
cp -r native/build $S/native/; cp -r native/dds/build native/dds/gen $S/native/dds/
cp -r dist $S/ 2>/dev/null || true
ln -s /work/main/data/prior.db $S/data/prior.db; ln -s /work/main/data/heldout.db $S/data/heldout.db
if [ -n "$2" ]; then rm -rf $S/models; cp -r "$2" $S/models; fi
echo "snapshot $S"
