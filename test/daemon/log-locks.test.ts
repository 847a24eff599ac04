/**
 * One daemon per database and per robot (issue 12: a second daemon on the same --db marked the first one's open
 * episode as error and its session as ended while the first carried on). Real processes: the first daemon's log
 * lives in a child; the second is refused with the first's pid and touches nothing; once the first is SIGKILLed, the
 * kernel has released its locks and a restart recovers (closes its dangling episode, says so).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { LockHeldError, StoreLog } from '../../src/daemon/log.ts';
import { Store } from '../../src/store/index.ts';
import { startChild } from '../store/fixtures/child.ts';
import { SESSION } from './fixtures/ticks.ts';
import { tempDir } from './helpers.ts';

const t = tempDir('log-locks-');
test.after(t.cleanup);
const childScript = join(import.meta.dirname, 'fixtures', 'log-child.ts');

function readyLine(lines: string[]): { session: number; episode: number } {
  const m = /^READY (\d+) (\d+)$/.exec(lines.find((l) => l.startsWith('READY')) ?? '');
  assert.ok(m, `child ready: ${lines.join(' | ')}`);
  return { session: Number(m[1]), episode: Number(m[2]) };
}

test(
  "a second daemon on the same database is refused with the first one's pid; the first's episode stays open; after a SIGKILL a restart recovers",
  { timeout: 60_000 },
  async () => {
    const db = join(t.dir, 'one.db');
    const first = startChild(childScript, [db]);
    try {
      await first.ready;
      const { session, episode } = readyLine(first.lines);

      // Same process or another: refused, naming the holder; nothing in the database changed.
      await assert.rejects(StoreLog.open(db, SESSION), (e: unknown) => {
        assert.ok(e instanceof LockHeldError, String(e));
        assert.equal(e.holder?.pid, first.proc.pid);
        assert.match(e.message, new RegExp(`database ${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by process ${first.proc.pid} `));
        assert.ok(e.message.includes(`${db}.lock`), 'names the lock file');
        return true;
      });
      const second = startChild(childScript, [db]);
      await Promise.race([second.exited, second.ready.then(() => new Promise((r) => setTimeout(r, 2000)))]);
      second.proc.kill('SIGKILL'); // (only if it was not refused)
      await second.exited;
      assert.equal(second.proc.exitCode, 3, second.stderr());
      assert.match(second.lines.join('\n'), new RegExp(`^REFUSED database .* is in use by process ${first.proc.pid} `, 'm'));

      const ro = Store.openReadOnly(db);
      const ep = ro.getEpisode(episode)!;
      assert.equal(ep.endedAt, null, "the first daemon's episode is still open");
      assert.equal(ep.outcome, null);
      assert.equal(ro.getSession(session)!.endedAt, null, 'and its session');
      assert.equal(ro.counts().sessions, 1, 'the refused daemons opened no session');
      ro.close();
    } finally {
      first.proc.kill('SIGKILL');
      await first.exited;
    }

    // The kernel released the dead process's lock: the restart opens, closes what it left open, and says so.
    const log = await StoreLog.open(db, SESSION);
    try {
      assert.deepEqual(log.recovered, { sessions: 1, episodes: 1 });
      const ep = log.store.getEpisode(1)!;
      assert.equal(ep.outcome, 'error');
      assert.match(ep.reason ?? '', /before the episode was closed/);
      assert.equal(ep.transitionCount, 5);
      assert.notEqual(log.store.getSession(1)!.endedAt, null);
      const ev = log.store.listEvents({ kind: 'recovered' });
      assert.equal(ev.length, 1);
      assert.equal(ev[0]!.sessionId, log.sessionId);
      assert.match(ev[0]!.message, /closed 1 episode\(s\) and 1 session\(s\)/);
    } finally {
      await log.close();
    }
    // A clean close releases the lock too.
    const again = await StoreLog.open(db, SESSION);
    assert.deepEqual(again.recovered, { sessions: 0, episodes: 0 });
    await again.close();
  },
);

test("one daemon per robot, whatever the database: refused with the holder's pid; other robots and no robot id are free", { timeout: 60_000 }, async () => {
  const lockDir = join(t.dir, 'locks');
  const first = startChild(childScript, [join(t.dir, 'a.db'), 'cell-3 (ur5 @ 10.0.0.7)', lockDir]);
  try {
    await first.ready;
    readyLine(first.lines);
    await assert.rejects(StoreLog.open(join(t.dir, 'b.db'), SESSION, { robotId: 'cell-3 (ur5 @ 10.0.0.7)', lockDir }), (e: unknown) => {
      assert.ok(e instanceof LockHeldError, String(e));
      assert.equal(e.holder?.pid, first.proc.pid);
      assert.match(e.message, new RegExp(`robot 'cell-3 \\(ur5 @ 10\\.0\\.0\\.7\\)' is in use by process ${first.proc.pid} `));
      assert.ok(e.file.startsWith(lockDir), e.file);
      return true;
    });
    assert.equal(existsSync(join(t.dir, 'b.db')), false, 'the refused daemon created no database');
    // Another robot, and a daemon whose robot lives in its own process (the simulated cell: no robot id), are free.
    const other = await StoreLog.open(join(t.dir, 'c.db'), SESSION, { robotId: 'cell-4', lockDir });
    const sim = await StoreLog.open(join(t.dir, 'd.db'), SESSION);
    await other.close();
    await sim.close();
  } finally {
    first.proc.kill('SIGKILL');
    await first.exited;
  }
  const next = await StoreLog.open(join(t.dir, 'b.db'), SESSION, { robotId: 'cell-3 (ur5 @ 10.0.0.7)', lockDir });
  await next.close();
});

test('--db in a place that cannot be written: the error names the file (and why)', async () => {
  const notDir = join(t.dir, 'plain-file');
  writeFileSync(notDir, 'x');
  const cases = [join(t.dir, 'no-such-dir', 'x.db'), join(notDir, 'x.db'), '/proc/insertion-daemon-test.db'];
  for (const db of cases) {
    await assert.rejects(StoreLog.open(db, SESSION), (e: unknown) => {
      assert.ok((e as Error).message.includes(db), `names ${db}: ${(e as Error).message}`);
      return true;
    });
  }
  if (process.getuid?.() !== 0) {
    // (root may write anywhere; as an ordinary user, a read-only directory)
    const ro = join(t.dir, 'read-only');
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    const db = join(ro, 'x.db');
    await assert.rejects(StoreLog.open(db, SESSION), (e: unknown) => (e as Error).message.includes(db) && /not writable/.test((e as Error).message));
    chmodSync(ro, 0o755);
  }
  const asDir = join(t.dir, 'a-directory.db');
  mkdirSync(asDir);
  await assert.rejects(StoreLog.open(asDir, SESSION), (e: unknown) => (e as Error).message.includes(asDir) && /not a regular file/.test((e as Error).message));
});

test('a refused database (newer schema) leaves the lock free for the next try', async () => {
  const db = join(t.dir, 'newer.db');
  const s = Store.open(db);
  s.close();
  const raw = new Database(db);
  raw.pragma(`user_version = ${Store.schemaVersion + 1}`);
  raw.close();
  for (let i = 0; i < 2; i++) {
    await assert.rejects(StoreLog.open(db, SESSION), /schema version \d+ is newer/);
  }
});
