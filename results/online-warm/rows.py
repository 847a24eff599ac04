#!/usr/bin/env python3
"""Per-run rows of results/online-warm/README.md from the runs' curve.json and time.txt (python3 rows.py DIR...)."""
import json, os, re, sys

for d in sys.argv[1:]:
    n = os.path.basename(d.rstrip('/')); c = n.split('-')[-1]; s = n.split('-')[1]
    cj = os.path.join(d, c, 'curve.json')
    if not os.path.exists(cj):
        continue
    cur = json.load(open(cj))
    succ = [p['successes'] for p in cur]
    off = succ[0]; fin = succ[-1]; dip = max(0, off - min(succ))
    last = cur[-1]
    lg = f"{last['learnedSuccessRate']:.2f} / {last['gtSuccessRate']:.2f}"
    gate = '-'
    for p in cur:
        g = p.get('evidenceGate')
        if g and g.get('open') and 'checks' in g:
            gate = f"open by {p['practiceEpisodes']} (check {g['openedAt']})"; break
        if g and g.get('open') is False and p is cur[-1]:
            gate = 'never opened'
    wall = load = '?'
    tt = os.path.join(d, 'time.txt')
    if os.path.exists(tt):
        t = open(tt).read()
        m = re.search(r'([\d.]+) s wall', t); wall = f"{float(m.group(1)):.0f} s" if m else '?'
        loads = [float(x) for x in re.findall(r'load average: ([\d.]+),', t)]
        load = f"{min(loads):.0f}-{max(loads):.0f}" if loads else '?'
    print(f"| {c} | {s} | {' '.join(map(str, succ))} | {off} | {fin} | {dip} | {lg} | {gate} | {wall}, {load} |")
