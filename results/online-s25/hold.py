#!/usr/bin/env python3
"""What the noise-free policy does on the socket's face in the failed evaluations of a run (its SQLite log, made by
the target's command: data/runs/s16/TAG/seed-S-C/C/daemon-*.db). For each log: the last 20 scenario-II evaluation
episodes ('last') or the first 20 after practice began ('first'); the hole is the median final lateral position of
the seated ones; a face step is a step of a failed one with the tip > 3 mm above x* and |Fz| > 5 N. Prints the median
distance between the lateral command (x* + residual) and where the tip is (|res - rel|), the median distance to the
hole, and the median share of the command's move that goes toward the hole (mm); and the same for the face steps of the
seated ones (plugs that touched the face before they went in).
  python3 results/online-s25/hold.py LOG@last [LOG@first ...]"""
import sqlite3, struct, sys, statistics as st

f = lambda b: struct.unpack('<%dd' % (len(b) // 8), b)
for arg in sys.argv[1:]:
    db, which = arg.rsplit('@', 1)
    c = sqlite3.connect(db)
    p0 = c.execute("select min(id) from episodes where kind='practice'").fetchone()[0]
    ev = c.execute("select id, gt_success from episodes where kind='eval' and scenario='II' and id > ? order by id", (p0,)).fetchall()
    grp = ev[-20:] if which == 'last' else ev[:20]
    seated, faces, ok = [], [], []
    for eid, gt in grp:
        rows = c.execute('select step, ee_pos, goal, action_residual, wrench from transitions where episode_id=? order by step', (eid,)).fetchall()
        for s, ee, g, ar, w in rows:
            ee, g, r = f(ee), f(g), [1000 * x for x in f(ar)]
            rel = [1000 * (ee[i] - g[i]) for i in range(3)]
            if gt and s == len(rows) - 1:
                seated.append(rel)
            if rel[2] > 3 and abs(f(w)[2]) > 5:
                (ok if gt else faces).append((rel, r))
    if len(seated) < 3 or not faces:
        print(db, which, 'too few seated or no face steps'); continue
    hx, hy = st.median(x[0] for x in seated), st.median(x[1] for x in seated)
    dist = lambda ax, ay, bx, by: ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5
    hold = [dist(r[0], r[1], rel[0], rel[1]) for rel, r in faces]
    gap = [dist(hx, hy, rel[0], rel[1]) for rel, r in faces]
    toward = [((r[0] - rel[0]) * (hx - rel[0]) + (r[1] - rel[1]) * (hy - rel[1])) / max(1e-9, dist(hx, hy, rel[0], rel[1])) for rel, r in faces]
    tw = lambda rel, r: ((r[0] - rel[0]) * (hx - rel[0]) + (r[1] - rel[1]) * (hy - rel[1])) / max(1e-9, dist(hx, hy, rel[0], rel[1]))
    okt = f'{st.median(tw(rel, r) for rel, r in ok):.2f} mm toward the hole from {st.median(dist(hx, hy, rel[0], rel[1]) for rel, r in ok):.2f} mm' if ok else 'none'
    print(f'{db.split("/")[-3]} ({which} 20): seated {len(seated)}; failed episodes\' face steps {len(faces)}: median |res - rel| {st.median(hold):.2f} mm, '
          f'to the hole {st.median(gap):.2f} mm, toward it {st.median(toward):.2f} mm; seated episodes\' face steps {len(ok)}: {okt}')
