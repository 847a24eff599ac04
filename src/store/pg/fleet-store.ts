/**
 * The fleet store: PostgreSQL beside each arm's SQLite log (the only file that imports `pg`). Every arm ships its
 * committed rows here (shipper.ts), keyed by (robot_id, the row's id in that arm's log), so a batch sent twice (a
 * crash between COMMIT and the local acknowledgement, a reconnect) inserts nothing the second time. The learner
 * pulls the pooled rows (mirror.ts) and publishes model versions (the ONNX bytes with their card) into
 * fleet_models; a NOTIFY on channel `fleet_models` tells the arms, which validate and swap on their own
 * (src/app/fleet.ts) and report each decision in fleet_model_status.
 *
 * Rows are the local log's columns as stored (JSON as text, vectors as float64 bytea, images compressed as the log
 * holds them), so a round trip is byte-exact. Migrations append to PG_MIGRATIONS and run in one transaction under an
 * advisory lock (several arms may start at once).
 */
import pg from 'pg';
import type { RawRow } from '../store.ts';
import { redact, type PgTarget } from './credentials.ts';

export const PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE fleet_sessions (
    robot_id text NOT NULL, local_id bigint NOT NULL,
    robot text NOT NULL, backend text NOT NULL, config_json text NOT NULL, calibration_json text NOT NULL, note text,
    started_at bigint NOT NULL, ended_at bigint,
    PRIMARY KEY (robot_id, local_id)
  );
  CREATE TABLE fleet_episodes (
    robot_id text NOT NULL, local_id bigint NOT NULL, session_local_id bigint NOT NULL,
    kind text NOT NULL, domain text NOT NULL, scenario text, seed bigint, start_state_json text, policy_version text,
    outcome text, reason text, learned_success_prob double precision, gt_success smallint,
    started_at bigint NOT NULL, ended_at bigint,
    PRIMARY KEY (robot_id, local_id)
  );
  CREATE INDEX fleet_episodes_domain ON fleet_episodes (domain, kind);
  CREATE TABLE fleet_transitions (
    robot_id text NOT NULL, local_id bigint NOT NULL, episode_local_id bigint NOT NULL, step integer NOT NULL,
    image_width integer, image_height integer, image_format text, image_codec text, image bytea,
    wrench bytea NOT NULL, ee_pos bytea NOT NULL, ee_quat bytea NOT NULL, goal bytea NOT NULL,
    action_p bytea, action_residual bytea, action_executed bytea,
    reward_prob double precision, gt_success smallint, done smallint NOT NULL,
    tick_time double precision, image_stamp double precision, wrench_stamp double precision, policy_version text,
    wall_time bigint NOT NULL,
    -- When this row reached PostgreSQL (ms since epoch, server clock): ship lag = ingested_at - wall_time.
    ingested_at bigint NOT NULL DEFAULT (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
    PRIMARY KEY (robot_id, local_id)
  );
  CREATE TABLE fleet_models (
    id bigserial PRIMARY KEY, kind text NOT NULL, version text NOT NULL, onnx bytea NOT NULL, card_json text NOT NULL,
    sha256 text NOT NULL, rollout_json text NOT NULL, created_at bigint NOT NULL,
    UNIQUE (kind, version)
  );
  -- Each arm's decision about each version: accepted / rejected (validation) / live (driving) / skipped (not for it).
  CREATE TABLE fleet_model_status (
    model_id bigint NOT NULL REFERENCES fleet_models(id), robot_id text NOT NULL,
    state text NOT NULL CHECK (state IN ('accepted', 'rejected', 'live', 'skipped')), reason text,
    episodes integer NOT NULL DEFAULT 0, successes integer NOT NULL DEFAULT 0, at bigint NOT NULL,
    -- When the version first drove this arm (ms): publish-to-live = live_at - fleet_models.created_at.
    live_at bigint,
    PRIMARY KEY (model_id, robot_id)
  );
  `,
  // 2: operator takeovers (the local schema's migration 2): which steps an operator drove, and who.
  `
  ALTER TABLE fleet_transitions ADD COLUMN intervention smallint NOT NULL DEFAULT 0, ADD COLUMN intervention_source text;
  `,
  // 3: operator labels of episode outcomes (the local schema's migration 3; the learner applies them through
  // src/data/labels.ts) and the daemon's events, keyed like transitions so that shipping them twice inserts nothing.
  `
  CREATE TABLE fleet_episode_labels (
    robot_id text NOT NULL, local_id bigint NOT NULL, episode_local_id bigint NOT NULL,
    success smallint NOT NULL, note text, by_whom text NOT NULL, created_at bigint NOT NULL,
    ingested_at bigint NOT NULL DEFAULT (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
    PRIMARY KEY (robot_id, local_id)
  );
  CREATE TABLE fleet_events (
    robot_id text NOT NULL, local_id bigint NOT NULL, time bigint NOT NULL, kind text NOT NULL, message text NOT NULL,
    data_json text, session_local_id bigint, episode_local_id bigint,
    PRIMARY KEY (robot_id, local_id)
  );
  CREATE INDEX fleet_events_kind ON fleet_events (kind, time);
  `,
  // 4: this fleet database's identity, made once: a learner's mirror kept across restarts (mirror.ts) is only used
  // against the fleet it was pulled from (a database made anew under the same name gets a new id).
  `
  CREATE TABLE fleet_identity (fleet_id text NOT NULL, created_at bigint NOT NULL);
  INSERT INTO fleet_identity VALUES (gen_random_uuid()::text, (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
  `,
  // 5: the wrist camera's depth image (the local schema's migration 5, issue 13), as the log stores it (codec.ts
  // DEPTH_CODEC: 0.1 mm uint16, deflated), so that a fleet learner can train and validate a depth reward. NULL on rows
  // without depth and on rows shipped before this migration.
  `
  ALTER TABLE fleet_transitions ADD COLUMN depth_width integer, ADD COLUMN depth_height integer, ADD COLUMN depth_codec text,
    ADD COLUMN depth bytea;
  `,
];

/** Which fleet a connection reaches: the database's own id (migration 4), its name, and the cluster's system
 *  identifier (null where the role may not read it). */
export interface FleetIdentity {
  fleetId: string;
  database: string;
  cluster: string | null;
}

export const NOTIFY_CHANNEL = 'fleet_models';

const TRANSITION_COLS = [
  ['episode_id', 'episode_local_id', 'bigint'],
  ['step', 'step', 'integer'],
  ['image_width', 'image_width', 'integer'],
  ['image_height', 'image_height', 'integer'],
  ['image_format', 'image_format', 'text'],
  ['image_codec', 'image_codec', 'text'],
  ['image', 'image', 'bytea'],
  ['wrench', 'wrench', 'bytea'],
  ['ee_pos', 'ee_pos', 'bytea'],
  ['ee_quat', 'ee_quat', 'bytea'],
  ['goal', 'goal', 'bytea'],
  ['action_p', 'action_p', 'bytea'],
  ['action_residual', 'action_residual', 'bytea'],
  ['action_executed', 'action_executed', 'bytea'],
  ['reward_prob', 'reward_prob', 'double precision'],
  ['gt_success', 'gt_success', 'smallint'],
  ['done', 'done', 'smallint'],
  ['tick_time', 'tick_time', 'double precision'],
  ['image_stamp', 'image_stamp', 'double precision'],
  ['wrench_stamp', 'wrench_stamp', 'double precision'],
  ['policy_version', 'policy_version', 'text'],
  ['wall_time', 'wall_time', 'bigint'],
  ['intervention', 'intervention', 'smallint'],
  ['intervention_source', 'intervention_source', 'text'],
  ['depth_width', 'depth_width', 'integer'],
  ['depth_height', 'depth_height', 'integer'],
  ['depth_codec', 'depth_codec', 'text'],
  ['depth', 'depth', 'bytea'],
] as const;
const LABEL_COLS = [
  ['episode_id', 'episode_local_id', 'bigint'],
  ['success', 'success', 'smallint'],
  ['note', 'note', 'text'],
  ['by_whom', 'by_whom', 'text'],
  ['created_at', 'created_at', 'bigint'],
] as const;
const EVENT_COLS = [
  ['time', 'time', 'bigint'],
  ['kind', 'kind', 'text'],
  ['message', 'message', 'text'],
  ['data_json', 'data_json', 'text'],
  ['session_id', 'session_local_id', 'bigint'],
  ['episode_id', 'episode_local_id', 'bigint'],
] as const;
const EPISODE_COLS = [
  ['session_id', 'session_local_id', 'bigint'],
  ['kind', 'kind', 'text'],
  ['domain', 'domain', 'text'],
  ['scenario', 'scenario', 'text'],
  ['seed', 'seed', 'bigint'],
  ['start_state_json', 'start_state_json', 'text'],
  ['policy_version', 'policy_version', 'text'],
  ['outcome', 'outcome', 'text'],
  ['reason', 'reason', 'text'],
  ['learned_success_prob', 'learned_success_prob', 'double precision'],
  ['gt_success', 'gt_success', 'smallint'],
  ['started_at', 'started_at', 'bigint'],
  ['ended_at', 'ended_at', 'bigint'],
] as const;
const SESSION_COLS = [
  ['robot', 'robot', 'text'],
  ['backend', 'backend', 'text'],
  ['config_json', 'config_json', 'text'],
  ['calibration_json', 'calibration_json', 'text'],
  ['note', 'note', 'text'],
  ['started_at', 'started_at', 'bigint'],
  ['ended_at', 'ended_at', 'bigint'],
] as const;

/** int8 as a JS number (ids and ms timestamps stay far below 2^53), everything else as node-postgres parses it. */
const int8 = (v: string): number => Number(v);
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === 20 ? int8 : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

export interface ShipBatch {
  sessions: RawRow[];
  /** Episodes; an episode's end fields are shipped only when `withEnd` (all its rows are in this or an earlier batch). */
  episodes: Array<{ row: RawRow; withEnd: boolean }>;
  transitions: RawRow[];
  /** Operator labels and events (local rows as stored), inserted once by (robot, local id). */
  labels?: RawRow[];
  events?: RawRow[];
}

export interface FleetModel {
  id: number;
  kind: string;
  version: string;
  onnx: Buffer;
  card: unknown;
  sha256: string;
  rollout: Rollout;
  createdAt: number;
}

/** Which arms take a version: every arm, arms practising given connectors, named arms, or one arm first and the
 *  rest once it has driven `episodes` episodes on the version with a learned success rate >= `minSuccess`. */
export type Rollout =
  | { mode: 'all' }
  | { mode: 'connector'; connectors: string[] }
  | { mode: 'arm'; robots: string[] }
  | { mode: 'staged'; first: string; episodes: number; minSuccess: number };

export interface ModelStatus {
  modelId: number;
  robotId: string;
  state: 'accepted' | 'rejected' | 'live' | 'skipped';
  reason: string | null;
  episodes: number;
  successes: number;
  at: number;
  liveAt: number | null;
}

export class FleetStore {
  private constructor(
    private readonly pool: pg.Pool,
    readonly target: PgTarget,
  ) {}

  /** Connects (a small pool) and brings the schema up to date. Errors are redacted. */
  static async connect(target: PgTarget, o: { applicationName?: string; max?: number; connectTimeoutMs?: number } = {}): Promise<FleetStore> {
    const pool = new pg.Pool({
      ...target.config,
      types,
      max: o.max ?? 3,
      application_name: o.applicationName ?? 'insertion-daemon',
      connectionTimeoutMillis: o.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 10_000,
    });
    // An idle client losing its server (PostgreSQL restarted) is reported here; the next query reconnects.
    pool.on('error', () => undefined);
    const s = new FleetStore(pool, target);
    try {
      await s.migrate();
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw s.error(e, 'connect');
    }
    return s;
  }

  /** A redacted Error naming the target and the step. */
  error(e: unknown, what: string): Error {
    return new Error(redact(`fleet store ${this.target.describe}: ${what}: ${(e as Error).message}`, this.target));
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    // A checked-out client whose server goes away emits 'error' (uncaught without a listener); the query rejects too.
    const onError = (): void => undefined;
    c.on('error', onError);
    let broken: Error | undefined;
    try {
      await c.query('BEGIN');
      const r = await fn(c);
      await c.query('COMMIT');
      return r;
    } catch (e) {
      broken = e as Error;
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.off('error', onError);
      c.release(broken); // a failed client is closed, not reused
    }
  }

  private async migrate(): Promise<void> {
    await this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(434553)');
      await c.query('CREATE TABLE IF NOT EXISTS fleet_schema (version integer NOT NULL)');
      const r = await c.query<{ version: number }>('SELECT version FROM fleet_schema');
      const have = r.rows[0]?.version ?? 0;
      if (have > PG_MIGRATIONS.length) throw new Error(`schema version ${have} is newer than this build's ${PG_MIGRATIONS.length}`);
      for (let v = have; v < PG_MIGRATIONS.length; v++) await c.query(PG_MIGRATIONS[v] as string);
      if (r.rows.length === 0) await c.query('INSERT INTO fleet_schema VALUES ($1)', [PG_MIGRATIONS.length]);
      else await c.query('UPDATE fleet_schema SET version = $1', [PG_MIGRATIONS.length]);
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  // ------------------------------------------------------------------ shipping (one arm's rows, idempotent)

  /**
   * One batch in one transaction: sessions and episodes upserted (their end fields fill in once known), transitions
   * inserted ON CONFLICT DO NOTHING. Returns how many transitions were new (a re-sent batch: 0).
   */
  async ship(robotId: string, b: ShipBatch): Promise<{ inserted: number; labels: number; events: number }> {
    return this.tx(async (c) => {
      if (b.sessions.length) {
        await c.query(
          upsertSql(
            'fleet_sessions',
            SESSION_COLS,
            b.sessions.length,
            'ended_at = EXCLUDED.ended_at',
            'fleet_sessions.ended_at IS NULL AND EXCLUDED.ended_at IS NOT NULL',
          ),
          columnArrays(robotId, b.sessions, SESSION_COLS),
        );
      }
      if (b.episodes.length) {
        const rows = b.episodes.map(({ row, withEnd }) =>
          withEnd ? row : { ...row, outcome: null, reason: null, learned_success_prob: null, gt_success: null, ended_at: null },
        );
        await c.query(
          upsertSql(
            'fleet_episodes',
            EPISODE_COLS,
            rows.length,
            'outcome = EXCLUDED.outcome, reason = EXCLUDED.reason, learned_success_prob = EXCLUDED.learned_success_prob, gt_success = EXCLUDED.gt_success, ended_at = EXCLUDED.ended_at',
            'fleet_episodes.ended_at IS NULL AND EXCLUDED.ended_at IS NOT NULL',
          ),
          columnArrays(robotId, rows, EPISODE_COLS),
        );
      }
      let inserted = 0;
      if (b.transitions.length) {
        const r = await c.query(
          upsertSql('fleet_transitions', TRANSITION_COLS, b.transitions.length, null, null),
          columnArrays(robotId, b.transitions, TRANSITION_COLS),
        );
        inserted = r.rowCount ?? 0;
      }
      const once = async (table: string, cols: Cols, rows: RawRow[] | undefined): Promise<number> =>
        rows?.length ? ((await c.query(upsertSql(table, cols, rows.length, null, null), columnArrays(robotId, rows, cols))).rowCount ?? 0) : 0;
      const labels = await once('fleet_episode_labels', LABEL_COLS, b.labels);
      const events = await once('fleet_events', EVENT_COLS, b.events);
      return { inserted, labels, events };
    });
  }

  async identity(): Promise<FleetIdentity> {
    const r = await this.pool.query<{ fleet_id: string; db: string }>('SELECT fleet_id, current_database() AS db FROM fleet_identity');
    const row = r.rows[0];
    if (!row || r.rows.length !== 1) throw new Error(`fleet store ${this.target.describe}: fleet_identity holds ${r.rows.length} rows, not 1`);
    // pg_control_system() is readable by every role by default; a server that revokes it still has the fleet id.
    const cluster = await this.pool
      .query<{ s: string }>('SELECT system_identifier::text AS s FROM pg_control_system()')
      .then((x) => x.rows[0]?.s ?? null)
      .catch(() => null);
    return { fleetId: row.fleet_id, database: row.db, cluster };
  }

  /** The newest local transition id PostgreSQL holds for an arm (0: none). */
  async highWater(robotId: string): Promise<number> {
    const r = await this.pool.query<{ m: number | null }>('SELECT max(local_id) AS m FROM fleet_transitions WHERE robot_id = $1', [robotId]);
    return r.rows[0]?.m ?? 0;
  }

  /** The newest local ids PostgreSQL holds for an arm's transitions, labels and events (0: none). */
  async highWaters(robotId: string): Promise<{ transitions: number; labels: number; events: number }> {
    const r = await this.pool.query<{ t: number | null; l: number | null; e: number | null }>(
      `SELECT (SELECT max(local_id) FROM fleet_transitions WHERE robot_id = $1) AS t, (SELECT max(local_id) FROM fleet_episode_labels WHERE robot_id = $1) AS l,
        (SELECT max(local_id) FROM fleet_events WHERE robot_id = $1) AS e`,
      [robotId],
    );
    const x = r.rows[0];
    return { transitions: x?.t ?? 0, labels: x?.l ?? 0, events: x?.e ?? 0 };
  }

  /** Rows per arm, duplicates impossible by the key; with ship lag percentiles (ms) over the newest `lagWindow` rows
   *  logged at or after `lagSince` (ms since epoch; 0: any). */
  async counts(
    lagWindow = 2000,
    lagSince = 0,
  ): Promise<Array<{ robotId: string; transitions: number; episodes: number; endedEpisodes: number; lagP50: number | null; lagP99: number | null }>> {
    const r = await this.pool.query<{ robot_id: string; transitions: number; episodes: number; ended: number; p50: number | null; p99: number | null }>(
      `
      SELECT r.robot_id,
        (SELECT count(*) FROM fleet_transitions t WHERE t.robot_id = r.robot_id)::int AS transitions,
        (SELECT count(*) FROM fleet_episodes e WHERE e.robot_id = r.robot_id)::int AS episodes,
        (SELECT count(*) FROM fleet_episodes e WHERE e.robot_id = r.robot_id AND e.ended_at IS NOT NULL)::int AS ended,
        (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lag) FROM (SELECT ingested_at - wall_time AS lag FROM fleet_transitions t WHERE t.robot_id = r.robot_id AND t.wall_time >= $2 ORDER BY local_id DESC LIMIT $1) x) AS p50,
        (SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY lag) FROM (SELECT ingested_at - wall_time AS lag FROM fleet_transitions t WHERE t.robot_id = r.robot_id AND t.wall_time >= $2 ORDER BY local_id DESC LIMIT $1) x) AS p99
      FROM (SELECT DISTINCT robot_id FROM fleet_sessions) r ORDER BY r.robot_id`,
      [lagWindow, lagSince],
    );
    return r.rows.map((x) => ({ robotId: x.robot_id, transitions: x.transitions, episodes: x.episodes, endedEpisodes: x.ended, lagP50: x.p50, lagP99: x.p99 }));
  }

  // ------------------------------------------------------------------ pulling (the learner)

  async robots(): Promise<string[]> {
    const r = await this.pool.query<{ robot_id: string }>('SELECT DISTINCT robot_id FROM fleet_sessions ORDER BY robot_id');
    return r.rows.map((x) => x.robot_id);
  }

  /** One arm's transitions after a local id, in local id order (each arm's batches commit in that order). */
  async transitionsAfter(robotId: string, afterLocalId: number, limit: number): Promise<RawRow[]> {
    const r = await this.pool.query(
      `SELECT local_id AS id, ${TRANSITION_COLS.map(([l, p]) => (l === p ? p : `${p} AS ${l}`)).join(', ')} FROM fleet_transitions
      WHERE robot_id = $1 AND local_id > $2 ORDER BY local_id LIMIT $3`,
      [robotId, afterLocalId, limit],
    );
    return r.rows as RawRow[];
  }

  /** One arm's episodes with the given local ids or after a local id. */
  async episodes(robotId: string, o: { afterLocalId: number; ids: number[] }): Promise<RawRow[]> {
    const r = await this.pool.query(
      `SELECT local_id AS id, ${EPISODE_COLS.map(([l, p]) => (l === p ? p : `${p} AS ${l}`)).join(', ')} FROM fleet_episodes
      WHERE robot_id = $1 AND (local_id > $2 OR local_id = ANY($3::bigint[])) ORDER BY local_id`,
      [robotId, o.afterLocalId, o.ids],
    );
    return r.rows as RawRow[];
  }

  /** One arm's operator labels after a local id, in local id order, with the local column names (episode_id: the arm's). */
  async labelsAfter(robotId: string, afterLocalId: number, limit: number): Promise<RawRow[]> {
    const r = await this.pool.query(
      `SELECT local_id AS id, ${LABEL_COLS.map(([l, p]) => (l === p ? p : `${p} AS ${l}`)).join(', ')} FROM fleet_episode_labels
      WHERE robot_id = $1 AND local_id > $2 ORDER BY local_id LIMIT $3`,
      [robotId, afterLocalId, limit],
    );
    return r.rows as RawRow[];
  }

  /** One arm's events after a local id, in local id order, with the local column names. */
  async eventsAfter(robotId: string, afterLocalId: number, limit: number): Promise<RawRow[]> {
    const r = await this.pool.query(
      `SELECT local_id AS id, ${EVENT_COLS.map(([l, p]) => (l === p ? p : `${p} AS ${l}`)).join(', ')} FROM fleet_events
      WHERE robot_id = $1 AND local_id > $2 ORDER BY local_id LIMIT $3`,
      [robotId, afterLocalId, limit],
    );
    return r.rows as RawRow[];
  }

  async sessions(robotId: string, ids: number[]): Promise<RawRow[]> {
    const r = await this.pool.query(
      `SELECT local_id AS id, ${SESSION_COLS.map(([, p]) => p).join(', ')} FROM fleet_sessions WHERE robot_id = $1 AND local_id = ANY($2::bigint[])`,
      [robotId, ids],
    );
    return r.rows as RawRow[];
  }

  // ------------------------------------------------------------------ model versions

  /** Stores a version and tells every listening arm (NOTIFY fleet_models, payload = the id). Same version twice: the first id. */
  async publishModel(m: { kind: string; version: string; onnx: Uint8Array; card: unknown; sha256: string; rollout: Rollout }): Promise<number> {
    return this.tx(async (c) => {
      const ins = await c.query<{ id: number }>(
        `INSERT INTO fleet_models (kind, version, onnx, card_json, sha256, rollout_json, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (kind, version) DO NOTHING RETURNING id`,
        [m.kind, m.version, Buffer.from(m.onnx), JSON.stringify(m.card), m.sha256, JSON.stringify(m.rollout), Date.now()],
      );
      const id =
        ins.rows[0]?.id ?? (await c.query<{ id: number }>('SELECT id FROM fleet_models WHERE kind = $1 AND version = $2', [m.kind, m.version])).rows[0]!.id;
      await c.query('SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, String(id)]);
      return id;
    });
  }

  /** Versions of a kind with id > afterId, oldest first. */
  async modelsAfter(afterId: number, kind = 'policy'): Promise<FleetModel[]> {
    const r = await this.pool.query<{
      id: number;
      kind: string;
      version: string;
      onnx: Buffer;
      card_json: string;
      sha256: string;
      rollout_json: string;
      created_at: number;
    }>('SELECT * FROM fleet_models WHERE id > $1 AND kind = $2 ORDER BY id', [afterId, kind]);
    return r.rows.map((x) => ({
      id: x.id,
      kind: x.kind,
      version: x.version,
      onnx: x.onnx,
      card: JSON.parse(x.card_json) as unknown,
      sha256: x.sha256,
      rollout: JSON.parse(x.rollout_json) as Rollout,
      createdAt: x.created_at,
    }));
  }

  async setModelStatus(s: {
    modelId: number;
    robotId: string;
    state: ModelStatus['state'];
    reason?: string | null;
    episodes?: number;
    successes?: number;
  }): Promise<void> {
    await this.pool.query(
      `INSERT INTO fleet_model_status (model_id, robot_id, state, reason, episodes, successes, at, live_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $3 = 'live' THEN $7::bigint END)
      ON CONFLICT (model_id, robot_id) DO UPDATE SET state = EXCLUDED.state, reason = COALESCE(EXCLUDED.reason, fleet_model_status.reason),
        episodes = EXCLUDED.episodes, successes = EXCLUDED.successes, at = EXCLUDED.at, live_at = COALESCE(fleet_model_status.live_at, EXCLUDED.live_at)`,
      [s.modelId, s.robotId, s.state, s.reason ?? null, s.episodes ?? 0, s.successes ?? 0, Date.now()],
    );
  }

  async modelStatus(modelId: number): Promise<ModelStatus[]> {
    const r = await this.pool.query<{
      model_id: number;
      robot_id: string;
      state: ModelStatus['state'];
      reason: string | null;
      episodes: number;
      successes: number;
      at: number;
      live_at: number | null;
    }>('SELECT * FROM fleet_model_status WHERE model_id = $1 ORDER BY robot_id', [modelId]);
    return r.rows.map((x) => ({
      modelId: x.model_id,
      robotId: x.robot_id,
      state: x.state,
      reason: x.reason,
      episodes: x.episodes,
      successes: x.successes,
      at: x.at,
      liveAt: x.live_at,
    }));
  }

  /**
   * LISTEN on its own connection; `onNotify(id)` per published version, `onLost(err)` once when the connection
   * drops (the caller listens again later and catches up with modelsAfter). Resolves with a function that stops.
   */
  async listen(onNotify: (modelId: number) => void, onLost: (e: Error) => void): Promise<() => Promise<void>> {
    const c = new pg.Client({ ...this.target.config, types, application_name: 'insertion-daemon-listen', connectionTimeoutMillis: 5000 });
    let stopped = false;
    let lost = false;
    const lose = (e: Error): void => {
      if (stopped || lost) return;
      lost = true;
      onLost(this.error(e, 'listen'));
      void c.end().catch(() => undefined);
    };
    c.on('error', lose);
    c.on('end', () => lose(new Error('connection closed')));
    c.on('notification', (n) => {
      if (n.channel === NOTIFY_CHANNEL && n.payload) onNotify(Number(n.payload));
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${NOTIFY_CHANNEL}`);
    } catch (e) {
      stopped = true;
      await c.end().catch(() => undefined);
      throw this.error(e, 'listen');
    }
    return async () => {
      stopped = true;
      await c.end().catch(() => undefined);
    };
  }

  /** For tests and tools: a query on the pool (redacted errors). */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, params)).rows;
    } catch (e) {
      throw this.error(e, 'query');
    }
  }
}

type Cols = ReadonlyArray<readonly [string, string, string]>;

/** INSERT ... SELECT FROM unnest($1::type[], ...): one statement per batch whatever its size. */
function upsertSql(table: string, cols: Cols, _n: number, update: string | null, when: string | null): string {
  const names = ['robot_id', 'local_id', ...cols.map(([, p]) => p)];
  const arrays = ['$1::text[]', '$2::bigint[]', ...cols.map(([, , t], i) => `$${i + 3}::${t}[]`)];
  const conflict = update ? `ON CONFLICT (robot_id, local_id) DO UPDATE SET ${update} WHERE ${when}` : 'ON CONFLICT (robot_id, local_id) DO NOTHING';
  return `INSERT INTO ${table} (${names.join(', ')}) SELECT * FROM unnest(${arrays.join(', ')}) ${conflict}`;
}

function columnArrays(robotId: string, rows: readonly RawRow[], cols: Cols): unknown[] {
  return [rows.map(() => robotId), rows.map((r) => r.id), ...cols.map(([l]) => rows.map((r) => r[l] ?? null))];
}
