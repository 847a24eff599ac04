/**
 * Learning from operator takeovers as HIL-SERL does (issue 13, "Takeovers"): intervention transitions the daemon
 * logged (real SQLite file, the daemon on the mock robot) go, marked, into BOTH the online buffer and the
 * offline/demonstration buffer of the online trainer (a tiny real offline IQL checkpoint on real MuJoCo prior data),
 * with the logged action executed - u_H; the trainer's batches then draw interventions from both.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { TakeoverContext, TakeoverInput } from '../../src/core/takeover.ts';
import { DEFAULT_ONLINE, OnlineTrainer } from '../../src/online/trainer.ts';
import { mockRig, tickUntil } from '../daemon/helpers.ts';
import { tinyOffline } from './fixtures.ts';
import { teardown } from '../teardown.ts';

const fx = await tinyOffline('trainer-takeover-test');
after(() => fx.cleanup());

/** A test operator: takes over steps 2-4 of every episode with a fixed downward move. */
const operator: TakeoverInput = {
  name: 'test-operator',
  poll: (ctx: TakeoverContext) => (ctx.episode.step >= 2 && ctx.episode.step <= 4 ? { delta: [0, 0, -0.002], source: 'test-operator' } : null),
};

test('intervention transitions enter both buffers, marked, with the residual executed - u_H; batches draw them from both', async (t) => {
  const defer = teardown(t);
  const r = await mockRig({ overrides: { episodeSteps: 8 } });
  defer(() => r.close());
  const d = r.app.daemon;
  d.addTakeoverInput(operator);
  assert.ok(d.startPractice({ count: 3, scenario: 'II', explorationNoise: 0.001 }).ok);
  await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null, 400);
  await r.app.log.flush();
  const logged = r.app.log.store.getTransitions(r.app.log.store.transitionIds({ kind: 'practice' }), { images: false });
  const marked = logged.filter((x) => x.intervention);
  assert.equal(marked.length, 9, '3 steps x 3 episodes');
  assert.ok(marked.every((x) => x.interventionSource === 'test-operator'));

  const tr = new OnlineTrainer({
    ...DEFAULT_ONLINE,
    db: r.db,
    offlineDb: fx.db,
    offlineDomains: fx.domains,
    startCheckpoint: fx.checkpoint,
    workDir: join(fx.dir, 'online-takeover'),
    onlineFraction: 0.5,
    batchSize: 64,
    utd: 1,
    seed: 1,
  });
  defer(() => tr.close());
  await tr.init();
  const priorN = tr.progress().offlineTransitions;
  assert.ok(priorN > 0, 'prior data loaded');
  const added = tr.poll();
  const p = tr.progress();
  assert.deepEqual(p.interventions, { online: 9, offline: 9 });
  assert.equal(p.onlineTransitions, added);
  assert.equal(p.offlineTransitions, priorN + 9, 'the demonstration buffer grew by the interventions');
  // The demonstrations carry the logged residual (executed - u_H, bounded), the same action as in the online buffer.
  const internals = tr as unknown as { offline: { action: Float32Array; intervention: Uint8Array; n: number } };
  const off = internals.offline;
  assert.equal(
    off.intervention.slice(0, priorN).reduce((a, x) => a + x, 0),
    0,
    'prior data is not marked',
  );
  const demoActions = Array.from(off.action.slice(priorN * 3));
  const want = marked.flatMap((x) => x.actionResidual ?? []);
  assert.equal(demoActions.length, want.length);
  demoActions.forEach((v, i) => assert.ok(Math.abs(v - (want[i] as number)) < 1e-6, `demo action ${i}: ${v} vs ${want[i]}`));
  let onI = 0;
  let offI = 0;
  for (let k = 0; k < 30; k++) {
    tr.update();
    onI += tr.lastBatch?.onlineInterventions ?? 0;
    offI += tr.lastBatch?.offlineInterventions ?? 0;
  }
  assert.equal(tr.lastBatch?.online, 32);
  assert.ok(onI > 0, `online shares held interventions (${onI})`);
  assert.ok(offI > 0, `offline shares held interventions (${offI})`);
  assert.ok(Number.isFinite(tr.progress().losses?.qLoss ?? NaN));
});
