#!/usr/bin/env python3
"""Who held the control thread's CPU while it waited, runnable, for it (perf sched_switch/sched_wakeup on that CPU).

usage: perf script -F tid,cpu,time,event,trace -i LIFE.perf.data | run-queue.py TID [MIN_MS]
Prints each wait of MIN_MS (default 10) or more: when (CLOCK_MONOTONIC s, perf -k mono), how long, and the tasks that
ran on the CPU meanwhile (comm/pid, kernel priority: < 100 is real-time, 89 = SCHED_FIFO 10; 120 = nice 0), as JSON.
"""
import json, re, sys

tid = int(sys.argv[1]); min_ms = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
sw = re.compile(r'prev_comm=(.*?) prev_pid=(\d+) prev_prio=(\d+) prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+) next_prio=(\d+)')
wk = re.compile(r'comm=(.*?) pid=(\d+) prio=(\d+)')
wait_start = None  # T runnable since
last_switch = None  # when the running task came on
waits = []
who = {}
total = {'events': 0}
for line in sys.stdin:
    parts = line.split(None, 4)
    if len(parts) < 5: continue
    try:
        t = float(parts[2].rstrip(':'))
    except ValueError:
        continue
    ev, rest = parts[3], parts[4]
    total['events'] += 1
    if ev.startswith('sched:sched_wakeup'):
        m = wk.search(rest)
        if m and int(m.group(2)) == tid and wait_start is None:
            wait_start = t
        continue
    if not ev.startswith('sched:sched_switch'):
        continue
    m = sw.search(rest)
    if not m: continue
    pcomm, ppid, pprio, pstate, ncomm, npid, nprio = m.groups()
    ppid, npid = int(ppid), int(npid)
    if wait_start is not None and ppid != tid and last_switch is not None:
        k = f'{pcomm}/{ppid} prio {pprio}'
        who[k] = who.get(k, 0.0) + (t - max(last_switch, wait_start)) * 1000
    if ppid == tid and pstate.startswith('R'):
        wait_start = t  # preempted while runnable
        who = {}
    if npid == tid:
        if wait_start is not None:
            ms = (t - wait_start) * 1000
            if ms >= min_ms:
                waits.append({'at': round(wait_start, 4), 'ms': round(ms, 1), 'ran': {k: round(v, 1) for k, v in sorted(who.items(), key=lambda kv: -kv[1])}})
        wait_start = None
        who = {}
    last_switch = t
print(json.dumps({'tid': tid, 'minMs': min_ms, 'events': total['events'], 'waits': waits}, indent=1))
