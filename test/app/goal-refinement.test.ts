/**
 * x* touched up from seated practice (practice.refineGoalEpisodes; control/goal-refine.ts, daemon/loop.ts,
 * app/goal-refinement.ts) on the real simulator, a real SQLite file and a real fastify server on port 0. x* is
 * calibrated 1.2 mm off a socket whose plug seats within 0.4 mm, so the P-controller alone misses it. A SIMULATED
 * operator (control/sim-operator.ts, ground truth) seats three practice episodes; then x* has moved to where they
 * ended, the P-controller alone seats, and the logged goal is the refined one. An operator's failure label takes an
 * ending out; a restart on the same log restores the refinement; a reset over REST forgets it, also across a restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SimOperator } from '../../src/control/sim-operator.ts';
import { logged, rig, tempDir, tickUntil, type Rig } from '../daemon/helpers.ts';
import { call } from '../api/helpers.ts';
import { teardown } from '../teardown.ts';
import type { Vec3 } from '../../src/core/types.ts';

const OFFSET_M = 0.0012;

const start = (db: string): Promise<Rig> =>
  rig({
    db,
    listen: true,
    overrides: { episodeSteps: 20 },
    calibration: (c) => {
      c.socket.offset = [OFFSET_M, 0, 0];
    },
    config: (c) => {
      c.practice.refineGoalEpisodes = 3;
      c.practice.refineGoalWindow = 5;
    },
  });

/** `count` episodes of `kind` (scenario I, no noise) ticked to idle; their logged records, oldest first. */
async function run(r: Rig, kind: 'practice' | 'eval', count: number): Promise<Array<{ id: number; gt: boolean | null; goal: Vec3 }>> {
  const d = r.app.daemon;
  const before = new Set(r.app.log.store.listEpisodes({ limit: 1000 }).map((e) => e.id));
  assert.ok(d.startPractice({ count, scenario: 'I', explorationNoise: 0, kind }).ok);
  await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null, 100 * count);
  await logged(r);
  return r.app.log.store
    .listEpisodes({ limit: 1000, order: 'asc' })
    .filter((e) => !before.has(e.id))
    .map((e) => {
      const rec = r.app.log.store.getEpisode(e.id, { transitions: true, images: false });
      return { id: e.id, gt: e.gtSuccess, goal: rec?.transitions?.[0]?.goal as Vec3 };
    });
}

test('x* refined from seated practice: the P-controller alone then seats; labels, restart and reset', async (t) => {
  const defer = teardown(t);
  const tmp = tempDir('goal-refine-');
  defer(tmp.cleanup);
  const db = join(tmp.dir, 'log.db');
  const a = await start(db);
  defer(a.close);
  const d = a.app.daemon;
  const connector = a.config.backend.sim.connector;

  // Calibrated 1.2 mm off: the P-controller alone (no policy) misses.
  const [miss] = await run(a, 'eval', 1);
  assert.equal(miss?.gt, false, 'the P-controller alone misses the socket at the calibrated x*');
  const calibrated = miss.goal;

  // An operator seats three practice episodes; x* moves to where they ended.
  const op = new SimOperator({ kp: a.calibration.gains.kp, thresholdM: 0.0003 });
  const detach = d.addTakeoverInput(op);
  const helped = await run(a, 'practice', 3);
  detach();
  assert.deepEqual(
    helped.map((e) => e.gt),
    [true, true, true],
    'the operator seated them',
  );
  assert.equal(op.takeovers, 3);
  const refined = d.status().goalRefinement[connector];
  assert.ok(refined, `a refinement for ${connector}: ${JSON.stringify(d.status().goalRefinement)}`);
  assert.equal(refined.episodes, 3);
  assert.ok(Math.abs(refined.dxM + OFFSET_M) < 0.0002 && Math.abs(refined.dyM) < 0.0002, `x* moved back by the calibration error: ${JSON.stringify(refined)}`);
  const events = a.app.log.store.listEvents({ kind: 'goal_refined' });
  assert.equal(events.length, 1, 'one change: at the third seated ending');
  assert.equal((events[0]?.data as { endings: unknown[] }).endings.length, 3, 'the event carries the endings, so a restart can restore them');

  // The P-controller alone now seats, and the log's goal is the refined x*.
  const [hit] = await run(a, 'eval', 1);
  assert.equal(hit?.gt, true, 'the P-controller alone seats at the refined x*');
  assert.ok(Math.abs(hit.goal[0] - (calibrated[0] + refined.dxM)) < 1e-9 && hit.goal[2] === calibrated[2], 'transitions log the refined x*');
  assert.equal(d.status().goalRefinement[connector]?.episodes, 3, 'evaluation episodes do not refine');

  // An operator's failure label takes an ending out: two left, fewer than the three needed, so x* is calibrated again.
  const label = await call(a, 'POST', `/episodes/${helped[0]!.id}/label`, { success: false });
  assert.equal(label.status, 201);
  assert.deepEqual(d.status().goalRefinement, {});
  assert.equal((await call(a, 'POST', `/episodes/${helped[0]!.id}/label`, { success: true })).status, 201);
  assert.equal(d.status().goalRefinement[connector]?.episodes, 3, 'a success label puts it back');
  await logged(a);
  await a.close();

  // A restart on the same log restores it, and says so.
  const b = await start(db);
  defer(b.close);
  assert.ok(
    b.app.notes.some((n) => n === `x* refinement restored from the log: ${connector} (3 seated endings)`),
    b.app.notes.join(' | '),
  );
  assert.ok(Math.abs((b.app.daemon.status().goalRefinement[connector]?.dxM ?? 0) - refined.dxM) < 1e-12);
  const [again] = await run(b, 'eval', 1);
  assert.equal(again?.gt, true, 'restored: the P-controller alone still seats');

  // Reset over REST: validated; forgets it; logged; and stays forgotten across a restart.
  for (const [body, re] of [
    [{ domain: 5 }, /body\/domain must be string/],
    [{ domain: '' }, /body\/domain must NOT have fewer than 1 characters/],
    [{ connector }, /must NOT have additional properties/],
  ] as const) {
    const res = await call(b, 'POST', '/goal-refinement/reset', body);
    assert.equal(res.status, 400, JSON.stringify(res.json));
    assert.match(res.json.message as string, re);
  }
  assert.ok(b.app.daemon.status().goalRefinement[connector], 'a refused request changes nothing');
  const reset = await call(b, 'POST', '/goal-refinement/reset', { domain: connector });
  assert.equal(reset.status, 200);
  assert.deepEqual(reset.json, { reset: [connector], goalRefinement: {} });
  await logged(b);
  assert.match(b.app.log.store.listEvents({ kind: 'goal_refine_reset' })[0]?.message ?? '', new RegExp(`reset by api for ${connector}`));
  const [missAgain] = await run(b, 'eval', 1);
  assert.equal(missAgain?.gt, false, 'calibrated x* again: the P-controller alone misses');
  await logged(b);
  await b.close();
  const c = await start(db);
  defer(c.close);
  assert.deepEqual(c.app.daemon.status().goalRefinement, {}, 'a reset is not undone by a restart');
  assert.ok(!c.app.notes.some((n) => n.startsWith('x* refinement restored')));
});
