#!/usr/bin/env python3
"""The rule of adoption-rule.txt: noise = clearance (arm ncl) against the defaults, cell by cell. The defaults' runs:
results/online-s22 u3 (held-out, seeds 0-2), u3f (fresh, 0-2), u334 (both, 3-4), and d57 here (seeds 5-7); ncl's
runs for the 0.5 mm connectors (dt12, dt06, hdmi) are the defaults' (the same noise, so the same run).
  python3 results/online-s24/judge.py [NCL_DIR [D57_DIR]]   (default: results/online-s24/ncl/runs, d57/runs)"""
import glob, json, os, statistics, sys

here = os.path.dirname(os.path.abspath(__file__))
res = os.path.join(here, '..')
ncl_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, 'ncl', 'runs')
d57_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, 'd57', 'runs')
HELD = ['dt12', 'europlug', 'megablock', 'nema15', 'roundkey']
FRESH = ['usbc', 'xlr3', 'hdmi', 'bs1363', 'dt06']
SAME = {'dt12', 'dt06', 'hdmi'}


def baseline(n, d):
    for b in [os.path.join(d, 'baselines.json'), os.path.join(here, 'baselines', n, 'baselines.json'),
              os.path.join(res, 'online-s20', 'baselines', n, 'baselines.json'),
              os.path.join(res, 'online-depth-default', 'runs', n, 'baselines.json'), os.path.join(res, 'online-s11c', 'runs', n, 'baselines.json')]:
        if os.path.exists(b):
            return b
    return None


def run(d):
    f = os.path.join(d, 'results.json')
    if not os.path.exists(f):
        return None
    r = json.load(open(f))['results'][0]
    c = [p['successes'] for p in r['curve']]
    n = os.path.basename(d)
    b = baseline(n, d)
    best_b = max(v['successes'] for v in json.load(open(b))['baselines'][r['connector']].values() if v['scenario'] == 'II') if b else None
    dip = max(0, c[0] - min(c))
    ok = max(c) >= 18 and dip <= 2 and (best_b is None or c[-1] > best_b)
    return {'curve': c, 'dip': dip, 'base': best_b, 'meets': ok}


def default_dir(s, c):
    if s >= 5:
        return os.path.join(d57_dir, f'seed-{s}-{c}')
    if s >= 3:
        return os.path.join(res, 'online-s22', 'u334', 'runs', f'seed-{s}-{c}')
    return os.path.join(res, 'online-s22', 'u3' if c in HELD else 'u3f', 'runs', f'seed-{s}-{c}')


def summary(name, cells):
    pairs = [(k, run(default_dir(*k)), run(default_dir(*k)) if k[1] in SAME else run(os.path.join(ncl_dir, f'seed-{k[0]}-{k[1]}'))) for k in cells]
    done = [(k, a, b) for k, a, b in pairs if a and b]
    if not done:
        print(f'{name}: no cell done'); return
    def agg(i):
        rs = [p[i] for p in done]; fin = [r['curve'][-1] for r in rs]
        return f"meet {sum(r['meets'] for r in rs)}/{len(rs)}, mean final {statistics.mean(fin):.2f}, worst {min(fin)}, dips>2 {sum(r['dip'] > 2 for r in rs)}"
    print(f'{name} ({len(done)} of {len(cells)} cells): defaults {agg(1)} | ncl {agg(2)}')


for k, a, b in [((s, c), run(default_dir(s, c)), run(default_dir(s, c)) if c in SAME else run(os.path.join(ncl_dir, f'seed-{s}-{c}')))
                for s in range(8) for c in HELD + FRESH]:
    if a and b and k[1] not in SAME:
        fmt = lambda r: f"{' '.join(f'{x:2d}' for x in r['curve'])} {'meets ' if r['meets'] else 'MISSES'}"
        print(f'  seed {k[0]} {k[1]:10s} defaults {fmt(a)}   ncl {fmt(b)}   baseline {a["base"]}')
summary('(a) held-out seeds 0-2', [(s, c) for s in range(3) for c in HELD])
summary('(b) seeds 0-4, all ten', [(s, c) for s in range(5) for c in HELD + FRESH])
summary('(c) seeds 5-7, all ten', [(s, c) for s in range(5, 8) for c in HELD + FRESH])
