/**
 * Process locks: "only one daemon on this log" and "only one daemon on this robot", held for the life of the process
 * and released by the kernel when it dies, even by SIGKILL (nothing stale to clean up, no pid guessing).
 *
 * Mechanism: a lock file is a tiny SQLite database (rollback journal) with one `holder` row. The holder keeps a
 * `BEGIN IMMEDIATE` transaction open for as long as it runs: that is SQLite's RESERVED lock, a POSIX record lock on
 * the file, which the kernel drops when the process exits however it exits. A second process's `BEGIN IMMEDIATE` fails
 * at once (busy timeout 0) while it may still read the committed `holder` row, so the refusal names the holder's pid,
 * host, start time and what it locked. Within one process SQLite itself refuses a second holder on the same file.
 * Like any SQLite lock it needs a local file system (not NFS).
 *
 * Nothing but SQLite ever opens a lock file (closing any other descriptor on it would drop the lock: see open.ts).
 */
import { mkdirSync, accessSync, constants as fsc } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { whereHint } from './open.ts';

export interface LockHolder {
  pid: number;
  host: string;
  /** ms since epoch. */
  since: number;
  /** What the holder locked: the database path, or the robot id. */
  what: string;
  /** The holder's command line, for the operator. */
  argv: string;
}

export class LockHeldError extends Error {
  override name = 'LockHeldError';
  constructor(
    /** The lock file. */
    readonly file: string,
    /** What the caller wanted (e.g. `database /x/y.db`, `robot 'cell-3'`). */
    readonly what: string,
    /** Who holds it (null when it could not be read). */
    readonly holder: LockHolder | null,
  ) {
    const who = holder ? `process ${holder.pid} on ${holder.host} (since ${new Date(holder.since).toISOString()}; ${holder.argv})` : 'another process';
    super(`${what} is in use by ${who}; refusing to start a second one (lock file ${file})`);
  }
}

/**
 * Every lock this process holds, so that only release() or the process's death lets one go. better-sqlite3 closes a
 * connection when its object is garbage-collected, and closing it ends the transaction that is the lock: a holder whose
 * only reference was dropped (seen in a test's child process) would otherwise free the lock at the next collection.
 */
const HELD = new Set<Database.Database>();

const isBusy = (e: unknown): boolean => /^SQLITE_(BUSY|LOCKED)/.test((e as { code?: string }).code ?? '');

export class ProcessLock {
  private constructor(
    private db: Database.Database | null,
    /** The lock file. */
    readonly file: string,
    readonly what: string,
  ) {}

  /**
   * Takes the lock in `file` (created if absent) or throws LockHeldError naming the holder. `what` describes the
   * locked thing in messages and in the holder row. Other failures (unwritable directory) throw an Error naming the file.
   */
  static acquire(file: string, what: string): ProcessLock {
    let db: Database.Database;
    try {
      db = new Database(file, { timeout: 0 });
    } catch (e) {
      throw new Error(`cannot open lock file ${file} (for ${what}): ${(e as Error).message}${whereHint(file)}`);
    }
    try {
      const me: LockHolder = { pid: process.pid, host: hostname(), since: Date.now(), what, argv: process.argv.slice(1).join(' ').slice(0, 300) };
      const held = (): never => {
        let holder: LockHolder | null = null;
        try {
          holder = (db.prepare(`SELECT pid, host, since, what, argv FROM holder WHERE id = 1`).get() as LockHolder | undefined) ?? null;
        } catch {
          // no table yet: the holder is still in its first transaction
        }
        throw new LockHeldError(file, what, holder);
      };
      // Two rounds at most: a rival that slips in between our commit of the holder row and our hold is named.
      for (let round = 0; round < 2; round++) {
        try {
          db.exec('BEGIN IMMEDIATE');
        } catch (e) {
          if (isBusy(e)) held();
          throw e;
        }
        // We hold it: publish who we are (readers see only committed rows), then hold again.
        db.exec(`CREATE TABLE IF NOT EXISTS holder (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, host TEXT NOT NULL,
          since INTEGER NOT NULL, what TEXT NOT NULL, argv TEXT NOT NULL)`);
        db.prepare(`INSERT OR REPLACE INTO holder (id, pid, host, since, what, argv) VALUES (1, @pid, @host, @since, @what, @argv)`).run(me);
        db.exec('COMMIT');
        try {
          db.exec('BEGIN IMMEDIATE');
        } catch (e) {
          if (isBusy(e)) held();
          throw e;
        }
        const row = db.prepare(`SELECT pid, since FROM holder WHERE id = 1`).get() as { pid: number; since: number } | undefined;
        if (row?.pid === me.pid && row.since === me.since) {
          HELD.add(db);
          return new ProcessLock(db, file, what);
        }
        db.exec('ROLLBACK'); // a rival rewrote the row between our commit and our hold: publish ours again
      }
      held();
    } catch (e) {
      db.close();
      if (e instanceof LockHeldError) throw e;
      throw new Error(`cannot take lock file ${file} (for ${what}): ${(e as Error).message}${whereHint(file)}`);
    }
    throw new Error('unreachable');
  }

  get held(): boolean {
    return this.db !== null;
  }

  /** Releases the lock (the process's exit does it too). Idempotent. */
  release(): void {
    const db = this.db;
    if (!db) return;
    this.db = null;
    HELD.delete(db);
    try {
      db.exec('ROLLBACK');
    } finally {
      db.close();
    }
  }
}

/** The lock file that guards a log: `<db>.lock` beside it. */
export function databaseLockFile(db: string): string {
  return `${db}.lock`;
}

/**
 * Where per-robot locks live when not configured: $INSERTION_DAEMON_LOCK_DIR, else /run/lock/insertion-daemon (the FHS
 * place for locks shared between programs, world-writable on Debian), else <tmpdir>/insertion-daemon-locks.
 */
export function defaultLockDir(): string {
  const env = process.env.INSERTION_DAEMON_LOCK_DIR;
  if (env) return env;
  try {
    accessSync('/run/lock', fsc.W_OK);
    return '/run/lock/insertion-daemon';
  } catch {
    return join(tmpdir(), 'insertion-daemon-locks');
  }
}

/**
 * The lock file of a robot id in `dir` (created): `robot-<readable part>-<hash>.lock`, so that any id maps to one
 * safe file name and two ids never share one.
 */
export function robotLockFile(dir: string, robotId: string): string {
  if (typeof robotId !== 'string' || robotId.trim() === '') throw new TypeError(`robot id must be a non-empty string, got ${JSON.stringify(robotId)}`);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new Error(`cannot create the lock directory ${dir}: ${(e as Error).message}`);
  }
  const readable = robotId.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60);
  const hash = createHash('sha256').update(robotId).digest('hex').slice(0, 12);
  return join(dir, `robot-${readable}-${hash}.lock`);
}
