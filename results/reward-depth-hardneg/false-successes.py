# False and missed successes of a run's practice episodes against the simulator's ground truth, and where each was:
# the last logged observation (the final one, which the reward judged, is not logged) and the last commanded move.
# Seated height: the logged goal's z (the x* error is horizontal only). Usage: python3 false-successes.py RUN_DIR...
import sqlite3, struct, json, sys, glob
for run in sys.argv[1:]:
    db=sorted(glob.glob(run+'/*/daemon-*.db'))[0]
    c=sqlite3.connect(db)
    eps=c.execute("select id, learned_success_prob, gt_success, start_state_json from episodes where kind='practice' order by id").fetchall()
    fs=[];ms=[]
    for i,(eid,p,gt,ss) in enumerate(eps):
        if p is None: continue
        called=p>0.5
        if called==bool(gt): continue
        st=json.loads(ss); sp=st.get('socketPos') or [st['goal'][0]-0.0015/2**.5, st['goal'][1]-0.0015/2**.5, st['goal'][2]]
        r=c.execute("select ee_pos, action_executed, wrench from transitions where episode_id=? order by step desc limit 1",(eid,)).fetchone()
        ee=struct.unpack('<3d',r[0]) if len(r[0])==24 else struct.unpack('<3f',r[0])
        a=struct.unpack('<3d',r[1]) if r[1] and len(r[1])==24 else (struct.unpack('<3f',r[1]) if r[1] else (0,0,0))
        w=struct.unpack('<6d',r[2]) if len(r[2])==48 else struct.unpack('<6f',r[2])
        desc="ep#%d p=%.2f"%(i,p)
        if sp: desc+=" last logged obs: tip %.1f mm above seated, last commanded dz %+.1f mm, fz %.0f N"%((ee[2]-sp[2])*1000, a[2]*1000, w[2])
        (fs if called else ms).append(desc)
    print(run, 'false', len(fs), 'missed', len(ms))
    for d in fs: print('  F', d)
    for d in ms: print('  M', d)
