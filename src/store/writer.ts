/**
 * TransitionWriter: the control tick's door to the log. `append` copies the observation (12 KB memcpy at 64x64) into
 * an outbox and returns; it never waits for compression, SQLite or the disk, and never throws. The outbox is posted
 * to a worker thread (writer-worker.ts) on the next turn of the event loop, with the image buffers transferred, not
 * cloned. The worker compresses and commits whatever has arrived, in one transaction per batch.
 *
 * Durability window: a transition is committed once the worker has drained everything queued before it. When the
 * log keeps up (it does by ~100x at 10 Hz; see bench/store.bench.ts) that is one event-loop turn plus one batch,
 * i.e. a few ms after the tick that appended it; `stats().lastCommitLagMs` reports the measured append-to-commit
 * time. Anything not yet committed when the process is killed is lost; everything committed survives (see open.ts).
 *
 * Bounded: at most `maxPending` transitions may be appended but not yet committed. Beyond that `append` drops the
 * transition and returns false (counted in stats().dropped): losing log rows is better than stalling the arm or
 * growing without bound. The daemon should record an event when drops happen.
 */
import type { Worker } from 'node:worker_threads';
import type { OpenOptions } from './open.ts';
import type { EpisodeEnd, RewardUpdate, TransitionInput } from './types.ts';
import type { CommittedTransition, QueuedItem, ToMain, ToWorker, WorkerConfig, WriterTestHooks } from './writer-protocol.ts';
import { startWorker, workerStarted } from '../util/worker.ts';

export type { CommittedTransition, WriterTestHooks } from './writer-protocol.ts';

export interface TransitionWriterOptions {
  /** Appended-but-uncommitted transitions allowed before append drops. Default 4096 (~50 MB of 64x64 frames). */
  maxPending?: number;
  /** Most rows per transaction. Default 256. */
  maxBatch?: number;
  busyTimeoutMs?: OpenOptions['busyTimeoutMs'];
  synchronous?: OpenOptions['synchronous'];
  /** Called on the main thread with every committed batch (ids assigned by SQLite). */
  onCommit?: (rows: CommittedTransition[]) => void;
  /** Called on the main thread for each failure (bad row, worker death). Never thrown into append's caller. */
  onError?: (message: string) => void;
  /** Called on the main thread with the ids of episodes whose end (endEpisode) was committed. */
  onEnded?: (episodeIds: number[]) => void;
  /** Tests only: injected delays and faults (see WriterTestHooks). */
  testHooks?: WriterTestHooks;
}

export interface WriterStats {
  appended: number;
  committed: number;
  /** Rows the worker refused (bad field, unknown episode, duplicate step); see lastError. */
  failed: number;
  /** Rows refused by append because the queue was full or the writer closed/died, and rows lost with a dead worker. */
  dropped: number;
  /** Episode ends committed. */
  ended: number;
  /** Appended but not yet committed or failed. */
  pending: number;
  batches: number;
  largestBatch: number;
  /** ms from append to commit of the newest committed row. */
  lastCommitLagMs: number | null;
  lastError: string | null;
  alive: boolean;
}

const workerUrl = new URL('./writer-worker.ts', import.meta.url);

export class TransitionWriter {
  private seq = 0;
  private doneSeq = 0;
  private outbox: QueuedItem[] = [];
  private transfer: ArrayBuffer[] = [];
  private inflight = 0;
  private postScheduled = false;
  private closed = false;
  private alive = true;
  private waiters: { seq: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private appendTimes = new Map<number, number>();
  private readonly s: WriterStats = {
    appended: 0,
    committed: 0,
    failed: 0,
    dropped: 0,
    ended: 0,
    pending: 0,
    batches: 0,
    largestBatch: 0,
    lastCommitLagMs: null,
    lastError: null,
    alive: true,
  };
  private exited: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    readonly file: string,
    private readonly maxPending: number,
    private readonly opts: TransitionWriterOptions,
  ) {
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (m: ToMain) => this.onMessage(m));
    worker.on('error', (e) => this.die(`${file}: log writer thread failed: ${e.message}`));
    worker.on('exit', (code) => {
      if (!this.closed || this.pendingCount() > 0) this.die(`${file}: log writer thread exited (code ${code})`);
    });
  }

  /** Starts the worker, which opens (creating/migrating if needed) the log; resolves when it is ready to commit. */
  static async open(file: string, opts: TransitionWriterOptions = {}): Promise<TransitionWriter> {
    const cfg: WorkerConfig = {
      file,
      maxBatch: opts.maxBatch ?? 256,
      busyTimeoutMs: opts.busyTimeoutMs ?? 5000,
      synchronous: opts.synchronous ?? 'NORMAL',
      ...(opts.testHooks ? { testHooks: opts.testHooks } : {}),
    };
    const worker = startWorker(workerUrl, cfg);
    await workerStarted(worker, `${file}: log writer thread`, (m: ToMain) => {
      if (m.type === 'fatal') throw new Error(m.message);
      return m.type === 'ready' ? true : undefined;
    });
    return new TransitionWriter(worker, file, opts.maxPending ?? 4096, opts);
  }

  private pendingCount(): number {
    return this.outbox.length + this.inflight;
  }

  private admit(): boolean {
    if (this.closed || !this.alive) {
      this.s.dropped++;
      return false;
    }
    if (this.pendingCount() >= this.maxPending) {
      this.s.dropped++;
      this.s.lastError = `${this.file}: log queue full (${this.maxPending} pending), transition dropped`;
      return false;
    }
    return true;
  }

  /**
   * Queues one transition; returns at once. Copies the image and vectors, so the caller may reuse its buffers.
   * Returns false (and counts it) when the transition was dropped: queue full, writer closed or dead, or unreadable input.
   */
  append(t: TransitionInput): boolean {
    if (!this.admit()) return false;
    let item: QueuedItem;
    let buf: ArrayBuffer;
    try {
      const o = t.obs;
      // new Uint8Array(x) always copies into a fresh ArrayBuffer. (Buffer#slice would not: it shares memory, often
      // Node's 8 KB pool or sharp's output, and transferring that to the worker would detach the caller's buffer.)
      const data = new Uint8Array(o.image.data);
      buf = data.buffer;
      item = {
        type: 'row',
        seq: ++this.seq,
        t: {
          ...t,
          obs: {
            ...o,
            image: { width: o.image.width, height: o.image.height, data },
            // Copied for the same reason (cloned, not transferred: it is the smaller part).
            ...(o.depth ? { depth: { width: o.depth.width, height: o.depth.height, data: new Float32Array(o.depth.data) } } : {}),
            wrench: [...o.wrench] as typeof o.wrench,
            eePos: [...o.eePos] as typeof o.eePos,
            eeQuat: [...o.eeQuat] as typeof o.eeQuat,
            goal: [...o.goal] as typeof o.goal,
          },
          actionP: t.actionP ? ([...t.actionP] as typeof t.actionP) : null,
          actionResidual: t.actionResidual ? ([...t.actionResidual] as typeof t.actionResidual) : null,
          actionExecuted: t.actionExecuted ? ([...t.actionExecuted] as typeof t.actionExecuted) : null,
          wallTime: t.wallTime ?? Date.now(),
        },
      };
    } catch (e) {
      this.s.dropped++;
      this.s.lastError = `${this.file}: unreadable transition dropped: ${(e as Error).message}`;
      this.opts.onError?.(this.s.lastError);
      return false;
    }
    this.s.appended++;
    this.appendTimes.set(item.seq, performance.now());
    this.outbox.push(item);
    this.transfer.push(buf);
    this.schedulePost();
    return true;
  }

  /** Queues reward updates (by step) for an episode, ordered after the transitions appended before it. */
  setRewards(episodeId: number, updates: readonly RewardUpdate[]): boolean {
    if (!this.admit()) return false;
    this.outbox.push({ type: 'rewards', seq: ++this.seq, episodeId, updates: updates.map((u) => ({ ...u })) });
    this.schedulePost();
    return true;
  }

  /**
   * Queues an episode's end behind everything appended before it, so that the end and the episode's transitions
   * commit in order (in one transaction when they share a batch): a kill can never leave an ended episode without
   * its last steps. Never dropped for a full queue (one tiny item). Returns false when the writer is closed or dead,
   * then the caller must record the end itself (and should not claim the transitions are complete).
   */
  endEpisode(episodeId: number, end: EpisodeEnd): boolean {
    if (this.closed || !this.alive) return false;
    this.outbox.push({ type: 'end', seq: ++this.seq, episodeId, end: { ...end, endedAt: end.endedAt ?? Date.now() } });
    this.schedulePost();
    return true;
  }

  private schedulePost(): void {
    if (this.postScheduled) return;
    this.postScheduled = true;
    setImmediate(() => this.post());
  }

  private post(): void {
    this.postScheduled = false;
    if (!this.outbox.length || !this.alive) return;
    const items = this.outbox;
    const transfer = this.transfer;
    this.outbox = [];
    this.transfer = [];
    this.inflight += items.length;
    const msg: ToWorker = { type: 'batch', items };
    this.worker.postMessage(msg, transfer);
  }

  private onMessage(m: ToMain): void {
    if (m.type !== 'done') return;
    this.inflight -= m.items;
    this.doneSeq = m.lastSeq;
    this.s.batches++;
    this.s.largestBatch = Math.max(this.s.largestBatch, m.items);
    this.s.committed += m.committed.length;
    this.s.failed += m.failed.length;
    const now = performance.now();
    for (const c of m.committed) {
      const t0 = this.appendTimes.get(c.seq);
      if (t0 !== undefined) this.s.lastCommitLagMs = now - t0;
    }
    // Rewards items have no append time; forget everything up to lastSeq.
    for (const k of this.appendTimes.keys()) {
      if (k > m.lastSeq) break;
      this.appendTimes.delete(k);
    }
    for (const f of m.failed) {
      this.s.lastError = f.message;
      this.opts.onError?.(f.message);
    }
    this.s.ended += m.ended.length;
    if (m.committed.length) this.opts.onCommit?.(m.committed);
    if (m.ended.length) this.opts.onEnded?.(m.ended);
    this.waiters = this.waiters.filter((w) => {
      if (w.seq <= this.doneSeq) w.resolve();
      return w.seq > this.doneSeq;
    });
  }

  private die(message: string): void {
    if (!this.alive) return;
    this.alive = false;
    this.s.lastError = message;
    const lost = this.pendingCount();
    this.s.dropped += lost;
    this.outbox = [];
    this.transfer = [];
    this.inflight = 0;
    this.opts.onError?.(message);
    for (const w of this.waiters) w.reject(new Error(message));
    this.waiters = [];
  }

  /** Resolves when everything appended before the call has been committed (or has failed: see stats). Rejects if the worker died. */
  flush(): Promise<void> {
    const target = this.seq;
    if (this.doneSeq >= target) return Promise.resolve();
    if (!this.alive) return Promise.reject(new Error(this.s.lastError ?? `${this.file}: log writer is dead`));
    this.post();
    return new Promise((resolve, reject) => this.waiters.push({ seq: target, resolve, reject }));
  }

  /** Flushes, then closes the worker's connection and ends the thread. Later appends return false. */
  async close(): Promise<void> {
    if (this.closed) return this.exited;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      if (this.alive) this.worker.postMessage({ type: 'close' } satisfies ToWorker);
      const timer = setTimeout(() => void this.worker.terminate(), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
  }

  stats(): WriterStats {
    return { ...this.s, pending: this.pendingCount(), alive: this.alive };
  }
}
