/**
 * Opening a log file safely. Before anything can write, the file is inspected read-only: its size by stat(2), then
 * (through a read-only SQLite connection) its header, application_id, schema version, tables and optionally
 * `PRAGMA quick_check`. Nothing here opens a descriptor on a database this process has open (see statDb: POSIX locks).
 * A corrupt, foreign or newer-schema file is refused with a StoreOpenError naming the file, and its bytes are never
 * written (read-only connections on a rollback-journal file create nothing; on a WAL file they may create the -shm
 * index beside it, never the file itself).
 *
 * Durability: WAL with synchronous=NORMAL. A commit appends the transaction's pages to the -wal file with write(2)
 * before COMMIT returns, so once COMMIT has returned the data is in the OS page cache and survives the process being
 * killed at any moment (SIGKILL, crash, OOM). Only an OS crash or power loss can lose the last transactions (never
 * corrupt the file): that is the price of not fsync-ing every commit, which FULL would do at ~ms each. The promise we
 * make is about process death, which is what a daemon dies of; run with `synchronous: 'FULL'` for power-loss safety.
 */
import { accessSync, closeSync, constants, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { APPLICATION_ID, MIGRATIONS, OUR_TABLES } from './schema.ts';

export type Db = Database.Database;

export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
  constructor(
    readonly file: string,
    readonly reason: 'corrupt' | 'foreign' | 'newer' | 'older' | 'missing' | 'io' | 'migration',
    detail: string,
  ) {
    super(`refusing database ${file}: ${detail}`);
  }
}

export interface OpenOptions {
  /** 'quick' runs PRAGMA quick_check (O(file size); seconds for GBs); 'header' checks only header and schema. Default 'quick'. */
  integrityCheck?: 'quick' | 'header';
  /** ms a connection waits for another's write lock before SQLITE_BUSY. Default 5000. */
  busyTimeoutMs?: number;
  /** WAL durability level, see the file comment. Default 'NORMAL'. */
  synchronous?: 'NORMAL' | 'FULL';
  /** The migrations this build knows (default schema.ts MIGRATIONS). Tests of the migration path only. */
  migrations?: readonly string[];
}

const MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * What stat(2) alone says about the file; false for a new/empty file. Opens no file descriptor.
 *
 * Why no stray fs.openSync on the database: SQLite's locks are POSIX record locks, which belong to the process and
 * are ALL dropped when the process closes ANY descriptor on the file (fcntl(2)), even one SQLite never saw. A raw
 * header read with openSync/closeSync, from any thread of a process that already has a connection (the writer
 * thread opening after the daemon's main connection), silently left the daemon without its SHARED lock; the next
 * process to close its own connection (an operator's `sqlite3 <db> 'PRAGMA integrity_check'`, the trainer) then saw
 * itself as the last connection, checkpointed and deleted the -wal and -shm while the daemon kept writing into the
 * deleted files, and a SIGKILL lost every commit since. SQLite guards its own descriptors (a connection's close is
 * deferred while another connection of the process holds a lock); we read the header by hand only while no
 * descriptor of this process is on the file (headerProblem).
 */
function statDb(file: string): boolean {
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new StoreOpenError(file, 'io', `cannot stat: ${(e as Error).message}`);
  }
  if (!st.isFile()) throw new StoreOpenError(file, 'io', 'not a regular file');
  if (st.size === 0) return false;
  if (st.size < 100) throw new StoreOpenError(file, 'corrupt', `file is ${st.size} bytes, shorter than an SQLite header (100 bytes)`);
  return true;
}

/**
 * True when some descriptor of this process (any thread: SQLite's, or anybody's) refers to the file. Linux
 * (/proc/self/fd); elsewhere assumes yes, so that nothing is ever opened by hand there.
 */
function openInThisProcess(file: string): boolean {
  return openElsewhereInThisProcess(file, -1);
}

function openElsewhereInThisProcess(file: string, except: number): boolean {
  let target;
  try {
    target = statSync(file);
  } catch {
    return false;
  }
  let fds: string[];
  try {
    fds = readdirSync('/proc/self/fd');
  } catch {
    return true;
  }
  for (const fd of fds) {
    if (Number(fd) === except) continue;
    try {
      const st = statSync(`/proc/self/fd/${fd}`); // stat through the link: no descriptor is opened or closed
      if (st.ino === target.ino && st.dev === target.dev) return true;
    } catch {
      // a descriptor closed meanwhile (the readdir's own, another thread's)
    }
  }
  return false;
}

/** Descriptors of header reads that could not be closed safely (see headerProblem); kept open for the process's life. */
const parked: number[] = [];

/**
 * Checks the 100-byte SQLite header by hand, so that garbage never reaches SQLite (which, for a file whose header
 * claims WAL mode, would create -wal/-shm beside it before noticing the damage). Returns the problem, or null.
 *
 * Reads only when no descriptor of this process is on the file: then this process holds no lock on it that closing
 * ours could drop. A file this process already has open was checked when it was first opened, and is live: it is
 * left to SQLite. Should another thread open the file during the read (microseconds), our descriptor is parked
 * rather than closed, so that its lock survives.
 */
function headerProblem(file: string): string | null {
  if (openInThisProcess(file)) return null;
  const st = statSync(file);
  const h = Buffer.alloc(100);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, h, 0, 100, 0);
  } finally {
    if (openElsewhereInThisProcess(file, fd)) parked.push(fd);
    else closeSync(fd);
  }
  if (!h.subarray(0, 16).equals(MAGIC)) return 'not an SQLite database (bad header magic)';
  const rawPage = h.readUInt16BE(16);
  const pageSize = rawPage === 1 ? 65536 : rawPage;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return `header page size ${rawPage} is invalid`;
  const wv = h[18]!,
    rv = h[19]!;
  if (wv < 1 || wv > 2 || rv < 1 || rv > 2) return `header file format versions ${wv}/${rv} are invalid`;
  if (h[21] !== 64 || h[22] !== 32 || h[23] !== 32) return 'header payload fractions are invalid';
  if (st.size % pageSize !== 0) return `size ${st.size} is not a multiple of the page size ${pageSize} (truncated?)`;
  // The in-header page count is valid when the change counter matches "version valid for". With a non-empty -wal
  // a checkpoint may have been cut short, so the main file alone need not be complete: leave that to SQLite.
  let walBytes = 0;
  try {
    walBytes = statSync(`${file}-wal`).size;
  } catch {
    // no -wal
  }
  const pages = h.readUInt32BE(28);
  if (walBytes === 0 && h.readUInt32BE(24) === h.readUInt32BE(92) && pages * pageSize > st.size) {
    return `header says ${pages} pages of ${pageSize} bytes but the file has ${st.size} bytes (truncated)`;
  }
  return null;
}

function checkHeader(file: string): true {
  const problem = headerProblem(file);
  if (problem) throw new StoreOpenError(file, 'corrupt', problem);
  return true;
}

interface Inspection {
  appId: number;
  version: number;
  tables: string[];
}

/** Read-only look inside; throws StoreOpenError for anything that is not a healthy file of ours. */
function inspect(file: string, integrity: 'quick' | 'header'): Inspection {
  let db: Db;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new StoreOpenError(file, 'io', `cannot open read-only: ${(e as Error).message}`);
  }
  try {
    const appId = db.pragma('application_id', { simple: true }) as number;
    const version = db.pragma('user_version', { simple: true }) as number;
    const tables = (db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).all() as { name: string }[]).map(
      (r) => r.name,
    );
    if (integrity === 'quick') {
      const rows = db.pragma('quick_check(20)') as { quick_check: string }[];
      const msgs = rows.map((r) => r.quick_check);
      if (msgs.length !== 1 || msgs[0] !== 'ok') throw new StoreOpenError(file, 'corrupt', `quick_check failed: ${msgs.join('; ')}`);
    }
    return { appId, version, tables };
  } catch (e) {
    if (e instanceof StoreOpenError) throw e;
    throw new StoreOpenError(file, 'corrupt', (e as Error).message);
  } finally {
    db.close();
  }
}

/** Classifies an inspected file; returns true when it is ours (false: brand new). Throws for everything else. */
function classify(file: string, ins: Inspection, forWriting: boolean, latest: number): boolean {
  const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
  if (ins.appId !== APPLICATION_ID) {
    if (ins.appId !== 0) throw new StoreOpenError(file, 'foreign', `application_id ${hex(ins.appId)} is not this project's (${hex(APPLICATION_ID)})`);
    if (ins.tables.length > 0) throw new StoreOpenError(file, 'foreign', `it holds tables that are not ours (${ins.tables.slice(0, 8).join(', ')})`);
    if (ins.version !== 0) throw new StoreOpenError(file, 'foreign', `user_version ${ins.version} without our application_id`);
    return false;
  }
  if (ins.version > latest) {
    throw new StoreOpenError(file, 'newer', `schema version ${ins.version} is newer than this build's ${latest}; upgrade the software`);
  }
  if (ins.version === latest) {
    const missing = OUR_TABLES.filter((t) => !ins.tables.includes(t));
    if (missing.length) throw new StoreOpenError(file, 'corrupt', `schema version ${ins.version} but tables missing: ${missing.join(', ')}`);
  } else if (!forWriting) {
    throw new StoreOpenError(file, 'older', `schema version ${ins.version} is older than ${latest}; open it once for writing to migrate`);
  }
  return true;
}

/** Why a file may not be writable, for the operator: its directory is missing or not writable, or it is read-only. */
export function whereHint(file: string): string {
  const dir = dirname(resolve(file));
  try {
    if (!statSync(dir).isDirectory()) return ` (${dir} is not a directory)`;
  } catch {
    return ` (directory ${dir} does not exist)`;
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    return ` (directory ${dir} is not writable)`;
  }
  try {
    accessSync(file, constants.W_OK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return ' (the file is not writable)';
  }
  return '';
}

function applyPragmas(db: Db, busyMs: number): void {
  db.pragma(`busy_timeout = ${busyMs}`);
  db.pragma('foreign_keys = ON');
}

/** Opens (creating if absent) a log for writing: checks, WAL, migrations. */
export function openWritable(file: string, opts: OpenOptions = {}): Db {
  const exists = statDb(file) && checkHeader(file);
  const migrations = opts.migrations ?? MIGRATIONS;
  if (exists) classify(file, inspect(file, opts.integrityCheck ?? 'quick'), true, migrations.length);
  let db: Db;
  try {
    db = new Database(file);
  } catch (e) {
    throw new StoreOpenError(file, 'io', `${(e as Error).message}${whereHint(file)}`);
  }
  try {
    applyPragmas(db, opts.busyTimeoutMs ?? 5000);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new StoreOpenError(file, 'io', `could not enable WAL (journal_mode is ${String(mode)})`);
    db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`);
    // After a checkpoint, shrink a -wal that a burst (or a long reader) let grow, instead of keeping its peak size.
    db.pragma('journal_size_limit = 67108864');
    migrate(db, file, migrations);
    return db;
  } catch (e) {
    db.close();
    if (e instanceof StoreOpenError) throw e;
    // e.g. "attempt to write a readonly database" (SQLite opened a file it may not write read-only): name the file.
    throw new StoreOpenError(file, 'io', `${(e as Error).message}${whereHint(file)}`);
  }
}

/**
 * Brings the schema to the newest version, all steps in one transaction (a failing step leaves the file as it was).
 * The version is re-read inside the write transaction, so two openers can race.
 */
function migrate(db: Db, file: string, migrations: readonly string[]): void {
  const latest = migrations.length;
  const run = db.transaction(() => {
    const appId = db.pragma('application_id', { simple: true }) as number;
    const from = db.pragma('user_version', { simple: true }) as number;
    if (from > latest) throw new StoreOpenError(file, 'newer', `schema version ${from} is newer than this build's ${latest}`);
    if (appId !== APPLICATION_ID) {
      // A file that became non-empty between inspection and now is checked again rather than adopted.
      const n = (db.prepare(`SELECT count(*) AS n FROM sqlite_schema`).get() as { n: number }).n;
      if (appId !== 0 || n !== 0) throw new StoreOpenError(file, 'foreign', 'it changed under us and is not ours');
      db.pragma(`application_id = ${APPLICATION_ID}`);
    }
    for (let v = from; v < latest; v++) {
      try {
        db.exec(migrations[v]!);
      } catch (e) {
        throw new StoreOpenError(file, 'migration', `migration ${v} -> ${v + 1} failed (file left at version ${from}): ${(e as Error).message}`);
      }
    }
    if (from !== latest) db.pragma(`user_version = ${latest}`);
  });
  run.immediate();
}

/** Opens an existing log read-only (for the trainer, the API, replay) while a writer may be writing. */
export function openReadOnly(file: string, opts: OpenOptions = {}): Db {
  if (!(statDb(file) && checkHeader(file))) throw new StoreOpenError(file, 'missing', 'no such database (or it is empty)');
  classify(file, inspect(file, opts.integrityCheck ?? 'header'), false, (opts.migrations ?? MIGRATIONS).length);
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
    return db;
  } catch (e) {
    throw new StoreOpenError(file, 'io', `cannot open read-only: ${(e as Error).message}`);
  }
}
