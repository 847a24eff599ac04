#!/usr/bin/env python3
"""adoption-rule.txt's hindsight-aim rule: arm hs1 against the defaults, cell by cell, over seeds 0-7 of the held-out and
fresh five (the defaults' runs and run() as ../online-s24/judge.py reads them).
  python3 results/online-s25/judge.py [ARM_DIR] [--md]   (default: results/online-s25/hs1/runs; --md: per-connector tables too)"""
import importlib.util, os, statistics, sys

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('judge24', os.path.join(here, '..', 'online-s24', 'judge.py'))
j24 = importlib.util.module_from_spec(spec)
sys.argv, argv = sys.argv[:1], sys.argv[1:]  # judge24 reads its own argv at import
sys.stdout, out = open(os.devnull, 'w'), sys.stdout  # and prints its own comparison
spec.loader.exec_module(j24)
sys.stdout = out
arm_dir = argv[0] if argv and argv[0] != "--md" else os.path.join(here, 'hs1', 'runs')
HELD, FRESH = j24.HELD, j24.FRESH


def cells(seeds, conns):
    return [(s, c) for s in seeds for c in conns]


def pairs(ks):
    ps = [(k, j24.run(j24.default_dir(*k)), j24.run(os.path.join(arm_dir, f'seed-{k[0]}-{k[1]}'))) for k in ks]
    return [(k, a, b) for k, a, b in ps if a and b]


def agg(rs):
    fin = [r['curve'][-1] for r in rs]
    return f"meet {sum(r['meets'] for r in rs)}/{len(rs)}, mean final {statistics.mean(fin):.2f}, worst {min(fin)}, dips>2 {sum(r['dip'] > 2 for r in rs)}"


fmt = lambda r: f"{' '.join(f'{x:2d}' for x in r['curve'])} {'meets ' if r['meets'] else 'MISSES'}"
for k, a, b in pairs(cells(range(8), HELD + FRESH)):
    print(f'  seed {k[0]} {k[1]:10s} defaults {fmt(a)}   hindsight {fmt(b)}   baseline {a["base"]}')
for name, ks in [('(a) held-out, seeds 0-2', cells(range(3), HELD)), ('(b) held-out, seeds 0-7', cells(range(8), HELD)),
                 ('fresh, seeds 0-7', cells(range(8), FRESH)), ('(c) all 80 cells', cells(range(8), HELD + FRESH))]:
    done = pairs(ks)
    if done:
        print(f'{name} ({len(done)} of {len(ks)} cells): defaults {agg([p[1] for p in done])} | hindsight {agg([p[2] for p in done])}')

if '--md' in argv:
    for title, conns in [('held-out five', HELD), ('fresh five', FRESH)]:
        print(f'\n| {title} | hindsight: finals, seeds 0-7 | meet | defaults: finals | meet |\n|---|---|---|---|---|')
        for c in conns:
            ps = pairs(cells(range(8), [c]))
            fa = ' '.join(str(p[2]['curve'][-1]) for p in ps)
            fd = ' '.join(str(p[1]['curve'][-1]) for p in ps)
            print(f"| {c} | {fa} | {sum(p[2]['meets'] for p in ps)}/{len(ps)} | {fd} | {sum(p[1]['meets'] for p in ps)}/{len(ps)} |")
