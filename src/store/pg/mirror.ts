/**
 * The learner's copy of the pooled fleet data: pulls every arm's rows from the fleet store into a local SQLite log
 * (the same schema as an arm's), so the online trainer (src/online/trainer.ts) trains on the fleet exactly as it
 * trains beside one daemon. Each arm's sessions and episodes get ids in the mirror; `robot` of a mirrored session is
 * the arm's robot id. Per arm the pull follows the arm's own id order (one shipper per arm commits in that order). An
 * episode is ended in the mirror only once all of its rows are in (PostgreSQL holds an ended episode's rows), so the
 * trainer never sees a partial ended episode. Operator labels come along, mapped to the mirror's episode ids, so the
 * trainer applies them through the one label rule (src/data/labels.ts) as it does beside one daemon.
 *
 * The mirror is kept across restarts: each arm's high-water marks and id maps are written in the same SQLite
 * transaction as the rows of a pull (schema 4), so a learner killed at any point resumes with exactly the rows it
 * committed and pulls only what is new. It is used again only against the same fleet (its database's fleet id, name
 * and cluster), with the same filter, and only if no arm's marks are ahead of PostgreSQL (`FleetMirror.check`);
 * otherwise the learner remakes it (src/online/fleet-learner.ts).
 */
import type { RawRow, Store } from '../store.ts';
import type { EpisodeKind, EpisodeOutcome, MirrorId } from '../types.ts';
import type { FleetIdentity, FleetStore } from './fleet-store.ts';

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
  /** Transitions the mirror held when it was opened (kept from an earlier run). */
  kept: number;
}

/** Whether a kept mirror may be used against this fleet with this filter, and why not. */
export type MirrorCheck = { ok: true; transitions: number; arms: number } | { ok: false; reason: string };

const parse = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : null);

/** The filter as saved with a mirror: sorted, so that the same arms and connectors in another order match. */
const filterKey = (f: MirrorFilter): string => JSON.stringify({ robots: [...(f.robots ?? [])].sort(), connectors: [...(f.connectors ?? [])].sort() });

export class FleetMirror {
  readonly stats: MirrorStats = { pulled: 0, perRobot: {}, labels: 0, lastPullMs: null, kept: 0 };
  private readonly arms = new Map<string, ArmState>();

  /**
   * A mirror on `store` copying the fleet `identity`: a new (empty) mirror records its source; a kept one resumes
   * from its saved marks (call `check` first: this throws if the mirror belongs to another fleet or filter).
   */
  constructor(
    private readonly store: Store,
    private readonly filter: MirrorFilter = {},
    identity: FleetIdentity | null = null,
  ) {
    const st = store.mirrorState();
    if (st.source === null) {
      if (identity !== null) {
        if (store.countTransitions() > 0) throw new Error(`${store.file}: holds transitions but no mirror source; not a mirror`);
        store.setMirrorSource(JSON.stringify(identity), filterKey(filter));
      }
      return;
    }
    if (identity !== null) {
      const why = mismatch(st.source, identity, filter);
      if (why) throw new Error(`${store.file}: ${why}`);
    }
    for (const m of st.arms)
      this.arms.set(m.robot, {
        lastTransition: m.lastTransition,
        lastEpisode: m.lastEpisode,
        lastLabel: m.lastLabel,
        sessions: new Map(),
        episodes: new Map(),
        open: new Set(),
      });
    for (const r of st.ids) {
      const a = this.arms.get(r.robot);
      if (!a) continue;
      if (r.kind === 'session') {
        if (r.localId !== null) a.sessions.set(r.remoteId, r.localId);
      } else {
        a.episodes.set(r.remoteId, r.localId);
        if (r.open) a.open.add(r.remoteId);
      }
    }
    this.stats.kept = store.countTransitions();
  }

  /**
   * Whether the mirror in `store` may be kept for this fleet and filter: a new mirror may; a kept one must have been
   * pulled from the same fleet (id, database, cluster) with the same filter, and no arm's marks may be ahead of what
   * PostgreSQL holds (a fleet restored from an older backup).
   */
  static async check(store: Store, fleet: FleetStore, identity: FleetIdentity, filter: MirrorFilter = {}): Promise<MirrorCheck> {
    const st = store.mirrorState();
    if (st.source === null) {
      const n = store.countTransitions();
      return n === 0 ? { ok: true, transitions: 0, arms: 0 } : { ok: false, reason: `holds ${n} transitions but no mirror source (not a mirror)` };
    }
    const why = mismatch(st.source, identity, filter);
    if (why) return { ok: false, reason: why };
    for (const a of st.arms) {
      const hw = await fleet.highWaters(a.robot);
      if (a.lastTransition > hw.transitions || a.lastLabel > hw.labels)
        return {
          ok: false,
          reason: `${a.robot}: the mirror is at transition ${a.lastTransition} and label ${a.lastLabel}, PostgreSQL holds ${hw.transitions} and ${hw.labels}`,
        };
    }
    return { ok: true, transitions: store.countTransitions(), arms: st.arms.length };
  }

  /** Pulls what is new for every arm (at most `limit` transitions per arm per call); returns the rows added. */
  async pull(fleet: FleetStore, limit = 2000): Promise<number> {
    const t0 = performance.now();
    let added = 0;
    const want = this.filter.robots?.length ? new Set(this.filter.robots) : null;
    for (const robot of await fleet.robots()) {
      if (want && !want.has(robot)) continue;
      added += await this.pullArm(fleet, robot, limit);
    }
    this.stats.pulled += added;
    this.stats.lastPullMs = performance.now() - t0;
    return added;
  }

  /**
   * One arm: reads everything new from PostgreSQL first, then writes the rows and the new marks in one SQLite
   * transaction, so the saved marks always match the rows (a kill between them loses nothing and doubles nothing).
   */
  private async pullArm(fleet: FleetStore, robot: string, limit: number): Promise<number> {
    const was = this.arms.get(robot);
    const a: ArmState = was ?? { lastTransition: 0, lastEpisode: 0, lastLabel: 0, sessions: new Map(), episodes: new Map(), open: new Set() };
    const eps = await fleet.episodes(robot, { afterLocalId: a.lastEpisode, ids: [...a.open] });
    const needSessions = [...new Set(eps.map((e) => e.session_id as number))].filter((s) => !a.sessions.has(s));
    const sessions = needSessions.length ? await fleet.sessions(robot, needSessions) : [];
    const rows = await fleet.transitionsAfter(robot, a.lastTransition, limit);
    const labels = await fleet.labelsAfter(robot, a.lastLabel, limit);
    // Applied to a copy of the arm's state, which replaces it only once the transaction committed.
    const n: ArmState = { ...a, sessions: new Map(a.sessions), episodes: new Map(a.episodes), open: new Set(a.open) };
    const changed: MirrorId[] = [];
    let labelsTaken = 0;
    const taken = this.store.transaction(() => {
      for (const s of sessions) {
        const id = this.store.openSession({
          robot,
          backend: String(s.backend),
          config: parse(s.config_json),
          calibration: parse(s.calibration_json),
          note: (s.note as string | null) ?? null,
          startedAt: s.started_at as number,
        });
        n.sessions.set(s.id as number, id);
        changed.push({ robot, kind: 'session', remoteId: s.id as number, localId: id, open: false });
      }
      const connectors = this.filter.connectors?.length ? new Set(this.filter.connectors) : null;
      const ended: RawRow[] = [];
      for (const e of eps) {
        const local = e.id as number;
        if (!n.episodes.has(local)) {
          const sessionId = n.sessions.get(e.session_id as number);
          let m: number | null = null;
          if (sessionId !== undefined && !(connectors && !connectors.has(String(e.domain)))) {
            m = this.store.beginEpisode({
              sessionId,
              kind: e.kind as EpisodeKind,
              domain: String(e.domain),
              scenario: (e.scenario as string | null) ?? null,
              seed: (e.seed as number | null) ?? null,
              startState: parse(e.start_state_json),
              policyVersion: (e.policy_version as string | null) ?? null,
              startedAt: e.started_at as number,
            });
            n.open.add(local);
          }
          n.episodes.set(local, m);
          changed.push({ robot, kind: 'episode', remoteId: local, localId: m, open: m !== null });
          n.lastEpisode = Math.max(n.lastEpisode, local);
        }
        if (e.ended_at != null && n.open.has(local)) ended.push(e);
      }
      // Transitions, in the arm's order, up to the first whose episode this pull has not seen yet (it comes next time).
      const take: RawRow[] = [];
      let last = n.lastTransition;
      for (const r of rows) {
        const ep = n.episodes.get(r.episode_id as number);
        if (ep === undefined) break;
        last = r.id as number;
        if (ep !== null) take.push({ ...r, episode_id: ep });
      }
      if (take.length) this.store.importRawTransitions(take);
      n.lastTransition = last;
      // Ended episodes: all their rows were in PostgreSQL before we read the episode, so once caught up they are in.
      if (rows.length < limit && last === (rows.at(-1)?.id ?? last)) {
        for (const e of ended) {
          const m = n.episodes.get(e.id as number);
          if (m == null) continue;
          this.store.endEpisode(m, {
            outcome: e.outcome as EpisodeOutcome,
            reason: (e.reason as string | null) ?? null,
            learnedSuccessProb: (e.learned_success_prob as number | null) ?? null,
            gtSuccess: e.gt_success == null ? null : e.gt_success === 1,
            endedAt: e.ended_at as number,
          });
          n.open.delete(e.id as number);
          changed.push({ robot, kind: 'episode', remoteId: e.id as number, localId: m, open: false });
        }
      }
      // Labels in the arm's order, up to the first whose episode this pull has not seen yet (it comes next time).
      for (const l of labels) {
        const m = n.episodes.get(l.episode_id as number);
        if (m === undefined) break;
        if (m !== null)
          this.store.labelEpisode({
            episodeId: m,
            success: l.success === 1,
            note: (l.note as string | null) ?? null,
            by: String(l.by_whom),
            createdAt: l.created_at as number,
          });
        n.lastLabel = l.id as number;
        labelsTaken++;
      }
      this.store.saveMirrorArm({ robot, lastTransition: n.lastTransition, lastEpisode: n.lastEpisode, lastLabel: n.lastLabel }, changed);
      return take.length;
    });
    this.arms.set(robot, n);
    this.stats.labels += labelsTaken;
    this.stats.perRobot[robot] = (this.stats.perRobot[robot] ?? 0) + taken;
    return taken;
  }
}

/** Why a kept mirror's source does not match this fleet and filter (null: it does). */
function mismatch(source: { fleet: string; filter: string }, identity: FleetIdentity, filter: MirrorFilter): string | null {
  const was = JSON.parse(source.fleet) as FleetIdentity;
  if (was.database !== identity.database) return `pulled from database '${was.database}', this fleet is '${identity.database}'`;
  if (was.cluster !== null && identity.cluster !== null && was.cluster !== identity.cluster)
    return `pulled from cluster ${was.cluster}, this one is ${identity.cluster}`;
  if (was.fleetId !== identity.fleetId) return `pulled from fleet ${was.fleetId}, this database is fleet ${identity.fleetId}`;
  const f = filterKey(filter);
  if (source.filter !== f) return `pulled with filter ${source.filter}, this learner's is ${f}`;
  return null;
}
