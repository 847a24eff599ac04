/**
 * The Store: the one place that knows SQL. One instance = one better-sqlite3 connection; all methods are synchronous
 * (better-sqlite3 is; a statement on a small WAL database takes microseconds). The control tick must not call the
 * sync append methods: it hands transitions to a TransitionWriter (writer.ts), which compresses and commits them in a
 * worker thread. Everything else (sessions, episodes, events, models) happens at episode boundaries or from the API.
 *
 * Writers and readers: one writable Store per process that owns the log (the daemon, or the prior-data collector);
 * any number of `Store.openReadOnly` in other threads or processes (trainer, API, replay) see every committed row
 * (WAL). Long reads are chunked (iterateTransitions) so no read transaction stays open long enough to hold the
 * WAL from being checkpointed.
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { decodeF32, encodeF32 } from './codec.ts';
import { type Db, type OpenOptions, openReadOnly, openWritable } from './open.ts';
import {
  END_EPISODE_SQL,
  INSERT_TRANSITION_SQL,
  TRANSITION_COLS,
  TRANSITION_COLS_NO_IMAGE,
  TRANSITION_DIGEST_COLS_V1,
  UPDATE_REWARD_SQL,
  type TransitionRow,
  endParams,
  rewardParams,
  transitionFromRow,
  transitionParams,
} from './rows.ts';
import { SCHEMA_VERSION } from './schema.ts';
import type {
  ActivationAction,
  ActivationRecord,
  DatasetDigest,
  EpisodeEnd,
  EpisodeLabelInput,
  EpisodeLabelRecord,
  EpisodeKind,
  EpisodeOutcome,
  EpisodeRecord,
  EpisodeStart,
  EventInput,
  EventRecord,
  ModelKind,
  ModelRecord,
  MirrorArmMarks,
  MirrorId,
  MirrorState,
  ModelRegistration,
  RewardUpdate,
  SessionRecord,
  SessionStart,
  TransitionFilter,
  TransitionInput,
  TransitionRecord,
} from './types.ts';

const EPISODE_KINDS: readonly EpisodeKind[] = ['practice', 'eval', 'prior'];

/** A row as stored: column name -> value (INTEGER/REAL as number, TEXT as string, BLOB as Buffer). */
export type RawRow = Record<string, number | string | Buffer | null>;

export interface ReadOptions {
  /** Decode images (inflate to RGB). Default true for single episodes, see each method. */
  images?: boolean;
}

export interface ListOptions {
  limit?: number;
  offset?: number;
  /** 'desc' (newest first, default) or 'asc'. */
  order?: 'asc' | 'desc';
}

export interface StoreCounts {
  sessions: number;
  episodes: number;
  transitions: number;
  models: number;
  events: number;
  features: number;
}

interface FilterSql {
  where: string;
  params: Record<string, number | string>;
}

/** A condition of a WHERE clause: its SQL, the parameter it binds (null: none), and the value (undefined: left out). */
type Condition = readonly [sql: string, param: string | null, value: string | number | boolean | undefined];

/** The WHERE clause of the conditions whose value is given ('1' when none), binding their values into `params`. */
function whereOf(conditions: readonly Condition[], params: Record<string, number | string>): string {
  const parts: string[] = [];
  for (const [sql, param, value] of conditions) {
    if (value === undefined || value === false) continue;
    if (param !== null) params[param] = value as string | number;
    parts.push(sql);
  }
  return parts.length ? parts.join(' AND ') : '1';
}

function filterSql(f: TransitionFilter): FilterSql {
  const params: Record<string, number | string> = {};
  const list = <T>(v: T | readonly T[]): T[] => (Array.isArray(v) ? [...(v as T[])] : [v as T]);
  const kinds = f.kind === undefined ? undefined : list(f.kind);
  for (const k of kinds ?? []) if (!EPISODE_KINDS.includes(k)) throw new TypeError(`filter.kind: '${k}' is not one of ${EPISODE_KINDS.join('|')}`);
  const where = whereOf(
    [
      ['e.domain IN (SELECT value FROM json_each(@f_domain))', 'f_domain', f.domain === undefined ? undefined : JSON.stringify(list(f.domain))],
      ['e.kind IN (SELECT value FROM json_each(@f_kind))', 'f_kind', kinds && JSON.stringify(kinds)],
      ['e.session_id = @f_session', 'f_session', f.sessionId],
      ['e.id IN (SELECT value FROM json_each(@f_episodes))', 'f_episodes', f.episodeIds && JSON.stringify([...f.episodeIds])],
      ['t.id > @f_after', 'f_after', f.afterId],
      ['e.ended_at IS NOT NULL', null, f.endedOnly],
    ],
    params,
  );
  return { where, params };
}

function parseJson(text: string | null, where: string): unknown {
  if (text == null) return null;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new TypeError(`${where}: stored JSON does not parse: ${(e as Error).message}`);
  }
}

const json = (v: unknown): string => JSON.stringify(v ?? null);

function requireString(v: unknown, where: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new TypeError(`${where} must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

interface LabelRow {
  id: number;
  episode_id: number;
  success: number;
  note: string | null;
  by_whom: string;
  created_at: number;
}
const labelFromRow = (r: LabelRow): EpisodeLabelRecord => ({
  id: r.id,
  episodeId: r.episode_id,
  success: r.success === 1,
  note: r.note,
  by: r.by_whom,
  createdAt: r.created_at,
});

interface SessionRow {
  id: number;
  robot: string;
  backend: string;
  config_json: string;
  calibration_json: string;
  note: string | null;
  started_at: number;
  ended_at: number | null;
  episode_count: number;
}
interface EpisodeRow {
  id: number;
  session_id: number;
  kind: EpisodeKind;
  domain: string;
  scenario: string | null;
  seed: number | null;
  start_state_json: string | null;
  policy_version: string | null;
  outcome: EpisodeOutcome | null;
  reason: string | null;
  learned_success_prob: number | null;
  gt_success: number | null;
  started_at: number;
  ended_at: number | null;
  transition_count: number;
}
interface ModelRow {
  id: number;
  kind: string;
  version: string;
  path: string;
  card_json: string;
  sha256: string;
  validation_json: string | null;
  created_at: number;
}
interface ActivationRow {
  id: number;
  kind: string;
  model_id: number | null;
  version: string | null;
  action: ActivationAction;
  reason: string | null;
  by_whom: string;
  activated_at: number;
}
interface EventRow {
  id: number;
  time: number;
  kind: string;
  message: string;
  data_json: string | null;
  session_id: number | null;
  episode_id: number | null;
}

const EPISODE_SELECT = `SELECT e.*, (SELECT count(*) FROM transitions t WHERE t.episode_id = e.id) AS transition_count FROM episodes e`;

export class Store {
  private readonly stmts = new Map<string, Database.Statement>();

  private constructor(
    private readonly db: Db,
    /** Path of the database file. */
    readonly file: string,
    /** True for Store.openReadOnly. */
    readonly readonly: boolean,
  ) {}

  /** Opens or creates a log for writing. Refuses (StoreOpenError, file untouched) corrupt, foreign or newer-schema files. */
  static open(file: string, opts: OpenOptions = {}): Store {
    return new Store(openWritable(file, opts), file, false);
  }

  /** Opens an existing log read-only; safe while another process or thread writes. Default check: header and schema only. */
  static openReadOnly(file: string, opts: OpenOptions = {}): Store {
    return new Store(openReadOnly(file, opts), file, true);
  }

  static readonly schemaVersion = SCHEMA_VERSION;

  close(): void {
    if (!this.db.open) return;
    if (!this.readonly) {
      try {
        this.db.pragma('optimize');
      } catch {
        // best effort only
      }
    }
    this.db.close();
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  private stmt(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.stmts.set(sql, s);
    }
    return s;
  }

  private where(what: string): string {
    return `${this.file}: ${what}`;
  }

  // ---------------------------------------------------------------- sessions

  openSession(s: SessionStart): number {
    requireString(s.robot, 'session.robot');
    requireString(s.backend, 'session.backend');
    const r = this.stmt(`INSERT INTO sessions (robot, backend, config_json, calibration_json, note, started_at) VALUES (?, ?, ?, ?, ?, ?)`).run(
      s.robot,
      s.backend,
      json(s.config),
      json(s.calibration),
      s.note ?? null,
      s.startedAt ?? Date.now(),
    );
    return Number(r.lastInsertRowid);
  }

  closeSession(id: number, endedAt = Date.now()): void {
    const r = this.stmt(`UPDATE sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL`).run(endedAt, id);
    if (r.changes !== 1) {
      const exists = this.stmt(`SELECT 1 FROM sessions WHERE id = ?`).get(id);
      throw new Error(this.where(exists ? `session ${id} is already closed` : `no session ${id}`));
    }
  }

  private session(r: SessionRow): SessionRecord {
    const w = this.where(`sessions.id=${r.id}`);
    return {
      id: r.id,
      robot: r.robot,
      backend: r.backend,
      config: parseJson(r.config_json, `${w} config_json`),
      calibration: parseJson(r.calibration_json, `${w} calibration_json`),
      note: r.note,
      startedAt: r.started_at,
      endedAt: r.ended_at,
      episodeCount: r.episode_count,
    };
  }

  getSession(id: number): SessionRecord | null {
    const r = this.stmt(`SELECT s.*, (SELECT count(*) FROM episodes e WHERE e.session_id = s.id) AS episode_count FROM sessions s WHERE s.id = ?`).get(id) as
      SessionRow | undefined;
    return r ? this.session(r) : null;
  }

  listSessions(o: ListOptions = {}): SessionRecord[] {
    const order = o.order === 'asc' ? 'ASC' : 'DESC';
    const rows = this.stmt(
      `SELECT s.*, (SELECT count(*) FROM episodes e WHERE e.session_id = s.id) AS episode_count FROM sessions s ORDER BY s.id ${order} LIMIT ? OFFSET ?`,
    ).all(o.limit ?? 100, o.offset ?? 0) as SessionRow[];
    return rows.map((r) => this.session(r));
  }

  // ---------------------------------------------------------------- episodes

  beginEpisode(e: EpisodeStart): number {
    if (!EPISODE_KINDS.includes(e.kind)) throw new TypeError(`episode.kind must be one of ${EPISODE_KINDS.join('|')}, got ${JSON.stringify(e.kind)}`);
    requireString(e.domain, 'episode.domain');
    if (!Number.isInteger(e.sessionId)) throw new TypeError(`episode.sessionId must be an integer, got ${e.sessionId}`);
    try {
      const r = this.stmt(
        `INSERT INTO episodes (session_id, kind, domain, scenario, seed, start_state_json, policy_version, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        e.sessionId,
        e.kind,
        e.domain,
        e.scenario ?? null,
        e.seed ?? null,
        e.startState === undefined ? null : json(e.startState),
        e.policyVersion ?? null,
        e.startedAt ?? Date.now(),
      );
      return Number(r.lastInsertRowid);
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') throw new Error(this.where(`episode.sessionId ${e.sessionId}: no such session`));
      throw err;
    }
  }

  endEpisode(id: number, end: EpisodeEnd): void {
    const r = this.stmt(END_EPISODE_SQL).run(endParams(id, end));
    if (r.changes !== 1) {
      const exists = this.stmt(`SELECT 1 FROM episodes WHERE id = ?`).get(id);
      throw new Error(this.where(exists ? `episode ${id} has already ended` : `no episode ${id}`));
    }
  }

  /**
   * Closes episodes and sessions a killed process left open (ended_at NULL): outcome 'error' with the given reason.
   * Call once when a daemon starts, before its own session. Returns how many of each were closed.
   */
  closeDangling(reason = 'process ended before the episode was closed', now = Date.now()): { sessions: number; episodes: number } {
    return this.db.transaction(() => {
      const episodes = this.stmt(`UPDATE episodes SET outcome = 'error', reason = ?, ended_at = ? WHERE ended_at IS NULL`).run(reason, now).changes;
      const sessions = this.stmt(`UPDATE sessions SET ended_at = ? WHERE ended_at IS NULL`).run(now).changes;
      return { sessions, episodes };
    })();
  }

  private episode(r: EpisodeRow): EpisodeRecord {
    return {
      id: r.id,
      sessionId: r.session_id,
      kind: r.kind,
      domain: r.domain,
      scenario: r.scenario,
      seed: r.seed,
      startState: parseJson(r.start_state_json, this.where(`episodes.id=${r.id} start_state_json`)),
      policyVersion: r.policy_version,
      outcome: r.outcome,
      reason: r.reason,
      learnedSuccessProb: r.learned_success_prob,
      gtSuccess: r.gt_success == null ? null : r.gt_success === 1,
      startedAt: r.started_at,
      endedAt: r.ended_at,
      transitionCount: r.transition_count,
    };
  }

  /** One episode, optionally with its transitions (in step order; images decoded unless images=false). */
  getEpisode(id: number, o: { transitions?: boolean; images?: boolean } = {}): (EpisodeRecord & { transitions?: TransitionRecord[] }) | null {
    const r = this.stmt(`${EPISODE_SELECT} WHERE e.id = ?`).get(id) as EpisodeRow | undefined;
    if (!r) return null;
    const ep: EpisodeRecord & { transitions?: TransitionRecord[] } = this.episode(r);
    if (o.transitions) ep.transitions = this.episodeTransitions(id, { images: o.images ?? true });
    return ep;
  }

  listEpisodes(f: { sessionId?: number; domain?: string; kind?: EpisodeKind } & ListOptions = {}): EpisodeRecord[] {
    const params: Record<string, string | number> = { limit: f.limit ?? 100, offset: f.offset ?? 0 };
    const where = whereOf(
      [
        ['e.session_id = @session', 'session', f.sessionId],
        ['e.domain = @domain', 'domain', f.domain],
        ['e.kind = @kind', 'kind', f.kind],
      ],
      params,
    );
    const sql = `${EPISODE_SELECT} WHERE ${where} ORDER BY e.id ${f.order === 'asc' ? 'ASC' : 'DESC'} LIMIT @limit OFFSET @offset`;
    return (this.stmt(sql).all(params) as EpisodeRow[]).map((r) => this.episode(r));
  }

  // ---------------------------------------------------------------- transitions

  /**
   * Synchronous append of one transition (compresses the image on the calling thread, ~0.2 ms at 64x64).
   * For bulk writers that are not a control loop (prior-data collection, tests). Returns the row id.
   */
  appendTransition(t: TransitionInput): number {
    return this.appendTransitions([t])[0]!;
  }

  /** Appends many transitions in one transaction (all or none). Returns their row ids in order. */
  appendTransitions(ts: readonly TransitionInput[]): number[] {
    const params = ts.map((t, i) => transitionParams(t, `transitions[${i}]`));
    const ins = this.stmt(INSERT_TRANSITION_SQL);
    return this.db.transaction(() => params.map((p) => Number(ins.run(p).lastInsertRowid)))();
  }

  /** Sets rewards (and optionally ground truth / done) of logged transitions of one episode, by step. Returns rows changed. */
  setRewards(episodeId: number, updates: readonly RewardUpdate[]): number {
    const up = this.stmt(UPDATE_REWARD_SQL);
    return this.db.transaction(() => {
      let n = 0;
      for (const u of updates) n += up.run(rewardParams(episodeId, u)).changes;
      return n;
    })();
  }

  private episodeTransitions(episodeId: number, o: ReadOptions): TransitionRecord[] {
    const rows = this.stmt(`SELECT ${o.images ? TRANSITION_COLS : TRANSITION_COLS_NO_IMAGE} FROM transitions t WHERE t.episode_id = ? ORDER BY t.step`).all(
      episodeId,
    ) as TransitionRow[];
    return rows.map((r) => transitionFromRow(r, this.file));
  }

  /** One transition by id (image decoded unless images=false). */
  getTransition(id: number, o: ReadOptions = {}): TransitionRecord | null {
    const r = this.stmt(`SELECT ${o.images === false ? TRANSITION_COLS_NO_IMAGE : TRANSITION_COLS} FROM transitions t WHERE t.id = ?`).get(id) as
      TransitionRow | undefined;
    return r ? transitionFromRow(r, this.file) : null;
  }

  /** Transitions by id, returned in the order asked (missing ids are skipped). For random minibatches. */
  getTransitions(ids: readonly number[], o: ReadOptions = {}): TransitionRecord[] {
    const rows = this.stmt(
      `SELECT ${o.images === false ? TRANSITION_COLS_NO_IMAGE : TRANSITION_COLS} FROM transitions t WHERE t.id IN (SELECT value FROM json_each(?))`,
    ).all(JSON.stringify(ids)) as TransitionRow[];
    const byId = new Map(rows.map((r) => [r.id, r]));
    const out: TransitionRecord[] = [];
    for (const id of ids) {
      const r = byId.get(id);
      if (r) out.push(transitionFromRow(r, this.file));
    }
    return out;
  }

  // ---------------------------------------------------------------- raw rows (the fleet shipper and mirror)

  /** Sessions with id >= fromId as stored (column names, JSON as text), id order. For shipping (src/store/pg). */
  rawSessions(fromId: number, limit = 1000): RawRow[] {
    return this.stmt('SELECT * FROM sessions WHERE id >= ? ORDER BY id LIMIT ?').all(fromId, limit) as RawRow[];
  }

  /** Episodes with id >= fromId as stored, id order, each with `last_transition_id` (its newest committed row, or null). */
  rawEpisodes(fromId: number, limit = 1000): RawRow[] {
    return this.stmt(
      'SELECT e.*, (SELECT max(t.id) FROM transitions t WHERE t.episode_id = e.id) AS last_transition_id FROM episodes e WHERE e.id >= ? ORDER BY e.id LIMIT ?',
    ).all(fromId, limit) as RawRow[];
  }

  /** Committed transitions with id > afterId as stored (the image still compressed), id order. */
  rawTransitions(afterId: number, limit: number): RawRow[] {
    return this.stmt('SELECT * FROM transitions WHERE id > ? ORDER BY id LIMIT ?').all(afterId, limit) as RawRow[];
  }

  /** Operator labels with id > afterId as stored, id order (shipping: labels travel like transitions). */
  rawLabels(afterId: number, limit: number): RawRow[] {
    return this.stmt('SELECT * FROM episode_labels WHERE id > ? ORDER BY id LIMIT ?').all(afterId, limit) as RawRow[];
  }

  /** Events with id > afterId as stored (data as JSON text), id order (shipping). */
  rawEvents(afterId: number, limit: number): RawRow[] {
    return this.stmt('SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?').all(afterId, limit) as RawRow[];
  }

  /** The newest committed transition id (0: none). */
  newestTransitionId(): number {
    return (this.stmt('SELECT max(id) FROM transitions').pluck().get() as number | null) ?? 0;
  }

  /** Inserts transitions given as stored columns (their `id` is ignored: this file assigns its own) in one transaction. */
  importRawTransitions(rows: readonly RawRow[]): number[] {
    const ins = this.stmt(INSERT_TRANSITION_SQL);
    const cols = [
      'episode_id',
      'step',
      'image_width',
      'image_height',
      'image_format',
      'image_codec',
      'image',
      'wrench',
      'ee_pos',
      'ee_quat',
      'goal',
      'action_p',
      'action_residual',
      'action_executed',
      'reward_prob',
      'gt_success',
      'done',
      'tick_time',
      'image_stamp',
      'wrench_stamp',
      'policy_version',
      'wall_time',
      'intervention_source',
      'depth_width',
      'depth_height',
      'depth_codec',
      'depth',
    ];
    // intervention is NOT NULL: rows shipped before the takeover migration carry none.
    return this.db.transaction(() =>
      rows.map((r) => Number(ins.run({ ...Object.fromEntries(cols.map((c) => [c, r[c] ?? null])), intervention: r.intervention ?? 0 }).lastInsertRowid)),
    )();
  }

  /** Ids of the matching transitions, ascending (= logging order; within an episode, step order). */
  transitionIds(f: TransitionFilter = {}): number[] {
    const { where, params } = filterSql(f);
    return this.stmt(`SELECT t.id FROM transitions t JOIN episodes e ON e.id = t.episode_id WHERE ${where} ORDER BY t.id`).pluck().all(params) as number[];
  }

  countTransitions(f: TransitionFilter = {}): number {
    const { where, params } = filterSql(f);
    return this.stmt(`SELECT count(*) FROM transitions t JOIN episodes e ON e.id = t.episode_id WHERE ${where}`).pluck().get(params) as number;
  }

  /**
   * Streams matching transitions in id order, `chunk` rows per query (each query a short read transaction, so a
   * long training pass neither blocks WAL checkpoints nor the connection). Images decoded unless images=false.
   * Rows committed while iterating are included if their id is beyond the cursor.
   */
  *iterateTransitions(f: TransitionFilter = {}, o: ReadOptions & { chunk?: number } = {}): Generator<TransitionRecord> {
    const { where, params } = filterSql(f);
    const chunk = o.chunk ?? 256;
    const s = this.stmt(`SELECT ${o.images === false ? TRANSITION_COLS_NO_IMAGE : TRANSITION_COLS} FROM transitions t JOIN episodes e ON e.id = t.episode_id
      WHERE ${where} AND t.id > @cursor ORDER BY t.id LIMIT @chunk`);
    let cursor = -1;
    for (;;) {
      const rows = s.all({ ...params, cursor, chunk }) as TransitionRow[];
      for (const r of rows) yield transitionFromRow(r, this.file);
      if (rows.length < chunk) return;
      cursor = rows[rows.length - 1]!.id;
    }
  }

  /**
   * Streams matching episodes, each with all its transitions in step order (for building (o, a, r, o') tuples).
   * The transition-level filter fields (afterId) do not apply; an episode matches on domain/kind/session/ids/endedOnly.
   */
  *iterateEpisodes(f: Omit<TransitionFilter, 'afterId'> = {}, o: ReadOptions = {}): Generator<EpisodeRecord & { transitions: TransitionRecord[] }> {
    const { where, params } = filterSql({ ...f, afterId: undefined });
    const ids = this.stmt(`SELECT e.id FROM episodes e WHERE ${where} ORDER BY e.id`).pluck().all(params) as number[];
    for (const id of ids) {
      const ep = this.getEpisode(id, { transitions: true, images: o.images ?? true });
      if (ep) yield ep as EpisodeRecord & { transitions: TransitionRecord[] };
    }
  }

  // ---------------------------------------------------------------- features (cached frozen-encoder outputs)

  putFeatures(encoderVersion: string, rows: readonly { transitionId: number; vector: Float32Array }[]): void {
    requireString(encoderVersion, 'encoderVersion');
    const s = this.stmt(`INSERT OR REPLACE INTO features (transition_id, encoder_version, vector) VALUES (?, ?, ?)`);
    this.db.transaction(() => {
      for (const r of rows) s.run(r.transitionId, encoderVersion, encodeF32(r.vector));
    })();
  }

  getFeatures(encoderVersion: string, transitionIds: readonly number[]): Map<number, Float32Array> {
    const rows = this.stmt(`SELECT transition_id, vector FROM features WHERE encoder_version = ? AND transition_id IN (SELECT value FROM json_each(?))`).all(
      encoderVersion,
      JSON.stringify(transitionIds),
    ) as { transition_id: number; vector: Buffer }[];
    return new Map(rows.map((r) => [r.transition_id, decodeF32(r.vector)]));
  }

  /** Matching transitions that have no cached features for this encoder version yet (ascending, at most `limit`). */
  transitionsMissingFeatures(encoderVersion: string, f: TransitionFilter = {}, limit = 1024): number[] {
    const { where, params } = filterSql(f);
    return this.stmt(
      `SELECT t.id FROM transitions t JOIN episodes e ON e.id = t.episode_id
      WHERE ${where} AND NOT EXISTS (SELECT 1 FROM features x WHERE x.encoder_version = @enc AND x.transition_id = t.id) ORDER BY t.id LIMIT @limit`,
    )
      .pluck()
      .all({ ...params, enc: encoderVersion, limit }) as number[];
  }

  // ---------------------------------------------------------------- models

  private model(r: ModelRow): ModelRecord {
    const w = this.where(`models.id=${r.id}`);
    return {
      id: r.id,
      kind: r.kind,
      version: r.version,
      path: r.path,
      card: parseJson(r.card_json, `${w} card_json`),
      sha256: r.sha256,
      validation: parseJson(r.validation_json, `${w} validation_json`),
      createdAt: r.created_at,
    };
  }

  /** Records a model file. (kind, version) is unique. Returns the model id. */
  registerModel(m: ModelRegistration): number {
    requireString(m.kind, 'model.kind');
    requireString(m.version, 'model.version');
    requireString(m.path, 'model.path');
    if (!/^[0-9a-f]{64}$/.test(m.sha256)) throw new TypeError(`model.sha256 must be 64 lowercase hex digits, got ${JSON.stringify(m.sha256)}`);
    try {
      const r = this.stmt(`INSERT INTO models (kind, version, path, card_json, sha256, validation_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`).run(
        m.kind,
        m.version,
        m.path,
        json(m.card),
        m.sha256,
        m.validation === undefined ? null : json(m.validation),
        m.createdAt ?? Date.now(),
      );
      return Number(r.lastInsertRowid);
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE')
        throw new Error(this.where(`model ${m.kind} version '${m.version}' is already registered`));
      throw err;
    }
  }

  setModelValidation(modelId: number, validation: unknown): void {
    const r = this.stmt(`UPDATE models SET validation_json = ? WHERE id = ?`).run(json(validation), modelId);
    if (r.changes !== 1) throw new Error(this.where(`no model ${modelId}`));
  }

  getModel(id: number): ModelRecord | null {
    const r = this.stmt(`SELECT * FROM models WHERE id = ?`).get(id) as ModelRow | undefined;
    return r ? this.model(r) : null;
  }

  findModel(kind: ModelKind, version: string): ModelRecord | null {
    const r = this.stmt(`SELECT * FROM models WHERE kind = ? AND version = ?`).get(kind, version) as ModelRow | undefined;
    return r ? this.model(r) : null;
  }

  /** Models, newest first, optionally of one kind. */
  listModels(kind?: ModelKind): ModelRecord[] {
    const rows = (
      kind === undefined
        ? this.stmt(`SELECT * FROM models ORDER BY id DESC`).all()
        : this.stmt(`SELECT * FROM models WHERE kind = ? ORDER BY id DESC`).all(kind)
    ) as ModelRow[];
    return rows.map((r) => this.model(r));
  }

  /** Makes a model the active one of its kind (history kept). action 'rollback' marks operator/automatic rollbacks. */
  activateModel(modelId: number, o: { reason?: string | null; by: string; action?: 'activate' | 'rollback'; at?: number }): number {
    requireString(o.by, 'activation.by');
    const m = this.getModel(modelId);
    if (!m) throw new Error(this.where(`cannot activate: no model ${modelId}`));
    const r = this.stmt(`INSERT INTO model_activations (kind, model_id, action, reason, by_whom, activated_at) VALUES (?, ?, ?, ?, ?, ?)`).run(
      m.kind,
      modelId,
      o.action ?? 'activate',
      o.reason ?? null,
      o.by,
      o.at ?? Date.now(),
    );
    return Number(r.lastInsertRowid);
  }

  /** No model of this kind is active any more (e.g. P-controller alone). */
  deactivateModel(kind: ModelKind, o: { reason?: string | null; by: string; at?: number }): number {
    requireString(o.by, 'activation.by');
    const r = this.stmt(`INSERT INTO model_activations (kind, model_id, action, reason, by_whom, activated_at) VALUES (?, NULL, 'deactivate', ?, ?, ?)`).run(
      kind,
      o.reason ?? null,
      o.by,
      o.at ?? Date.now(),
    );
    return Number(r.lastInsertRowid);
  }

  /** The active model of a kind, or null (never activated, or deactivated). */
  activeModel(kind: ModelKind): ModelRecord | null {
    const r = this.stmt(`SELECT model_id FROM model_activations WHERE kind = ? ORDER BY id DESC LIMIT 1`).get(kind) as { model_id: number | null } | undefined;
    return r?.model_id == null ? null : this.getModel(r.model_id);
  }

  /** Activation history, newest first. */
  listActivations(kind?: ModelKind, limit = 100): ActivationRecord[] {
    const sql = `SELECT a.*, m.version FROM model_activations a LEFT JOIN models m ON m.id = a.model_id ${kind === undefined ? '' : 'WHERE a.kind = @kind'} ORDER BY a.id DESC LIMIT @limit`;
    const rows = this.stmt(sql).all(kind === undefined ? { limit } : { kind, limit }) as ActivationRow[];
    return rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      modelId: r.model_id,
      version: r.version,
      action: r.action,
      reason: r.reason,
      by: r.by_whom,
      activatedAt: r.activated_at,
    }));
  }

  // ---------------------------------------------------------------- labels (operator-labelled episode outcomes)

  /** Records an operator's label of an episode's outcome; the newest label of an episode counts. Returns the record. */
  labelEpisode(l: EpisodeLabelInput): EpisodeLabelRecord {
    requireString(l.by, 'label.by');
    if (typeof l.success !== 'boolean') throw new TypeError(`label.success must be a boolean, got ${JSON.stringify(l.success)}`);
    if (!this.stmt(`SELECT 1 FROM episodes WHERE id = ?`).get(l.episodeId)) throw new Error(this.where(`cannot label: no episode ${l.episodeId}`));
    const at = l.createdAt ?? Date.now();
    const r = this.stmt(`INSERT INTO episode_labels (episode_id, success, note, by_whom, created_at) VALUES (?, ?, ?, ?, ?)`).run(
      l.episodeId,
      l.success ? 1 : 0,
      l.note ?? null,
      l.by,
      at,
    );
    return { id: Number(r.lastInsertRowid), episodeId: l.episodeId, success: l.success, note: l.note ?? null, by: l.by, createdAt: at };
  }

  /** The label that counts for an episode (its newest), or null. */
  episodeLabel(episodeId: number): EpisodeLabelRecord | null {
    const r = this.stmt(`SELECT * FROM episode_labels WHERE episode_id = ? ORDER BY id DESC LIMIT 1`).get(episodeId) as LabelRow | undefined;
    return r ? labelFromRow(r) : null;
  }

  /** Labels with id > afterId, ascending (incremental reads by the trainer: a later row overrides an earlier one). */
  labelsAfter(afterId = 0, limit = 10_000): EpisodeLabelRecord[] {
    return (this.stmt(`SELECT * FROM episode_labels WHERE id > ? ORDER BY id LIMIT ?`).all(afterId, limit) as LabelRow[]).map(labelFromRow);
  }

  // ---------------------------------------------------------------- events

  recordEvent(e: EventInput): number {
    requireString(e.kind, 'event.kind');
    if (typeof e.message !== 'string') throw new TypeError(`event.message must be a string, got ${JSON.stringify(e.message)}`);
    const r = this.stmt(`INSERT INTO events (time, kind, message, data_json, session_id, episode_id) VALUES (?, ?, ?, ?, ?, ?)`).run(
      e.time ?? Date.now(),
      e.kind,
      e.message,
      e.data === undefined ? null : json(e.data),
      e.sessionId ?? null,
      e.episodeId ?? null,
    );
    return Number(r.lastInsertRowid);
  }

  /** Events, newest first unless order 'asc'; afterId for incremental polling. */
  listEvents(f: { kind?: string; sessionId?: number; episodeId?: number; afterId?: number } & ListOptions = {}): EventRecord[] {
    const params: Record<string, string | number> = { limit: f.limit ?? 100, offset: f.offset ?? 0 };
    const where = whereOf(
      [
        ['kind = @kind', 'kind', f.kind],
        ['session_id = @session', 'session', f.sessionId],
        ['episode_id = @episode', 'episode', f.episodeId],
        ['id > @after', 'after', f.afterId],
      ],
      params,
    );
    const sql = `SELECT * FROM events WHERE ${where} ORDER BY id ${f.order === 'asc' ? 'ASC' : 'DESC'} LIMIT @limit OFFSET @offset`;
    return (this.stmt(sql).all(params) as EventRow[]).map((r) => ({
      id: r.id,
      time: r.time,
      kind: r.kind,
      message: r.message,
      data: parseJson(r.data_json, this.where(`events.id=${r.id} data_json`)),
      sessionId: r.session_id,
      episodeId: r.episode_id,
    }));
  }

  // ---------------------------------------------------------------- summaries

  counts(): StoreCounts {
    const n = (t: string) => this.stmt(`SELECT count(*) FROM ${t}`).pluck().get() as number;
    return {
      sessions: n('sessions'),
      episodes: n('episodes'),
      transitions: n('transitions'),
      models: n('models'),
      events: n('events'),
      features: n('features'),
    };
  }

  /** Bytes of the database pages (excluding the -wal file). */
  sizeBytes(): number {
    return (this.db.pragma('page_count', { simple: true }) as number) * (this.db.pragma('page_size', { simple: true }) as number);
  }

  /** Where the bytes go: pages in use (main file + WAL, as SQLite sees them) and the stored (compressed) image bytes. */
  storage(): { pageBytes: number; imageBytes: number; transitions: number } {
    const r = this.stmt(`SELECT count(*) AS n, coalesce(sum(length(image)), 0) AS img FROM transitions`).get() as { n: number; img: number };
    return { pageBytes: this.sizeBytes(), imageBytes: r.img, transitions: r.n };
  }

  /**
   * A content hash of a training set for model cards: counts and sha256 over the selected episodes and their
   * transitions' stored columns (compressed images and depth images included as stored), in id order. Independent of
   * page layout, WAL state and unrelated rows, so it identifies the data a model saw. The wall-clock time of each row is
   * left out: two runs of a deterministic collection then share a digest, so a card's digest can be checked against a
   * re-collection (digests recorded before December 2026 hashed it, so no two collections matched). Reads in chunks.
   */
  datasetDigest(f: TransitionFilter = {}): DatasetDigest {
    const h = createHash('sha256');
    const add = (v: unknown): void => {
      if (v == null) h.update('\x00N');
      else if (Buffer.isBuffer(v)) {
        h.update(`\x00B${v.length}:`);
        h.update(v);
      } else {
        const sv = v as string | number | bigint | boolean;
        /* SQLite gives scalars here (Buffer above) */ const s = String(sv);
        h.update(`\x00${typeof v === 'number' ? 'n' : 's'}${s.length}:${s}`);
      }
    };
    const { where, params } = filterSql({ ...f, afterId: undefined });
    const eps = this.stmt(
      `SELECT e.id, e.kind, e.domain, e.scenario, e.seed, e.start_state_json, e.policy_version, e.outcome, e.reason, e.learned_success_prob, e.gt_success
      FROM episodes e WHERE e.id IN (SELECT DISTINCT t.episode_id FROM transitions t JOIN episodes e ON e.id = t.episode_id WHERE ${where}) ORDER BY e.id`,
    )
      .raw()
      .all(params) as unknown[][];
    for (const row of eps) {
      h.update('\x01E');
      for (const v of row) add(v);
    }
    const { where: tw, params: tp } = filterSql(f);
    // Schema-1 columns but the wall-clock time, then the intervention pair and the depth image only where set (a row
    // without them adds nothing for them, so an older log's rows hash as a newer log's rows of the same content).
    const s = this.stmt(
      `SELECT ${TRANSITION_DIGEST_COLS_V1}, t.image, t.intervention, t.intervention_source, t.depth_width, t.depth_height, t.depth_codec, t.depth FROM transitions t JOIN episodes e ON e.id = t.episode_id WHERE ${tw} AND t.id > @cursor ORDER BY t.id LIMIT 512`,
    ).raw();
    let cursor = -1;
    let n = 0;
    for (;;) {
      const rows = s.all({ ...tp, cursor }) as unknown[][];
      for (const row of rows) {
        h.update('\x01T');
        const depth = row.splice(row.length - 4, 4);
        const marks = row.splice(row.length - 2, 2);
        for (const v of row) add(v);
        if (marks[0] === 1) {
          h.update('\x01I');
          add(marks[1]);
        }
        if (depth[3] != null) {
          h.update('\x01D');
          for (const v of depth) add(v);
        }
      }
      n += rows.length;
      if (rows.length < 512) break;
      cursor = rows[rows.length - 1]![0] as number;
    }
    s.raw(false);
    return { episodes: eps.length, transitions: n, sha256: h.digest('hex') };
  }

  // ---------------------------------------------------------------- the fleet learner's mirror (schema 4)

  /** Runs `fn` in one transaction (nested calls become savepoints): all of its writes or none. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** The mirror's saved state: its source, each arm's high-water marks and id maps. */
  mirrorState(): MirrorState {
    const src = this.stmt('SELECT fleet_json, filter_json, created_at FROM mirror_source WHERE id = 1').get() as
      { fleet_json: string; filter_json: string; created_at: number } | undefined;
    const arms = this.stmt('SELECT robot, last_transition, last_episode, last_label FROM mirror_arms ORDER BY robot').all() as Array<{
      robot: string;
      last_transition: number;
      last_episode: number;
      last_label: number;
    }>;
    const ids = this.stmt('SELECT robot, kind, remote_id, local_id, open FROM mirror_ids ORDER BY robot, kind, remote_id').all() as Array<{
      robot: string;
      kind: 'session' | 'episode';
      remote_id: number;
      local_id: number | null;
      open: number;
    }>;
    return {
      source: src ? { fleet: src.fleet_json, filter: src.filter_json, createdAt: src.created_at } : null,
      arms: arms.map((a) => ({ robot: a.robot, lastTransition: a.last_transition, lastEpisode: a.last_episode, lastLabel: a.last_label })),
      ids: ids.map((r) => ({ robot: r.robot, kind: r.kind, remoteId: r.remote_id, localId: r.local_id, open: r.open === 1 })),
    };
  }

  /** Records which fleet and filter this mirror copies (a new mirror only: it is never changed, the file is remade). */
  setMirrorSource(fleet: string, filter: string, at = Date.now()): void {
    this.stmt('INSERT INTO mirror_source (id, fleet_json, filter_json, created_at) VALUES (1, ?, ?, ?)').run(fleet, filter, at);
  }

  /** Saves an arm's high-water marks and its new or changed ids; call inside the transaction that wrote the rows. */
  saveMirrorArm(m: MirrorArmMarks, ids: readonly MirrorId[]): void {
    this.stmt(
      `INSERT INTO mirror_arms (robot, last_transition, last_episode, last_label) VALUES (?, ?, ?, ?)
       ON CONFLICT (robot) DO UPDATE SET last_transition = excluded.last_transition, last_episode = excluded.last_episode, last_label = excluded.last_label`,
    ).run(m.robot, m.lastTransition, m.lastEpisode, m.lastLabel);
    const up = this.stmt(
      `INSERT INTO mirror_ids (robot, kind, remote_id, local_id, open) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (robot, kind, remote_id) DO UPDATE SET local_id = excluded.local_id, open = excluded.open`,
    );
    for (const r of ids) up.run(r.robot, r.kind, r.remoteId, r.localId, r.open ? 1 : 0);
  }

  /** Runs PRAGMA quick_check on this connection; returns 'ok' or the problems found. */
  quickCheck(): string {
    return (this.db.pragma('quick_check(20)') as { quick_check: string }[]).map((r) => r.quick_check).join('; ');
  }

  /** Copies committed WAL content into the main file (writable stores only). 'TRUNCATE' also empties the -wal file. */
  checkpoint(mode: 'PASSIVE' | 'TRUNCATE' = 'PASSIVE'): void {
    if (this.readonly) throw new Error(this.where('checkpoint needs a writable store'));
    this.db.pragma(`wal_checkpoint(${mode})`);
  }
}
