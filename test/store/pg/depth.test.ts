/**
 * The depth columns (local migration 5, issue 13) travel to PostgreSQL and into the learner's mirror byte for byte, so
 * that a fleet learner can train a depth reward: PostgreSQL migration 5 adds them to a fleet database at version 4
 * (rows shipped before keep NULL depth), an arm ships rows with and without depth, and a mirror pulled from it decodes
 * the same depth images as the arm's own log. Real throw-away PostgreSQL, real SQLite files.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { Store } from '../../../src/store/index.ts';
import { FleetStore, PG_MIGRATIONS } from '../../../src/store/pg/fleet-store.ts';
import { FleetMirror } from '../../../src/store/pg/mirror.ts';
import { Shipper } from '../../../src/store/pg/shipper.ts';
import { makeTransition } from '../fixtures/data.ts';
import { pgSkip, usePgCluster } from './helpers.ts';
import { teardown } from '../../teardown.ts';

const pg0 = usePgCluster();
const dir = mkdtempSync(join(tmpdir(), 'fleet-depth-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A depth image on a 0.1 mm grid (as the camera and the log's codec hold it), with a few holes (0). */
function depthImage(seed: number): { width: number; height: number; data: Float32Array } {
  const data = new Float32Array(16 * 16);
  for (let i = 0; i < data.length; i++) data[i] = i % 37 === 0 ? 0 : Math.round((0.09 + 0.02 * Math.sin(seed + i * 0.3)) * 1e4) / 1e4;
  return { width: 16, height: 16, data };
}

test('PostgreSQL migration 5 adds the depth columns to a version 4 fleet; depth ships and mirrors byte for byte', { skip: pgSkip }, async (t) => {
  const defer = teardown(t);
  const target = pg0.target();
  // A fleet database as the previous build left it: migrations 1-4, and a row shipped then.
  const raw = new pg.Client(target.config);
  await raw.connect();
  defer(() => raw.end());
  await raw.query('CREATE TABLE fleet_schema (version integer NOT NULL)');
  for (const m of PG_MIGRATIONS.slice(0, 4)) await raw.query(m);
  await raw.query('INSERT INTO fleet_schema VALUES (4)');
  await raw.query(
    `INSERT INTO fleet_transitions (robot_id, local_id, episode_local_id, step, wrench, ee_pos, ee_quat, goal, done, wall_time)
     VALUES ('old-arm', 1, 1, 0, '\\x00', '\\x00', '\\x00', '\\x00', 0, 0)`,
  );

  // An arm logs one episode with a depth camera and one without, and ships them (its FleetStore migrates 4 -> 5).
  const arm = Store.open(join(dir, 'arm.db'));
  defer(() => arm.close());
  const session = arm.openSession({ robot: 'arm-d', backend: 'sim', config: {}, calibration: {} });
  for (const withDepth of [true, false]) {
    const ep = arm.beginEpisode({ sessionId: session, kind: 'practice', domain: 'europlug', seed: withDepth ? 1 : 2 });
    arm.appendTransitions(
      Array.from({ length: 20 }, (_, k) => {
        const tr = makeTransition(ep, k);
        return withDepth ? { ...tr, obs: { ...tr.obs, depth: depthImage(k) } } : tr;
      }),
    );
    arm.endEpisode(ep, { outcome: 'failure', learnedSuccessProb: 0.1, gtSuccess: false });
  }
  const s = new Shipper({ db: arm.file, robotId: 'arm-d', target, batch: 16, intervalMs: 20 });
  s.start();
  try {
    await s.drain();
  } finally {
    await s.stop();
  }
  assert.equal(s.stats.lastError, null);
  assert.deepEqual((await raw.query('SELECT version FROM fleet_schema')).rows, [{ version: PG_MIGRATIONS.length }]);
  assert.equal(PG_MIGRATIONS.length, 5);
  const old = await raw.query("SELECT depth, depth_width, depth_codec FROM fleet_transitions WHERE robot_id = 'old-arm'");
  assert.deepEqual(old.rows, [{ depth: null, depth_width: null, depth_codec: null }], 'the row shipped before keeps NULL depth');

  // PostgreSQL holds the log's depth columns as stored.
  const fleet = await FleetStore.connect(target);
  defer(() => fleet.close());
  const local = arm.rawTransitions(0, 1000);
  const remote = await fleet.transitionsAfter('arm-d', 0, 1000);
  assert.equal(remote.length, 40);
  for (let i = 0; i < local.length; i++) {
    for (const k of ['depth_width', 'depth_height', 'depth_codec'] as const) assert.equal(remote[i]![k], local[i]![k], `row ${i} ${k}`);
    const [a, b] = [local[i]!.depth as Buffer | null, remote[i]!.depth as Buffer | null];
    assert.ok(a === null ? b === null : b !== null && Buffer.compare(a, b) === 0, `row ${i}: depth blob byte-equal`);
  }
  assert.equal(local.filter((r) => r.depth !== null).length, 20);

  // The learner's mirror keeps them: the same depth images decode from it as from the arm's log.
  const mirror = Store.open(join(dir, 'mirror.db'));
  defer(() => mirror.close());
  await new FleetMirror(mirror, {}, await fleet.identity()).pull(fleet);
  assert.equal(mirror.countTransitions(), 40);
  const decoded = (st: Store, seed: number) => {
    const ep = st.listEpisodes().find((e) => e.seed === seed)!;
    return st.getEpisode(ep.id, { transitions: true, images: true })?.transitions?.map((x) => x.depth) ?? [];
  };
  const want = decoded(arm, 1);
  const got = decoded(mirror, 1);
  assert.equal(got.length, 20);
  for (let k = 0; k < 20; k++) {
    assert.ok(want[k] && got[k], `step ${k}: depth in both`);
    assert.equal(got[k]!.width, 16);
    assert.deepEqual(Array.from(got[k]!.data), Array.from(want[k]!.data), `step ${k}: same depth`);
    assert.deepEqual(Array.from(got[k]!.data), Array.from(depthImage(k).data), `step ${k}: the logged depth`);
  }
  assert.ok(
    decoded(mirror, 2).every((d) => d === null || d === undefined),
    'rows without depth stay without',
  );
});
