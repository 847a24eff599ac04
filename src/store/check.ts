/**
 * What a log must satisfy after any crash (the fault campaign's power-loss row, src/campaign/power-loss.ts): SQLite's
 * own `PRAGMA integrity_check` and foreign-key check, and the log's invariants: no transition without its episode, no
 * episode marked complete (success/failure) that lacks steps or its final `done` step, no policy version referenced by
 * an episode or transition that is not a registered model (the shipped, trainer-exported and API-activated ones all
 * are). Opens the file read-only: run it on a log no process is writing (after the kill, before the restart).
 */
import Database from 'better-sqlite3';

export interface LogCheck {
  /** 'ok' or SQLite's first problems. */
  integrity: string;
  foreignKeyViolations: number;
  orphanTransitions: number;
  /** Completed episodes (success/failure) whose steps are not 0..n-1 with `done` on the last one. */
  halfEpisodes: Array<{ id: number; outcome: string; transitions: number; maxStep: number | null; doneLast: boolean }>;
  /** Policy versions used but not registered. */
  unregisteredVersions: string[];
  counts: { sessions: number; episodes: number; openEpisodes: number; transitions: number; models: number };
  ok: boolean;
}

export function checkLog(file: string): LogCheck {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('PRAGMA integrity_check').all() as Array<{ integrity_check: string }>;
    const integrity = rows
      .map((r) => r.integrity_check)
      .slice(0, 5)
      .join('; ');
    const fk = db.prepare('PRAGMA foreign_key_check').all().length;
    const num = (sql: string): number => Number((db.prepare(sql).get() as { n: number }).n);
    const orphanTransitions = num('SELECT count(*) AS n FROM transitions t LEFT JOIN episodes e ON e.id = t.episode_id WHERE e.id IS NULL');
    const halfEpisodes = (
      db
        .prepare(
          `
      SELECT e.id AS id, e.outcome AS outcome, count(t.id) AS transitions, max(t.step) AS maxStep,
             coalesce(max(CASE WHEN t.done = 1 AND t.step = (SELECT max(step) FROM transitions WHERE episode_id = e.id) THEN 1 ELSE 0 END), 0) AS doneLast
      FROM episodes e LEFT JOIN transitions t ON t.episode_id = e.id
      WHERE e.outcome IN ('success', 'failure') AND e.kind = 'practice'
      GROUP BY e.id
      HAVING transitions = 0 OR transitions != maxStep + 1 OR doneLast = 0`,
        )
        .all() as Array<{ id: number; outcome: string; transitions: number; maxStep: number | null; doneLast: number }>
    ).map((r) => ({ ...r, doneLast: r.doneLast === 1 }));
    const registered = new Set((db.prepare(`SELECT version FROM models WHERE kind = 'policy'`).all() as Array<{ version: string }>).map((r) => r.version));
    const used = (
      db
        .prepare(
          `SELECT DISTINCT policy_version AS v FROM transitions WHERE policy_version IS NOT NULL
                              UNION SELECT DISTINCT policy_version FROM episodes WHERE policy_version IS NOT NULL`,
        )
        .all() as Array<{ v: string }>
    ).map((r) => r.v);
    const unregisteredVersions = used.filter((v) => !registered.has(v));
    const counts = {
      sessions: num('SELECT count(*) AS n FROM sessions'),
      episodes: num('SELECT count(*) AS n FROM episodes'),
      openEpisodes: num('SELECT count(*) AS n FROM episodes WHERE ended_at IS NULL'),
      transitions: num('SELECT count(*) AS n FROM transitions'),
      models: num('SELECT count(*) AS n FROM models'),
    };
    const ok = integrity === 'ok' && fk === 0 && orphanTransitions === 0 && halfEpisodes.length === 0 && unregisteredVersions.length === 0;
    return { integrity, foreignKeyViolations: fk, orphanTransitions, halfEpisodes, unregisteredVersions, counts, ok };
  } finally {
    db.close();
  }
}

/** A valid SQLite file that is not a log (another application's database), for refusal tests. */
export function writeForeignDatabase(file: string): void {
  const db = new Database(file);
  db.exec("CREATE TABLE recipes (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO recipes (name) VALUES ('bread')");
  db.close();
}

/** Marks a log as written by a newer build (schema version + 1), for refusal tests. */
export function markNewerSchema(file: string): void {
  const db = new Database(file);
  const v = Number(db.pragma('user_version', { simple: true }));
  db.pragma(`user_version = ${v + 1}`);
  db.close();
}
