// Who held the control thread's CPU while it waited, runnable, for it (perf sched_switch/sched_wakeup on that CPU).
// usage: perf script -F tid,cpu,time,event,trace -i LIFE.perf.data | npx tsx run-queue.ts TID [MIN_MS]
// Prints each wait of MIN_MS (default 10) or more: when (CLOCK_MONOTONIC s, perf -k mono), how long, and the tasks that
// ran on the CPU meanwhile (comm/pid, kernel priority: < 100 is real-time, 89 = SCHED_FIFO 10; 120 = nice 0), as JSON.
import { createInterface } from 'node:readline';
import { PyFloat, pyJson, pyRound } from './py-format.ts';

const tid = Number.parseInt(process.argv[2] ?? '', 10);
const minMs = process.argv[3] === undefined ? 10 : Number(process.argv[3]);
if (!Number.isInteger(tid) || Number.isNaN(minMs)) throw new Error('usage: run-queue.ts TID [MIN_MS]');
const sw = /prev_comm=(.*?) prev_pid=(\d+) prev_prio=(\d+) prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+) next_prio=(\d+)/;
const wk = /comm=(.*?) pid=(\d+) prio=(\d+)/;
let waitStart: number | null = null; // the thread runnable since
let lastSwitch: number | null = null; // when the running task came on
type Wait = { at: PyFloat; ms: PyFloat; ran: Record<string, PyFloat> };
const waits: Wait[] = [];
let who = new Map<string, number>();
let events = 0;
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  // line.split(None, 4): up to 4 splits on runs of whitespace, the rest kept whole.
  const parts: string[] = [];
  let rest = line.replace(/^\s+/, '');
  while (parts.length < 4 && rest !== '') {
    const m = /^(\S+)\s*/.exec(rest);
    if (!m?.[1]) break;
    parts.push(m[1]);
    rest = rest.slice(m[0].length);
  }
  if (rest !== '') parts.push(rest.replace(/\s+$/, ''));
  if (parts.length < 5) continue;
  const timeText = (parts[2] ?? '').replace(/:+$/, '');
  const t = Number(timeText);
  if (timeText.trim() === '' || Number.isNaN(t)) continue;
  const ev = parts[3] ?? '';
  const trace = parts[4] ?? '';
  events += 1;
  if (ev.startsWith('sched:sched_wakeup')) {
    const m = wk.exec(trace);
    if (m && Number(m[2]) === tid && waitStart === null) waitStart = t;
    continue;
  }
  if (!ev.startsWith('sched:sched_switch')) continue;
  const m = sw.exec(trace);
  if (!m) continue;
  const [, pcomm = '', ppidText = '', pprio = '', pstate = '', , npidText = ''] = m;
  const ppid = Number(ppidText);
  const npid = Number(npidText);
  if (waitStart !== null && ppid !== tid && lastSwitch !== null) {
    const k = `${pcomm}/${ppid} prio ${pprio}`;
    who.set(k, (who.get(k) ?? 0) + (t - Math.max(lastSwitch, waitStart)) * 1000);
  }
  if (ppid === tid && pstate.startsWith('R')) {
    waitStart = t; // preempted while runnable
    who = new Map();
  }
  if (npid === tid) {
    if (waitStart !== null) {
      const ms = (t - waitStart) * 1000;
      if (ms >= minMs) {
        // Python's sorted() is stable: equal times keep their first-seen order, as Array.prototype.sort does.
        const ran = [...who].sort((a, b) => b[1] - a[1]);
        waits.push({
          at: new PyFloat(pyRound(waitStart, 4)),
          ms: new PyFloat(pyRound(ms, 1)),
          ran: Object.fromEntries(ran.map(([k, v]) => [k, new PyFloat(pyRound(v, 1))])),
        });
      }
    }
    waitStart = null;
    who = new Map();
  }
  lastSwitch = t;
}
console.log(pyJson({ tid, minMs: new PyFloat(minMs), events, waits }));
