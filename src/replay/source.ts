/**
 * What a replay starts from: a logged session read back (read-only) from a log file, and for each chosen episode how
 * its start is rebuilt in the simulated cell.
 *
 * Start of an episode = the first logged observation (step 0: the daemon observes right after moveToStart): the tip
 * position and the calibrated goal x*. Rebuilt as:
 *  - 'seeded': a simulated session on a connector the simulator defines, with a seed: the cell is reset with that seed
 *    and scenario (deterministic: the very same start, nuisance included), and the reset is checked against the log;
 *  - 'cell': same frame, but the seeded reset did not give the logged start (other cell settings, no seed): the tip and
 *    x* are placed where the log says;
 *  - 'relative': a real-robot session, or a connector mapped to another one: the tip is placed at the same offset from
 *    x* as logged, and x* at the true seated position plus the x* calibration error (for simulated logs of a defined
 *    connector, x* minus the true seated position; otherwise `goalError`, default 0: a real log does not know it).
 */
import type { Calibration, DaemonConfig } from '../config/schema.ts';
import type { Scenario, Vec3 } from '../core/types.ts';
import { Store } from '../store/index.ts';
import type { EpisodeRecord, SessionRecord, TransitionRecord } from '../store/types.ts';

export class ReplaySourceError extends Error {
  override name = 'ReplaySourceError';
}

export interface SourceEpisode {
  record: EpisodeRecord;
  /** Transitions in step order, without images (the replay renders its own). */
  transitions: TransitionRecord[];
}

export interface ReplaySource {
  db: string;
  session: SessionRecord;
  /** The session's daemon config snapshot when it is one (simulated sessions of this project), else null. */
  config: DaemonConfig | null;
  calibration: Calibration | null;
  simulated: boolean;
  episodes: SourceEpisode[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The snapshot if it has what replay needs (practice, backend.sim, tickHz); anything else is treated as absent. */
function configSnapshot(v: unknown): DaemonConfig | null {
  if (!isObject(v) || !isObject(v.practice) || !isObject(v.backend) || !isObject(v.backend.sim) || typeof v.tickHz !== 'number') return null;
  return v as unknown as DaemonConfig;
}

function calibrationSnapshot(v: unknown): Calibration | null {
  if (!isObject(v)) return null;
  for (const k of ['camera', 'wrench', 'socket', 'workspace', 'gains', 'limits']) if (!isObject(v[k])) return null;
  return v as unknown as Calibration;
}

/**
 * Reads a session and the chosen episodes (default: every ended episode with transitions) from `db`, read-only.
 * Errors name the file, the session and the episode.
 */
export function readSource(db: string, sessionId: number, episodeIds?: readonly number[]): ReplaySource {
  const store = Store.openReadOnly(db);
  try {
    const session = store.getSession(sessionId);
    if (!session) throw new ReplaySourceError(`${db}: no session ${sessionId}`);
    let records: EpisodeRecord[];
    if (episodeIds && episodeIds.length > 0) {
      records = episodeIds.map((id) => {
        const e = store.getEpisode(id);
        if (!e) throw new ReplaySourceError(`${db}: no episode ${id}`);
        if (e.sessionId !== sessionId) throw new ReplaySourceError(`${db}: episode ${id} belongs to session ${e.sessionId}, not ${sessionId}`);
        return e;
      });
    } else {
      records = store.listEpisodes({ sessionId, order: 'asc', limit: 1_000_000 }).filter((e) => e.endedAt !== null && e.transitionCount > 0);
    }
    if (records.length === 0) throw new ReplaySourceError(`${db}: session ${sessionId} has no ended episode with logged transitions to replay`);
    const episodes = records.map((record) => {
      const transitions = store.getEpisode(record.id, { transitions: true, images: false })?.transitions ?? [];
      if (transitions.length === 0) throw new ReplaySourceError(`${db}: episode ${record.id} has no logged transitions (nothing to rebuild its start from)`);
      if (transitions[0]!.step !== 0)
        throw new ReplaySourceError(`${db}: episode ${record.id} starts at step ${transitions[0]!.step}, not 0 (its start observation is missing)`);
      return { record, transitions };
    });
    const config = configSnapshot(session.config);
    return { db, session, config, calibration: calibrationSnapshot(session.calibration), simulated: session.backend === 'sim' && config !== null, episodes };
  } finally {
    store.close();
  }
}

/** `--map-connector a=b,c=d` (or a REST object) as a map from logged connector to defined connector. */
export function parseConnectorMap(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0)) {
    const m = /^([^=]+)=([^=]+)$/.exec(part);
    if (!m) throw new ReplaySourceError(`--map-connector: '${part}' is not logged=defined (e.g. usb-c=square16)`);
    out[m[1]!.trim()] = m[2]!.trim();
  }
  return out;
}

export type StartKind = 'seeded' | 'cell' | 'relative';

export interface PlannedStart {
  sourceEpisodeId: number;
  /** Connector as logged, and the connector the cell loads (mapped, or the same). */
  loggedDomain: string;
  domain: string;
  mapped: boolean;
  scenario: Scenario;
  /** Seed of the reset (start when 'seeded'; nuisance always). */
  seed: number;
  kind: StartKind;
  /** Logged start: tip and calibrated x* (source frame). */
  tip: Vec3;
  goal: Vec3;
  /** 'relative': x* minus the true seated tip position to use (m); null: derive it in the cell (same frame). */
  goalError: Vec3 | null;
}

/**
 * The start of every episode, or a ReplaySourceError naming every connector the simulator does not define, with the
 * way to map it. `defined`: the connector names the simulator has (data/connectors).
 */
export function planStarts(src: ReplaySource, defined: readonly string[], map: Record<string, string> = {}, goalError: Vec3 | null = null): PlannedStart[] {
  for (const [from, to] of Object.entries(map)) {
    if (!defined.includes(to))
      throw new ReplaySourceError(`--map-connector ${from}=${to}: '${to}' is not a connector the simulator defines (defined: ${defined.join(', ')})`);
  }
  const missing = new Map<string, number[]>();
  for (const e of src.episodes) {
    const d = e.record.domain;
    if (!defined.includes(d) && map[d] === undefined) missing.set(d, [...(missing.get(d) ?? []), e.record.id]);
  }
  if (missing.size > 0) {
    const lines = [...missing].map(
      ([d, ids]) => `connector '${d}' (episodes ${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', ...' : ''}) has no definition in the simulator`,
    );
    const first = [...missing.keys()][0]!;
    throw new ReplaySourceError(
      `${src.db} session ${src.session.id}: ${lines.join('; ')}. Defined connectors (data/connectors/*.json): ${defined.join(', ')}. ` +
        `Map it to a defined one with --map-connector ${first}=<defined> (REST: "mapConnector": {"${first}": "<defined>"}), ` +
        `or add data/connectors/${first}.json (format in data/connectors/README.md).`,
    );
  }
  return src.episodes.map((e) => {
    const t0 = e.transitions[0]!;
    const mappedTo = map[e.record.domain];
    const mapped = mappedTo !== undefined && mappedTo !== e.record.domain;
    const domain = mappedTo ?? e.record.domain;
    const scenario = e.record.scenario === 'I' || e.record.scenario === 'II' ? e.record.scenario : 'II';
    const seeded = src.simulated && !mapped && e.record.seed !== null;
    const sameFrame = src.simulated && !mapped;
    return {
      sourceEpisodeId: e.record.id,
      loggedDomain: e.record.domain,
      domain,
      mapped,
      scenario,
      seed: e.record.seed ?? 0,
      kind: seeded ? 'seeded' : sameFrame ? 'cell' : 'relative',
      tip: t0.eePos,
      goal: t0.goal,
      goalError: sameFrame ? null : (goalError ?? [0, 0, 0]),
    } satisfies PlannedStart;
  });
}
