#!/usr/bin/env python3
"""Per run: scenario II successes /20 at each evaluation point, learned/gt at the last point, and per 25 practice
episodes seated (ground truth) / called success by the learned reward (p > 0.5) / both, from the run's daemon log.
usage: python3 curves.py DIR...   (each DIR an experiment --out with one connector)"""
import glob, json, os, sqlite3, sys

for d in sys.argv[1:]:
    r = json.load(open(os.path.join(d, 'results.json')))
    for c in r['results']:
        curve = c['curve']
        pts = ' '.join(str(p['successes']) for p in curve)
        last = curve[-1]
        lg = f"{last['learnedSuccessRate']:.2f} / {last['gtSuccessRate']:.2f}" if last['learnedSuccessRate'] is not None else '-'
        dip = max(0, curve[0]['successes'] - min(p['successes'] for p in curve))
        per = []
        for db in glob.glob(os.path.join(d, c['connector'], 'daemon-*.db')):
            con = sqlite3.connect(f'file:{db}?mode=ro', uri=True)
            rows = con.execute("SELECT gt_success, learned_success_prob FROM episodes WHERE kind='practice' ORDER BY id").fetchall()
            for i in range(0, len(rows), 25):
                ch = rows[i:i + 25]
                gt = sum(1 for g, _ in ch if g == 1)
                called = sum(1 for _, p in ch if p is not None and p > 0.5)
                both = sum(1 for g, p in ch if g == 1 and p is not None and p > 0.5)
                per.append(f'{gt}/{called}/{both}')
        print(f"{d} {c['connector']}: {pts} | learned/gt at end {lg} | dip {dip} | practice per 25 gt/called/both: {' '.join(per)}")
