#!/usr/bin/env python3
"""Where a run's noise-free evaluation episodes end, per policy version: seated or not, and the tip's last offset
from the (mis-calibrated) x* the daemon aimed at, in mm. A failed episode that ends a connector-depth above x* stopped
at the socket's mouth.
  python3 results/online-s23/jams.py data/runs/s16/long/u3-seed-2-usbc/usbc/daemon-*.db"""
import sqlite3, struct, sys
from collections import defaultdict

db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
v3 = lambda b: struct.unpack('<3d', b)
versions = defaultdict(list)
for eid, ver, gt in db.execute("SELECT id, policy_version, gt_success FROM episodes WHERE kind = 'eval' ORDER BY id"):
    versions[ver].append((eid, gt))
for ver, eps in versions.items():
    seated, ends = 0, []
    for eid, gt in eps:
        last = db.execute("SELECT ee_pos, goal FROM transitions WHERE episode_id = ? ORDER BY step DESC LIMIT 1", (eid,)).fetchone()
        if last is None:
            continue
        p, g = v3(last[0]), v3(last[1])
        seated += gt == 1
        if gt != 1:
            ends.append(tuple(round((p[i] - g[i]) * 1000, 1) for i in range(3)))
    print(f"{ver}: seated {seated}/{len(eps)}; failures end at (x, y, z) mm from x*: {ends}")
