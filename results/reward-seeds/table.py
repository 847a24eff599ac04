#!/usr/bin/env python3
"""Per-seed, per-connector table of the reward runs' --results JSONs (python3 results/reward-seeds/table.py)."""
import json, glob, os, statistics
HERE = os.path.dirname(os.path.abspath(__file__))
files = {
    'DAIB (moments)': [f'{HERE}/../reward-daib-moments/daib-seed0.json', f'{HERE}/daib-moments-seed1.json', f'{HERE}/daib-moments-seed2.json'],
    'ERM': [f'{HERE}/../reward-daib-moments/erm-seed0.json', f'{HERE}/erm-seed1.json', f'{HERE}/erm-seed2.json'],
}
names = ['dt12', 'europlug', 'megablock', 'nema15', 'roundkey']
print('| method | seed | held-out | ' + ' | '.join(names) + ' | worst connector | probe on zI | minutes |')
print('|---|---|---|' + '---|' * len(names) + '---|---|---|')
summary = {}
for method, paths in files.items():
    accs = []
    for p in paths:
        if not os.path.exists(p):
            continue
        d = json.load(open(p))
        for r in d['rows']:
            per = {x['name']: x['accuracy'] for x in r['evaluation']['perDomain']}
            worst = min(per, key=per.get)
            accs.append((r['seed'], r['evaluation']['accuracy'], per))
            probe = r.get('domainProbe')
            print(f"| {method} | {r['seed']} | {100*r['evaluation']['accuracy']:.1f} % | " + ' | '.join(f"{100*per[n]:.1f}" for n in names)
                  + f" | {worst} {100*per[worst]:.1f} | {'' if probe is None else f'{100*probe:.1f} %'} | {r['seconds']/60:.0f} |")
    summary[method] = accs
print()
for method, accs in summary.items():
    if not accs:
        continue
    m = statistics.mean(a for _, a, _ in accs)
    w = min(accs, key=lambda x: x[1])
    per_mean = {n: statistics.mean(p[n] for _, _, p in accs) for n in names}
    wc = min((p[n], n, s) for s, _, p in accs for n in names)
    print(f"{method}: seeds {[s for s, _, _ in accs]}, mean {100*m:.1f} %, worst seed {w[0]} {100*w[1]:.1f} %, worst connector {wc[1]} {100*wc[0]:.1f} % (seed {wc[2]}); per-connector mean " + ', '.join(f"{n} {100*v:.1f}" for n, v in per_mean.items()))
d = {s: a for s, a, _ in summary.get('DAIB (moments)', [])}
e = {s: a for s, a, _ in summary.get('ERM', [])}
print('DAIB - ERM per seed: ' + ', '.join(f"seed {s}: {100*(d[s]-e[s]):+.1f}" for s in sorted(set(d) & set(e))))
