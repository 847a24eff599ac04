# The residual actions of each evaluated export (a dense.ts run's SQLite log): per export, the mean residual per axis over
# every step of its 20 evaluation episodes (mm), and over the first 5 steps its difference from the first export (the
# offline head) at the same start and step.  python3 results/online-s16/actions.py DENSE_DB
import sqlite3,struct,sys,statistics
db=sqlite3.connect(sys.argv[1])
vers=[r[0] for r in db.execute("select policy_version from episodes group by policy_version order by min(id)")]
data={}
for v in vers:
    eps=[r[0] for r in db.execute("select id from episodes where policy_version=? order by id",(v,))]
    rows=[]
    for k,e in enumerate(eps):
        for step,res in db.execute("select step,action_residual from transitions where episode_id=? order by step",(e,)):
            rows.append((k,step,struct.unpack('<3d',res)))
    data[v]=rows
base=data[vers[1]]  # first online export = offline head
bmap={(k,s):r for k,s,r in base}
succ={v:db.execute("select sum(gt_success) from episodes where policy_version=?",(v,)).fetchone()[0] for v in vers}
for v in vers[1:]:
    rows=data[v]
    m=[statistics.mean(r[2][i] for r in rows)*1000 for i in range(3)]
    early=[r for r in rows if r[1]<5]
    d=[statistics.mean(r[2][i]-bmap[(r[0],r[1])][i] for r in early if (r[0],r[1]) in bmap)*1000 for i in range(3)]
    print(f"{v:26s} succ {succ[v]:2d}  mean residual mm x {m[0]:+.2f} y {m[1]:+.2f} z {m[2]:+.2f} | steps<5 minus offline (same start, step) x {d[0]:+.2f} y {d[1]:+.2f} z {d[2]:+.2f}")
