/**
 * The fleet learner keeps its mirror across restarts (issue 17): a restarted learner pulls only the rows that are new
 * since it stopped, and none is lost or doubled; the marks are saved with the rows, so a pull that fails half-way
 * leaves neither; a mirror of another fleet database, ahead of PostgreSQL, or a corrupt file is named and pulled
 * again. Real throw-away PostgreSQL, real SQLite files, the real online trainer on a tiny checkpoint.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runFleetLearner, type FleetLearnerStats } from '../../../src/online/fleet-learner.ts';
import { DEFAULT_ONLINE } from '../../../src/online/trainer.ts';
import { Store } from '../../../src/store/index.ts';
import { FleetStore } from '../../../src/store/pg/fleet-store.ts';
import { FleetMirror } from '../../../src/store/pg/mirror.ts';
import { Shipper } from '../../../src/store/pg/shipper.ts';
import { pgTarget } from '../../../src/store/pg/credentials.ts';
import { makeTransition } from '../fixtures/data.ts';
import { tinyOffline } from '../../online/fixtures.ts';
import { pgSkip, usePgCluster } from './helpers.ts';

const pg = usePgCluster();
const fx = pgSkip ? null : await tinyOffline('fleet-mirror-restart');
const dir = mkdtempSync(join(tmpdir(), 'fleet-mirror-'));
after(() => {
  fx?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** Logs `episodes` episodes of 20 steps on an arm (the last left open if `leaveOpen`) and ships them. */
async function practise(arm: Store, robotId: string, episodes: number, o: { leaveOpen?: boolean; end?: number[] } = {}): Promise<number[]> {
  const session = arm.listSessions()[0]?.id ?? arm.openSession({ robot: robotId, backend: 'test', config: {}, calibration: {} });
  for (const ep of o.end ?? []) arm.endEpisode(ep, { outcome: 'success', learnedSuccessProb: 0.9, gtSuccess: true });
  const eps: number[] = [];
  for (let i = 0; i < episodes; i++) {
    // The seed carries the arm's episode id into the mirror (the key of rowKeys).
    const seed = (arm.listEpisodes({ limit: 1 })[0]?.id ?? 0) + 1;
    const ep = arm.beginEpisode({ sessionId: session, kind: 'practice', domain: fx!.domains[0] as string, seed });
    assert.equal(ep, seed);
    arm.appendTransitions(Array.from({ length: 20 }, (_, k) => makeTransition(ep, k, 1000 * ep + k)));
    if (!(o.leaveOpen && i === episodes - 1)) arm.endEpisode(ep, { outcome: 'failure', learnedSuccessProb: 0.1, gtSuccess: false });
    eps.push(ep);
  }
  const s = new Shipper({ db: arm.file, robotId, target: pg.target(), batch: 64, intervalMs: 20 });
  s.start();
  try {
    await s.drain();
  } finally {
    await s.stop();
  }
  return eps;
}

/** The mirrored rows as (robot, the arm's episode id, step), sorted: a row twice shows twice. */
function rowKeys(store: Store): string[] {
  const sessions = new Map(store.listSessions().map((s) => [s.id, s.robot]));
  return store
    .listEpisodes()
    .flatMap((e) => (store.getEpisode(e.id, { transitions: true })?.transitions ?? []).map((t) => `${sessions.get(e.sessionId)}:${e.seed}:${t.step}`))
    .sort();
}

test('a kept mirror pulls only new rows; marks and rows are saved together; another fleet or a mirror ahead is refused', { skip: pgSkip }, async (t) => {
  const arm = Store.open(join(dir, 'a1.db'));
  t.after(() => arm.close());
  const [, open] = (await practise(arm, 'a1', 2, { leaveOpen: true })) as [number, number];
  const fleet = await FleetStore.connect(pg.target());
  t.after(() => fleet.close());
  const identity = await fleet.identity();
  assert.match(identity.fleetId, /^[0-9a-f-]{36}$/);
  assert.match(identity.cluster ?? '', /^\d+$/, 'the cluster system identifier is readable');

  const file = join(dir, 'mirror-a.db');
  let m = Store.open(file);
  assert.deepEqual(await FleetMirror.check(m, fleet, identity), { ok: true, transitions: 0, arms: 0 }, 'a new mirror may be used');
  await new FleetMirror(m, {}, identity).pull(fleet);
  assert.equal(m.countTransitions(), 40);
  m.close();

  // More practice: the open episode ends, two more; a label. The kept mirror pulls those rows only.
  await practise(arm, 'a1', 2, { end: [open] });
  arm.labelEpisode({ episodeId: open, success: false, by: 'api' });
  await practise(arm, 'a1', 0);
  m = Store.open(file);
  assert.deepEqual(await FleetMirror.check(m, fleet, identity), { ok: true, transitions: 40, arms: 1 });
  const kept = new FleetMirror(m, {}, identity);
  assert.equal(kept.stats.kept, 40);
  // A pull whose local write fails half-way (the marks after the rows) leaves no rows and no marks...
  const save = m.saveMirrorArm.bind(m);
  m.saveMirrorArm = () => {
    throw new Error('disk full (test)');
  };
  await assert.rejects(kept.pull(fleet), /disk full/);
  assert.equal(m.countTransitions(), 40, 'the failed pull wrote no rows');
  assert.equal(m.mirrorState().arms[0]?.lastTransition, arm.rawTransitions(0, 1000)[39]!.id, 'nor marks');
  m.saveMirrorArm = save;
  // ...and the next pull brings them, once.
  assert.equal(await kept.pull(fleet), 40, 'only the 40 new rows are pulled');
  assert.equal(await kept.pull(fleet), 0);
  assert.equal(m.countTransitions(), 80);
  const keys = rowKeys(m);
  assert.equal(new Set(keys).size, 80, 'no row twice');
  const ended = m.listEpisodes().find((e) => e.seed === open)!;
  assert.equal(ended.outcome, 'success', 'the episode open at the restart was ended when its end arrived');
  assert.equal(m.episodeLabel(ended.id)?.success, false, 'its label came along');

  // A fresh mirror of the same fleet holds the same rows: nothing lost.
  const fresh = Store.open(join(dir, 'mirror-fresh.db'));
  t.after(() => fresh.close());
  await new FleetMirror(fresh, {}, identity).pull(fleet);
  assert.deepEqual(rowKeys(fresh), keys);

  // Another fleet database in the same cluster (a database made anew would be the same), another filter, a
  // mirror ahead of PostgreSQL: each refused with its reason.
  await fleet.query('CREATE DATABASE other_fleet');
  const other = await FleetStore.connect(pgTarget({}, { ...pg.cluster().env, PGDATABASE: 'other_fleet' }));
  t.after(() => other.close());
  const otherId = await other.identity();
  const refused = await FleetMirror.check(m, other, otherId);
  assert.ok(!refused.ok && /pulled from database '.+', this fleet is 'other_fleet'/.test(refused.reason), JSON.stringify(refused));
  const sameName = await FleetMirror.check(m, fleet, { ...identity, fleetId: otherId.fleetId });
  assert.ok(!sameName.ok && /pulled from fleet .*, this database is fleet/.test(sameName.reason), JSON.stringify(sameName));
  const filtered = await FleetMirror.check(m, fleet, identity, { robots: ['a2'] });
  assert.ok(!filtered.ok && /filter/.test(filtered.reason), JSON.stringify(filtered));
  assert.throws(() => new FleetMirror(m, {}, otherId), /pulled from database/);
  await fleet.query("DELETE FROM fleet_transitions WHERE robot_id = 'a1' AND local_id > 60");
  const ahead = await FleetMirror.check(m, fleet, identity);
  assert.ok(!ahead.ok && /a1: the mirror is at transition \d+ .*PostgreSQL holds 60/.test(ahead.reason), JSON.stringify(ahead));
  m.close();
});

test('a restarted learner pulls only what is new; a corrupt mirror is named and pulled again', { skip: pgSkip }, async (t) => {
  const arm = Store.open(join(dir, 'b1.db'));
  t.after(() => arm.close());
  await practise(arm, 'b1', 3);
  const env = pg.cluster().env;
  // Its own database: the first test changed the shared one.
  const admin = await FleetStore.connect(pg.target());
  await admin.query('CREATE DATABASE learner_fleet');
  await admin.close();
  const target = pgTarget({}, { ...env, PGDATABASE: 'learner_fleet' });
  {
    const s = new Shipper({ db: arm.file, robotId: 'b1', target, batch: 64, intervalMs: 20 });
    s.start();
    await s.drain();
    await s.stop();
  }
  const workDir = join(dir, 'learner');
  const logs: string[] = [];
  /** Runs the learner until it has pulled `want` rows in this run, then stops it. */
  const run = async (want: number): Promise<FleetLearnerStats> => {
    let pulled = 0;
    let stop = false;
    const t0 = Date.now();
    const stats = await runFleetLearner({
      target,
      trainer: {
        ...DEFAULT_ONLINE,
        offlineDb: null,
        offlineDomains: [],
        onlineFraction: 1,
        startCheckpoint: fx!.checkpoint,
        workDir,
        batchSize: 16,
        utd: 1,
        exportEvery: 0,
        minOnline: 1000,
        seed: 1,
      },
      rollout: { mode: 'all' },
      pollMs: 50,
      shouldStop: () => stop || (stop = pulled >= want || Date.now() - t0 > 30_000),
      log: (l) => logs.push(l),
      onPull: (s) => (pulled = s.pulled),
    });
    assert.ok(stats.pulled >= want, `pulled ${stats.pulled} of ${want} within 30 s`);
    return stats;
  };
  const first = await run(60);
  assert.deepEqual([first.kept, first.pulled, first.remade], [0, 60, null]);
  await practise(arm, 'b1', 2);
  {
    const s = new Shipper({ db: arm.file, robotId: 'b1', target, batch: 64, intervalMs: 20 });
    s.start();
    await s.drain();
    await s.stop();
  }
  const second = await run(40);
  assert.deepEqual([second.kept, second.pulled, second.remade], [60, 40, null], 'the restart kept 60 rows and pulled the 40 new ones only');
  assert.ok(
    logs.some((l) => /mirror .* kept: 60 transitions of 1 arms/.test(l)),
    logs.join('\n'),
  );
  const mirror = Store.openReadOnly(join(workDir, 'mirror.db'));
  const keys = rowKeys(mirror);
  mirror.close();
  assert.equal(keys.length, 100);
  assert.equal(new Set(keys).size, 100, 'no row twice, none lost');

  // A corrupt mirror: the learner names it and pulls the whole pool again.
  for (const f of ['mirror.db-wal', 'mirror.db-shm']) rmSync(join(workDir, f), { force: true });
  writeFileSync(join(workDir, 'mirror.db'), Buffer.alloc(8192, 7));
  const third = await run(100);
  assert.equal(third.kept, 0);
  assert.equal(third.pulled, 100);
  assert.match(third.remade ?? '', /unusable/);
  assert.ok(
    logs.some((l) => /mirror .*mirror\.db unusable .*; pulling the pool again/.test(l)),
    logs.join('\n'),
  );
});
