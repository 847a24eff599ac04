/**
 * The daemon's log on the project's SQLite store: one session per daemon run, episodes and events through the Store
 * (main-thread connection), transitions through the TransitionWriter (worker thread; append never waits).
 *
 * Events raised inside a tick are queued and written right after the tick (setImmediate), so the tick itself never
 * performs a synchronous SQLite write. An episode's end goes through the writer's queue, behind the episode's last
 * transitions, so that it can never be committed before them (a kill then left "finished" episodes short of a step).
 *
 * One daemon per log and per robot: open() takes `<db>.lock` and, given a robot id, `<lockDir>/robot-<id>-<hash>.lock`
 * (ProcessLock: SQLite-held POSIX locks the kernel releases when the process dies, SIGKILL included) before it touches
 * anything, so a second daemon is refused with the first one's pid instead of closing its "dangling" episode.
 */
import { LockHeldError, ProcessLock, Store, TransitionWriter, databaseLockFile, defaultLockDir, robotLockFile, type WriterTestHooks } from '../store/index.ts';
import type { SessionStart, TransitionInput } from '../store/types.ts';
import type { DaemonEvent, DaemonLog, EpisodeBegin, EpisodeFinish, TickTransition } from './interfaces.ts';

export interface StoreLogOptions {
  /** Called with every log failure (never thrown into the tick). */
  onError?: (message: string) => void;
  /** Pending transitions before the writer drops (see TransitionWriter). */
  maxPending?: number;
  /**
   * What identifies the robot this daemon drives (config robotId: e.g. the controller's address or serial), or null
   * for a robot no other process can reach (the simulated cell lives inside the daemon). Given, a second daemon
   * for the same robot is refused, whatever its database.
   */
  robotId?: string | null;
  /** Directory of per-robot locks (default defaultLockDir()). */
  lockDir?: string;
  /** Tests only: faults and delays injected into the writer thread. */
  writerTestHooks?: WriterTestHooks;
}

export { LockHeldError };

/** The log row of a tick's transition (the daemon's writer and the replay's log write the same row). */
export function transitionRow(t: TickTransition, episodeId = t.episodeId): TransitionInput {
  return {
    episodeId,
    step: t.step,
    obs: t.obs,
    actionP: t.actionP,
    actionResidual: t.actionResidual,
    actionExecuted: t.actionExecuted,
    rewardProb: t.rewardProb,
    gtSuccess: t.gtSuccess,
    done: t.done,
    tickTime: t.tickTime,
    policyVersion: t.policyVersion,
    intervention: t.intervention ?? false,
    interventionSource: t.interventionSource ?? null,
  };
}

export class StoreLog implements DaemonLog {
  private queue: Array<() => void> = [];
  private drainScheduled = false;
  private droppedReported = 0;
  private closed = false;

  private constructor(
    readonly store: Store,
    readonly writer: TransitionWriter,
    readonly sessionId: number,
    private readonly opts: StoreLogOptions,
    private readonly locks: ProcessLock[],
    /** What a killed predecessor left open and this open closed (outcome 'error'). */
    readonly recovered: { sessions: number; episodes: number },
  ) {}

  /**
   * Takes the log's and the robot's locks (LockHeldError naming the holder when another process has either), opens
   * (creating or migrating) the log, closes episodes a killed predecessor left open (recorded as an event of the new
   * session), and starts a session. Refuses a corrupt or foreign file with the store's error, leaving it untouched.
   */
  static async open(file: string, session: SessionStart, opts: StoreLogOptions = {}): Promise<StoreLog> {
    const locks: ProcessLock[] = [];
    let store: Store | null = null;
    try {
      locks.push(ProcessLock.acquire(databaseLockFile(file), `database ${file}`));
      if (opts.robotId != null) locks.push(ProcessLock.acquire(robotLockFile(opts.lockDir ?? defaultLockDir(), opts.robotId), `robot '${opts.robotId}'`));
      store = Store.open(file);
      const recovered = store.closeDangling('the daemon ended (killed?) before the episode was closed; found at the next start');
      const writer = await TransitionWriter.open(file, {
        ...(opts.maxPending !== undefined ? { maxPending: opts.maxPending } : {}),
        ...(opts.writerTestHooks ? { testHooks: opts.writerTestHooks } : {}),
        onError: (m) => opts.onError?.(m),
      });
      const sessionId = store.openSession(session);
      if (recovered.episodes || recovered.sessions) {
        store.recordEvent({
          kind: 'recovered',
          sessionId,
          message: `closed ${recovered.episodes} episode(s) and ${recovered.sessions} session(s) left open by a previous run (outcome 'error')`,
          data: recovered,
        });
      }
      return new StoreLog(store, writer, sessionId, opts, locks, recovered);
    } catch (e) {
      store?.close();
      for (const l of locks.reverse()) l.release();
      throw e;
    }
  }

  beginEpisode(e: EpisodeBegin): number {
    this.drain(); // anything queued (e.g. the previous episode's end) lands first
    return this.store.beginEpisode({
      sessionId: this.sessionId,
      kind: e.kind,
      domain: e.domain,
      scenario: e.scenario,
      seed: e.seed,
      startState: e.startState,
      policyVersion: e.policyVersion,
    });
  }

  transition(t: TickTransition): void {
    const ok = this.writer.append(transitionRow(t));
    if (!ok) {
      const dropped = this.writer.stats().dropped;
      // First drop and then every 100th: visible, but cannot flood the events table.
      if (this.droppedReported === 0 || dropped - this.droppedReported >= 100) {
        this.droppedReported = dropped;
        this.event({
          kind: 'log_dropped',
          message: `transition log dropped a row (${dropped} so far): ${this.writer.stats().lastError ?? ''}`,
          episodeId: t.episodeId,
        });
      }
    }
  }

  endEpisode(id: number, end: EpisodeFinish): void {
    const e = { outcome: end.outcome, reason: end.reason, learnedSuccessProb: end.learnedSuccessProb, gtSuccess: end.gtSuccess, endedAt: Date.now() };
    if (this.writer.endEpisode(id, e)) return;
    // The writer is closed (everything it had is committed) or dead (its queued transitions are lost): record the end
    // here, and in the second case do not present the episode as complete.
    const w = this.writer.stats();
    const lost = w.alive
      ? e
      : {
          ...e,
          outcome: 'error' as const,
          learnedSuccessProb: null,
          reason: `log writer failed, transitions may be missing (episode ended ${e.outcome}${e.reason ? `: ${e.reason}` : ''}): ${w.lastError ?? ''}`,
        };
    this.defer(() => this.store.endEpisode(id, lost));
  }

  event(e: DaemonEvent): void {
    const time = Date.now();
    this.defer(() =>
      this.store.recordEvent({ kind: e.kind, message: e.message, data: e.data ?? null, sessionId: this.sessionId, episodeId: e.episodeId ?? null, time }),
    );
  }

  async flush(): Promise<void> {
    this.drain();
    await this.writer.flush();
  }

  /**
   * Flushes, closes the writer, the session row and the database, then releases the locks. Everything is closed even
   * when the writer has died; then the death is thrown again at the end (the daemon exits non-zero).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let failure: { error: unknown } | null = null;
    try {
      try {
        await this.flush();
      } catch (e) {
        failure = { error: e };
      }
      try {
        await this.writer.close();
      } catch (e) {
        failure ??= { error: e };
      }
      this.drain();
      if (this.store.isOpen) {
        try {
          this.store.closeSession(this.sessionId);
        } finally {
          this.store.close();
        }
      }
    } finally {
      for (const l of this.locks.reverse()) l.release();
    }
    if (failure) throw failure.error;
  }

  private defer(fn: () => void): void {
    if (this.closed && !this.store.isOpen) return;
    this.queue.push(fn);
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    this.drainScheduled = false;
    const q = this.queue;
    this.queue = [];
    for (const fn of q) {
      try {
        fn();
      } catch (e) {
        this.opts.onError?.(`log write failed: ${(e as Error).message}`);
      }
    }
  }
}

/** An in-memory log for tests of the loop logic that need no database (named fake; daemon tests use StoreLog). */
export class MemoryLog implements DaemonLog {
  episodes: Array<EpisodeBegin & { id: number; end: EpisodeFinish | null }> = [];
  transitions: TickTransition[] = [];
  events: DaemonEvent[] = [];

  beginEpisode(e: EpisodeBegin): number {
    const id = this.episodes.length + 1;
    this.episodes.push({ ...e, id, end: null });
    return id;
  }
  transition(t: TickTransition): void {
    this.transitions.push(t);
  }
  endEpisode(id: number, end: EpisodeFinish): void {
    const e = this.episodes[id - 1];
    if (e) e.end = end;
  }
  event(e: DaemonEvent): void {
    this.events.push(e);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
