/**
 * Shipping an arm's log to a real PostgreSQL: exactly once in effect across a crash between COMMIT and the local
 * acknowledgement, and across the server going away and coming back; and no password in any message.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Store } from '../../../src/store/index.ts';
import { FleetStore } from '../../../src/store/pg/fleet-store.ts';
import { Shipper, defaultStateFile } from '../../../src/store/pg/shipper.ts';
import { makeTransition } from '../fixtures/data.ts';
import { pgSkip, usePgCluster } from './helpers.ts';

const pg = usePgCluster();

function makeLog(dir: string, name: string): Store {
  const s = Store.open(join(dir, `${name}.db`));
  s.openSession({ robot: name, backend: 'test', config: {}, calibration: {} });
  return s;
}

function addEpisodes(s: Store, n: number, steps = 20, end = true): void {
  const session = s.listSessions({ limit: 1 })[0]!.id;
  for (let i = 0; i < n; i++) {
    const ep = s.beginEpisode({ sessionId: session, kind: 'practice', domain: 'europlug' });
    s.appendTransitions(Array.from({ length: steps }, (_, k) => makeTransition(ep, k)));
    if (end) s.endEpisode(ep, { outcome: 'success', learnedSuccessProb: 0.9 });
  }
}

/** Local rows and PostgreSQL rows of one arm, hashed column by column in id order. */
async function sameRows(fleet: FleetStore, s: Store, robot: string): Promise<void> {
  const local = s.rawTransitions(0, 1e9);
  const remote = await fleet.transitionsAfter(robot, 0, 1e9);
  assert.equal(remote.length, local.length, 'row count');
  const h = (rows: typeof local): string => {
    const x = createHash('sha256');
    for (const r of rows)
      for (const k of [
        'id',
        'episode_id',
        'step',
        'image',
        'wrench',
        'ee_pos',
        'action_residual',
        'reward_prob',
        'gt_success',
        'done',
        'wall_time',
        'policy_version',
      ])
        x.update(`${k}=${Buffer.isBuffer(r[k]) ? r[k].toString('hex') : String(r[k])};`);
    return x.digest('hex');
  };
  assert.equal(h(remote), h(local), 'byte-equal rows');
}

test('a crash between COMMIT and the local mark re-sends the batch, which inserts nothing twice', { skip: pgSkip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ship-'));
  const s = makeLog(dir, 'arm-a');
  try {
    addEpisodes(s, 3);
    const target = pg.target();
    const first = new Shipper({ db: s.file, robotId: 'arm-a', target, batch: 16, intervalMs: 20, testHooks: { crashAfterCommit: 2 } });
    first.start();
    const t0 = Date.now();
    while (first.stats.lastError === null && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
    await first.stop();
    assert.match(first.stats.lastError ?? '', /crash after commit 2/);
    const fleet = await FleetStore.connect(target);
    try {
      assert.equal((await fleet.transitionsAfter('arm-a', 0, 1e9)).length, 32, 'two batches committed');
      // The mark file was written after batch 1 only.
      assert.equal((JSON.parse(readFileSync(defaultStateFile(s.file, target), 'utf8')) as { transitions: number }).transitions, 16);
      const second = new Shipper({ db: s.file, robotId: 'arm-a', target, batch: 16, intervalMs: 20 });
      second.start();
      await second.drain();
      await second.stop();
      assert.equal(second.stats.sent - second.stats.inserted, 16, 'batch 2 was sent again and inserted nothing');
      assert.equal(second.stats.inserted, 60 - 32);
      await sameRows(fleet, s, 'arm-a');
      const eps = await fleet.episodes('arm-a', { afterLocalId: 0, ids: [] });
      assert.deepEqual(
        eps.map((e) => e.outcome),
        ['success', 'success', 'success'],
      );
    } finally {
      await fleet.close();
    }
  } finally {
    s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PostgreSQL stopped and restarted mid-run: the shipper catches up, nothing lost or doubled, no password in its errors', { skip: pgSkip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ship-'));
  const s = makeLog(dir, 'arm-b');
  const c = pg.cluster();
  const target = pg.target();
  const shipper = new Shipper({ db: s.file, robotId: 'arm-b', target, batch: 32, intervalMs: 20, maxBackoffMs: 300 });
  try {
    shipper.start();
    addEpisodes(s, 2);
    await shipper.drain();
    c.stop();
    // The arm keeps logging while the link is down; an episode also ends while it is down.
    addEpisodes(s, 3);
    addEpisodes(s, 1, 7, false);
    const openEp = s.listEpisodes({ limit: 1 })[0]!.id;
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(shipper.stats.connected, false);
    assert.ok(shipper.stats.failures > 0);
    const err = shipper.stats.lastError ?? '';
    assert.ok(err.length > 0);
    assert.ok(!err.includes(c.password), 'the password is not in the error');
    s.endEpisode(openEp, { outcome: 'failure' });
    c.start();
    await shipper.drain();
    const fleet = await FleetStore.connect(target);
    try {
      await sameRows(fleet, s, 'arm-b');
      const eps = await fleet.episodes('arm-b', { afterLocalId: 0, ids: [] });
      assert.equal(eps.length, 6);
      assert.deepEqual(
        eps.map((e) => e.outcome),
        ['success', 'success', 'success', 'success', 'success', 'failure'],
        'the end that happened during the outage arrived',
      );
      const n = await fleet.query<{ n: number; d: number }>(
        'SELECT count(*)::int AS n, count(DISTINCT (robot_id, local_id))::int AS d FROM fleet_transitions WHERE robot_id = $1',
        ['arm-b'],
      );
      assert.deepEqual(n[0], { n: 2 * 20 + 3 * 20 + 7, d: 2 * 20 + 3 * 20 + 7 });
    } finally {
      await fleet.close();
    }
    assert.ok(!JSON.stringify(shipper.stats).includes(c.password));
  } finally {
    await shipper.stop();
    s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
