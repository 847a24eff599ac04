/**
 * Online IQL on practice data the real daemon logged in the real simulator: the trainer reads the episodes
 * incrementally, caches features in the store, owes `utd` updates per transition, and learning moves the exported
 * policy toward the actions the logged reward favours. The reward here is written into rewardProb (the field the
 * daemon fills with the reward classifier's output) as a known function of the action (+x rewarded), so the test can
 * check the direction learning takes: -x is rewarded, the data's actions average ~0 (behaviour cloning alone would
 * end near 0), so a mean residual clearly below 0 is the advantage weighting at work.
 */
import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { makeTransition } from '../store/fixtures/data.ts';
import { PolicyModel } from '../../src/policy/onnx-model.ts';
import { policyFromModel } from '../../src/daemon/models.ts';
import { Store } from '../../src/store/index.ts';
import { inputsFor, probeSet } from '../../src/swap/validate.ts';
import { rig, tickUntil, type Rig } from '../daemon/helpers.ts';
import { netVariableKeys, netVariables } from '../../src/learn/nets.ts';
import { IqlAgent, type IqlBatch } from '../../src/learn/iql.ts';
import { checkpointConfig } from '../../src/online/trainer.ts';
import { maxActionDiff, practiceTrainer, tinyOffline } from './fixtures.ts';
import { TRAIN } from '../offline/fixtures.ts';
import { teardown } from '../teardown.ts';

const fx = await tinyOffline('trainer-online-test');
after(() => fx.cleanup());

async function meanResidualX(path: string, probes: ReturnType<typeof probeSet>): Promise<number> {
  const p = policyFromModel(await PolicyModel.load(path));
  let s = 0;
  for (const o of probes) {
    const x = inputsFor(p, o);
    s += (await p.run(x.image, x.proprio))[0];
  }
  await p.dispose?.();
  return s / probes.length;
}

/** Practice on the trainer's connector, each transition rewarded when its residual x is negative (the exploration
 *  noise decides), so a trainer that learns moves the residual toward -x. */
async function rewardedPractice(t: TestContext, episodeSteps: number, count: number, maxTicks: number): Promise<Rig> {
  const r = await rig({ overrides: { episodeSteps }, connector: fx.domains[0] as string });
  teardown(t)(() => r.close()); // (the test's stack: its trainer on this log closes first)
  const d = r.app.daemon;
  assert.ok(d.startPractice({ count, scenario: 'I', explorationNoise: 0.002 }).ok);
  await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null, maxTicks);
  await r.app.log.flush();
  const store = r.app.log.store;
  for (const e of store.listEpisodes()) {
    const ts = store.getEpisode(e.id, { transitions: true })?.transitions ?? [];
    store.setRewards(
      e.id,
      ts.map((x) => ({ step: x.step, rewardProb: (x.actionResidual?.[0] ?? 0) < 0 ? 0.95 : 0.05 })),
    );
  }
  return r;
}

test('online IQL on logged practice data: cached features, UTD bookkeeping, learning toward the rewarded action', async (t) => {
  const defer = teardown(t);
  const r = await rewardedPractice(t, 8, 6, 400);
  const store = r.app.log.store;
  const n = store.countTransitions({ kind: 'practice' });
  assert.equal(n, 48);
  const tr = practiceTrainer(r.db, fx.checkpoint, join(fx.dir, 'online-test'), {
    batchSize: 32,
    utd: 24,
    seed: 2,
    policyAverage: 1,
    warmupUpdates: 0, // raw weights, no warm-up: this test checks the update direction
    evidenceGate: false, // nor exports held on the offline policy (the gate: evidence-gate.test.ts)
  });
  defer(() => tr.close());
  await tr.init();
  const before = await tr.export();
  assert.equal(tr.poll(), n);
  assert.equal(tr.pending, 24 * n);
  assert.equal(tr.poll(), 0, 'nothing new: nothing read twice');
  const ro = Store.openReadOnly(r.db);
  defer(() => ro.close());
  const ids = ro.transitionIds({ kind: 'practice' });
  const encoderVersions = new Set<string>();
  // Every transition's features are cached once, under the encoder version.
  const rows = (ro as unknown as { db: { prepare: (s: string) => { all: () => Array<{ encoder_version: string; n: number }> } } }).db
    .prepare('SELECT encoder_version, COUNT(*) AS n FROM features GROUP BY encoder_version')
    .all();
  for (const row of rows) encoderVersions.add(row.encoder_version);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]?.n, ids.length);
  const first = tr.update();
  while (tr.pending > 0) tr.update();
  const p = tr.progress();
  assert.equal(p.updates, 24 * n);
  assert.equal(p.owed, 0);
  assert.ok(p.meanPredictedReward !== null && p.meanPredictedReward > 0.05 && p.meanPredictedReward < 0.95);
  assert.ok(Number.isFinite(p.losses?.qLoss ?? NaN));
  assert.ok((p.losses?.qLoss ?? Infinity) < first.qLoss, `Q loss falls (${first.qLoss} -> ${p.losses?.qLoss})`);
  const afterExport = await tr.export();
  assert.ok(afterExport.modelId !== before.modelId);
  assert.equal(store.getModel(afterExport.modelId)?.version, afterExport.version);
  const probes = probeSet(store, 24);
  const x0 = await meanResidualX(before.path, probes);
  const x1 = await meanResidualX(afterExport.path, probes);
  const msg = `mean residual x ${(x0 * 1000).toFixed(3)} -> ${(x1 * 1000).toFixed(3)} mm`;
  assert.ok(x1 < x0 - 0.0005, `moved toward the rewarded side by > 0.5 mm: ${msg}`);
  assert.ok(x1 < -0.0005, `ended on the rewarded side (< -0.5 mm), beyond what cloning the ~0-mean data would give: ${msg}`);
});

test("the UTD schedule: each connector's transitions past utdLateAfter owe utdLate updates, counted per connector", async (t) => {
  const defer = teardown(t);
  const [a, b] = [fx.domains[0] as string, TRAIN.find((c) => c !== fx.domains[0]) as string];
  const r = await rig({ overrides: { episodeSteps: 6 }, connector: a });
  defer(() => r.close());
  const d = r.app.daemon;
  // Two episodes of each connector, the second connector's after the first's: 12 transitions each.
  for (const domain of [a, b]) {
    assert.ok(d.startPractice({ count: 2, scenario: 'I', domain }).ok);
    await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null, 200);
  }
  await r.app.log.flush();
  const per = [a, b].map((domain) => r.app.log.store.countTransitions({ kind: 'practice', domain: [domain] }));
  assert.deepEqual(per, [12, 12]);
  const tr = practiceTrainer(r.db, fx.checkpoint, join(fx.dir, 'online-utd-schedule'), { utd: 5, utdLateAfter: 8, utdLate: 2, evidenceGate: false });
  defer(() => tr.close());
  await tr.init();
  assert.equal(tr.poll(), 24);
  // Per connector 8 x 5 + 4 x 2; one count over both would owe 8 x 5 + 16 x 2 = 72.
  assert.equal(tr.progress().owed, 2 * (8 * 5 + 4 * 2));
  assert.throws(() => practiceTrainer(r.db, fx.checkpoint, join(fx.dir, 'x'), { utdLate: 0 }), /utdLate/);
});

test('warm-up: the first N updates train the critics only, so what the trainer exports is the offline policy until then', async (t) => {
  const defer = teardown(t);
  const r = await rewardedPractice(t, 6, 3, 300);
  const store = r.app.log.store;
  const W = 30;
  const tr = practiceTrainer(r.db, fx.checkpoint, join(fx.dir, 'online-warmup'), {
    batchSize: 16,
    utd: 10,
    seed: 4,
    policyAverage: 1,
    warmupUpdates: W,
    evidenceGate: false, // the warm-up alone holds the exports here (the gate: evidence-gate.test.ts)
  });
  defer(() => tr.close());
  await tr.init();
  const start = await tr.export();
  assert.ok(tr.poll() > 0);
  const q0 = (netVariables(tr.agent.q1)[0]?.dataSync() as Float32Array).slice();
  for (let i = 0; i < W; i++) {
    const s = tr.update();
    assert.ok(Number.isNaN(s.piLoss), 'no policy update during the warm-up');
  }
  assert.equal(tr.progress().warmupLeft, 0);
  const warmed = await tr.export();
  const q1 = netVariables(tr.agent.q1)[0]?.dataSync() as Float32Array;
  assert.ok(
    q1.some((x, i) => x !== q0[i]),
    'the critics trained',
  );
  const probes = probeSet(store, 12);
  const diff = (a: string, b: string): Promise<number> => maxActionDiff(a, b, probes);
  const during = await diff(start.path, warmed.path);
  assert.ok(during < 1e-7, `exported policy after ${W} warm-up updates equals the offline one (max |diff| ${during} m)`);
  for (let i = 0; i < 20; i++) assert.ok(Number.isFinite(tr.update().piLoss), 'the policy trains after the warm-up');
  const moved = await diff(start.path, (await tr.export()).path);
  assert.ok(moved > 1e-6, `after the warm-up the policy moves (max |diff| ${moved} m)`);
});

/**
 * RLPD's ensemble reached from the trainer's settings, started from a twin-Q checkpoint (critics 10, targets a random 2):
 * the two saved critics load as they are; each extra critic has critic ((j - 1) mod 2) + 1's hidden layers and its own
 * fresh output layer, its target equal to it; then the trainer learns with it as the twin-Q one does.
 */
test('critics 10 / targetCritics 2 from a 2-critic checkpoint: extra critics start on the saved hidden layers with fresh heads, and the trainer learns', async (t) => {
  const defer = teardown(t);
  const r = await rewardedPractice(t, 8, 6, 400);
  const n = r.app.log.store.countTransitions({ kind: 'practice' });
  const tr = practiceTrainer(r.db, fx.checkpoint, join(fx.dir, 'online-ensemble'), {
    batchSize: 32,
    utd: 24,
    seed: 2,
    policyAverage: 1,
    warmupUpdates: 0,
    evidenceGate: false, // exports follow the update from the first (the gate: evidence-gate.test.ts)
    critics: 10,
    targetCritics: 2,
  });
  defer(() => tr.close());
  await tr.init();
  const qs = tr.agent.qs;
  const qts = tr.agent.qTargets;
  assert.equal(qs.length, 10);
  assert.equal(qts.length, 10);
  const vals = (net: (typeof qs)[number]): Float32Array[] => netVariables(net).map((v) => Float32Array.from(v.dataSync()));
  const same = (a: Float32Array, b: Float32Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
  const twin = new IqlAgent(checkpointConfig(fx.checkpoint));
  defer(() => twin.dispose());
  await twin.loadCheckpoint(fx.checkpoint);
  const saved = [vals(twin.qs[0] as (typeof qs)[number]), vals(twin.qs[1] as (typeof qs)[number])];
  const outKeys = netVariableKeys(qs[0] as (typeof qs)[number]).map((k) => k.includes('_out/'));
  for (let j = 0; j < 10; j++) {
    const mine = vals(qs[j] as (typeof qs)[number]);
    const src = saved[j % 2] as Float32Array[];
    mine.forEach((w, i) => {
      const isOut = outKeys[i] === true;
      if (j < 2 || !isOut) assert.ok(same(w, src[i] as Float32Array), `critic ${j + 1} variable ${i}: the saved critic ${(j % 2) + 1}'s`);
      else if (w.some((x) => x !== 0)) assert.ok(!same(w, src[i] as Float32Array), `critic ${j + 1}'s output layer is its own, not a copy`);
    });
    vals(qts[j] as (typeof qs)[number]).forEach((w, i) =>
      assert.ok(j < 2 || same(w, mine[i] as Float32Array), `target critic ${j + 1} starts equal to critic ${j + 1}`),
    );
  }
  assert.equal(tr.poll(), n);
  const before = await tr.export();
  const first = tr.update();
  while (tr.pending > 0) tr.update();
  const p = tr.progress();
  assert.ok((p.losses?.qLoss ?? Infinity) < first.qLoss, `Q loss of the ensemble falls (${first.qLoss} -> ${p.losses?.qLoss})`);
  const heads = tr.agent.qs.map((q) => vals(q).at(-2) as Float32Array);
  assert.ok(
    heads.slice(2).every((h, j) => !same(h, heads[j % 2] as Float32Array)),
    'the extra critics stay distinct from the critics they started from',
  );
  const probes = probeSet(r.app.log.store, 24);
  const x0 = await meanResidualX(before.path, probes);
  const x1 = await meanResidualX((await tr.export()).path, probes);
  assert.ok(x1 < x0 - 0.0005 && x1 < -0.0005, `learned toward the rewarded side: mean residual x ${(x0 * 1000).toFixed(3)} -> ${(x1 * 1000).toFixed(3)} mm`);
  // The trainer's own checkpoint has the 10 critics: a restart loads it as it is.
  await tr.agent.saveCheckpoint(join(fx.dir, 'ensemble-own'));
  const again = new IqlAgent(checkpointConfig(join(fx.dir, 'ensemble-own')));
  defer(() => again.dispose());
  await again.loadCheckpoint(join(fx.dir, 'ensemble-own'));
  assert.equal(again.qs.length, 10);
});

let leakKey = 0;
/** Ended practice episodes of 20 synthetic steps (step 19 is done) on the trainer's connector. */
function addEpisodes(file: string, n: number): void {
  const s = Store.open(file);
  const session = s.openSession({ robot: 'arm', backend: 'sim', config: {}, calibration: {} });
  for (let e = 0; e < n; e++) {
    const ep = s.beginEpisode({ sessionId: session, kind: 'practice', domain: fx.domains[0] as string });
    s.appendTransitions(Array.from({ length: 20 }, (_, k) => makeTransition(ep, k, ++leakKey))); // step 19 is done
    s.endEpisode(ep, { outcome: 'success', learnedSuccessProb: 0.9 });
  }
  s.close();
}

/**
 * The trainer's tensors stay bounded over a long run (issue 12's soak: its resident memory rose from about 250 to 395
 * MiB over 1,000 episodes; every export's checkpoint kept a copy of the optimizers' state). Updates, exports and newly
 * polled episodes must not leave tfjs tensors behind: the count after many of each equals the count after the first.
 */
test('updates, exports and new episodes leave no tfjs tensors behind', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tensor-leak-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'log.db');
  addEpisodes(db, 2);
  const tr = practiceTrainer(db, fx.checkpoint, join(dir, 'work'), {
    batchSize: 32,
    utd: 1,
    warmupUpdates: 3,
    policyAverage: 0.5,
  });
  try {
    await tr.init();
    assert.ok(tr.poll() > 0);
    // Warm: the first update makes the optimizers' slots, the first export its buffers.
    for (let u = 0; u < 5; u++) tr.update();
    await tr.export();
    const before = tf.memory().numTensors;
    const seen: number[] = [];
    for (let round = 0; round < 4; round++) {
      addEpisodes(db, 2);
      assert.ok(tr.poll() > 0, 'new episodes are read');
      for (let u = 0; u < 15; u++) tr.update();
      await tr.export();
      seen.push(tf.memory().numTensors);
    }
    assert.deepEqual(
      seen,
      seen.map(() => before),
      `tensors after each round (${seen.join(', ')}) against ${before} after the first`,
    );
  } finally {
    tr.close();
  }
});

/** A practice episode of 20 steps: resting 10 mm above x* at (+2, +2) mm, pressing (|Fz| 12 N) on even steps only, then
 *  ending at `end` (mm from x*, at its height) with the final reward `final`. */
function addEnding(s: Store, session: number, end: [number, number], final: number): void {
  const ep = s.beginEpisode({ sessionId: session, kind: 'practice', domain: fx.domains[0] as string });
  s.appendTransitions(
    Array.from({ length: 20 }, (_, k) => {
      const t = makeTransition(ep, k, ++leakKey);
      const g = t.obs.goal;
      const [dx, dy, dz] = k === 19 ? [end[0] / 1000, end[1] / 1000, 0] : [0.002, 0.002, 0.01];
      const w = [...t.obs.wrench] as typeof t.obs.wrench;
      w[2] = k === 19 || k % 2 === 0 ? -12 : -1;
      return { ...t, obs: { ...t.obs, eePos: [g[0] + dx, g[1] + dy, g[2] + dz], wrench: w }, rewardProb: k === 19 ? final : 0.2 };
    }),
  );
  s.endEpisode(ep, { outcome: final > 0.5 ? 'success' : 'failure', learnedSuccessProb: final });
}

test("hindsight aims: a connector's aim is the median of its latest seated endings; only face rows get it", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hindsight-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'log.db');
  const s = Store.open(db);
  const session = s.openSession({ robot: 'arm', backend: 'sim', config: {}, calibration: {} });
  addEnding(s, session, [-1, -1], 0.9);
  addEnding(s, session, [3, 3], 0.1); // judged failed: no evidence of where the socket is
  addEnding(s, session, [-0.8, -1.2], 0.9);
  const tr = practiceTrainer(db, fx.checkpoint, join(dir, 'work'), { batchSize: 64, utd: 1, warmupUpdates: 0, hindsightWeight: 1 });
  try {
    await tr.init();
    assert.ok(tr.poll() > 0);
    assert.equal(tr.seatedAims().size, 0, 'two seated endings: no aim yet');
    addEnding(s, session, [-1.2, -0.9], 0.9);
    addEnding(s, session, [5, 5], 0.9); // a wrong judgement: the median ignores it
    assert.ok(tr.poll() > 0);
    const aims = [...tr.seatedAims().values()];
    assert.equal(aims.length, 1);
    const [ax, ay] = aims[0] as [number, number];
    assert.ok(Math.abs(ax + 0.0009) < 1e-6 && Math.abs(ay + 0.00095) < 1e-6, `median of the four seated endings: ${ax}, ${ay}`);
    const shown = Object.values(tr.progress().hindsightAims ?? {});
    assert.ok(shown.length === 1 && Math.abs((shown[0]?.dxMm ?? 0) + 0.9) < 1e-3, `progress (and so /status) shows it: ${JSON.stringify(shown)}`);
    // The update's batch: the aim on the rows resting on the face (10 mm up, 12 N), none elsewhere, none on z.
    let seen: IqlBatch | null = null;
    const update = tr.agent.update.bind(tr.agent);
    tr.agent.update = (b: IqlBatch) => ((seen = b), update(b));
    tr.update();
    const b = seen as IqlBatch | null;
    assert.ok(b?.aims && b.proprio, 'the batch carries aims');
    let face = 0;
    for (let i = 0; i < b.size; i++) {
      const onFace: boolean = (b.proprio[i * 9 + 2] as number) > 0.003 && Math.abs(b.proprio[i * 9 + 5] as number) > 5;
      face += onFace ? 1 : 0;
      assert.equal(Number.isFinite(b.aims[i * 3]), onFace, `row ${i}`);
      if (onFace) assert.ok(Math.abs((b.aims[i * 3] as number) - ax) < 1e-7 && Math.abs((b.aims[i * 3 + 1] as number) - ay) < 1e-7);
      assert.ok(Number.isNaN(b.aims[i * 3 + 2]), 'lateral only');
    }
    assert.ok(face > 10 && face < b.size - 10, `face rows and others both sampled (${face} of ${b.size})`);
  } finally {
    tr.close();
    s.close();
  }
});
