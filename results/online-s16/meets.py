# Per run of each arm directory (results/online-s16/<arm>/runs or data/runs/<session>/<arm>): the curve, and whether it
# meets every part of issue 13's online target: best >= 18 within 100 episodes, no dip > 2 below the offline level,
# final above the best scenario II search baseline of the same seed and connector.
#   python3 results/online-s16/meets.py DIR [DIR...]
import glob, json, os, statistics, sys
for arm in sys.argv[1:]:
    rows = []
    for d in sorted(glob.glob(os.path.join(arm, 'seed-*'))):
        if not os.path.exists(os.path.join(d, 'results.json')): continue
        r = json.load(open(os.path.join(d, 'results.json')))['results'][0]
        c = [p['successes'] for p in r['curve']]
        n = os.path.basename(d); conn = r['connector']
        bf = os.path.join(d, 'baselines.json')
        if not os.path.exists(bf):
            res = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
            bf = os.path.join(res, 'online-depth-default', 'runs', n, 'baselines.json')
            if not os.path.exists(bf): bf = os.path.join(res, 'online-s11c', 'runs', n, 'baselines.json')
        b = json.load(open(bf))['baselines'][conn]
        best_b = max(v['successes'] for k, v in b.items() if v['scenario'] == 'II')
        dip = max(0, c[0] - min(c))
        ok = max(c) >= 18 and dip <= 2 and c[-1] > best_b
        rows.append((n, c, dip, best_b, ok))
        print(f"  {n:22s} {' '.join(f'{x:2d}' for x in c)}  dip {dip}  baseline {best_b:2d}  {'meets' if ok else 'MISSES'}")
    if rows:
        fin = [r[1][-1] for r in rows]
        print(f"{arm}: runs {len(rows)}, mean final {statistics.mean(fin):.2f}, worst {min(fin)}, reach 18 {sum(max(r[1]) >= 18 for r in rows)}, "
              f"dips > 2 {sum(r[2] > 2 for r in rows)}, meet every part {sum(r[4] for r in rows)}")
