#!/usr/bin/env python3
"""Per-seed, per-connector tables of the reward runs' --results JSONs: python3 results/reward-seeds/table.py"""
import json, os, statistics
HERE = os.path.dirname(os.path.abspath(__file__))
M = f'{HERE}/../reward-daib-moments'
CONFIGS = {
    'DAIB (moments), image': [f'{M}/daib-seed0.json', f'{HERE}/daib-moments-seed1.json', f'{HERE}/daib-moments-seed2.json'],
    'ERM, image': [f'{M}/erm-seed0.json', f'{HERE}/erm-seed1.json', f'{HERE}/erm-seed2.json'],
    'DAIB (moments), image + fz': [f'{HERE}/fz-daib-moments-seed{s}.json' for s in range(3)],
    'ERM, image + fz': [f'{HERE}/fz-erm-seed{s}.json' for s in range(3)],
}
PAIRS = [('DAIB (moments), image', 'ERM, image'), ('DAIB (moments), image + fz', 'ERM, image + fz')]
NAMES = ['dt12', 'europlug', 'megablock', 'nema15', 'roundkey']
BINS = ['seated', '0-3 mm', '3-6 mm']

def rows(paths):
    for p in paths:
        if os.path.exists(p):
            for r in json.load(open(p))['rows']:
                yield r

print('| configuration | seed | held-out | ' + ' | '.join(NAMES) + ' | worst connector | probe on zI | training min |')
print('|---|---|---|' + '---|' * len(NAMES) + '---|---|---|')
summary = {}
for cfg, paths in CONFIGS.items():
    accs = []
    for r in rows(paths):
        per = {x['name']: x['accuracy'] for x in r['evaluation']['perDomain']}
        worst = min(per, key=per.get)
        errs = {b['name']: {x['label']: x['errorRate'] for x in b['bins']} for b in r['errorsByHeight']}
        accs.append((r['seed'], r['evaluation']['accuracy'], per, errs))
        probe = r.get('domainProbe')
        print(f"| {cfg} | {r['seed']} | {100*r['evaluation']['accuracy']:.1f} % | " + ' | '.join(f"{100*per[n]:.1f}" for n in NAMES)
              + f" | {worst} {100*per[worst]:.1f} | {'' if probe is None else f'{100*probe:.1f} %'} | {r['seconds']/60:.0f} |")
    summary[cfg] = accs
print()
print('| configuration | seeds | mean | worst seed | ' + ' | '.join(f'{n} mean (worst)' for n in NAMES) + ' |')
print('|---|---|---|---|' + '---|' * len(NAMES))
for cfg, accs in summary.items():
    if not accs:
        continue
    m = statistics.mean(a for _, a, _, _ in accs)
    w = min(accs, key=lambda x: x[1])
    print(f"| {cfg} | {','.join(str(s) for s, *_ in accs)} | {100*m:.1f} % | {100*w[1]:.1f} % (seed {w[0]}) | "
          + ' | '.join(f"{100*statistics.mean(p[n] for _, _, p, _ in accs):.1f} ({100*min(p[n] for _, _, p, _ in accs):.1f})" for n in NAMES) + ' |')
print()
for a, b in PAIRS:
    d = {s: x for s, x, _, _ in summary.get(a, [])}
    e = {s: x for s, x, _, _ in summary.get(b, [])}
    common = sorted(set(d) & set(e))
    if common:
        print(f"{a} - {b}: " + ', '.join(f"seed {s} {100*(d[s]-e[s]):+.1f}" for s in common)
              + f"; mean over these seeds {100*statistics.mean(d[s]-e[s] for s in common):+.1f} points")
print()
print('share of held-out frames called wrongly, mean over seeds (seated / unseated 0-3 mm / 3-6 mm above seated):')
for cfg, accs in summary.items():
    if accs:
        print(f"  {cfg}: " + '; '.join(n + ' ' + ' / '.join(f"{100*statistics.mean(e[n][b] for *_, e in accs):.0f}" for b in BINS) for n in NAMES))

# Seatings without pressing (fz 0 N): data/heldout-p.db through `npm run eval:reward` (results/reward-seeds/unpressed/).
U = f'{HERE}/unpressed'
if os.path.isdir(U):
    print()
    print('| unpressed seatings (data/heldout-p.db) | mean | ' + ' | '.join(NAMES) + ' | seated frames wrong (mean over connectors) |')
    print('|---|---|' + '---|' * len(NAMES) + '---|')
    for f in sorted(os.listdir(U)):
        if f.endswith('.json'):
            d = json.load(open(f'{U}/{f}'))
            per = {x['name']: x['accuracy'] for x in d['evaluation']['perDomain']}
            seated = statistics.mean(x['errorRate'] for b in d['errorsByHeight'] for x in b['bins'] if x['label'] == 'seated')
            print(f"| {f[:-5]} | {100*d['evaluation']['accuracy']:.1f} % | " + ' | '.join(f"{100*per[n]:.1f}" for n in NAMES) + f" | {100*seated:.0f} % |")
