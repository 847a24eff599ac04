/**
 * The log's schema and its migrations. `PRAGMA user_version` is the schema version; `PRAGMA application_id`
 * marks the file as ours so that any other SQLite file is recognised as foreign and refused.
 *
 * Conventions:
 * - Wall-clock times (`*_at`, `wall_time`, `time`) are milliseconds since the Unix epoch (Date.now()).
 * - Robot-clock times (`tick_time`, `image_stamp`, `wrench_stamp`) are seconds on the backend's clock, as in Observation.
 * - Vectors are BLOBs of little-endian float64 (see codec.ts); JSON columns hold JSON text.
 * - A transition row is the observation at `step` and the action taken from it; its reward is the classifier's
 *   output on the next observation. The final observation of an episode may be logged as a row with null actions.
 *
 * Migrations only ever append: never edit a shipped one, add the next.
 */

/** 'CNS1' (connector insertion store, v1 of the container format). */
export const APPLICATION_ID = 0x434e5331;

export const MIGRATIONS: readonly string[] = [
  // 1: the initial schema.
  `
  CREATE TABLE sessions (
    id               INTEGER PRIMARY KEY,
    robot            TEXT NOT NULL,
    backend          TEXT NOT NULL,
    config_json      TEXT NOT NULL,
    calibration_json TEXT NOT NULL,
    note             TEXT,
    started_at       INTEGER NOT NULL,
    ended_at         INTEGER
  );

  CREATE TABLE episodes (
    id                   INTEGER PRIMARY KEY,
    session_id           INTEGER NOT NULL REFERENCES sessions(id),
    kind                 TEXT NOT NULL CHECK (kind IN ('practice', 'eval', 'prior')),
    domain               TEXT NOT NULL,
    scenario             TEXT,
    seed                 INTEGER,
    start_state_json     TEXT,
    policy_version       TEXT,
    outcome              TEXT CHECK (outcome IS NULL OR outcome IN ('success', 'failure', 'aborted', 'tripped', 'error')),
    reason               TEXT,
    learned_success_prob REAL,
    gt_success           INTEGER CHECK (gt_success IS NULL OR gt_success IN (0, 1)),
    started_at           INTEGER NOT NULL,
    ended_at             INTEGER
  );
  CREATE INDEX episodes_session ON episodes(session_id);
  CREATE INDEX episodes_domain_kind ON episodes(domain, kind);

  CREATE TABLE transitions (
    id              INTEGER PRIMARY KEY,
    episode_id      INTEGER NOT NULL REFERENCES episodes(id),
    step            INTEGER NOT NULL,
    image_width     INTEGER,
    image_height    INTEGER,
    image_format    TEXT,
    image_codec     TEXT,
    image           BLOB,
    wrench          BLOB NOT NULL,
    ee_pos          BLOB NOT NULL,
    ee_quat         BLOB NOT NULL,
    goal            BLOB NOT NULL,
    action_p        BLOB,
    action_residual BLOB,
    action_executed BLOB,
    reward_prob     REAL,
    gt_success      INTEGER CHECK (gt_success IS NULL OR gt_success IN (0, 1)),
    done            INTEGER NOT NULL CHECK (done IN (0, 1)),
    tick_time       REAL,
    image_stamp     REAL,
    wrench_stamp    REAL,
    policy_version  TEXT,
    wall_time       INTEGER NOT NULL,
    UNIQUE (episode_id, step)
  );

  -- Cached frozen-encoder features for online learning: one vector per (transition, encoder version).
  CREATE TABLE features (
    transition_id   INTEGER NOT NULL REFERENCES transitions(id),
    encoder_version TEXT NOT NULL,
    vector          BLOB NOT NULL,
    PRIMARY KEY (encoder_version, transition_id)
  ) WITHOUT ROWID;

  CREATE TABLE models (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    version         TEXT NOT NULL,
    path            TEXT NOT NULL,
    card_json       TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    validation_json TEXT,
    created_at      INTEGER NOT NULL,
    UNIQUE (kind, version)
  );

  -- Activation history; the active model of a kind is the newest row of that kind (model_id NULL = none active).
  CREATE TABLE model_activations (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    model_id     INTEGER REFERENCES models(id),
    action       TEXT NOT NULL CHECK (action IN ('activate', 'rollback', 'deactivate')),
    reason       TEXT,
    by_whom      TEXT NOT NULL,
    activated_at INTEGER NOT NULL
  );
  CREATE INDEX model_activations_kind ON model_activations(kind, id);

  CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    time       INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    message    TEXT NOT NULL,
    data_json  TEXT,
    session_id INTEGER REFERENCES sessions(id),
    episode_id INTEGER REFERENCES episodes(id)
  );
  CREATE INDEX events_kind ON events(kind, id);
  `,
  // 2: operator takeovers (human interventions): the step's action was the operator's, and who sent it. Learning keeps
  // them as demonstrations (src/online/trainer.ts); action_residual then holds executed - u_H (control/action.ts).
  `
  ALTER TABLE transitions ADD COLUMN intervention INTEGER NOT NULL DEFAULT 0 CHECK (intervention IN (0, 1));
  ALTER TABLE transitions ADD COLUMN intervention_source TEXT;
  `,
  // 3: operator labels of episode outcomes (issue 13). Several labels per episode may exist (a corrected label is a new
  // row): the newest one counts. A label overrides the learned reward of its episode's transitions for learning.
  `
  CREATE TABLE episode_labels (
    id         INTEGER PRIMARY KEY,
    episode_id INTEGER NOT NULL REFERENCES episodes(id),
    success    INTEGER NOT NULL CHECK (success IN (0, 1)),
    note       TEXT,
    by_whom    TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX episode_labels_episode ON episode_labels(episode_id, id);
  `,
  // 4: the fleet learner's mirror (src/store/pg/mirror.ts) keeps its copy across restarts: which fleet it copies
  // (and with which filter), each arm's high-water marks, and each arm's session and episode ids in the mirror. They
  // are written in the same transaction as the rows pulled, so a killed learner resumes exactly where it stopped.
  // An arm's log leaves these tables empty.
  `
  CREATE TABLE mirror_source (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    fleet_json  TEXT NOT NULL,
    filter_json TEXT NOT NULL,
    created_at  INTEGER NOT NULL
  );
  CREATE TABLE mirror_arms (
    robot           TEXT PRIMARY KEY,
    last_transition INTEGER NOT NULL,
    last_episode    INTEGER NOT NULL,
    last_label      INTEGER NOT NULL
  );
  CREATE TABLE mirror_ids (
    robot     TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('session', 'episode')),
    remote_id INTEGER NOT NULL,
    local_id  INTEGER,
    open      INTEGER NOT NULL DEFAULT 0 CHECK (open IN (0, 1)),
    PRIMARY KEY (robot, kind, remote_id)
  );
  `,
  // 5: the wrist camera's depth image, when the backend has one (issue 13: an RGB-D wrist camera tells seated from a
  // few millimetres above). Same pixel grid as the image; codec.ts DEPTH_CODEC. NULL on rows without depth.
  `
  ALTER TABLE transitions ADD COLUMN depth_width INTEGER;
  ALTER TABLE transitions ADD COLUMN depth_height INTEGER;
  ALTER TABLE transitions ADD COLUMN depth_codec TEXT;
  ALTER TABLE transitions ADD COLUMN depth BLOB;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Tables a database at SCHEMA_VERSION must have. */
export const OUR_TABLES: readonly string[] = [
  'sessions',
  'episodes',
  'transitions',
  'features',
  'models',
  'model_activations',
  'events',
  'episode_labels',
  'mirror_source',
  'mirror_arms',
  'mirror_ids',
];
