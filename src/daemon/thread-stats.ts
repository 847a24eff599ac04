/**
 * The calling thread's own scheduler and memory counters from Linux's /proc/thread-self, read once per tick so that a
 * missed tick can say where its time went (timing.ts LateTick): on a core (run), runnable but waiting for one (the run
 * queue), or asleep (in its timer wait, or blocked on a lock, a page fault, I/O), with its page faults and context
 * switches. The files stay open and are re-read with pread at offset 0 (a few microseconds each), so a tick does not
 * open anything. Null where /proc is not there (not Linux).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

export interface ThreadSample {
  /** Time on a core and time runnable but waiting for one (ns, /proc/thread-self/schedstat). */
  runNs: number;
  waitNs: number;
  /** Minor and major page faults (/proc/thread-self/stat). */
  minflt: number;
  majflt: number;
  /** Context switches: voluntary (it slept: a timer, a lock, I/O) and not (preempted) (/proc/thread-self/status). */
  vcsw: number;
  nvcsw: number;
  /** This thread's event loop: time spent waiting for events (its timer, messages) so far (ms). */
  loopIdleMs: number;
  /** The CPU the thread last ran on (/proc/thread-self/stat). */
  cpu: number;
  /** Steal time per CPU (ms, /proc/stat; 10 ms steps): a virtual machine's vCPU not run by its host. */
  stealMs: number[];
}

/** What a stretch of time (one sample to the next) was made of, for a late tick. */
export interface ThreadDelta {
  /** On a core, runnable waiting for one, and the rest: asleep or blocked (ms). */
  runMs: number;
  runQueueMs: number;
  offCpuMs: number;
  minflt: number;
  majflt: number;
  vcsw: number;
  nvcsw: number;
  /** The event loop waiting for events (its timer, messages), and running callbacks (JS, native, GC) (ms). */
  loopIdleMs: number;
  loopActiveMs: number;
  /** Steal time of all the machine's CPUs together, and of the CPU the thread was on at the stretch's start (ms, in
   *  10 ms steps): the host not running the virtual machine's CPU, which no setting inside the machine can prevent. */
  stealMs: number;
  stealOnCpuMs: number;
  cpu: number;
}

export function threadDelta(a: ThreadSample, b: ThreadSample, wallMs: number): ThreadDelta {
  const runMs = (b.runNs - a.runNs) / 1e6;
  const runQueueMs = (b.waitNs - a.waitNs) / 1e6;
  return {
    runMs,
    runQueueMs,
    offCpuMs: Math.max(0, wallMs - runMs - runQueueMs),
    minflt: b.minflt - a.minflt,
    majflt: b.majflt - a.majflt,
    vcsw: b.vcsw - a.vcsw,
    nvcsw: b.nvcsw - a.nvcsw,
    loopIdleMs: b.loopIdleMs - a.loopIdleMs,
    loopActiveMs: Math.max(0, wallMs - (b.loopIdleMs - a.loopIdleMs)),
    stealMs: b.stealMs.reduce((t, x, i) => t + x - (a.stealMs[i] ?? x), 0),
    stealOnCpuMs: (b.stealMs[a.cpu] ?? NaN) - (a.stealMs[a.cpu] ?? NaN),
    cpu: a.cpu,
  };
}

/** Parses /proc/<pid>/task/<tid>/stat: fields after the command (which may hold spaces and parentheses). */
export function parseStatFaults(text: string): { minflt: number; majflt: number; cpu: number } {
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After ")": state(3) ppid pgrp session tty_nr tpgid flags minflt(10) cminflt majflt(12) ... processor(39).
  return { minflt: Number(rest[7]), majflt: Number(rest[9]), cpu: Number(rest[36]) };
}

export function parseCtxSwitches(text: string): { vcsw: number; nvcsw: number } {
  const v = /^voluntary_ctxt_switches:\s+(\d+)/m.exec(text);
  const n = /^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(text);
  return { vcsw: Number(v?.[1] ?? NaN), nvcsw: Number(n?.[1] ?? NaN) };
}

/** Steal time per CPU in ms from /proc/stat's "cpuN user nice system idle iowait irq softirq steal ..." lines. */
export function parseSteal(text: string, userHz = 100): number[] {
  const out: number[] = [];
  for (const m of text.matchAll(/^cpu(\d+)\s+(.*)$/gm)) out[Number(m[1])] = (Number(m[2]?.split(/\s+/)[7] ?? NaN) * 1000) / userHz;
  return out;
}

export class ThreadStats {
  private readonly buf = Buffer.alloc(8192);

  private constructor(
    private readonly schedstat: number,
    private readonly stat: number,
    private readonly status: number,
    private readonly procStat: number,
  ) {}

  /** Opens the calling thread's files; null where they cannot be read. */
  static open(): ThreadStats | null {
    const fds: number[] = [];
    try {
      for (const f of ['thread-self/schedstat', 'thread-self/stat', 'thread-self/status', 'stat']) fds.push(openSync(`/proc/${f}`, 'r'));
      const s = new ThreadStats(fds[0] as number, fds[1] as number, fds[2] as number, fds[3] as number);
      s.sample();
      return s;
    } catch {
      for (const fd of fds) closeSync(fd);
      return null;
    }
  }

  private read(fd: number): string {
    const n = readSync(fd, this.buf, 0, this.buf.length, 0);
    return this.buf.toString('latin1', 0, n);
  }

  sample(): ThreadSample {
    const [run, wait] = this.read(this.schedstat).split(' ');
    return {
      runNs: Number(run),
      waitNs: Number(wait),
      ...parseStatFaults(this.read(this.stat)),
      ...parseCtxSwitches(this.read(this.status)),
      loopIdleMs: performance.eventLoopUtilization().idle,
      stealMs: parseSteal(this.read(this.procStat)),
    };
  }

  close(): void {
    for (const fd of [this.schedstat, this.stat, this.status, this.procStat]) closeSync(fd);
  }
}
