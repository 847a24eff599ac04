#!/usr/bin/env python3
"""Every table of results/reward-depth/README.md from the runs' JSONs: python3 results/reward-depth/table.py > results/reward-depth/table.md"""
import json, os, statistics
HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = {
    'DAIB (moments), image + depth': 'depth-daib-moments-seed{}',
    'ERM, image + depth': 'depth-erm-seed{}',
    'DAIB (moments), image': 'daib-moments-seed{}',
    'ERM, image': 'erm-seed{}',
}
PAIRS = [('DAIB (moments), image + depth', 'ERM, image + depth'), ('DAIB (moments), image', 'ERM, image'),
         ('DAIB (moments), image + depth', 'DAIB (moments), image'), ('ERM, image + depth', 'ERM, image')]
NAMES = ['dt12', 'europlug', 'megablock', 'nema15', 'roundkey']
BINS = ['seated', '0-3 mm', '3-6 mm']

def load(pattern, seed, sub=''):
    p = os.path.join(HERE, sub, pattern.format(seed) + '.json')
    return json.load(open(p)) if os.path.exists(p) else None

def per(ev):
    return {x['name']: x['accuracy'] for x in ev['perDomain']}

print('### Held-out prior data (`data/depth/heldout.db`), every run\n')
print('| configuration | seed | held-out | ' + ' | '.join(NAMES) + ' | worst connector | probe on zI | training min |')
print('|---|---|---|' + '---|' * len(NAMES) + '---|---|---|')
summary = {}
for cfg, pat in CONFIGS.items():
    for s in range(3):
        d = load(pat, s)
        if not d:
            continue
        r = d['rows'][0]
        pd = per(r['evaluation'])
        worst = min(pd, key=pd.get)
        errs = {b['name']: {x['label']: x['errorRate'] for x in b['bins']} for b in r['errorsByHeight']}
        summary.setdefault(cfg, []).append((s, r['evaluation']['accuracy'], pd, errs))
        probe = r.get('domainProbe')
        print(f"| {cfg} | {s} | {100*r['evaluation']['accuracy']:.1f} % | " + ' | '.join(f"{100*pd[n]:.1f}" for n in NAMES)
              + f" | {worst} {100*pd[worst]:.1f} | {'' if probe is None else f'{100*probe:.1f} %'} | {r['seconds']/60:.0f} |")
print('\n### Over seeds\n')
print('| configuration | seeds | mean | worst seed | ' + ' | '.join(f'{n} mean (worst)' for n in NAMES) + ' |')
print('|---|---|---|---|' + '---|' * len(NAMES))
for cfg, accs in summary.items():
    m = statistics.mean(a for _, a, _, _ in accs)
    w = min(accs, key=lambda x: x[1])
    print(f"| {cfg} | {','.join(str(s) for s, *_ in accs)} | {100*m:.1f} % | {100*w[1]:.1f} % (seed {w[0]}) | "
          + ' | '.join(f"{100*statistics.mean(p[n] for _, _, p, _ in accs):.1f} ({100*min(p[n] for _, _, p, _ in accs):.1f})" for n in NAMES) + ' |')
print('\n### Differences on common seeds (points)\n')
for a, b in PAIRS:
    d = {s: x for s, x, _, _ in summary.get(a, [])}
    e = {s: x for s, x, _, _ in summary.get(b, [])}
    common = sorted(set(d) & set(e))
    if common:
        print(f"- {a} minus {b}: " + ', '.join(f"seed {s} {100*(d[s]-e[s]):+.1f}" for s in common))
print('\n### Share of held-out frames called wrongly, mean over seeds (seated / 0-3 mm / 3-6 mm above seated, %)\n')
print('| configuration | ' + ' | '.join(NAMES) + ' |')
print('|---|' + '---|' * len(NAMES))
for cfg, accs in summary.items():
    cells = []
    for n in NAMES:
        cells.append(' / '.join(f"{100*statistics.mean(e[n].get(b, float('nan')) for *_, e in accs):.0f}" for b in BINS))
    print(f"| {cfg} | " + ' | '.join(cells) + ' |')
print('\n### Seated without pressing (`data/depth/heldout-p.db`, P-controller, exact goal, fz = 0 N), every exported run\n')
print('| configuration | seed | mean | ' + ' | '.join(NAMES) + ' | seated frames wrong |')
print('|---|---|---|' + '---|' * len(NAMES) + '---|')
for cfg, pat in CONFIGS.items():
    for s in range(3):
        u = load(pat, s, 'unpressed')
        if not u:
            continue
        pd = per(u['evaluation'])
        eb = u['errorsByHeight']
        seated = [b for r in eb for b in r['bins'] if b['label'] == 'seated']
        wrong = sum(b['samples'] * b['errorRate'] for b in seated) / max(1, sum(b['samples'] for b in seated))
        print(f"| {cfg} | {s} | {100*u['evaluation']['accuracy']:.1f} % | " + ' | '.join(f"{100*pd[n]:.1f}" for n in NAMES) + f" | {100*wrong:.0f} % |")
