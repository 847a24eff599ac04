#!/usr/bin/env python3
"""Per-life table and per-arm totals of a run.sh output directory: python3 summarize.py OUTDIR [OUT.json]

A missed tick is charged to "another real-time thread" when, in the perf record of the control CPU (LIFE.waits.json),
a wait of the control thread in that CPU's run queue overlaps the tick's late stretch and most of that wait went to
another process's real-time thread (kernel priority < 100), and so is the on-time tick right after such a wait (its
skipped deadline); else to "its own collection" when the thread's collections
in that stretch took 20 ms or more (LateTick.gc); else to "other".
"""
import glob, json, os, re, sys

out_dir = sys.argv[1]
lives = []
for f in sorted(glob.glob(os.path.join(out_dir, 'life-*.json'))):
    if f.endswith('.waits.json'):
        continue
    tag = re.sub(r'\.json$', '', os.path.basename(f))
    arm, n = re.match(r'life-(.+)-(\d+)$', tag).groups()
    d = json.load(open(f))
    ph = d['figures']['phases'][0]
    life, late = ph.get('life'), ph.get('lateTicks')
    if not life or not late:
        continue
    waits = []
    wf = os.path.join(out_dir, tag + '.waits.json')
    if os.path.exists(wf):
        w = json.load(open(wf))
        tid = w['tid']
        for x in w['waits']:
            rt = sum(v for k, v in x['ran'].items() if int(k.rsplit(' prio ', 1)[1]) < 100 and not k.split('/')[1].startswith(str(tid)))
            waits.append((x['at'] * 1000, x['at'] * 1000 + x['ms'], rt >= 0.5 * x['ms'], x))
    off = late['monotonicOffsetMs']
    missed_rt = missed_gc = missed_other = 0
    ticks = []
    for t in late['lateTicks']:
        end = t['startedAt'] + off
        start = end - t['sincePrevStartMs']
        n_missed = max(1, t['skipped'] + (1 if t['lateMs'] > 50 else 0))
        foreign = any(a < end and b > start and rt for a, b, rt, _ in waits) if waits else None
        # The tick right after a long stall counts a skipped deadline though it starts on time: the stall's.
        if not foreign and t['lateMs'] < 5 and ticks and ticks[-1]['foreignRealtime'] and t['sincePrevStartMs'] < 300:
            foreign = True
        gc_ms = (t.get('gc') or {}).get('ms', 0)
        if foreign:
            missed_rt += n_missed
        elif gc_ms >= 20:
            missed_gc += n_missed
        else:
            missed_other += n_missed
        ticks.append({'lateMs': round(t['lateMs'], 1), 'gcMs': round((t.get('gc') or {}).get('ms', 0), 1), 'runQueueMs': round((t.get('thread') or {}).get('runQueueMs', -1), 1),
                      'offCpuMs': round((t.get('thread') or {}).get('offCpuMs', -1), 1), 'foreignRealtime': foreign})
    after_ready = [c for c in life['longCollections'] if c['atMs'] > life['readyMs']]
    lives.append({
        'life': tag, 'arm': arm, 'n': int(n),
        'load': [ph['loadavg']['start'][0], ph['loadavg']['end'][0]],
        'readyS': round(life['readyMs'] / 1000, 1),
        'warmupS': round(ph['warmup']['ms'] / 1000, 1) if ph.get('warmup') else None,
        'ticks': life['ticks'], 'missed': life['missed'], 'missedControl': life['missedControl'],
        'missedForeignRealtime': missed_rt if waits else None, 'missedOwnCollection': missed_gc, 'missedOther': missed_other if waits else None,
        'maxLatenessMs': round(life['maxLatenessMs'], 1), 'maxLatenessAtS': round(life['maxLatenessAtMs'] / 1000, 1),
        'first300': {'computeP99': round(life['first300Ticks']['compute']['p99'], 2), 'computeMax': round(life['first300Ticks']['compute']['max'], 2),
                     'latenessP99': round(life['first300Ticks']['lateness']['p99'], 2), 'latenessMax': round(life['first300Ticks']['lateness']['max'], 1)} if 'first300Ticks' in life else None,
        'after': {'computeP99': round(life['afterThem']['compute']['p99'], 2), 'computeMax': round(life['afterThem']['compute']['max'], 2),
                  'latenessP99': round(life['afterThem']['lateness']['p99'], 2), 'latenessMax': round(life['afterThem']['lateness']['max'], 1)} if 'afterThem' in life else None,
        'collections10msAfterReady': [round(c['ms'], 1) for c in after_ready],
        'collections10msBeforeReady': len(life['longCollections']) - len(after_ready),
        'lateTicks': ticks,
        'runQueueWaits10ms': len(waits), 'runQueueWaitsForeignRealtime': sum(1 for w in waits if w[2]),
    })

arms = {}
for l in lives:
    a = arms.setdefault(l['arm'], {'lives': 0, 'ticks': 0, 'missedControl': 0, 'missedForeignRealtime': 0, 'missedOwnCollection': 0, 'missedOther': 0, 'livesWithMissed': 0,
                                   'maxLatenessMs': [], 'collections10msAfterReady': [], 'first300ComputeMax': [], 'afterComputeMax': [], 'first300ComputeP99': [], 'afterComputeP99': [],
                                   'readyS': [], 'warmupS': [], 'load': []})
    a['lives'] += 1; a['ticks'] += l['ticks']; a['missedControl'] += l['missedControl']
    a['missedForeignRealtime'] += l['missedForeignRealtime'] or 0; a['missedOther'] += l['missedOther'] or 0; a['missedOwnCollection'] += l['missedOwnCollection']
    a['livesWithMissed'] += 1 if l['missedControl'] else 0
    a['maxLatenessMs'].append(l['maxLatenessMs']); a['collections10msAfterReady'] += l['collections10msAfterReady']
    if l['first300']:
        a['first300ComputeMax'].append(l['first300']['computeMax']); a['first300ComputeP99'].append(l['first300']['computeP99'])
    if l['after']:
        a['afterComputeMax'].append(l['after']['computeMax']); a['afterComputeP99'].append(l['after']['computeP99'])
    a['readyS'].append(l['readyS']); a['load'] += l['load']
    if l['warmupS'] is not None: a['warmupS'].append(l['warmupS'])

def rng(v):
    return f'{min(v):.1f}-{max(v):.1f}' if v else '-'

for l in lives:
    print(f"{l['life']:14s} load {l['load'][0]:.0f}-{l['load'][1]:.0f} ready {l['readyS']:5.1f} s warm-up {l['warmupS'] if l['warmupS'] is not None else '-':>5} s | missed {l['missedControl']} (foreign RT {l['missedForeignRealtime']}, own GC {l['missedOwnCollection']}, other {l['missedOther']}) "
          f"max late {l['maxLatenessMs']:6.1f} ms at {l['maxLatenessAtS']:5.1f} s | first 300 compute p99/max {l['first300']['computeP99'] if l['first300'] else '-'}/{l['first300']['computeMax'] if l['first300'] else '-'} "
          f"after {l['after']['computeP99'] if l['after'] else '-'}/{l['after']['computeMax'] if l['after'] else '-'} ms | GC>=10ms after ready {l['collections10msAfterReady']} (before {l['collections10msBeforeReady']})")
print()
for k, a in arms.items():
    print(f"{k}: {a['lives']} lives, load {rng(a['load'])}, ready {rng(a['readyS'])} s, warm-up {rng(a['warmupS'])} s; missed control {a['missedControl']} of {a['ticks']} ticks in {a['livesWithMissed']} lives "
          f"(another process's real-time thread {a['missedForeignRealtime']}, its own collection {a['missedOwnCollection']}, other {a['missedOther']}); max lateness {rng(a['maxLatenessMs'])} ms; "
          f"compute first 300 ticks p99 {rng(a['first300ComputeP99'])} max {rng(a['first300ComputeMax'])} ms, after p99 {rng(a['afterComputeP99'])} max {rng(a['afterComputeMax'])} ms; "
          f"collections >= 10 ms after ready: {len(a['collections10msAfterReady'])} (max {max(a['collections10msAfterReady'], default=0):.1f} ms)")
if len(sys.argv) > 2:
    json.dump({'lives': lives, 'arms': arms}, open(sys.argv[2], 'w'), indent=1)
