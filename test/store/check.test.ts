/**
 * The log's post-crash check (src/store/check.ts, the campaign's power-loss row): a consistent log passes; each broken
 * invariant is found and named: a transition without its episode, a completed episode missing steps or its final
 * `done`, a policy version used but never registered, a damaged page.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { checkLog } from '../../src/store/check.ts';
import { Store } from '../../src/store/index.ts';
import { makeTransition } from './fixtures/data.ts';
import { tempDir } from '../daemon/helpers.ts';

const SHA = 'a'.repeat(64);

/** One session, one complete 20-step practice episode driven by registered 'policy-7'. */
function goodLog(file: string): void {
  const s = Store.open(file);
  const sid = s.openSession({ robot: 'r', backend: 'sim', config: {}, calibration: {} });
  s.registerModel({ kind: 'policy', version: 'policy-7', path: '/m.onnx', card: {}, sha256: SHA });
  const eid = s.beginEpisode({ sessionId: sid, kind: 'practice', domain: 'europlug', policyVersion: 'policy-7' });
  s.appendTransitions(Array.from({ length: 20 }, (_, k) => makeTransition(eid, k)));
  s.endEpisode(eid, { outcome: 'success' });
  s.close();
}

function raw(file: string, sql: string): void {
  const db = new Database(file);
  db.pragma('foreign_keys = OFF');
  db.exec(sql);
  db.close();
}

test('a consistent log passes; every broken invariant is found', (t) => {
  const tmp = tempDir('check-log-');
  t.after(tmp.cleanup);
  const f = (name: string): string => {
    const file = join(tmp.dir, `${name}.db`);
    goodLog(file);
    return file;
  };
  const ok = checkLog(f('good'));
  assert.equal(ok.ok, true, JSON.stringify(ok));
  assert.deepEqual(ok.counts, { sessions: 1, episodes: 1, openEpisodes: 0, transitions: 20, models: 1 });

  const orphan = f('orphan');
  raw(orphan, 'UPDATE transitions SET episode_id = 99 WHERE step = 3');
  const o = checkLog(orphan);
  assert.equal(o.ok, false);
  assert.equal(o.orphanTransitions, 1);

  const half = f('half');
  raw(half, 'DELETE FROM transitions WHERE step = 19');
  const h = checkLog(half);
  assert.equal(h.ok, false);
  assert.deepEqual(
    h.halfEpisodes.map((e) => [e.id, e.transitions, e.doneLast]),
    [[1, 19, false]],
  );

  const gap = f('gap');
  raw(gap, 'DELETE FROM transitions WHERE step = 7');
  assert.equal(checkLog(gap).halfEpisodes.length, 1, 'a missing middle step');

  const unregistered = f('unregistered');
  raw(unregistered, `UPDATE transitions SET policy_version = 'ghost@3' WHERE step = 5`);
  assert.deepEqual(checkLog(unregistered).unregisteredVersions, ['ghost@3']);

  // An open (killed) episode with some steps is not "complete": fine.
  const open = f('open');
  raw(open, 'UPDATE episodes SET outcome = NULL, ended_at = NULL; DELETE FROM transitions WHERE step > 10');
  const op = checkLog(open);
  assert.equal(op.ok, true, JSON.stringify(op));
  assert.equal(op.counts.openEpisodes, 1);

  // A damaged page: SQLite's own check speaks.
  const damaged = f('damaged');
  const bytes = readFileSync(damaged);
  const page = bytes.readUInt16BE(16) === 1 ? 65536 : bytes.readUInt16BE(16);
  for (let i = page; i < Math.min(bytes.length, 6 * page); i++) bytes[i] = 0x5a; // pages 2-6: b-tree pages of the schema's tables
  writeFileSync(damaged, bytes);
  let d: ReturnType<typeof checkLog> | null = null;
  try {
    d = checkLog(damaged);
  } catch (e) {
    assert.match((e as Error).message, /malformed|corrupt/);
  }
  if (d) {
    assert.equal(d.ok, false);
    assert.notEqual(d.integrity, 'ok');
  }
});
