import json, re, sys, glob, os
rows = []
for log in sorted(glob.glob(os.path.join(os.path.dirname(__file__), '0*.log'))):
    s = open(log).read()
    m = re.search(r'phase 1 \(10 Hz \+ trainer\): (\{.*?\n\})\n', s, re.S)
    if not m: print(os.path.basename(log), 'no phase 1'); continue
    p = json.loads(m.group(1))
    load = re.search(r'load average ([\d. ]+)', s).group(1).split()
    rows.append(dict(run=os.path.basename(log)[:-4], updatesPerSec=p['onlineUpdatesPerSec'], updateRatio=p['updateRatioSustained'],
                     trainerCpuMsPerUpdate=p['trainerCpuMsPerUpdate'], missedTicks=p['missedControlTicks'], controlTicks=p['controlTicks'],
                     tickLatenessP99Ms=p['jitterMs']['p99'], tickLatenessMaxMs=p['jitterMs']['max'], daemonProcessCores=p['daemonProcessCores'],
                     loadBefore=[float(x) for x in load], engine=p['trainerEngine'], daemonStateAtEnd=p['daemonStateAtEnd'],
                     phase2Done='phase 2 (RSS' in s))
for r in rows:
    print(f"{r['run']:28s} {r['updatesPerSec']:6.1f}/s ratio {r['updateRatio'] or 0:5.2f} cpu {r['trainerCpuMsPerUpdate'] or 0:6.2f} ms missed {r['missedTicks']}/{r['controlTicks']} p99 {r['tickLatenessP99Ms']:6.2f} load {r['loadBefore'][0]:5.2f} bf16={'bf16' in (r['engine'] or '')} {r['daemonStateAtEnd']}")
if len(sys.argv) > 1: json.dump(rows, open(sys.argv[1], 'w'), indent=1)
