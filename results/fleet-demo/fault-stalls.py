#!/usr/bin/env python3
"""Each arm through each fault, from the arms' own SQLite logs (not the demo's 3 s status samples, whose gaps include
the demo's own pauses): practice episodes begun in the 60 s from the fault, the longest gap between two episode starts
that overlaps that window, and the arm's gaps over the whole run (median, p95, max) to compare with.

  python3 results/fleet-demo/fault-stalls.py data/runs/fleet-faults-n8 [t0-ms]

t0: wall time (ms) of the samples' t = 0; default fleet.json's startedAt."""
import json, sqlite3, statistics, sys
from pathlib import Path

run = Path(sys.argv[1])
fj = json.loads((run / 'fleet.json').read_text())
t0 = int(sys.argv[2]) if len(sys.argv) > 2 else fj['startedAt']
W = 60_000
print(f"| fault (t s) | arm | episodes begun in the 60 s after | longest gap between episode starts there (s) | gaps over the run: median / p95 / max (s) | deadman trips there (per 60 s over the run) |")
print("|---|---|---|---|---|---|")
for f in fj['faults']:
    tf = t0 + f['t'] * 1000
    for db in sorted(run.glob('arm-*.db'), key=lambda p: int(p.stem.split('-')[1])):
        con = sqlite3.connect(f'file:{db}?mode=ro', uri=True)
        rows = con.execute("select started_at, outcome from episodes where kind = 'practice' order by started_at").fetchall()
        con.close()
        starts = [r[0] for r in rows]
        gaps = [(b - a) for a, b in zip(starts, starts[1:])]
        inwin = [s for s in starts if tf <= s <= tf + W]
        # gaps that overlap [tf, tf + W], and the open gap at either edge
        over = [(b - a) for a, b in zip(starts, starts[1:]) if b >= tf and a <= tf + W]
        tripped = sum(1 for s, o in rows if tf <= s <= tf + W and o == 'tripped')
        span = (starts[-1] - starts[0]) / 60_000 if len(starts) > 1 else 1
        rate = sum(1 for _, o in rows if o == 'tripped') / span
        g = sorted(gaps)
        p95 = g[min(len(g) - 1, int(0.95 * len(g)))] if g else 0
        print(f"| {f['kind']} ({f['t']:.0f}) | {db.stem} | {len(inwin)} | {max(over, default=0) / 1000:.1f} | {statistics.median(g) / 1000:.1f} / {p95 / 1000:.1f} / {max(g) / 1000:.1f} | {tripped} ({rate:.1f}) |")
