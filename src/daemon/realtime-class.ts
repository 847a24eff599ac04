/**
 * The control thread's real-time class (config controlRealtime), taken right before 'ready' (start-up runs in the
 * normal class: thread-host.ts), and the one rule about leaving it:
 *
 * The simulated cell's own work outside ticks (its reset, a connector switch, a retract) runs in the normal class.
 * It is the simulator's alone (a real arm's reset is motion the thread waits for), the longest CPU work the thread does,
 * with no tick due; at SCHED_FIFO it held its CPU against every other real-time thread there, other daemons' control
 * threads included, since FIFO never preempts an equal priority (results/campaign/rt-neighbours/). In the
 * normal class, at the thread's nice value, it still outranks normal work, and yields to real-time ticks.
 *
 * If the class cannot be left, the work runs real-time; if it cannot be taken back, the thread runs on in the normal
 * class and tries again after the next such work. Each is said once, as a fault event (the log and /status).
 */
import { realtimeMechanism, setThreadRealtime, threadPolicy } from '../util/realtime.ts';
import type { OffTickWork } from './thread-protocol.ts';

export interface RealtimeClassDeps {
  /** The thread's id (called once, from the thread itself, when the class is taken). */
  tid: () => number;
  /** Says a failure (and a recovery) to the operator. */
  fault: (message: string) => void;
  /** The system call (tests inject its refusals); default util/realtime.ts. */
  set?: (tid: number, priority: number | null) => void;
}

export class RealtimeClass {
  private priority: number | null = null;
  private tid = 0;
  private restoreFailed = false;
  private readonly set: (tid: number, priority: number | null) => void;
  /** Off-tick work done, and in which class each piece started (read from /proc, not from what was asked). */
  readonly work: OffTickWork = { runs: 0, realtime: 0, normal: 0, dropFailures: 0, restoreFailures: 0 };

  constructor(private readonly deps: RealtimeClassDeps) {
    this.set = deps.set ?? setThreadRealtime;
  }

  /** The SCHED_FIFO priority the thread took (it may be in the normal class for a reset now), or null: none. */
  get realtimePriority(): number | null {
    return this.priority;
  }

  /** SCHED_FIFO at `priority` for the calling thread; lines for the operator. */
  take(priority: number): string[] {
    try {
      this.tid = this.deps.tid();
      this.set(this.tid, priority);
      this.priority = priority;
      return [
        `control thread: real-time SCHED_FIFO priority ${priority} (controlRealtime; set through ${realtimeMechanism()}); the simulated cell's resets and retracts run in the normal class`,
      ];
    } catch (e) {
      return [`control thread: could not take real-time priority ${priority} (${(e as Error).message.split('\n')[0]}); normal scheduling at its nice value`];
    }
  }

  /** Runs `work` in the normal class when the thread is real-time, and takes the class back after it. */
  readonly normalDuring = async <T>(work: () => Promise<T>): Promise<T> => {
    const p = this.priority;
    if (p === null) return work();
    let dropped = false;
    try {
      this.set(this.tid, null);
      dropped = true;
    } catch (e) {
      if (this.work.dropFailures++ === 0) {
        this.deps.fault(`control thread: could not leave SCHED_FIFO for the simulated cell's reset (${(e as Error).message}); it runs real-time`);
      }
    }
    this.work.runs++;
    if (threadPolicy().policy === 'SCHED_FIFO') this.work.realtime++;
    else this.work.normal++;
    try {
      return await work();
    } finally {
      if (dropped) this.restore(p);
    }
  };

  private restore(p: number): void {
    try {
      this.set(this.tid, p);
      if (this.restoreFailed) this.deps.fault(`control thread: real-time SCHED_FIFO priority ${p} taken back`);
      this.restoreFailed = false;
    } catch (e) {
      this.work.restoreFailures++;
      if (!this.restoreFailed) {
        this.deps.fault(
          `control thread: could not take SCHED_FIFO priority ${p} back after the simulated cell's reset (${(e as Error).message}); it runs in the normal class until a later reset takes it back`,
        );
      }
      this.restoreFailed = true;
    }
  }
}
