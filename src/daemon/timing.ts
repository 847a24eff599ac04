/**
 * Tick timing and missed-tick accounting. A missed tick during an episode is a safety event, so it is counted apart
 * from ticks missed while idle or resetting, and charged to the robot when the robot's own command time (the
 * simulator's physics step) caused it rather than the daemon's compute.
 */
import type { TickInfo, TickScheduler } from './scheduler.ts';
import { RingStats } from './scheduler.ts';
import type { Summary } from './stats.ts';
import type { TimingStatus } from './types.ts';

export class TickTiming {
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

  constructor(
    window: number,
    private readonly periodMs: number,
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
    if (!(info.missed && control && this.prevTickControl)) {
      this.missedInARow = 0;
      return 0;
    }
    const n = Math.max(1, info.skipped + (info.lateMs > this.periodMs / 2 ? 1 : 0));
    this.missedControl += n;
    this.missedInARow += n;
    if (this.prevTickBackendMs > this.periodMs / 2) this.missedControlBackend += n;
    return n;
  }

  /** Called when a tick has finished. */
  tickEnded(control: boolean): void {
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
