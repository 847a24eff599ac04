#!/usr/bin/env bash
# Builds the DDS shim (dds_shim.node) from source against Node's headers and Debian's Cyclone DDS (cyclonedds-dev,
# idlc from cyclonedds-tools). Nothing is downloaded: node-gyp is npm's own copy, Node's headers come from the
# system (--nodedir), the type descriptors from idlc on ros2_types.idl (scripts/gen-ros2-idl.ts writes it).
set -euo pipefail
cd "$(dirname "$0")"
command -v idlc >/dev/null || { echo "dds shim: idlc not found (apt-get install cyclonedds-tools)" >&2; exit 1; }
[ -f /usr/include/dds/dds.h ] || { echo "dds shim: Cyclone DDS headers not found (apt-get install cyclonedds-dev)" >&2; exit 1; }
NODEDIR="${NODE_GYP_NODEDIR:-$(dirname "$(dirname "$(command -v node)")")}"
if [ ! -f "$NODEDIR/include/node/node_api.h" ]; then
  for d in /usr /usr/local; do [ -f "$d/include/node/node_api.h" ] && NODEDIR="$d" && break; done
fi
[ -f "$NODEDIR/include/node/node_api.h" ] || { echo "dds shim: Node headers not found (set NODE_GYP_NODEDIR)" >&2; exit 1; }
mkdir -p gen
(cd gen && idlc ../ros2_types.idl)
GYP="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
[ -f "$GYP" ] || GYP="$(dirname "$(command -v npm)")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
node "$GYP" rebuild --nodedir="$NODEDIR" --loglevel=warn
echo "dds shim: built $(pwd)/build/Release/dds_shim.node"
