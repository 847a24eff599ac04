import json, sys, glob, statistics as st
# usage: summ.py DIR  -> per worktree, per workload: medians over rounds of ours (wasm+openblas) and PyTorch 1T (wall, CPU), ratios
d = sys.argv[1]
rows = {}
for f in sorted(glob.glob(f"{d}/*.json")):
    w = f.split('/')[-1].rsplit('-', 1)[0]
    j = json.load(open(f))['figures']
    t1 = next((r for r in j['pytorch'] if r['threads'] == 1), None)
    load = j['loadAverageBefore'][0], j['loadAverageAfter'][0]
    for s in j['summary']:
        if s['engine'] not in ('wasm+openblas', 'fused'): continue
        tr = next(r for r in t1['rows'] if r['name'] == s['name']) if t1 else None
        rows.setdefault((s['name'], w, s['engine']), []).append((s['medianMs'], s['cpuMedianMs'], tr['medianMs'] if tr else None, tr['cpuMedianMs'] if tr else None, load, s['shareOfPeak']))
for (name, w, eng), v in sorted(rows.items()):
    med = lambda i: st.median(x[i] for x in v)
    ratios = [x[2] / x[0] for x in v]; cr = [x[3] / x[1] for x in v]
    print(f"{name:28s} {w:14s} {eng:13s} n={len(v)} ours {med(0):6.1f} ms (cpu {med(1):6.1f}) torch {med(2):6.1f} (cpu {med(3):6.1f}) | per-run ratio median {st.median(ratios):.2f}x wall, {st.median(cr):.2f}x cpu; ratio of medians {med(2)/med(0):.2f}x wall {med(3)/med(1):.2f}x cpu | share {100*med(5):.0f}% | loads {', '.join(f'{a:.1f}-{b:.1f}' for (a, b) in [x[4] for x in v])}")
