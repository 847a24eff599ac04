# How the learned reward judged each run's practice episodes against the simulator's ground truth: seated episodes
# it missed (false negatives) and failures it called successes (false positives), per connector over an arm's runs.
#   python3 results/online-s20/judged.py DIR [DIR...]     (DIR: data/runs/s16/<arm>, each run's daemon-*.db)
import glob, os, sqlite3, sys
for arm in sys.argv[1:]:
    per = {}
    for d in sorted(glob.glob(os.path.join(arm, 'seed-*'))):
        dbs = glob.glob(os.path.join(d, '*', 'daemon-*.db'))
        if not dbs: continue
        conn = os.path.basename(d).split('-', 2)[2]
        rows = sqlite3.connect(f'file:{dbs[0]}?mode=ro', uri=True).execute(
            "select gt_success, outcome from episodes where kind = 'practice' and gt_success is not null and outcome in ('success', 'failure')").fetchall()
        c = per.setdefault(conn, [0, 0, 0, 0])  # seated, missed, failed, called
        for gt, out in rows:
            if gt: c[0] += 1; c[1] += out != 'success'
            else: c[2] += 1; c[3] += out == 'success'
    print(arm)
    for conn, (s, m, f, fp) in sorted(per.items()):
        print(f"  {conn:10s} seated {s:4d}, missed {m:3d} ({100 * m / max(s, 1):4.1f} %); failed {f:4d}, called success {fp:3d} ({100 * fp / max(f, 1):4.1f} %)")
