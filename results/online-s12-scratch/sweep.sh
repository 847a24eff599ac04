#!/bin/bash
for s in 0 1 2; do for c in dt12 europlug megablock nema15 roundkey; do echo "$s $c"; done; done | xargs -P 2 -L 1 bash /work/main/data/runs/s12m/one.sh
