/**
 * Tick timing and missed-tick accounting. A missed tick during an episode is a safety event, so it is counted apart
 * from ticks missed while idle or resetting, and charged to the robot when the robot's own command time (the
 * simulator's physics step) caused it rather than the daemon's compute.
 */
import type { TickInfo, TickScheduler } from './scheduler.ts';
import { RingStats } from './scheduler.ts';
import type { Summary } from './stats.ts';
import { threadDelta, type ThreadDelta, type ThreadSample } from './thread-stats.ts';
import type { TimingStatus } from './types.ts';

/** What a missed control tick was doing: the tick before it (its phases) and the stretch it waited (ms, this thread's
 *  performance.now). Annotated with the garbage collections inside that stretch where the thread watches them. */
export interface LateTick {
  index: number;
  /** This tick's start (performance.now of the thread that ticks). */
  startedAt: number;
  lateMs: number;
  skipped: number;
  /** From the previous tick's start to this one's (ms): a period plus the lateness. */
  sincePrevStartMs: number;
  /** The previous tick: its own wall time, compute (without the robot's command), the robot's command, inference. */
  prevTickMs: number;
  prevComputeMs: number;
  prevBackendMs: number;
  prevInferMs: number;
  /** Garbage collections of this thread's heap between the previous tick's start and this one's (gc-watch.ts). */
  gc?: { count: number; ms: number; kinds: string[] };
  /** Model loads on the ticking thread (a policy or reward swap) in that stretch. */
  modelLoads?: number;
  /** How late the wait's timer fired, and the spin after it (ms; scheduler.ts TickInfo). */
  timerLateMs?: number;
  spinMs?: number;
  /** The ticking thread over that stretch, where it reads its own counters (thread-stats.ts): on a core, in the run
   *  queue, off a core (asleep or blocked); page faults; context switches; its event loop idle and busy. */
  thread?: ThreadDelta;
}

/** Late ticks kept (newest). */
const LATE_KEPT = 64;

export class TickTiming {
  /** The newest missed control ticks, what they and the tick before them were doing. */
  readonly lateTicks: LateTick[] = [];
  private prevStart = NaN;
  private prevEnd = NaN;
  /** The daemon's own compute per control tick (ms), excluding the robot's command time. */
  readonly compute: RingStats;
  /** CPU time of the same work (ms, all threads of the process: main, onnxruntime). */
  readonly computeCpu: RingStats;
  /** Time inside backend.command (ms). */
  readonly backend: RingStats;
  /** Model inference (policy and reward in parallel) per control tick (ms). */
  readonly infer: RingStats;
  sharpTicks = 0;
  controlTicks = 0;
  /** Consecutive missed control ticks (the deadman counts these). */
  missedInARow = 0;
  private missedControl = 0;
  private missedControlBackend = 0;
  private prevTickControl = false;
  private prevTickBackendMs = 0;
  private backendTotalBefore = 0;

  private prevSample: ThreadSample | null = null;

  constructor(
    window: number,
    private readonly periodMs: number,
    /** The ticking thread's own counters, read at every tick's start (null: not recorded). */
    private readonly probe: (() => ThreadSample) | null = null,
  ) {
    this.compute = new RingStats(window);
    this.computeCpu = new RingStats(window);
    this.backend = new RingStats(window);
    this.infer = new RingStats(window);
  }

  /**
   * Called as a tick starts; returns how many control ticks this one counts as missed. A tick is charged to control
   * only when it and the tick before it are both control ticks: a simulated reset blocks the event loop by design
   * and is the robot's time, not the loop's.
   */
  tickStarted(info: TickInfo, control: boolean): number {
    this.backendTotalBefore = this.backend.total;
    const start = info.deadline + info.lateMs;
    const prevStart = this.prevStart;
    this.prevStart = start;
    const prevSample = this.prevSample;
    this.prevSample = this.probe?.() ?? null;
    if (!(info.missed && control && this.prevTickControl)) {
      this.missedInARow = 0;
      return 0;
    }
    const n = Math.max(1, info.skipped + (info.lateMs > this.periodMs / 2 ? 1 : 0));
    this.missedControl += n;
    this.missedInARow += n;
    if (this.prevTickBackendMs > this.periodMs / 2) this.missedControlBackend += n;
    this.lateTicks.push({
      index: info.index,
      startedAt: start,
      lateMs: info.lateMs,
      skipped: info.skipped,
      sincePrevStartMs: start - prevStart,
      prevTickMs: this.prevEnd - prevStart,
      prevComputeMs: this.compute.last,
      prevBackendMs: this.prevTickBackendMs,
      prevInferMs: this.infer.last,
      ...(info.timerLateMs !== undefined ? { timerLateMs: info.timerLateMs, spinMs: info.spinMs ?? 0 } : {}),
      ...(prevSample && this.prevSample ? { thread: threadDelta(prevSample, this.prevSample, start - prevStart) } : {}),
    });
    if (this.lateTicks.length > LATE_KEPT) this.lateTicks.shift();
    return n;
  }

  /** Called when a tick has finished. */
  tickEnded(control: boolean, now = performance.now()): void {
    this.prevEnd = now;
    this.prevTickControl = control;
    this.prevTickBackendMs = this.backend.total !== this.backendTotalBefore ? this.backend.last : 0;
  }

  status(scheduler: TickScheduler): TimingStatus {
    const withLast = (r: RingStats): Summary & { last: number } => ({ ...r.summary(), last: r.last });
    return {
      ticks: scheduler.ticks,
      controlTicks: this.controlTicks,
      missed: scheduler.missed,
      missedControl: this.missedControl,
      missedControlBackend: this.missedControlBackend,
      computeMs: withLast(this.compute),
      computeCpuMs: withLast(this.computeCpu),
      jitterMs: withLast(scheduler.jitter),
      backendMs: withLast(this.backend),
      inferMs: withLast(this.infer),
      sharpTicks: this.sharpTicks,
    };
  }

  /** Starts timing one control tick (its wall clock and CPU time from now). */
  controlTick(now: () => number): ControlTickClock {
    return new ControlTickClock(this, now);
  }

  samples(scheduler: TickScheduler): { compute: Float64Array; computeCpu: Float64Array; backend: Float64Array; jitter: Float64Array; infer: Float64Array } {
    return {
      compute: this.compute.values(),
      computeCpu: this.computeCpu.values(),
      backend: this.backend.values(),
      jitter: scheduler.jitter.values(),
      infer: this.infer.values(),
    };
  }
}

/**
 * The clocks of one control tick, so that the tick itself shows only its steps: its compute (wall time from its start
 * without the robot's command), the CPU time of the same work, the inference, and the command. A tick that ends
 * before commanding (a trip, an e-stop) records its compute only.
 */
export class ControlTickClock {
  private readonly t0: number;
  private readonly cpu0: NodeJS.CpuUsage;
  private inferMs = 0;
  private commandMs = 0;
  private cpuBefore: NodeJS.CpuUsage | null = null;
  private cpuAfterStart: NodeJS.CpuUsage | null = null;

  constructor(
    private readonly timing: TickTiming,
    private readonly now: () => number,
  ) {
    this.t0 = now();
    this.cpu0 = process.cpuUsage();
  }

  /** Runs the tick's inference (started inside, so that its synchronous part is timed too). */
  async infer<T>(run: () => Promise<T>): Promise<T> {
    const ti = this.now();
    const r = await run();
    this.inferMs = this.now() - ti;
    return r;
  }

  /** Ended before commanding: the whole tick was compute. */
  abandoned(): void {
    this.timing.compute.push(this.now() - this.t0);
  }

  /** Sends the command: its time is the robot's (the sim's physics step), not the daemon's compute. */
  command(send: () => void): void {
    this.cpuBefore = process.cpuUsage(this.cpu0);
    const tc = this.now();
    send();
    this.commandMs = this.now() - tc;
    this.cpuAfterStart = process.cpuUsage();
    this.timing.backend.push(this.commandMs);
    this.timing.infer.push(this.inferMs);
  }

  /** A commanded tick ended: counts it, records its compute and CPU time; returns the control ticks so far. */
  ended(): number {
    this.timing.controlTicks++;
    this.timing.compute.push(this.now() - this.t0 - this.commandMs);
    const before = this.cpuBefore ?? { user: 0, system: 0 };
    const after = this.cpuAfterStart ? process.cpuUsage(this.cpuAfterStart) : { user: 0, system: 0 };
    this.timing.computeCpu.push((before.user + before.system + after.user + after.system) / 1000);
    return this.timing.controlTicks;
  }
}
