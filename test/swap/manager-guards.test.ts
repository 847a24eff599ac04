/**
 * The swap manager's guards, through the real path (real ONNX files, PolicyModel, validation on probes the daemon
 * logged to a real SQLite file) on the mock robot: automatic rollback must NOT fire when the new version's learned
 * success is within the margin of the previous one's, nor before either version has K judged episodes; a pending swap
 * superseded by a newer offer never drives, its `live` promise resolves (null) and its session is released.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { PolicyModel } from '../../src/policy/onnx-model.ts';
import { loadPolicyFile, policyFromModel } from '../../src/daemon/models.ts';
import type { ResidualPolicy, RewardScorer } from '../../src/daemon/interfaces.ts';
import { SwapManager, type SwapConfig } from '../../src/swap/manager.ts';
import { sha256Hex } from '../../src/policy/card.ts';
import { saveModelLike } from '../policy/fixtures.ts';
import { mockRig, tempDir, tickUntil, type MockRig } from '../daemon/helpers.ts';
import { teardown } from '../teardown.ts';

await tf.setBackend('cpu');
const tmp = tempDir('swap-guards-test-');
process.on('exit', tmp.cleanup);

const saveModel = (version: number, seed: number): string => saveModelLike(join(tmp.dir, `policy-v${version}.onnx`), { version, seed });
const v3 = saveModel(3, 1);
const v4 = saveModel(4, 2);
const v5 = saveModel(5, 3);
const V3: string = 'test-policy@3';
const V4: string = 'test-policy@4';
const LENIENT: SwapConfig['validation'] = { probeCount: 4, residualBoundM: 0.005, maxDiffM: 1, maxMeanDiffM: 1, onFlag: 'accept' };

/**
 * A reward classifier whose verdict on an episode is scripted per policy version: the i-th episode driven by version v
 * is judged plan[v][i] (default 0.9, a success). Counts episodes from the daemon's own 'episode' events.
 */
function plannedReward(): RewardScorer & { plan: Map<string, number[]>; attach(r: MockRig): void } {
  const closed = new Map<string, number>();
  let current: () => string | null = () => null;
  const plan = new Map<string, number[]>();
  return {
    version: 'planned-reward@1',
    input: { image: null, proprio: { layout: ['dx', 'dy', 'dz'], mean: [0, 0, 0], std: [1, 1, 1] } },
    plan,
    attach(r: MockRig) {
      current = () => r.app.daemon.policyVersion;
      r.app.daemon.on('episode', (e: { policyVersion: string | null }) => {
        const v = e.policyVersion ?? 'p-only';
        closed.set(v, (closed.get(v) ?? 0) + 1);
      });
    },
    async probability(): Promise<number> {
      const v = current() ?? 'p-only';
      return plan.get(v)?.[closed.get(v) ?? 0] ?? 0.9;
    },
  };
}

async function practice(r: MockRig, count: number): Promise<void> {
  const d = r.app.daemon;
  assert.ok(d.startPractice({ count, scenario: 'I', explorationNoise: 0 }).ok);
  await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null, 40 * count + 20);
  await r.app.log.flush();
}

/** A daemon driven by v3 (registered, so that a rollback can find it) with the planned reward, and a swap manager. */
async function setup(
  t: Pick<TestContext, 'after'>,
  autoRollback: SwapConfig['autoRollback'],
): Promise<{ r: MockRig; m: SwapManager; reward: ReturnType<typeof plannedReward> }> {
  const reward = plannedReward();
  // The rollback is the subject: the height check (frames far above x* in 3 steps) is off.
  const r = await mockRig({
    policy: policyFromModel(await PolicyModel.load(v3)),
    reward,
    overrides: { episodeSteps: 3 },
    config: (c) => void (c.practice.heightToleranceM = null),
  });
  const defer = teardown(t);
  defer(() => r.close());
  reward.attach(r);
  const store = r.app.log.store;
  store.registerModel({ kind: 'policy', version: V3, path: v3, card: JSON.parse(readFileSync(`${v3}.json`, 'utf8')), sha256: sha256Hex(readFileSync(v3)) });
  const m = new SwapManager(r.app.daemon, store, r.app.log, { autoRollback, validation: LENIENT });
  defer(() => m.close());
  return { r, m, reward };
}

/** Waits long enough for a rollback, which loads the previous model off the control path, to have landed. */
async function rollbackWindow(): Promise<void> {
  await new Promise((res) => setTimeout(res, 300));
}

const withinMargin = [
  { k: 3, margin: 0.5, v4: [0.9, 0.1, 0.9, 0.9, 0.1], why: '2/3 against 3/3, margin 0.5, in every window of 3' },
  { k: 4, margin: 0.5, v4: [0.9, 0.1, 0.9, 0.1], why: 'exactly at the margin: 2/4 = 4/4 - 0.5 is not below it' },
];

for (const c of withinMargin) {
  test(`automatic rollback does not fire within the margin (${c.why})`, async (t) => {
    const { r, m, reward } = await setup(t, { k: c.k, margin: c.margin });
    const d = r.app.daemon;
    await practice(r, c.k); // v3: k successes
    reward.plan.set(V4, c.v4);
    const out = await m.offer(v4);
    assert.equal(out.accepted, true, out.reason);
    assert.equal(typeof (await out.live), 'number', 'landed at once: the daemon was idle');
    assert.equal(d.policyVersion, V4);
    await practice(r, c.v4.length);
    await rollbackWindow();
    assert.equal(m.stats.rollbacks, 0, 'no rollback');
    assert.equal(d.policyVersion, V4, 'the new version keeps driving');
    await r.app.log.flush();
    assert.equal(r.app.log.store.listEvents({ kind: 'rollback' }).length, 0);
    const v = m.summary().versions.find((x) => x.version === V4);
    assert.equal(v?.episodes, c.v4.length, 'every judged episode was counted');
    assert.equal(v?.learnedSuccessRate, c.v4.filter((p) => p >= 0.5).length / c.v4.length, 'judged as planned');
    assert.equal(m.summary().versions.find((x) => x.version === V3)?.learnedSuccessRate, 1);
  });
}

test('automatic rollback waits for K judged episodes of the new version (then fires: the positive control)', async (t) => {
  const { r, m, reward } = await setup(t, { k: 3, margin: 0.3 });
  const d = r.app.daemon;
  await practice(r, 3);
  reward.plan.set(V4, [0.1, 0.1, 0.1]);
  const out = await m.offer(v4);
  assert.equal(out.accepted, true, out.reason);
  await out.live;
  await practice(r, 2); // two failures: 0/2 looks terrible, but 2 < K
  await rollbackWindow();
  assert.equal(m.stats.rollbacks, 0, 'no rollback on fewer than K episodes');
  assert.equal(d.policyVersion, V4);
  await practice(r, 1); // the K-th failure: now the evidence is there
  for (let i = 0; i < 100 && d.policyVersion !== V3; i++) await new Promise((res) => setTimeout(res, 20));
  assert.equal(m.stats.rollbacks, 1, 'fires once K episodes are in');
  assert.equal(d.policyVersion, V3);
});

test('automatic rollback needs K judged episodes of the previous version too', async (t) => {
  const { r, m, reward } = await setup(t, { k: 3, margin: 0.3 });
  const d = r.app.daemon;
  await practice(r, 2); // v3: only 2 judged episodes
  reward.plan.set(V4, [0.1, 0.1, 0.1, 0.1]);
  const out = await m.offer(v4);
  assert.equal(out.accepted, true, out.reason);
  await out.live;
  await practice(r, 4);
  await rollbackWindow();
  assert.equal(m.stats.rollbacks, 0, 'nothing to compare against: no rollback');
  assert.equal(d.policyVersion, V4);
});

test('an offer superseded by a newer one before the boundary: never drives, live resolves null, its session is released', async (t) => {
  const { r } = await setup(t, null);
  const d = r.app.daemon;
  const store = r.app.log.store;
  const loaded: Array<ResidualPolicy & { disposed: boolean }> = [];
  const load = async (path: string): Promise<ResidualPolicy> => {
    const p = await loadPolicyFile(path);
    const spy = {
      ...p,
      disposed: false,
      async dispose(): Promise<void> {
        spy.disposed = true;
        await p.dispose?.();
      },
    };
    loaded.push(spy);
    return spy;
  };
  const m = new SwapManager(d, store, r.app.log, { validation: LENIENT }, load);
  teardown(t)(() => m.close());
  await practice(r, 1); // probes
  assert.ok(d.startPractice({ count: 2, scenario: 'I', explorationNoise: 0 }).ok);
  await tickUntil(r.app, () => d.status().episode?.step === 1, 10);
  const first = await m.offer(v4);
  assert.equal(first.accepted, true, first.reason);
  assert.equal(d.status().policy.pendingSwap, V4);
  const second = await m.offer(v5);
  assert.equal(second.accepted, true, second.reason);
  assert.equal(d.status().policy.pendingSwap, 'test-policy@5');
  let t4: NodeJS.Timeout | undefined;
  const live4 = await Promise.race([first.live, new Promise<'hang'>((res) => (t4 = setTimeout(() => res('hang'), 2000)))]);
  clearTimeout(t4);
  assert.equal(live4, null, "the superseded offer's live promise resolves, with null");
  assert.equal(loaded[0]?.disposed, true, 'the superseded candidate was disposed');
  assert.equal(d.policyVersion, V3, 'nothing swapped mid-episode');
  await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null, 40);
  const live5 = await second.live;
  assert.ok(typeof live5 === 'number' && live5 > 0);
  assert.equal(d.policyVersion, 'test-policy@5');
  assert.equal(loaded[1]?.disposed, false, 'the driver is not disposed');
  assert.equal(m.stats.swaps, 1, 'one swap landed');
  await r.app.log.flush();
  const versions = new Set(store.listEpisodes().flatMap((e) => (store.getEpisode(e.id, { transitions: true })?.transitions ?? []).map((x) => x.policyVersion)));
  assert.ok(!versions.has(V4), 'no transition was driven by the superseded version');
  assert.ok(versions.has('test-policy@5'));
  assert.ok(!store.listEvents({ kind: 'swap' }).some((e) => / -> test-policy@4 /.test(e.message)));
});
