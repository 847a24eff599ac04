// What the control thread slept on, and who ended each sleep: from run.sh's perf recording of one daemon life.
// usage: npx tsx classify.ts OUTDIR TAG [THRESHOLD_MS=5]   -> prints a summary, writes OUTDIR/TAG.classified.json
//
// The control thread is the bench process's thread seen switching out at a real-time priority (kernel prio < 100).
// Between ticks it wakes every millisecond (its command poll), so any sleep of THRESHOLD_MS or more is not its own
// timer: for each one, the kernel+user stack it slept in (class: mmap_lock in a page fault, a futex and the user frame
// that took it, an event-loop wait, I/O), the thread that woke it with its stack (the lock's holder when it released
// it), and what that thread did meanwhile (on a CPU, runnable but preempted, asleep). Forks by the daemon's process are
// listed with the sleeps they overlap. Each late tick of the bench's JSON is charged to the sleep or run-queue wait that
// overlaps its late stretch.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const [dir, tag, thrArg] = process.argv.slice(2);
if (!dir || !tag) throw new Error('usage: classify.ts OUTDIR TAG [THRESHOLD_MS]');
const THR = Number(thrArg ?? 5);
const benchPid = Number(readFileSync(join(dir, `${tag}.pid`), 'utf8').trim());

interface Sample {
  comm: string;
  pid: number;
  tid: number;
  cpu: number;
  t: number;
  event: string;
  trace: string;
  stack: string[];
}

/** Every switch, compactly: time, cpu, prev tid, prev state (R = preempted), next tid. */
const sw: { t: number; cpu: number; prev: number; prevState: string; prevPrio: number; next: number }[] = [];
const wakeups: { t: number; tid: number; by: Pick<Sample, 'comm' | 'pid' | 'tid' | 't'> }[] = []; // every wake-up (sched_waking, in the waker's context)
const tgid = new Map<number, number>();
const rtSwitchOut: Sample[] = []; // the control thread's switch-outs with stacks (filled after it is known)
const wakings: Sample[] = []; // wake-ups of real-time threads, with the waker's stack
const forks: { t: number; parentPid: number; parentTid: number; child: number; comm: string }[] = [];
const rtCount = new Map<number, number>();
const rtSamples: Sample[] = [];

const head = /^(.*?)\s+(\d+)\/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$/;
let cur: Sample | null = null;
const finish = (s: Sample | null): void => {
  if (!s) return;
  tgid.set(s.tid, s.pid);
  if (s.event === 'sched:sched_switch') {
    const prevState = /prev_state=(\S+)/.exec(s.trace)?.[1] ?? '?';
    const next = Number(/next_pid=(\d+)/.exec(s.trace)?.[1]);
    const prevPrio = Number(/prev_prio=(\d+)/.exec(s.trace)?.[1]);
    if (s.stack.length > 0) {
      // the stacked copy of a real-time switch (the plain copy is recorded too)
      if (prevPrio < 100 && s.pid === benchPid) {
        rtCount.set(s.tid, (rtCount.get(s.tid) ?? 0) + 1);
        rtSamples.push(s);
      }
      return;
    }
    const last = sw.at(-1);
    if (last && last.t === s.t && last.cpu === s.cpu && last.prev === s.tid && last.next === next) return; // duplicate
    sw.push({ t: s.t, cpu: s.cpu, prev: s.tid, prevState, prevPrio, next });
  } else if (s.event === 'sched:sched_waking') {
    if (s.stack.length > 0) wakings.push(s);
    else wakeups.push({ t: s.t, tid: Number(/ pid=(\d+)/.exec(` ${s.trace}`)?.[1]), by: { comm: s.comm, pid: s.pid, tid: s.tid, t: s.t } });
  } else if (s.event === 'sched:sched_process_fork') {
    forks.push({ t: s.t, parentPid: s.pid, parentTid: s.tid, child: Number(/child_pid=(\d+)/.exec(s.trace)?.[1]), comm: s.comm });
  }
};

for (const file of [`${tag}.perf.data`, `${tag}.stacks.perf.data`]) {
  const perf = spawn('perf', ['script', '-i', join(dir, file), '-F', 'comm,pid,tid,cpu,time,event,trace,ip,sym,dso', '--no-inline'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  for await (const line of createInterface({ input: perf.stdout })) {
    if (line.startsWith('\t')) {
      const f = line.trim();
      if (cur && f) cur.stack.push(f.replace(/^[0-9a-f]+\s+/, ''));
      continue;
    }
    const m = head.exec(line);
    if (!m) continue;
    finish(cur);
    cur = { comm: m[1]!.trim(), pid: Number(m[2]), tid: Number(m[3]), cpu: Number(m[4]), t: Number(m[5]), event: m[6]!, trace: m[7]!, stack: [] };
  }
  finish(cur);
  cur = null;
}
sw.sort((a, b) => a.t - b.t);

const ctl = [...rtCount.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
if (ctl === undefined) throw new Error(`no real-time thread of process ${benchPid} in the recording`);
for (const s of rtSamples) if (s.tid === ctl) rtSwitchOut.push(s);

/** A thread's time in [a, b] (s): on a CPU, runnable but preempted or woken and waiting for a CPU, asleep. */
function activity(tid: number, a: number, b: number): { onCpuMs: number; runQueueMs: number; asleepMs: number; cpus: number[] } {
  const ev: { t: number; kind: 'in' | 'outR' | 'outS' | 'wake'; cpu: number }[] = [];
  for (const e of sw) {
    if (e.t < a - 2 || e.t > b) continue;
    if (e.next === tid) ev.push({ t: e.t, kind: 'in', cpu: e.cpu });
    if (e.prev === tid) ev.push({ t: e.t, kind: e.prevState.startsWith('R') ? 'outR' : 'outS', cpu: e.cpu });
  }
  for (const w of wakeups) if (w.tid === tid && w.t >= a - 2 && w.t <= b) ev.push({ t: w.t, kind: 'wake', cpu: -1 });
  ev.sort((x, y) => x.t - y.t);
  let state: 'on' | 'rq' | 'sleep' | '?' = '?';
  let since = a;
  const acc = { on: 0, rq: 0, sleep: 0, '?': 0 };
  const cpus = new Set<number>();
  for (const e of ev) {
    if (e.t > a) {
      acc[state] += e.t - Math.max(since, a);
      since = e.t;
    }
    if (e.kind === 'in') {
      state = 'on';
      if (e.t >= a) cpus.add(e.cpu);
    } else if (e.kind === 'outR') state = 'rq';
    else if (e.kind === 'outS') state = 'sleep';
    else if (state === 'sleep') state = 'rq';
  }
  acc[state] += b - Math.max(since, a);
  return { onCpuMs: acc.on * 1e3, runQueueMs: acc.rq * 1e3, asleepMs: (acc.sleep + acc['?']) * 1e3, cpus: [...cpus] };
}

const frames = (st: string[], n: number): string[] => st.map((f) => f.replace(/\+0x[0-9a-f]+/, '').replace(/\s+\(\S*\/([^/)]+)\)$/, ' ($1)')).slice(0, n);

function classOf(st: string[]): string {
  if (st.length === 0) return 'no stack (not recorded then)';
  const s = st.join(' | ');
  if (/hrtimer_wakeup/.test(s)) return 'timer expiry';
  if (/rwsem_down_(read|write)_slowpath|lock_mm_and_find_vma|mmap_read_lock|__vma_start_write|vma_start_read/.test(s))
    return /exc_page_fault|do_user_addr_fault|handle_mm_fault/.test(s) ? 'mmap_lock (page fault)' : 'mmap_lock (system call)';
  if (/futex_wait/.test(s)) {
    if (/__condvar_quiesce_and_switch_g1|pthread_cond_signal|pthread_cond_broadcast/.test(s)) return 'futex: pthread_cond_signal (posting work)';
    if (/__lll_lock_wait_private/.test(s)) return 'futex: glibc internal lock (malloc arena, stdio)';
    if (/FutexEmulation|AtomicsWait|Atomics/i.test(s)) return 'futex: Atomics.wait';
    if (/pthread_cond_(timed)?wait|__pthread_cond_wait|ConditionVariable/.test(s)) return 'futex: condition variable wait';
    if (/__lll_lock_wait|pthread_mutex_lock|uv_mutex_lock|Mutex::Lock|RecursiveMutex/.test(s)) return 'futex: mutex';
    return 'futex: other';
  }
  if (/ep_poll|do_epoll_wait/.test(s)) return 'event loop wait (epoll)';
  if (/hrtimer_nanosleep|do_nanosleep/.test(s)) return 'nanosleep';
  if (/io_schedule|folio_wait|wait_on_page|jbd2|ext4/.test(s)) return 'I/O';
  return 'other';
}

interface Sleep {
  t0: number;
  t1: number;
  ms: number;
  state: string;
  class: string;
  stack: string[];
  waker: { comm: string; pid: number; tid: number; sameProcess: boolean; mainThread: boolean; class: string; stack: string[] } | null;
  wakerMeanwhile: ReturnType<typeof activity> | null;
  forksMeanwhile: number;
}
const ctlSw = sw.filter((e) => e.prev === ctl || e.next === ctl);
const sleeps: Sleep[] = [];
const rqWaits: { t0: number; t1: number; ms: number; heldBy: string }[] = [];
let notRealtime = 0;
// The stacked copy of a switch is a second perf event at the same tracepoint: its time differs by microseconds.
const stackAt = (t: number): string[] => {
  let best: Sample | null = null;
  for (const s of rtSwitchOut) if (Math.abs(s.t - t) < 0.0005 && (!best || Math.abs(s.t - t) < Math.abs(best.t - t))) best = s;
  return best?.stack ?? [];
};
for (let i = 0; i < ctlSw.length; i++) {
  const e = ctlSw[i]!;
  if (e.prev !== ctl) continue;
  const inAgain = ctlSw.slice(i + 1).find((x) => x.next === ctl);
  if (!inAgain) break;
  const ms = (inAgain.t - e.t) * 1e3;
  if (ms < THR) continue;
  // Only while real-time: before 'ready' (start-up, warm-up) and during a simulated reset it is in the normal class.
  if (!(e.prevPrio < 100)) {
    notRealtime++;
    continue;
  }
  if (e.prevState.startsWith('R')) {
    rqWaits.push({ t0: e.t, t1: inAgain.t, ms, heldBy: `${e.next} (pid ${tgid.get(e.next) ?? '?'})` });
    continue;
  }
  const st = stackAt(e.t);
  // The waker with its stack (recorded once the thread is real-time), else without (the plain recording).
  const wk =
    wakings.filter((w) => / pid=(\d+)/.exec(` ${w.trace}`)?.[1] === String(ctl) && w.t > e.t && w.t <= inAgain.t).at(-1) ??
    (() => {
      const b = wakeups.filter((w) => w.tid === ctl && w.t > e.t && w.t <= inAgain.t).at(-1)?.by;
      return b ? { ...b, cpu: -1, event: 'sched:sched_waking', trace: '', stack: [] } : undefined;
    })();
  sleeps.push({
    t0: e.t,
    t1: inAgain.t,
    ms,
    state: e.prevState,
    class: classOf(st),
    stack: frames(st, 28),
    waker: wk
      ? { comm: wk.comm, pid: wk.pid, tid: wk.tid, sameProcess: wk.pid === benchPid, mainThread: wk.tid === benchPid, class: classOf(wk.stack), stack: frames(wk.stack, 28) }
      : null,
    wakerMeanwhile: wk && wk.tid !== 0 ? activity(wk.tid, e.t, wk.t) : null,
    forksMeanwhile: forks.filter((f) => f.parentPid === benchPid && f.t >= e.t - 0.001 && f.t <= inAgain.t).length, // processes and threads
  });
}

// Late ticks of the bench, on the same clock (perf -k mono: CLOCK_MONOTONIC seconds).
const bench = JSON.parse(readFileSync(join(dir, `${tag}.json`), 'utf8')) as {
  figures: { phases: { lateTicks: { lateTicks: { startedAt: number; lateMs: number; skipped: number }[]; monotonicOffsetMs: number } | null; life: unknown }[] };
};
const phase = bench.figures.phases[0]!;
const late = (phase.lateTicks?.lateTicks ?? []).map((t) => {
  const start = (t.startedAt + (phase.lateTicks?.monotonicOffsetMs ?? 0)) / 1e3;
  const from = start - Math.max(t.lateMs, 100 * t.skipped) / 1e3 - 0.1; // its late stretch, with the period before it
  const overl = (a: number, b: number): number => Math.max(0, Math.min(b, start) - Math.max(a, from)) * 1e3;
  const s = sleeps.map((x) => ({ x, o: overl(x.t0, x.t1) })).sort((p, q) => q.o - p.o)[0];
  const r = rqWaits.map((x) => ({ x, o: overl(x.t0, x.t1) })).sort((p, q) => q.o - p.o)[0];
  const cause =
    s && s.o >= (r?.o ?? 0) && s.o > 0
      ? `asleep ${s.x.ms.toFixed(1)} ms: ${s.x.class}; woken by ${s.x.waker ? `${s.x.waker.comm} ${s.x.waker.tid}${s.x.waker.mainThread ? ' (main thread)' : s.x.waker.sameProcess ? ' (same process)' : ''}` : '?'}`
      : r && r.o > 0
        ? `run queue ${r.x.ms.toFixed(1)} ms behind ${r.x.heldBy}`
        : 'no sleep or wait >= threshold overlaps';
  return { lateMs: t.lateMs, skipped: t.skipped, at: start, cause };
});

const byClass = new Map<string, { n: number; maxMs: number; totalMs: number }>();
for (const s of sleeps) {
  const k = `${s.class} <- ${s.waker?.class === 'timer expiry' ? 'its timer' : s.waker ? (s.waker.mainThread ? 'main thread' : s.waker.sameProcess ? `own process: ${s.waker.class}` : `other process (${s.waker.comm})`) : 'no waker seen'}`;
  const c = byClass.get(k) ?? { n: 0, maxMs: 0, totalMs: 0 };
  c.n++;
  c.maxMs = Math.max(c.maxMs, s.ms);
  c.totalMs += s.ms;
  byClass.set(k, c);
}
// sched_process_fork fires for new threads too: a new process is its own thread group.
const ownForks = forks.filter((f) => f.parentPid === benchPid && tgid.get(f.child) === f.child);
const out = {
  tag,
  benchPid,
  controlTid: ctl,
  thresholdMs: THR,
  forksByDaemonProcess: ownForks.map((f) => ({ t: f.t, byTid: f.parentTid, child: f.child })),
  sleepsByClass: Object.fromEntries([...byClass.entries()].sort((a, b) => b[1].maxMs - a[1].maxMs)),
  runQueueWaits: { n: rqWaits.length, maxMs: Math.max(0, ...rqWaits.map((w) => w.ms)), longest: [...rqWaits].sort((a, b) => b.ms - a.ms).slice(0, 5) },
  waitsInTheNormalClass: notRealtime,
  lateTicks: late,
  sleeps,
  life: phase.life,
};
writeFileSync(join(dir, `${tag}.classified.json`), JSON.stringify(out, null, 1));
console.log(`${tag}: control thread ${ctl} of ${benchPid}; ${ownForks.length} forks by the daemon's process; while real-time, sleeps >= ${THR} ms: ${sleeps.length}; run-queue waits >= ${THR} ms: ${rqWaits.length} (max ${out.runQueueWaits.maxMs.toFixed(1)} ms, behind ${out.runQueueWaits.longest.map((w) => w.heldBy).join(', ')}); in the normal class (start-up, resets) ${notRealtime} more`);
for (const [k, c] of byClass) console.log(`  ${c.n} x max ${c.maxMs.toFixed(1)} ms total ${c.totalMs.toFixed(0)} ms: ${k}`);
for (const s of sleeps.filter((x) => x.ms >= 20).sort((a, b) => b.ms - a.ms).slice(0, 8)) {
  console.log(`  ${s.ms.toFixed(1)} ms at ${s.t0.toFixed(3)} ${s.state} ${s.class}; forks meanwhile ${s.forksMeanwhile}`);
  console.log(`     slept in: ${s.stack.slice(0, 14).join(' < ')}`);
  if (s.waker)
    console.log(
      `     woken by ${s.waker.comm} ${s.waker.pid}/${s.waker.tid}${s.waker.mainThread ? ' (main thread)' : ''}: ${s.waker.stack.slice(0, 14).join(' < ')}` +
        (s.wakerMeanwhile ? `\n     waker meanwhile: on a CPU ${s.wakerMeanwhile.onCpuMs.toFixed(1)} ms, runnable ${s.wakerMeanwhile.runQueueMs.toFixed(1)} ms, asleep ${s.wakerMeanwhile.asleepMs.toFixed(1)} ms, CPUs ${s.wakerMeanwhile.cpus.join(',')}` : ''),
    );
}
for (const l of late) console.log(`  late tick ${l.lateMs.toFixed(1)} ms (skipped ${l.skipped}) at ${l.at.toFixed(3)}: ${l.cause}`);
