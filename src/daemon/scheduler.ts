/**
 * Drift-free periodic scheduling for the control tick, and the tick timing statistics.
 *
 * Deadlines are absolute (t0 + k * period), so lateness never accumulates. We sleep with setTimeout until shortly
 * before the deadline (timers fire up to ~1 ms late, more under load) and sleep the last stretch precisely
 * (Atomics.wait), yielding to the event loop every SPIN_SLICE_MS, which keeps it responsive (HTTP, SQLite callbacks). A tick that starts more than half a
 * period late counts as missed, and the schedule skips forward to the next deadline instead of bursting to catch up.
 * In free-run mode (simulation experiments) ticks run back to back, yielding to the event loop between them.
 */
import { summarize, type Summary } from './stats.ts';

export interface TickInfo {
  /** Tick index since start. */
  index: number;
  /** Deadline of this tick (performance.now ms); in free-run mode the actual start. */
  deadline: number;
  /** Start time minus deadline (ms). */
  lateMs: number;
  /** Deadlines skipped just before this tick (the previous tick or a blocked event loop overran them). */
  skipped: number;
  /** True when this tick counts as missed: started over half a period late, or deadlines were skipped before it. */
  missed: boolean;
  /** Real time only: how late the wait's timer fired (ms; 0 when the wait needed no timer), and the spin after it (ms). */
  timerLateMs?: number;
  spinMs?: number;
}

export interface SchedulerOptions {
  periodMs: number;
  /** false: free-run, no waiting between ticks. */
  realtime: boolean;
  /** Wait this long before a deadline precisely (Atomics.wait, with event-loop turns) instead of trusting setTimeout (ms). */
  spinMs?: number;
  now?: () => number;
  /** Jitter samples kept (newest N). Default 2048. */
  jitterWindow?: number;
  /** Free-run only: while this returns true (nothing to control), wait a period instead of spinning. */
  idle?: () => boolean;
}

/** The longest the wait before a deadline keeps the event loop waiting (ms): timers, I/O and commands run between. */
const SPIN_SLICE_MS = 0.25;
/** A word nobody changes: Atomics.wait on it sleeps this thread for a given time. */
const NAP = new Int32Array(new SharedArrayBuffer(4));

export class TickScheduler {
  private running = false;
  private stopped: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  /** Ticks started late by more than half a period, plus deadlines skipped. */
  missed = 0;
  ticks = 0;
  readonly jitter: RingStats;
  private readonly now: () => number;

  constructor(private readonly opts: SchedulerOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.jitter = new RingStats(opts.jitterWindow ?? 2048);
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Runs `tick` every period until stop(); a tick's errors go to `onError` and never stop the schedule. */
  start(tick: (info: TickInfo) => Promise<void> | void, onError: (e: unknown) => void): void {
    if (this.running) throw new Error('scheduler already running');
    this.running = true;
    this.stopped = this.loop(tick, onError);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.stopped;
  }

  private async loop(tick: (info: TickInfo) => Promise<void> | void, onError: (e: unknown) => void): Promise<void> {
    const period = this.opts.periodMs;
    const spin = this.opts.spinMs ?? 1.5;
    let deadline = this.now();
    let index = 0;
    let skipped = 0;
    while (this.running) {
      if (this.opts.realtime) {
        this.timerLateMs = 0;
        this.spinStart = NaN;
        await this.sleepUntil(deadline, spin);
        if (!this.running) break;
      } else {
        if (this.opts.idle?.()) await this.sleepUntil(this.now() + period, 0);
        else await new Promise<void>((r) => setImmediate(r));
        if (!this.running) break;
        deadline = this.now();
      }
      const start = this.now();
      const lateMs = start - deadline;
      let missed = false;
      if (this.opts.realtime) {
        this.jitter.push(lateMs);
        if (lateMs > period / 2) this.missed++;
        missed = lateMs > period / 2 || skipped > 0;
      }
      this.ticks++;
      const info: TickInfo = { index, deadline, lateMs, skipped, missed };
      if (this.opts.realtime) {
        info.timerLateMs = this.timerLateMs;
        info.spinMs = Number.isNaN(this.spinStart) ? 0 : start - this.spinStart;
      }
      skipped = 0;
      try {
        await tick(info);
      } catch (e) {
        onError(e);
      }
      index++;
      if (this.opts.realtime) {
        deadline += period;
        // Overran by whole periods: those deadlines are lost; skip them rather than burst.
        const now = this.now();
        if (now > deadline + period / 2) {
          const skip = Math.floor((now - deadline) / period + 0.5);
          this.missed += skip;
          skipped = skip;
          deadline += skip * period;
        }
      }
    }
  }

  /** The last wait: how late its timer fired (ms), and when its spin started (NaN: no spin). */
  private timerLateMs = 0;
  private spinStart = NaN;

  private async sleepUntil(deadline: number, spinMs: number): Promise<void> {
    const asked = this.now();
    const coarse = deadline - asked - spinMs;
    if (coarse > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.wake = null;
          // setTimeout rounds to whole ms (and libuv's clock to ms): up to ~1 ms late is the timer's resolution.
          this.timerLateMs = this.now() - asked - coarse;
          resolve();
        }, coarse);
        this.wake = () => {
          clearTimeout(t);
          this.wake = null;
          resolve();
        };
      });
    }
    this.spinStart = this.now();
    // The last stretch: the thread sleeps (Atomics.wait: precise to tens of microseconds, no timer rounding) in slices,
    // with a turn of the event loop between them (timers, I/O, commands). It used to spin on setImmediate and the
    // clock, and that allocated about 0.4 MB a tick (a promise, closures and an Immediate per ~1 us turn, a boxed
    // number per clock read): the control thread's largest allocator, and so the main cause of its collections.
    for (let left = deadline - this.now(); this.running && left > 0; left = deadline - this.now()) {
      Atomics.wait(NAP, 0, 0, Math.min(left, SPIN_SLICE_MS));
      if (this.now() < deadline) await new Promise<void>((r) => setImmediate(r));
    }
  }
}

/** Fixed-size ring of recent samples with percentile summaries; O(1) push, no allocation on the tick. */
export class RingStats {
  private readonly buf: Float64Array;
  private n = 0;
  private i = 0;
  last = NaN;

  constructor(size: number) {
    this.buf = new Float64Array(size);
  }

  /** Samples ever pushed (count saturates at the window size). */
  total = 0;

  push(v: number): void {
    this.total++;
    this.buf[this.i] = v;
    this.i = (this.i + 1) % this.buf.length;
    if (this.n < this.buf.length) this.n++;
    this.last = v;
  }

  get count(): number {
    return this.n;
  }

  /** Percentiles over the newest `lastN` samples (bounded so that a status request stays cheap). */
  summary(lastN = 1024): Summary {
    const k = Math.min(lastN, this.n);
    const out = new Float64Array(k);
    for (let j = 0; j < k; j++) out[j] = this.buf[(this.i - 1 - j + this.buf.length) % this.buf.length] as number;
    return summarize(out);
  }

  values(): Float64Array {
    return this.buf.slice(0, this.n);
  }
}
