#!/bin/bash
for s in 3 4; do for c in dt12 europlug megablock nema15 roundkey; do echo "$s $c"; done; done | xargs -P 2 -L 1 bash /work/main/data/runs/s11c/one.sh
