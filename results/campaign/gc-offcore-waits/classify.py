import re,collections,subprocess,sys
base=sys.argv[1]; thr=float(sys.argv[2])
pend=None; waits=[]
for l in open(base+'.nostack.txt'):
    p=l.split(); tid=int(p[0]); t=float(p[1].rstrip(':')); ev=p[2]
    if ev=='sched:sched_switch:':
        st=re.search(r'prev_state=(\S+)',l)[1]
        pend=(t,st) if st not in('R','R+') else None
    elif ev=='sched:sched_waking:' and pend:
        waits.append(((t-pend[0])*1000,pend[0],pend[1],tid,t)); pend=None
print('waits',len(waits),'>=thr',sum(w[0]>=thr for w in waits))
for ms,t0,st,waker,t1 in waits:
    if ms<thr: continue
    o=subprocess.run(['perf','script','-i',base+'.perf.data','-F','tid,time,event,ip,sym','--time','%.6f,%.6f'%(t0-1e-6,t0+1e-6)],capture_output=True,text=True).stdout
    fr=[x.split(None,1)[1] for x in o.split('\n')[1:] if x.startswith('\t')]
    if any('epoll' in f for f in fr): kind='epoll'
    else: kind=' < '.join(f for f in fr if not f.startswith(('__schedule','schedule ')))[:600]
    wk=''
    if kind!='epoll':
        o2=subprocess.run(['perf','script','-i',base+'.perf.data','-F','comm,tid,time,event,ip,sym','--time','%.6f,%.6f'%(t1-1e-6,t1+1e-6)],capture_output=True,text=True).stdout
        wk=' | '.join(x.strip() for x in o2.split('\n')[:14])[:900]
    print('%.2f ms at %.6f %s waker %d: %s\n     WAKER: %s'%(ms,t0,st,waker,kind,wk) if kind!='epoll' else '%.2f ms epoll'%ms, flush=True)
