/**
 * Schema migrations: a log written by an older build is migrated in place, its rows intact, in one transaction (a
 * failing step leaves it as it was); a read-only open of an older log and any open of a newer one are refused, the file
 * untouched. A build with a second migration is simulated with OpenOptions.migrations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { APPLICATION_ID, readLog, Store, StoreOpenError } from '../../src/store/index.ts';
import { MIGRATIONS } from '../../src/store/schema.ts';
import { transitionParams } from '../../src/store/rows.ts';
import { makeTransition } from './fixtures/data.ts';

const dir = mkdtempSync(join(tmpdir(), 'store-migrate-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

/** This build's schema version, and the next build's schema: one more migration. */
const N = MIGRATIONS.length;
const V2 = [
  ...MIGRATIONS,
  `ALTER TABLE episodes ADD COLUMN operator TEXT; CREATE TABLE notes (id INTEGER PRIMARY KEY, episode_id INTEGER REFERENCES episodes(id), text TEXT NOT NULL);`,
];

/** A checkpointed log of the current version (N) with a session, an episode and 10 transitions. */
function v1Log(name: string): string {
  const file = join(dir, name);
  const s = Store.open(file);
  const sid = s.openSession({ robot: 'r', backend: 'sim', config: { a: 1 }, calibration: {} });
  const eid = s.beginEpisode({ sessionId: sid, kind: 'practice', domain: 'usb' });
  s.appendTransitions(Array.from({ length: 10 }, (_, k) => makeTransition(eid, k)));
  s.endEpisode(eid, { outcome: 'success' });
  s.close();
  return file;
}

const digestOf = (file: string) => {
  const s = Store.openReadOnly(file);
  try {
    return s.datasetDigest();
  } finally {
    s.close();
  }
};

const version = (file: string): number => {
  const db = new Database(file, { readonly: true });
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } finally {
    db.close();
  }
};

test('an older log is migrated when opened for writing; its rows survive; reopening migrates nothing', () => {
  const file = v1Log('old.db');
  const before = digestOf(file);
  const s = Store.open(file, { migrations: V2 });
  assert.equal(version(file), N + 1);
  assert.deepEqual(s.datasetDigest(), before, 'every episode and transition byte-identical');
  assert.equal(s.getEpisode(1)!.outcome, 'success');
  s.close();
  const db = new Database(file, { readonly: true });
  const cols = (db.prepare(`SELECT name FROM pragma_table_info('episodes')`).all() as { name: string }[]).map((r) => r.name);
  assert.ok(cols.includes('operator'));
  assert.ok(db.prepare(`SELECT 1 FROM sqlite_schema WHERE name = 'notes'`).get());
  db.close();
  Store.open(file, { migrations: V2 }).close();
  assert.equal(version(file), N + 1);
});

test('a log of the first schema (version 1) is brought to the schema of this build, operator labels included', () => {
  const file = join(dir, 'first.db');
  const s1 = Store.open(file, { migrations: MIGRATIONS.slice(0, 1) });
  const sid = s1.openSession({ robot: 'r', backend: 'sim', config: {}, calibration: {} });
  const eid = s1.beginEpisode({ sessionId: sid, kind: 'practice', domain: 'usb' });
  s1.endEpisode(eid, { outcome: 'failure' });
  s1.close();
  assert.equal(version(file), 1);
  const s = Store.open(file);
  assert.equal(version(file), N);
  assert.equal(s.episodeLabel(eid), null);
  s.labelEpisode({ episodeId: eid, success: true, by: 'test' });
  assert.equal(s.episodeLabel(eid)?.success, true);
  assert.throws(() => s.labelEpisode({ episodeId: 999, success: true, by: 'test' }), /no episode 999/);
  s.close();
});

test('a file of ours at version 0 (created, never migrated) is brought to the current schema', () => {
  const file = join(dir, 'v0.db');
  const db = new Database(file);
  db.pragma(`application_id = ${APPLICATION_ID}`);
  db.close();
  const s = Store.open(file);
  assert.equal(version(file), Store.schemaVersion);
  assert.equal(s.counts().transitions, 0);
  s.close();
});

test('a read-only open of an older log is refused (it would read the wrong schema); the file is untouched', () => {
  const file = v1Log('old-ro.db');
  const before = sha(file);
  assert.throws(
    () => Store.openReadOnly(file, { migrations: V2 }),
    (e: unknown) =>
      e instanceof StoreOpenError &&
      e.reason === 'older' &&
      e.message.includes(file) &&
      new RegExp(`schema version ${N} is older than ${N + 1}; open it once for writing`).test(e.message),
  );
  assert.equal(sha(file), before);
});

test('a newer log is refused by this build, writable or read-only, and left byte-for-byte untouched', () => {
  const file = v1Log('newer.db');
  Store.open(file, { migrations: V2 }).close();
  const copy = join(dir, 'newer-copy.db');
  copyFileSync(file, copy);
  const before = sha(copy);
  for (const open of [() => Store.open(copy), () => Store.openReadOnly(copy)]) {
    assert.throws(
      open,
      (e: unknown) =>
        e instanceof StoreOpenError &&
        e.reason === 'newer' &&
        e.message.includes(copy) &&
        new RegExp(`schema version ${N + 1} is newer than this build's ${N}`).test(e.message),
    );
  }
  assert.equal(sha(copy), before);
});

test('a migration that fails half-way leaves the file at its old version, rows intact, and says which step', () => {
  const file = v1Log('broken-step.db');
  const digest = digestOf(file);
  const bad = [...MIGRATIONS, `CREATE TABLE half_done (x); ALTER TABLE no_such_table ADD COLUMN y;`];
  assert.throws(
    () => Store.open(file, { migrations: bad }),
    (e: unknown) =>
      e instanceof StoreOpenError &&
      e.reason === 'migration' &&
      e.message.includes(file) &&
      new RegExp(`migration ${N} -> ${N + 1} failed \\(file left at version ${N}\\): no such table: no_such_table`).test(e.message),
  );
  assert.equal(version(file), N);
  const s = Store.open(file);
  assert.deepEqual(s.datasetDigest(), digest);
  assert.equal(s.counts().transitions, 10);
  const db = new Database(file, { readonly: true });
  assert.equal(db.prepare(`SELECT 1 FROM sqlite_schema WHERE name = 'half_done'`).get(), undefined, 'the first statement of the failed step was rolled back');
  db.close();
  s.close();
});

test('migration 2 (interventions) on a schema-1 log: rows read as not interventions; marks are stored, read back and hashed', () => {
  const file = join(dir, 'schema1.db');
  const s1 = Store.open(file, { migrations: MIGRATIONS.slice(0, 1) });
  const sid = s1.openSession({ robot: 'r', backend: 'sim', config: {}, calibration: {} });
  const eid = s1.beginEpisode({ sessionId: sid, kind: 'practice', domain: 'usb' });
  s1.endEpisode(eid, { outcome: 'failure' });
  s1.close();
  // Rows as a schema-1 build wrote them: its columns only.
  const raw1 = new Database(file);
  for (let k = 0; k < 4; k++) {
    const p = transitionParams(makeTransition(eid, k));
    // Columns of later migrations (2: interventions, 4: depth) did not exist yet.
    for (const c of ['intervention', 'intervention_source', 'depth_width', 'depth_height', 'depth_codec', 'depth']) delete p[c];
    raw1
      .prepare(
        `INSERT INTO transitions (${Object.keys(p).join(', ')}) VALUES (${Object.keys(p)
          .map((c) => `@${c}`)
          .join(', ')})`,
      )
      .run(p);
  }
  raw1.close();
  const s = Store.open(file);
  try {
    assert.ok(version(file) >= 2);
    const ts = s.getEpisode(eid, { transitions: true, images: false })!.transitions!;
    assert.ok(ts.every((t) => t.intervention === false && t.interventionSource === null));
    const e2 = s.beginEpisode({ sessionId: sid, kind: 'practice', domain: 'usb' });
    s.appendTransitions([{ ...makeTransition(e2, 0), intervention: true, interventionSource: 'rest' }, makeTransition(e2, 1)]);
    const got = s.getEpisode(e2, { transitions: true, images: false })!.transitions!;
    assert.deepEqual(
      got.map((t) => [t.intervention, t.interventionSource]),
      [
        [true, 'rest'],
        [false, null],
      ],
    );
    // The marks are part of the digest: the same rows unmarked hash differently.
    const marked = s.datasetDigest({ episodeIds: [e2] }).sha256;
    const raw = new Database(file);
    raw.prepare('UPDATE transitions SET intervention = 0, intervention_source = NULL WHERE episode_id = ?').run(e2);
    raw.close();
    assert.notEqual(s.datasetDigest({ episodeIds: [e2] }).sha256, marked);
  } finally {
    s.close();
  }
});

test("readLog reads an older build's log through a migrated copy and leaves the file at its version", () => {
  const file = join(dir, 'older-run.db');
  const old = Store.open(file, { migrations: MIGRATIONS.slice(0, 3) });
  const session = old.openSession({ robot: 'sim', backend: 'sim', config: {}, calibration: {} });
  old.endEpisode(old.beginEpisode({ sessionId: session, kind: 'practice', domain: 'europlug' }), { outcome: 'success', gtSuccess: true });
  old.close();
  assert.throws(
    () => Store.openReadOnly(file),
    (e: unknown) => e instanceof StoreOpenError && e.reason === 'older',
  );
  const eps = readLog(file, (s) => s.listEpisodes({ kind: 'practice' }));
  assert.deepEqual(
    eps.map((e) => [e.domain, e.gtSuccess]),
    [['europlug', true]],
  );
  assert.equal(version(file), 3, 'the file itself is not migrated');
});
