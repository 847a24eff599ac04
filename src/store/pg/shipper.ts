/**
 * The shipper: copies an arm's committed log rows to the fleet store, off the control path. It reads the local
 * SQLite log read-only (only committed rows are visible), sends them in batches, and moves a high-water mark kept in a
 * small local file only after PostgreSQL has committed the batch. A crash between the COMMIT and the file write
 * re-sends that batch, which inserts nothing (the fleet store's key is (robot_id, local id)); a lost link stops
 * nothing but the shipping, which retries with back-off and catches up from the mark. An episode's end is shipped
 * only with (or after) its last row, so an ended episode in PostgreSQL is always complete. Operator labels and the
 * daemon's events travel the same way (their own marks; a label is read before the episodes, so its episode is in the
 * same batch or an earlier one).
 *
 * `Shipper` runs anywhere; the daemon runs it in a worker thread (ShipperThread, shipper-worker.ts) so that not even
 * its SQLite reads share the control loop's thread.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { Store, type RawRow } from '../store.ts';
import { startWorker } from '../../util/worker.ts';
import { redact, type PgTarget } from './credentials.ts';
import { FleetStore } from './fleet-store.ts';

export interface ShipperOptions {
  /** The arm's SQLite log. */
  db: string;
  robotId: string;
  target: PgTarget;
  /** Local high-water marks (default `<db>.fleet-<hash of target>.json`). */
  stateFile?: string;
  /** Transitions per batch (default 256). */
  batch?: number;
  /** Poll interval when there is nothing to ship (default 250 ms). */
  intervalMs?: number;
  /** Longest back-off after a failure (default 5000 ms). */
  maxBackoffMs?: number;
  /** Tests only: stop dead (like a kill) after the Nth committed batch, before the local mark is written. */
  testHooks?: { crashAfterCommit?: number };
}

export interface ShipperStats {
  target: string;
  robotId: string;
  connected: boolean;
  /** Transitions sent / new in PostgreSQL (sent - inserted = re-sent after a crash or reconnect). */
  sent: number;
  inserted: number;
  batches: number;
  /** Local transition id shipped up to, and the newest committed locally. */
  highWater: number;
  localNewest: number;
  failures: number;
  lastError: string | null;
  /** Operator labels and events new in PostgreSQL. */
  labels: number;
  events: number;
  /** ms from a row's wall time to its batch's COMMIT, newest batch. */
  lastLagMs: number | null;
  reconnects: number;
}

/** The counters of a shipper that has not shipped yet. */
function freshStats(target: string, robotId: string): ShipperStats {
  return {
    target,
    robotId,
    connected: false,
    sent: 0,
    inserted: 0,
    labels: 0,
    events: 0,
    batches: 0,
    highWater: 0,
    localNewest: 0,
    failures: 0,
    lastError: null,
    lastLagMs: null,
    reconnects: 0,
  };
}

interface Marks {
  transitions: number;
  /** First episode / session id not yet shipped with its end. */
  episodesFrom: number;
  sessionsFrom: number;
  /** Local label / event id shipped up to. */
  labels: number;
  events: number;
}

export function defaultStateFile(db: string, target: PgTarget): string {
  return `${db}.fleet-${createHash('sha256').update(target.describe).digest('hex').slice(0, 12)}.json`;
}

export class ShipperCrash extends Error {}

export class Shipper {
  readonly stats: ShipperStats;
  private readonly o: Required<Omit<ShipperOptions, 'testHooks'>> & Pick<ShipperOptions, 'testHooks'>;
  private marks: Marks = { transitions: 0, episodesFrom: 1, sessionsFrom: 1, labels: 0, events: 0 };
  private fleet: FleetStore | null = null;
  private store: Store | null = null;
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private wake: (() => void) | null = null;
  private lastSignature = '';
  private commits = 0;

  constructor(o: ShipperOptions) {
    if (!o.robotId) throw new Error('shipper: robotId is required (config field robotId): rows are keyed by it in the fleet store');
    this.o = { stateFile: defaultStateFile(o.db, o.target), batch: 256, intervalMs: 250, maxBackoffMs: 5000, ...o };
    this.stats = freshStats(o.target.describe, o.robotId);
    if (existsSync(this.o.stateFile)) {
      try {
        const m = JSON.parse(readFileSync(this.o.stateFile, 'utf8')) as Partial<Marks>;
        // A mark file from before labels and events were shipped: they start from 0 (re-sending inserts nothing twice).
        this.marks = {
          transitions: m.transitions ?? 0,
          episodesFrom: m.episodesFrom ?? 1,
          sessionsFrom: m.sessionsFrom ?? 1,
          labels: m.labels ?? 0,
          events: m.events ?? 0,
        };
      } catch {
        // An unreadable mark file costs a re-send from 0, which inserts nothing twice.
      }
    }
    this.stats.highWater = this.marks.transitions;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Ships until nothing is left, then stops. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loopDone;
    await this.fleet?.close().catch(() => undefined);
    this.fleet = null;
    this.store?.close();
    this.store = null;
  }

  /** Wakes the loop now (e.g. after an episode ended) instead of at the next poll. */
  nudge(): void {
    this.wake?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private async loop(): Promise<void> {
    let backoff = 200;
    while (this.running) {
      try {
        if (!this.fleet) {
          this.fleet = await FleetStore.connect(this.o.target, { applicationName: `insertion-daemon-shipper ${this.o.robotId}`, max: 1 });
          this.stats.connected = true;
          // Start from the lower of the local mark and what PostgreSQL holds (a restored server re-receives rows).
          const remote = await this.fleet.highWaters(this.o.robotId);
          this.marks.transitions = Math.min(this.marks.transitions, remote.transitions);
          this.marks.labels = Math.min(this.marks.labels, remote.labels);
          this.marks.events = Math.min(this.marks.events, remote.events);
          this.lastSignature = '';
        }
        const more = await this.cycle();
        backoff = 200;
        if (!more && this.running) await this.sleep(this.o.intervalMs);
      } catch (e) {
        if (e instanceof ShipperCrash) {
          // A test's kill: no mark written, the connection dropped without a goodbye.
          this.running = false;
          this.stats.lastError = e.message;
          return;
        }
        this.stats.failures++;
        this.stats.lastError = redact((e as Error).message, this.o.target);
        if (this.stats.connected) this.stats.reconnects++;
        this.stats.connected = false;
        await this.fleet?.close().catch(() => undefined);
        this.fleet = null;
        if (this.running) await this.sleep(backoff);
        backoff = Math.min(this.o.maxBackoffMs, backoff * 2);
      }
    }
  }

  /** One batch; returns true when there may be more to ship right away. */
  async cycle(): Promise<boolean> {
    const fleet = this.fleet;
    if (!fleet) throw new Error('shipper: not connected');
    this.store ??= Store.openReadOnly(this.o.db);
    const st = this.store;
    const transitions = st.rawTransitions(this.marks.transitions, this.o.batch);
    const newHigh = transitions.length ? (transitions[transitions.length - 1]!.id as number) : this.marks.transitions;
    // Labels before episodes: a label's episode is then in this batch's episodes or an earlier batch's.
    const labels = st.rawLabels(this.marks.labels, this.o.batch);
    const events = st.rawEvents(this.marks.events, this.o.batch);
    const episodes = st.rawEpisodes(this.marks.episodesFrom).map((row) => ({
      row,
      withEnd: row.ended_at != null && (row.last_transition_id == null || (row.last_transition_id as number) <= newHigh),
    }));
    for (const e of episodes) delete e.row.last_transition_id;
    const sessions = st.rawSessions(this.marks.sessionsFrom);
    const signature = JSON.stringify([episodes.map((e) => [e.row.id, e.withEnd]), sessions.map((s) => [s.id, s.ended_at])]);
    this.stats.localNewest = Math.max(newHigh, st.newestTransitionId());
    if (transitions.length === 0 && labels.length === 0 && events.length === 0 && signature === this.lastSignature) return false;
    const r = await fleet.ship(this.o.robotId, { sessions, episodes, transitions, labels, events });
    const committedAt = Date.now();
    this.commits++;
    if (this.o.testHooks?.crashAfterCommit === this.commits) throw new ShipperCrash(`test hook: crash after commit ${this.commits}, before the local mark`);
    this.lastSignature = signature;
    this.stats.sent += transitions.length;
    this.stats.inserted += r.inserted;
    this.stats.labels += r.labels;
    this.stats.events += r.events;
    this.stats.batches++;
    if (transitions.length) this.stats.lastLagMs = committedAt - (transitions[0]!.wall_time as number);
    const firstOpen = (rows: RawRow[], ended: (r: RawRow) => boolean, from: number): number => {
      const open = rows.find((x) => !ended(x));
      return open ? (open.id as number) : rows.length ? (rows[rows.length - 1]!.id as number) + 1 : from;
    };
    this.marks = {
      transitions: newHigh,
      episodesFrom: firstOpen(
        episodes.map((e) => ({ ...e.row, _shippedEnd: e.withEnd ? 1 : 0 })),
        (x) => x._shippedEnd === 1,
        this.marks.episodesFrom,
      ),
      sessionsFrom: firstOpen(sessions, (x) => x.ended_at != null, this.marks.sessionsFrom),
      labels: labels.length ? (labels[labels.length - 1]!.id as number) : this.marks.labels,
      events: events.length ? (events[events.length - 1]!.id as number) : this.marks.events,
    };
    this.stats.highWater = newHigh;
    const tmp = `${this.o.stateFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.marks));
    renameSync(tmp, this.o.stateFile);
    return transitions.length === this.o.batch || labels.length === this.o.batch || events.length === this.o.batch;
  }

  /** Runs until everything committed locally now is in PostgreSQL (tests, shutdown). */
  async drain(timeoutMs = 30_000): Promise<void> {
    const t0 = Date.now();
    this.store ??= Store.openReadOnly(this.o.db);
    const want = this.store.newestTransitionId();
    while (this.marks.transitions < want || !this.stats.connected || this.lastSignature === '') {
      if (!this.running) throw new Error('shipper: stopped before it drained');
      if (Date.now() - t0 > timeoutMs)
        throw new Error(`shipper: not drained within ${timeoutMs} ms (at ${this.marks.transitions} of ${want}; ${this.stats.lastError ?? 'no error'})`);
      this.nudge();
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

// ---------------------------------------------------------------------------------------- in a worker thread

const workerUrl = new URL('./shipper-worker.ts', import.meta.url);

export type ShipperWorkerData = Omit<ShipperOptions, 'testHooks'>;
export type ShipperToMain = { type: 'stats'; stats: ShipperStats } | { type: 'stopped' } | { type: 'fatal'; message: string };

/** The shipper in a worker thread: the daemon's control loop never runs any of it. */
export class ShipperThread {
  private last: ShipperStats;
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  constructor(o: ShipperWorkerData) {
    this.last = freshStats(o.target.describe, o.robotId);
    this.worker = startWorker(workerUrl, o);
    this.worker.unref();
    this.worker.on('message', (m: ShipperToMain) => {
      if (m.type === 'stats') this.last = m.stats;
      if (m.type === 'fatal') this.last = { ...this.last, lastError: m.message, connected: false };
    });
    this.worker.on('error', (e) => {
      this.last = { ...this.last, lastError: redact(e.message, o.target), connected: false };
    });
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
  }

  stats(): ShipperStats {
    return this.last;
  }

  nudge(): void {
    this.worker.postMessage({ type: 'nudge' });
  }

  /** Stops shipping (a last cycle is not awaited beyond `timeoutMs`). */
  async close(timeoutMs = 5000): Promise<void> {
    this.worker.postMessage({ type: 'stop' });
    const t = setTimeout(() => void this.worker.terminate(), timeoutMs);
    await this.exited;
    clearTimeout(t);
  }
}
