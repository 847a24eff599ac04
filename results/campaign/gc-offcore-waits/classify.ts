// Each interval the control thread spent blocked (switched out in a state other than R, until its next wake-up) from a
// run.sh recording, and, for those of at least THRESHOLD_MS, the stack it blocked in and who woke it.
// Usage: npx tsx classify.ts data/runs/gc10/TAG THRESHOLD_MS   (after perf script ... > TAG.nostack.txt, see run.sh)
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const [base, thrArg] = process.argv.slice(2);
if (!base || !thrArg) throw new Error('usage: classify.ts BASE THRESHOLD_MS');
const thr = Number(thrArg);
const perfScript = (fields: string, t: number): string =>
  spawnSync('perf', ['script', '-i', `${base}.perf.data`, '-F', fields, '--time', `${(t - 1e-6).toFixed(6)},${(t + 1e-6).toFixed(6)}`], { encoding: 'utf8' }).stdout;

interface Wait {
  ms: number;
  t0: number;
  state: string;
  waker: number;
  t1: number;
}
const waits: Wait[] = [];
let pending: { t: number; state: string } | null = null;
for (const line of readFileSync(`${base}.nostack.txt`, 'utf8').split('\n')) {
  const p = line.trim().split(/\s+/);
  if (p.length < 3) continue;
  const tid = Number(p[0]);
  const t = Number(p[1]!.replace(/:$/, ''));
  if (p[2] === 'sched:sched_switch:') {
    const state = /prev_state=(\S+)/.exec(line)?.[1] ?? '';
    pending = state === 'R' || state === 'R+' ? null : { t, state };
  } else if (p[2] === 'sched:sched_waking:' && pending) {
    waits.push({ ms: (t - pending.t) * 1000, t0: pending.t, state: pending.state, waker: tid, t1: t });
    pending = null;
  }
}
console.log('waits', waits.length, '>=thr', waits.filter((w) => w.ms >= thr).length);
for (const w of waits) {
  if (w.ms < thr) continue;
  const frames = perfScript('tid,time,event,ip,sym', w.t0)
    .split('\n')
    .slice(1)
    .filter((x) => x.startsWith('\t'))
    .map((x) => x.trim().split(/\s+/).slice(1).join(' '));
  if (frames.some((f) => f.includes('epoll'))) {
    console.log(`${w.ms.toFixed(2)} ms epoll`);
    continue;
  }
  const kind = frames
    .filter((f) => !f.startsWith('__schedule') && !f.startsWith('schedule '))
    .join(' < ')
    .slice(0, 600);
  const waker = perfScript('comm,tid,time,event,ip,sym', w.t1)
    .split('\n')
    .slice(0, 14)
    .map((x) => x.trim())
    .join(' | ')
    .slice(0, 900);
  console.log(`${w.ms.toFixed(2)} ms at ${w.t0.toFixed(6)} ${w.state} waker ${w.waker}: ${kind}\n     WAKER: ${waker}`);
}
