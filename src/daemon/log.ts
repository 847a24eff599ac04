/**
 * The daemon's log on the project's SQLite store: one session per daemon run, episodes and events through the Store
 * (main-thread connection), transitions through the TransitionWriter (worker thread; append never waits).
 *
 * Events and episode ends raised inside a tick are queued and written right after the tick (setImmediate), so the tick
 * itself never performs a synchronous SQLite write. Order is kept: one queue, drained in order.
 */
import { Store, TransitionWriter } from '../store/index.ts';
import type { SessionStart } from '../store/types.ts';
import type { DaemonEvent, DaemonLog, EpisodeBegin, EpisodeFinish, TickTransition } from './interfaces.ts';

export interface StoreLogOptions {
  /** Called with every log failure (never thrown into the tick). */
  onError?: (message: string) => void;
  /** Pending transitions before the writer drops (see TransitionWriter). */
  maxPending?: number;
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
  ) {}

  /**
   * Opens (creating or migrating) the log, closes episodes a killed predecessor left open, and starts a session.
   * Refuses a corrupt or foreign file with the store's error, leaving it untouched.
   */
  static async open(file: string, session: SessionStart, opts: StoreLogOptions = {}): Promise<StoreLog> {
    const store = Store.open(file);
    let writer: TransitionWriter;
    try {
      store.closeDangling();
      writer = await TransitionWriter.open(file, {
        ...(opts.maxPending !== undefined ? { maxPending: opts.maxPending } : {}),
        onError: (m) => opts.onError?.(m),
      });
    } catch (e) {
      store.close();
      throw e;
    }
    const sessionId = store.openSession(session);
    return new StoreLog(store, writer, sessionId, opts);
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
    const ok = this.writer.append({
      episodeId: t.episodeId,
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
    });
    if (!ok) {
      const dropped = this.writer.stats().dropped;
      // First drop and then every 100th: visible, but cannot flood the events table.
      if (this.droppedReported === 0 || dropped - this.droppedReported >= 100) {
        this.droppedReported = dropped;
        this.event({ kind: 'log_dropped', message: `transition log dropped a row (${dropped} so far): ${this.writer.stats().lastError ?? ''}`, episodeId: t.episodeId });
      }
    }
  }

  endEpisode(id: number, end: EpisodeFinish): void {
    this.defer(() => this.store.endEpisode(id, { outcome: end.outcome, reason: end.reason, learnedSuccessProb: end.learnedSuccessProb, gtSuccess: end.gtSuccess }));
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

  /** Flushes, closes the session row, the writer and the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.flush();
    } finally {
      await this.writer.close();
      this.drain();
      if (this.store.isOpen) {
        this.store.closeSession(this.sessionId);
        this.store.close();
      }
    }
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
