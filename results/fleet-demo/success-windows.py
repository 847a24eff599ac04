#!/usr/bin/env python3
"""Ground-truth success of practice episodes per arm in windows of the run, from each arm's SQLite log: windows count
from the first practice episode of any arm; each cell is episodes, success rate, and how many ran on the offline policy.

  python3 results/fleet-demo/success-windows.py data/runs/fleet-success [150]"""
import json, sqlite3, sys
from pathlib import Path

run = Path(sys.argv[1])
w = int(sys.argv[2]) if len(sys.argv) > 2 else 150
arms = sorted(run.glob('arm-*.db'), key=lambda p: int(p.stem.split('-')[1]))
data, names = {}, []
for db in arms:
    con = sqlite3.connect(f'file:{db}?mode=ro', uri=True)
    rows = con.execute("select started_at, gt_success, policy_version, domain from episodes where kind = 'practice' and gt_success is not null").fetchall()
    con.close()
    data[db.stem] = rows
    names.append(f"{db.stem} {rows[0][3] if rows else ''}")
t0 = min(r[0] for rows in data.values() for r in rows)
last = max(r[0] for rows in data.values() for r in rows)
print('| window (s) | ' + ' | '.join(names) + ' |')
print('|---|' + '---|' * len(names))
for k in range(int((last - t0) / 1000 // w) + 1):
    cells = []
    for rows in data.values():
        inw = [r for r in rows if k * w * 1000 <= r[0] - t0 < (k + 1) * w * 1000]
        if not inw:
            cells.append('-')
            continue
        off = sum(1 for r in inw if 'offline' in (r[2] or ''))
        cells.append(f"{sum(r[1] for r in inw) / len(inw):.2f} ({len(inw)} ep, {off} offline)")
    print(f'| {k * w}-{(k + 1) * w} | ' + ' | '.join(cells) + ' |')
