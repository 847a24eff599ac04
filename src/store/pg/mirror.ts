/**
 * The learner's copy of the pooled fleet data: pulls every arm's rows from the fleet store into a local SQLite log
 * (the same schema as an arm's), so the online trainer (src/online/trainer.ts) trains on the fleet exactly as it
 * trains beside one daemon. Each arm's sessions and episodes get ids in the mirror; `robot` of a mirrored session is
 * the arm's robot id. Per arm the pull follows the arm's own id order (one shipper per arm commits in that order). An
 * episode is ended in the mirror only once all of its rows are in (PostgreSQL holds an ended episode's rows), so the
 * trainer never sees a partial ended episode. Operator labels come along, mapped to the mirror's episode ids, so the
 * trainer applies them through the one label rule (src/data/labels.ts) as it does beside one daemon. The mirror is a
 * cache: the learner makes it anew at start.
 */
import type { RawRow, Store } from '../store.ts';
import type { EpisodeKind, EpisodeOutcome } from '../types.ts';
import type { FleetStore } from './fleet-store.ts';

export interface MirrorFilter {
  /** Only these arms (empty: all). */
  robots?: string[];
  /** Only episodes on these connectors (empty: all). */
  connectors?: string[];
}

interface ArmState {
  lastTransition: number;
  lastEpisode: number;
  lastLabel: number;
  sessions: Map<number, number>;
  /** local episode id -> mirror episode id (null: filtered out). */
  episodes: Map<number, number | null>;
  /** Mirrored episodes not yet ended in the mirror. */
  open: Set<number>;
}

export interface MirrorStats {
  pulled: number;
  perRobot: Record<string, number>;
  /** Operator labels pulled (those of filtered-out episodes included). */
  labels: number;
  lastPullMs: number | null;
}

const parse = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : null);

export class FleetMirror {
  readonly stats: MirrorStats = { pulled: 0, perRobot: {}, labels: 0, lastPullMs: null };
  private readonly arms = new Map<string, ArmState>();

  constructor(
    private readonly store: Store,
    private readonly filter: MirrorFilter = {},
  ) {}

  /** Pulls what is new for every arm (at most `limit` transitions per arm per call); returns the rows added. */
  async pull(fleet: FleetStore, limit = 2000): Promise<number> {
    const t0 = performance.now();
    let added = 0;
    const want = this.filter.robots?.length ? new Set(this.filter.robots) : null;
    for (const robot of await fleet.robots()) {
      if (want && !want.has(robot)) continue;
      let a = this.arms.get(robot);
      if (!a) {
        a = { lastTransition: 0, lastEpisode: 0, lastLabel: 0, sessions: new Map(), episodes: new Map(), open: new Set() };
        this.arms.set(robot, a);
      }
      added += await this.pullArm(fleet, robot, a, limit);
    }
    this.stats.pulled += added;
    this.stats.lastPullMs = performance.now() - t0;
    return added;
  }

  private async pullArm(fleet: FleetStore, robot: string, a: ArmState, limit: number): Promise<number> {
    const eps = await fleet.episodes(robot, { afterLocalId: a.lastEpisode, ids: [...a.open] });
    const needSessions = [...new Set(eps.map((e) => e.session_id as number))].filter((s) => !a.sessions.has(s));
    if (needSessions.length) {
      for (const s of await fleet.sessions(robot, needSessions)) {
        a.sessions.set(
          s.id as number,
          this.store.openSession({
            robot,
            backend: String(s.backend),
            config: parse(s.config_json),
            calibration: parse(s.calibration_json),
            note: (s.note as string | null) ?? null,
            startedAt: s.started_at as number,
          }),
        );
      }
    }
    const connectors = this.filter.connectors?.length ? new Set(this.filter.connectors) : null;
    const ended: RawRow[] = [];
    for (const e of eps) {
      const local = e.id as number;
      if (!a.episodes.has(local)) {
        const sessionId = a.sessions.get(e.session_id as number);
        if (sessionId === undefined || (connectors && !connectors.has(String(e.domain)))) a.episodes.set(local, null);
        else {
          a.episodes.set(
            local,
            this.store.beginEpisode({
              sessionId,
              kind: e.kind as EpisodeKind,
              domain: String(e.domain),
              scenario: (e.scenario as string | null) ?? null,
              seed: (e.seed as number | null) ?? null,
              startState: parse(e.start_state_json),
              policyVersion: (e.policy_version as string | null) ?? null,
              startedAt: e.started_at as number,
            }),
          );
          a.open.add(local);
        }
        a.lastEpisode = Math.max(a.lastEpisode, local);
      }
      if (e.ended_at != null && a.open.has(local)) ended.push(e);
    }
    // Transitions, in the arm's order, up to the first whose episode this pull has not seen yet (it comes next time).
    const rows = await fleet.transitionsAfter(robot, a.lastTransition, limit);
    const take: RawRow[] = [];
    let last = a.lastTransition;
    for (const r of rows) {
      const ep = a.episodes.get(r.episode_id as number);
      if (ep === undefined) break;
      last = r.id as number;
      if (ep !== null) take.push({ ...r, episode_id: ep });
    }
    if (take.length) this.store.importRawTransitions(take);
    a.lastTransition = last;
    // Ended episodes: all their rows were in PostgreSQL before we read the episode, so once caught up they are in.
    if (rows.length < limit && last === (rows.at(-1)?.id ?? last)) {
      for (const e of ended) {
        const m = a.episodes.get(e.id as number);
        if (m == null) continue;
        this.store.endEpisode(m, {
          outcome: e.outcome as EpisodeOutcome,
          reason: (e.reason as string | null) ?? null,
          learnedSuccessProb: (e.learned_success_prob as number | null) ?? null,
          gtSuccess: e.gt_success == null ? null : e.gt_success === 1,
          endedAt: e.ended_at as number,
        });
        a.open.delete(e.id as number);
      }
    }
    // Labels in the arm's order, up to the first whose episode this pull has not seen yet (it comes next time).
    for (const l of await fleet.labelsAfter(robot, a.lastLabel, limit)) {
      const m = a.episodes.get(l.episode_id as number);
      if (m === undefined) break;
      if (m !== null)
        this.store.labelEpisode({
          episodeId: m,
          success: l.success === 1,
          note: (l.note as string | null) ?? null,
          by: String(l.by_whom),
          createdAt: l.created_at as number,
        });
      a.lastLabel = l.id as number;
      this.stats.labels++;
    }
    this.stats.perRobot[robot] = (this.stats.perRobot[robot] ?? 0) + take.length;
    return take.length;
  }
}
