# Side-by-side curves (scenario II successes /20 at 0/25/50/75/100 practice episodes) of two or more arms, per cell,
# with the target check of ../online-s16/meets.py (reach 18, no dip > 2, final above the best search baseline).
#   python3 results/online-s22/compare.py NAME=DIR[,DIR...] NAME=DIR[,DIR...] ...
import glob, json, os, statistics, sys
arms = []
for a in sys.argv[1:]:
    name, dirs = a.split('=', 1)
    cells = {}
    for d in dirs.split(','):
        for f in sorted(glob.glob(os.path.join(d, 'seed-*', 'results.json'))):
            r = json.load(open(f))['results'][0]
            c = [p['successes'] for p in r['curve']]
            run = os.path.dirname(f)
            b = json.load(open(os.path.join(run, 'baselines.json')))['baselines'][r['connector']]
            best_b = max(v['successes'] for v in b.values() if v['scenario'] == 'II')
            dip = max(0, c[0] - min(c))
            ok = max(c) >= 18 and dip <= 2 and c[-1] > best_b
            cells[(r['connector'], int(os.path.basename(run).split('-')[1]))] = (c, ok)
    arms.append((name, cells))
keys = sorted(set().union(*[set(c) for _, c in arms]))
print('| connector | seed | ' + ' | '.join(n for n, _ in arms) + ' |')
print('|---|---|' + '---|' * len(arms))
for k in keys:
    row = []
    for _, cells in arms:
        if k in cells:
            c, ok = cells[k]
            row.append(' '.join(map(str, c)) + ('' if ok else ' **miss**'))
        else:
            row.append('')
    print(f'| {k[0]} | {k[1]} | ' + ' | '.join(row) + ' |')
print()
for n, cells in arms:
    fin = [c[-1] for c, _ in cells.values()]
    print(f'{n}: {len(cells)} runs, meet every part {sum(ok for _, ok in cells.values())}, mean final {statistics.mean(fin):.2f}, '
          f'worst final {min(fin)}, mean at 50 {statistics.mean(c[2] for c, _ in cells.values()):.2f}, '
          f'reach 18 {sum(max(c) >= 18 for c, _ in cells.values())}, dips > 2 {sum(c[0] - min(c) > 2 for c, _ in cells.values())}')
