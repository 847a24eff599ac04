/**
 * Where a replay's daemon logs: its own session in a log file (the source's by default), tagged as a replay of its
 * source, plus an in-memory copy of each episode for the comparison. It only ever INSERTs (a new session, its
 * episodes, transitions and events) and updates its own rows (ending them): source rows are never touched.
 *
 * Unlike the daemon's StoreLog it does not close "dangling" sessions (that would end a live daemon's session in the
 * same file) and writes an episode's transitions synchronously at its end (a replay has no real-time tick to protect).
 * The session is tagged: backend 'replay', note "replay of session N (mode) from FILE", and config.replay =
 * { sourceDb, sourceSessionId, mode, ... }; each episode's start state carries replayOf = { sourceEpisodeId, ... }.
 */
import type { DaemonEvent, DaemonLog, EpisodeBegin, EpisodeFinish, TickTransition } from '../daemon/interfaces.ts';
import { transitionRow } from '../daemon/log.ts';
import { Store } from '../store/index.ts';
import type { TransitionInput } from '../store/types.ts';

export interface ReplayTag {
  sourceDb: string;
  sourceSessionId: number;
  mode: 'open-loop' | 'closed-loop';
  policy: string | null;
  reward: string | null;
}

export interface ReplayedEpisode {
  id: number;
  begin: EpisodeBegin;
  transitions: TickTransition[];
  end: EpisodeFinish | null;
}

export interface EpisodeContext {
  sourceEpisodeId: number;
  /** The seed the cell was really reset with (the daemon's own derived seed did not choose this start). */
  seed: number;
  extra: Record<string, unknown>;
}

export class ReplayLog implements DaemonLog {
  readonly sessionId: number;
  private current: EpisodeContext | null = null;
  private open: ReplayedEpisode | null = null;
  readonly episodes = new Map<number, ReplayedEpisode>();
  private closed = false;

  private constructor(
    readonly store: Store,
    tag: ReplayTag,
    config: unknown,
    calibration: unknown,
  ) {
    this.sessionId = store.openSession({
      robot: 'simulated sawyer cell (replay)',
      backend: 'replay',
      config: { replay: tag, daemon: config },
      calibration,
      note: `replay of session ${tag.sourceSessionId} (${tag.mode}) from ${tag.sourceDb}`,
    });
  }

  /** Opens `file` for writing (creating/migrating it like any log) and starts the replay's session. */
  static open(file: string, tag: ReplayTag, config: unknown, calibration: unknown): ReplayLog {
    const store = Store.open(file);
    try {
      return new ReplayLog(store, tag, config, calibration);
    } catch (e) {
      store.close();
      throw e;
    }
  }

  /** Context of the next episode the daemon begins. */
  next(ctx: EpisodeContext): void {
    this.current = ctx;
  }

  beginEpisode(e: EpisodeBegin): number {
    const ctx = this.current;
    const startState = {
      ...(typeof e.startState === 'object' && e.startState !== null ? e.startState : {}),
      seed: ctx?.seed ?? null,
      replayOf: ctx ? { sourceEpisodeId: ctx.sourceEpisodeId, ...ctx.extra } : null,
    };
    const id = this.store.beginEpisode({
      sessionId: this.sessionId,
      kind: e.kind,
      domain: e.domain,
      scenario: e.scenario,
      seed: ctx?.seed ?? e.seed,
      startState,
      policyVersion: e.policyVersion,
    });
    this.open = { id, begin: { ...e, startState }, transitions: [], end: null };
    this.episodes.set(id, this.open);
    return id;
  }

  transition(t: TickTransition): void {
    const ep = this.episodes.get(t.episodeId);
    if (!ep) return;
    // The image buffer may be the camera's own: keep a copy.
    ep.transitions.push({ ...t, obs: { ...t.obs, image: { ...t.obs.image, data: Uint8Array.from(t.obs.image.data) } } });
  }

  endEpisode(id: number, end: EpisodeFinish): void {
    const ep = this.episodes.get(id);
    if (!ep) throw new Error(`replay log: no episode ${id}`);
    ep.end = end;
    const rows: TransitionInput[] = ep.transitions.map((t) => transitionRow(t, id));
    this.store.appendTransitions(rows);
    this.store.endEpisode(id, { outcome: end.outcome, reason: end.reason, learnedSuccessProb: end.learnedSuccessProb, gtSuccess: end.gtSuccess });
    if (this.open?.id === id) this.open = null;
  }

  event(e: DaemonEvent): void {
    if (this.closed) return;
    this.store.recordEvent({ kind: e.kind, message: e.message, data: e.data ?? null, sessionId: this.sessionId, episodeId: e.episodeId ?? null });
  }

  async flush(): Promise<void> {}

  /** Ends the session and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.store.isOpen) {
      this.store.closeSession(this.sessionId);
      this.store.close();
    }
  }
}
