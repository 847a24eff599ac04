# The README's tables: per cell the curves of the 1 mm arms (session 16's) beside the 0.5 mm arms of this session.
#   python3 results/online-s17/tables.py
import glob, json, os
here = os.path.dirname(os.path.abspath(__file__)); res = os.path.dirname(here)
def curves(d):
    out = {}
    for r in sorted(glob.glob(os.path.join(d, 'seed-*'))):
        f = os.path.join(r, 'results.json')
        if os.path.exists(f): out[os.path.basename(r)] = ' '.join(str(p['successes']) for p in json.load(open(f))['results'][0]['curve'])
    return out
for title, arms in [('free-running', [('h0', f'{res}/online-s15/h0/runs'), ('h0b', f'{res}/online-s16/h0b/runs'), ('h0c', f'{res}/online-s16/h0c/runs'),
                                       ('n05', f'{here}/n05/runs'), ('n05b', f'{here}/n05b/runs'), ('n05c', f'{here}/n05c/runs')]),
                    ('--sync-every 1', [('sync', f'{res}/online-s16/sync/runs'), ('n05s', f'{here}/n05s/runs')])]:
    cs = [(n, curves(d)) for n, d in arms]
    print(f'\n{title}\n\n| connector | seed | ' + ' | '.join(f'`{n}`' for n, _ in cs) + ' |\n|---|---|' + '---|' * len(cs))
    keys = sorted(cs[-1][1], key=lambda k: (k.split('-')[2], k.split('-')[1]))
    for k in keys:
        print(f"| {k.split('-')[2]} | {k.split('-')[1]} | " + ' | '.join(c.get(k, '-') for _, c in cs) + ' |')
