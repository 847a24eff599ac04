#!/usr/bin/env python3
"""Per 25 practice episodes of each run: seated by ground truth / called success by the learned reward (p > 0.5) / both.

usage: practice.py RUN_DIR... (each seed-S-C, holding C/daemon-*.db)
"""
import glob, os, sqlite3, sys

for run in sys.argv[1:]:
    dbs = glob.glob(os.path.join(run, '*', 'daemon-*.db'))
    if not dbs:
        continue
    rows = sqlite3.connect(f'file:{dbs[0]}?mode=ro', uri=True).execute(
        "select gt_success, learned_success_prob from episodes where kind = 'practice' order by id").fetchall()
    parts = []
    for i in range(0, len(rows), 25):
        b = rows[i:i + 25]
        gt = sum(1 for g, _ in b if g == 1)
        le = sum(1 for _, p in b if p is not None and p > 0.5)
        both = sum(1 for g, p in b if g == 1 and p is not None and p > 0.5)
        parts.append(f'{gt}/{le}/{both}')
    print(f"{os.path.basename(run.rstrip('/'))}: {'  '.join(parts)}")
