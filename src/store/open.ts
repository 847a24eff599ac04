/**
 * Opening a log file safely. Before anything can write, the file is inspected read-only: its SQLite header by hand,
 * then (through a read-only connection) its application_id, schema version, tables and optionally `PRAGMA quick_check`.
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
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { APPLICATION_ID, MIGRATIONS, OUR_TABLES, SCHEMA_VERSION } from './schema.ts';

export type Db = Database.Database;

export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
  constructor(
    readonly file: string,
    readonly reason: 'corrupt' | 'foreign' | 'newer' | 'older' | 'missing' | 'io',
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
}

const MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/** Checks the 100-byte SQLite header by hand, so garbage never reaches SQLite. Returns false for a new/empty file. */
function checkHeader(file: string): boolean {
  if (!existsSync(file)) return false;
  const st = statSync(file);
  if (!st.isFile()) throw new StoreOpenError(file, 'io', 'not a regular file');
  if (st.size === 0) return false;
  if (st.size < 100) throw new StoreOpenError(file, 'corrupt', `file is ${st.size} bytes, shorter than an SQLite header (100 bytes)`);
  const h = Buffer.alloc(100);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, h, 0, 100, 0);
  } finally {
    closeSync(fd);
  }
  if (!h.subarray(0, 16).equals(MAGIC)) throw new StoreOpenError(file, 'corrupt', 'not an SQLite database (bad header magic)');
  const rawPage = h.readUInt16BE(16);
  const pageSize = rawPage === 1 ? 65536 : rawPage;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
    throw new StoreOpenError(file, 'corrupt', `header page size ${rawPage} is invalid`);
  }
  const wv = h[18]!, rv = h[19]!;
  if (wv < 1 || wv > 2 || rv < 1 || rv > 2) throw new StoreOpenError(file, 'corrupt', `header file format versions ${wv}/${rv} are invalid`);
  if (h[21] !== 64 || h[22] !== 32 || h[23] !== 32) throw new StoreOpenError(file, 'corrupt', 'header payload fractions are invalid');
  if (st.size % pageSize !== 0) throw new StoreOpenError(file, 'corrupt', `size ${st.size} is not a multiple of the page size ${pageSize} (truncated?)`);
  // The in-header page count is valid when the change counter matches "version valid for". With a non-empty -wal
  // a checkpoint may have been cut short, so the main file alone need not be complete: leave that to SQLite.
  const walFile = `${file}-wal`;
  const walBytes = existsSync(walFile) ? statSync(walFile).size : 0;
  const pages = h.readUInt32BE(28);
  if (walBytes === 0 && h.readUInt32BE(24) === h.readUInt32BE(92) && pages * pageSize > st.size) {
    throw new StoreOpenError(file, 'corrupt', `header says ${pages} pages of ${pageSize} bytes but the file has ${st.size} bytes (truncated)`);
  }
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
    const tables = (db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).all() as { name: string }[]).map((r) => r.name);
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
function classify(file: string, ins: Inspection, forWriting: boolean): boolean {
  const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
  if (ins.appId !== APPLICATION_ID) {
    if (ins.appId !== 0) throw new StoreOpenError(file, 'foreign', `application_id ${hex(ins.appId)} is not this project's (${hex(APPLICATION_ID)})`);
    if (ins.tables.length > 0) throw new StoreOpenError(file, 'foreign', `it holds tables that are not ours (${ins.tables.slice(0, 8).join(', ')})`);
    if (ins.version !== 0) throw new StoreOpenError(file, 'foreign', `user_version ${ins.version} without our application_id`);
    return false;
  }
  if (ins.version > SCHEMA_VERSION) {
    throw new StoreOpenError(file, 'newer', `schema version ${ins.version} is newer than this build's ${SCHEMA_VERSION}; upgrade the software`);
  }
  if (ins.version === SCHEMA_VERSION) {
    const missing = OUR_TABLES.filter((t) => !ins.tables.includes(t));
    if (missing.length) throw new StoreOpenError(file, 'corrupt', `schema version ${ins.version} but tables missing: ${missing.join(', ')}`);
  } else if (!forWriting) {
    throw new StoreOpenError(file, 'older', `schema version ${ins.version} is older than ${SCHEMA_VERSION}; open it once for writing to migrate`);
  }
  return true;
}

function applyPragmas(db: Db, busyMs: number): void {
  db.pragma(`busy_timeout = ${busyMs}`);
  db.pragma('foreign_keys = ON');
}

/** Opens (creating if absent) a log for writing: checks, WAL, migrations. */
export function openWritable(file: string, opts: OpenOptions = {}): Db {
  const exists = checkHeader(file);
  if (exists) classify(file, inspect(file, opts.integrityCheck ?? 'quick'), true);
  let db: Db;
  try {
    db = new Database(file);
  } catch (e) {
    throw new StoreOpenError(file, 'io', (e as Error).message);
  }
  try {
    applyPragmas(db, opts.busyTimeoutMs ?? 5000);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new StoreOpenError(file, 'io', `could not enable WAL (journal_mode is ${String(mode)})`);
    db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`);
    // After a checkpoint, shrink a -wal that a burst (or a long reader) let grow, instead of keeping its peak size.
    db.pragma('journal_size_limit = 67108864');
    migrate(db, file);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/** Brings the schema to SCHEMA_VERSION. The version is re-read inside the write transaction, so two openers can race. */
function migrate(db: Db, file: string): void {
  const run = db.transaction(() => {
    const appId = db.pragma('application_id', { simple: true }) as number;
    const from = db.pragma('user_version', { simple: true }) as number;
    if (from > SCHEMA_VERSION) throw new StoreOpenError(file, 'newer', `schema version ${from} is newer than this build's ${SCHEMA_VERSION}`);
    if (appId !== APPLICATION_ID) {
      // A file that became non-empty between inspection and now is checked again rather than adopted.
      const n = (db.prepare(`SELECT count(*) AS n FROM sqlite_schema`).get() as { n: number }).n;
      if (appId !== 0 || n !== 0) throw new StoreOpenError(file, 'foreign', 'it changed under us and is not ours');
      db.pragma(`application_id = ${APPLICATION_ID}`);
    }
    for (let v = from; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
    if (from !== SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
  });
  run.immediate();
}

/** Opens an existing log read-only (for the trainer, the API, replay) while a writer may be writing. */
export function openReadOnly(file: string, opts: OpenOptions = {}): Db {
  if (!checkHeader(file)) throw new StoreOpenError(file, 'missing', 'no such database (or it is empty)');
  classify(file, inspect(file, opts.integrityCheck ?? 'header'), false);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
  return db;
}
