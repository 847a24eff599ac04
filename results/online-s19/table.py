# Curves of several arms side by side, one row per connector and seed (markdown), from each arm's runs directory:
#   python3 results/online-s19/table.py NAME=DIR [NAME=DIR ...]
import glob, json, os, sys
arms = [a.split('=', 1) for a in sys.argv[1:]]
cells = {}
for name, d in arms:
    for r in sorted(glob.glob(os.path.join(d, 'seed-*', 'results.json'))):
        res = json.load(open(r))['results'][0]
        seed = int(os.path.basename(os.path.dirname(r)).split('-')[1])
        cells.setdefault((res['connector'], seed), {})[name] = ' '.join(str(p['successes']) for p in res['curve'])
print('| connector | seed | ' + ' | '.join(f'`{n}`' for n, _ in arms) + ' |')
print('|---|---|' + '---|' * len(arms))
for (c, s) in sorted(cells):
    print(f'| {c} | {s} | ' + ' | '.join(cells[(c, s)].get(n, '-') for n, _ in arms) + ' |')
