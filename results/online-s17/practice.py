# Ground-truth successes of the practice episodes per block of 20, per run of each arm directory (data/runs/s16/<arm>):
# how often practice itself inserts under each exploration noise.
#   python3 results/online-s17/practice.py DIR [DIR...]
import glob, os, sqlite3, sys
for arm in sys.argv[1:]:
    tot = []; per = {}
    for d in sorted(glob.glob(os.path.join(arm, 'seed-*'))):
        dbs = glob.glob(os.path.join(d, '*', 'daemon-*.db'))
        if not dbs: continue
        rows = sqlite3.connect(f'file:{dbs[0]}?mode=ro', uri=True).execute(
            "select gt_success from episodes where kind = 'practice' and gt_success is not null order by id").fetchall()
        blocks = [sum(r[0] for r in rows[i:i + 20]) for i in range(0, len(rows), 20)]
        tot.append(sum(r[0] for r in rows) / max(1, len(rows)))
        per.setdefault(os.path.basename(d).split('-')[2], []).append(tot[-1])
        print(f"  {os.path.basename(d):22s} {' '.join(f'{b:2d}' for b in blocks)}  ({len(rows)} episodes)")
    if tot: print(f"{arm}: mean practice success {100 * sum(tot) / len(tot):.0f} % (" + ', '.join(f'{c} {100 * sum(v) / len(v):.0f}' for c, v in per.items()) + ')')
