/** A corrupt, foreign or newer database is refused with an error naming the file, and left byte-for-byte untouched. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { APPLICATION_ID, Store, StoreOpenError } from '../../src/store/index.ts';
import { makeTransition } from './fixtures/data.ts';

const dir = mkdtempSync(join(tmpdir(), 'store-refuse-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

/** A valid, checkpointed log with enough rows to span many pages. */
function validDb(): string {
  const file = join(dir, 'valid.db');
  if (existsSync(file)) return file;
  const s = Store.open(file);
  const sid = s.openSession({ robot: 'r', backend: 'sim', config: {}, calibration: {} });
  const eid = s.beginEpisode({ sessionId: sid, kind: 'prior', domain: 'usb' });
  s.appendTransitions(Array.from({ length: 60 }, (_, k) => makeTransition(eid, k)));
  s.close(); // last connection: checkpoints and removes the -wal
  assert.equal(existsSync(`${file}-wal`), false);
  return file;
}

/** XOR one byte with 0xff. */
function flip(file: string, offset: number): void {
  const b = readFileSync(file);
  b[offset] = b[offset]! ^ 0xff;
  writeFileSync(file, b);
}

let n = 0;
function variant(mutate: (file: string) => void): string {
  const file = join(dir, `case-${++n}.db`);
  copyFileSync(validDb(), file);
  mutate(file);
  return file;
}

function assertRefused(file: string, reason: StoreOpenError['reason'], pattern: RegExp): void {
  const before = sha(file);
  const siblings = readdirSync(dir).sort();
  for (const open of [() => Store.open(file), () => Store.openReadOnly(file)]) {
    assert.throws(open, (e: unknown) => {
      assert.ok(e instanceof StoreOpenError, `StoreOpenError, got ${String(e)}`);
      assert.equal(e.reason, reason, e.message);
      assert.ok(e.message.includes(file), `message names the file: ${e.message}`);
      assert.match(e.message, pattern);
      return true;
    });
  }
  assert.equal(sha(file), before, 'file untouched');
  assert.deepEqual(readdirSync(dir).sort(), siblings, 'no -wal/-shm/-journal files created');
}

test('the valid database opens (the baseline the mutations break)', () => {
  const s = Store.openReadOnly(validDb(), { integrityCheck: 'quick' });
  assert.equal(s.countTransitions(), 60);
  s.close();
});

test('garbage is refused', () => {
  const file = join(dir, 'garbage.db');
  writeFileSync(file, Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 31 + 7) & 255)));
  assertRefused(file, 'corrupt', /not an SQLite database/);
  const short = join(dir, 'short.db');
  writeFileSync(short, 'hello');
  assertRefused(short, 'corrupt', /shorter than an SQLite header/);
});

test('a truncated database is refused', () => {
  const page = 4096;
  const half = variant((f) => truncateSync(f, Math.floor(statSync(f).size / page / 2) * page));
  assertRefused(half, 'corrupt', /truncated/);
  const ragged = variant((f) => truncateSync(f, statSync(f).size - 100));
  assertRefused(ragged, 'corrupt', /not a multiple of the page size/);
});

test('flipped header bytes are refused', () => {
  assertRefused(
    variant((f) => flip(f, 0)),
    'corrupt',
    /header magic/,
  );
  assertRefused(
    variant((f) => flip(f, 16)),
    'corrupt',
    /page size/,
  );
  assertRefused(
    variant((f) => flip(f, 21)),
    'corrupt',
    /payload fractions/,
  );
});

test('a damaged page inside the file is found by quick_check', () => {
  // Overwrite a page in the middle of the transitions b-tree with noise; the header stays valid.
  const f = variant((file) => {
    const b = readFileSync(file);
    const pages = b.length / 4096;
    const p = Math.floor(pages / 2);
    for (let i = 0; i < 4096; i++) b[p * 4096 + i] = (i * 131 + 17) & 255;
    writeFileSync(file, b);
  });
  const before = sha(f);
  assert.throws(
    () => Store.open(f),
    (e: unknown) => e instanceof StoreOpenError && e.reason === 'corrupt' && e.message.includes(f),
  );
  assert.equal(sha(f), before);
});

test('a foreign SQLite database is refused: other tables, or another application_id', () => {
  const foreign = join(dir, 'foreign.db');
  const db = new Database(foreign);
  db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ada')`);
  db.close();
  assertRefused(foreign, 'foreign', /tables that are not ours \(users\)/);

  const other = join(dir, 'other-app.db');
  const db2 = new Database(other);
  db2.pragma('application_id = 1234');
  db2.close();
  assertRefused(other, 'foreign', /application_id 0x000004d2/);
});

test('a database from a newer schema version is refused', () => {
  const newer = variant((f) => {
    const db = new Database(f);
    db.pragma(`user_version = ${Store.schemaVersion + 1}`);
    db.pragma('journal_mode = DELETE');
    db.close();
  });
  assertRefused(newer, 'newer', new RegExp(`schema version ${Store.schemaVersion + 1} is newer`));
});

test('our application_id with our tables missing is refused; a read-only open of a missing file is refused', () => {
  const hollow = join(dir, 'hollow.db');
  const db = new Database(hollow);
  db.pragma(`application_id = ${APPLICATION_ID}`);
  db.pragma(`user_version = ${Store.schemaVersion}`);
  db.exec('CREATE TABLE sessions (id INTEGER PRIMARY KEY)');
  db.close();
  assertRefused(hollow, 'corrupt', /tables missing: episodes, transitions/);

  const missing = join(dir, 'nope.db');
  assert.throws(
    () => Store.openReadOnly(missing),
    (e: unknown) => e instanceof StoreOpenError && e.reason === 'missing' && e.message.includes(missing),
  );
  assert.equal(existsSync(missing), false, 'a read-only open creates nothing');
});
