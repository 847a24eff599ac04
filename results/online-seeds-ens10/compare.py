#!/usr/bin/env python3
"""Per-seed and per-connector tables of a candidate's runs against the reference runs (curve.json of each run).

usage: compare.py CANDIDATE_RUNS_DIR REFERENCE_RUNS_DIR [connector ...]
Each runs dir holds seed-S-C/C/curve.json. A dip is the offline level minus the lowest later point (0 if none lower).
"""
import json, os, sys

cand, ref = sys.argv[1], sys.argv[2]
conns = sys.argv[3:] or ['megablock', 'nema15', 'dt12', 'europlug', 'roundkey']

def curve(root, s, c):
    p = os.path.join(root, f'seed-{s}-{c}', c, 'curve.json')
    if not os.path.exists(p):
        return None
    pts = json.load(open(p))
    return pts if len(pts) == 5 else None  # an unfinished run is not counted

def dip(pts):
    return max(0, pts[0]['successes'] - min(p['successes'] for p in pts[1:]))

def rates(pts):
    l, g = pts[-1]['learnedSuccessRate'], pts[-1]['gtSuccessRate']
    return f"{l:.2f} / {g:.2f}" if l is not None else '-'

print('| connector | seed | reference: curve 0..100 | learned / gt at 100 | candidate: curve 0..100 | learned / gt at 100 | dip ref / cand |')
print('|---|---|---|---|---|---|---|')
summ = {}
for c in conns:
    for s in (0, 1, 2):
        r, k = curve(ref, s, c), curve(cand, s, c)
        if k is None:
            continue
        rc = ' '.join(str(p['successes']) for p in r) if r else '-'
        kc = ' '.join(str(p['successes']) for p in k)
        print(f"| {c} | {s} | {rc} | {rates(r) if r else '-'} | {kc} | {rates(k)} | {dip(r) if r else '-'} / {dip(k)} |")
        summ.setdefault(c, []).append((r, k))
print()
print('| connector | seeds | reference final | mean | worst | worst dip | candidate final | mean | worst | worst dip | best within 100 (cand) |')
print('|---|---|---|---|---|---|---|---|---|---|---|')
allr, allk, dr, dk = [], [], [], []
for c, pairs in summ.items():
    rf = [r[-1]['successes'] for r, _ in pairs if r]
    kf = [k[-1]['successes'] for _, k in pairs]
    rd = [dip(r) for r, _ in pairs if r]
    kd = [dip(k) for _, k in pairs]
    kb = [max(p['successes'] for p in k[1:]) for _, k in pairs]
    allr += rf; allk += kf; dr += rd; dk += kd
    print(f"| {c} | {len(pairs)} | {', '.join(map(str, rf))} | {sum(rf)/len(rf):.1f} | {min(rf)} | {max(rd)} | "
          f"{', '.join(map(str, kf))} | {sum(kf)/len(kf):.1f} | {min(kf)} | {max(kd)} | {', '.join(map(str, kb))} |")
if allk:
    print(f"| all | {len(allk)} runs | | {sum(allr)/len(allr):.1f} | {min(allr)} | {max(dr)} | | {sum(allk)/len(allk):.1f} | {min(allk)} | {max(dk)} | |")
