/**
 * The daemon with real ONNX models (onnxruntime-node): the residual policy drives through the loop, the reward of each
 * transition is the classifier's output on the NEXT observation, and models are activated / rolled back over REST.
 * The networks have random weights (test/policy/fixtures.ts); what is tested is the plumbing, not their skill.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveOnnxModel } from '../../src/learn/export.ts';
import { PolicyModel, RewardModel } from '../../src/policy/onnx-model.ts';
import { ProprioBuilder, resizeRgb } from '../../src/policy/inputs.ts';
import { policyFromModel, rewardFromModel, loadStartupModels } from '../../src/daemon/models.ts';
import { cardDraft, saveModelLike } from '../policy/fixtures.ts';
import { logged, rig, tempDir, tickUntil, TOKEN } from './helpers.ts';
import { sha256Hex } from '../../src/policy/card.ts';
import { readFileSync } from 'node:fs';
import { teardown } from '../teardown.ts';

await tf.setBackend('cpu');
const tmp = tempDir('daemon-models-');
process.on('exit', tmp.cleanup);

/** A 32x32 image-only reward model whose card says it was trained on area-averaged images (like models/reward.onnx). */
function saveSmallReward(): string {
  const path = join(tmp.dir, 'small', 'reward32.onnx');
  mkdirSync(join(tmp.dir, 'small'), { recursive: true });
  const image = tf.input({ shape: [32, 32, 3], name: 'image' });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(image) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 1, activation: 'sigmoid' }).apply(x) as tf.SymbolicTensor;
  const m = tf.model({ inputs: image, outputs: out });
  const draft = cardDraft('reward', { size: 32, proprioDim: 0 });
  (draft.preprocessing.image as { resize: string }).resize = 'area-average (training loader resizeRgb)';
  saveOnnxModel(m, path, { inputRoles: ['image'], outputRoles: ['probability'], card: { ...draft, name: 'small-reward', version: 1 } });
  m.dispose();
  return path;
}

const saveModel = (file: string, kind: 'policy' | 'reward', version: number, seed: number): string =>
  saveModelLike(join(tmp.dir, file), { kind, version, seed });
const policyPath = saveModel('policy-v3.onnx', 'policy', 3, 1);
const smallRewardPath = saveSmallReward();
const policy2Path = saveModel('policy-v4.onnx', 'policy', 4, 2);
const rewardPath = saveModel('reward-v3.onnx', 'reward', 3, 3);

test('ONNX policy drives the loop; each reward is the classifier on the next observation', async (t) => {
  const defer = teardown(t);
  const policy = policyFromModel(await PolicyModel.load(policyPath));
  const rewardModel = await RewardModel.load(rewardPath);
  const reward = rewardFromModel(rewardModel);
  // The classifier's own value is the subject: the height check (frames far above x*) is off.
  const r = await rig({ policy, reward, overrides: { episodeSteps: 6 }, config: (c) => void (c.practice.heightToleranceM = null) });
  defer(() => r.close());
  const d = r.app.daemon;
  assert.equal(d.status().policy.mode, 'residual');
  assert.ok(d.startPractice({ count: 1, scenario: 'I', explorationNoise: 0 }).ok);
  await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null);
  await logged(r);
  const ep = r.app.log.store.listEpisodes()[0];
  assert.ok(ep);
  assert.equal(ep.policyVersion, 'test-policy@3');
  const ts = r.app.log.store.getEpisode(ep.id, { transitions: true, images: true })?.transitions ?? [];
  assert.equal(ts.length, 6);
  const pro = new ProprioBuilder(reward.input.proprio as NonNullable<typeof reward.input.proprio>, 'test');
  const pol = new ProprioBuilder(policy.input.proprio as NonNullable<typeof policy.input.proprio>, 'test');
  const policyModel = await PolicyModel.load(policyPath);
  defer(() => policyModel.dispose());
  for (let k = 0; k < ts.length; k++) {
    const tr = ts[k];
    assert.ok(tr?.image && tr.actionResidual);
    assert.equal(tr.policyVersion, 'test-policy@3');
    const obs = { image: tr.image, wrench: tr.wrench, eePos: tr.eePos, eeQuat: tr.eeQuat, goal: tr.goal, imageStamp: 0, wrenchStamp: 0 };
    const img = Float32Array.from(tr.image.data, (v) => v / 255);
    // The logged residual is the policy's output on the logged observation (noise 0, within the bound).
    const u = await policyModel.run(img, Float32Array.from(pol.build(obs)));
    tr.actionResidual.forEach((v, i) => assert.ok(Math.abs(v - (u[i] as number)) < 1e-6, `step ${k} residual ${v} vs ${u[i]}`));
    assert.ok(
      u.some((v) => v !== 0),
      'the policy contributes',
    );
    // Reward of transition k-1 = classifier on observation k.
    if (k > 0) {
      const p = await rewardModel.probability(img, Float32Array.from(pro.build(obs)));
      const prev = ts[k - 1]?.rewardProb;
      assert.ok(prev !== null && prev !== undefined && Math.abs(prev - p) < 1e-6, `transition ${k - 1}: stored ${prev}, classifier on next obs ${p}`);
    }
  }
  assert.ok(
    ts[5]?.rewardProb !== null && (ts[5]?.rewardProb as number) >= 0 && (ts[5]?.rewardProb as number) <= 1,
    'last transition scored on the final observation',
  );
  assert.equal(ep.learnedSuccessProb, ts[5]?.rewardProb);
  assert.equal(ep.outcome, ep.learnedSuccessProb >= r.config.practice.successThreshold ? 'success' : 'failure');
  assert.equal(typeof ep.gtSuccess, 'boolean', 'ground truth stored beside it');
  assert.equal(d.status().timing.inferMs.n, 6);
  const recent = d.status().recent;
  assert.equal(recent.n, 1);
  assert.ok(Math.abs((recent.meanRewardProb as number) - ep.learnedSuccessProb) < 1e-12);
  assert.equal(recent.learnedSuccessRate, ep.outcome === 'success' ? 1 : 0);
  assert.equal(recent.gtSuccessRate, ep.gtSuccess ? 1 : 0);
});

test('startup picks the newest shipped model and registers it; the store active version wins', async (t) => {
  const defer = teardown(t);
  const d = tempDir('daemon-startup-');
  defer(d.cleanup);
  const r = await rig({ overrides: { modelsDir: tmp.dir } });
  defer(() => r.close());
  const loaded = await loadStartupModels(tmp.dir, r.app.log.store);
  assert.equal(loaded.policy?.version, 'test-policy@4');
  assert.equal(loaded.reward?.version, 'test-reward@3');
  await loaded.policy?.dispose?.();
  await loaded.reward?.dispose?.();
  const models = r.app.log.store.listModels('policy');
  assert.equal(models.length, 2);
  const v3 = models.find((m) => m.version === 'test-policy@3');
  assert.ok(v3);
  assert.equal(v3.sha256, sha256Hex(readFileSync(policyPath)));
  r.app.log.store.activateModel(v3.id, { by: 'test' });
  const again = await loadStartupModels(tmp.dir, r.app.log.store);
  assert.equal(again.policy?.version, 'test-policy@3');
  await again.policy?.dispose?.();
  await again.reward?.dispose?.();
  const empty = await loadStartupModels(join(d.dir, 'nothing'), null);
  assert.equal(empty.policy, null);
  assert.ok(empty.notes.some((n) => /P-controller alone/.test(n)));
});

test('activate and roll back over REST; a corrupt model is refused and the old one keeps driving', async (t) => {
  const r = await rig({ listen: true, overrides: { modelsDir: tmp.dir } });
  t.after(() => r.close());
  const store = r.app.log.store;
  await loadStartupModels(tmp.dir, store).then(async (m) => {
    await m.policy?.dispose?.();
    await m.reward?.dispose?.();
  });
  const byVersion = (v: string) => store.listModels().find((m) => m.version === v)?.id as number;
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${r.app.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response shapes are asserted field by field
    return { status: res.status, json: (await res.json()) as any };
  };
  const d = r.app.daemon;
  assert.equal(d.policyVersion, null);
  const a3 = await post(`/models/${byVersion('test-policy@3')}/activate`, { reason: 'first' });
  assert.equal(a3.status, 202);
  await new Promise((res) => setImmediate(res));
  assert.equal(d.policyVersion, 'test-policy@3', 'idle: swapped at once');
  assert.equal((await post(`/models/${byVersion('test-policy@4')}/activate`, {})).status, 202);
  await new Promise((res) => setImmediate(res));
  assert.equal(d.policyVersion, 'test-policy@4');
  const rb = await post('/models/rollback', { kind: 'policy', reason: 'worse' });
  assert.equal(rb.status, 202);
  assert.equal(rb.json.activated, 'test-policy@3');
  await new Promise((res) => setImmediate(res));
  assert.equal(d.policyVersion, 'test-policy@3');
  assert.equal(store.listActivations('policy', 1)[0]?.action, 'rollback');
  // Reward models activate too.
  assert.equal((await post(`/models/${byVersion('test-reward@3')}/activate`, {})).status, 202);
  assert.equal(d.status().reward.version, 'test-reward@3');

  // Corrupt the v4 file on disk: activation is refused with 422, v3 keeps driving, the rejection is recorded.
  writeFileSync(policy2Path, Buffer.from('not an onnx model'));
  const bad = await post(`/models/${byVersion('test-policy@4')}/activate`, {});
  assert.equal(bad.status, 422);
  assert.match(bad.json.message, /refused/);
  assert.equal(d.policyVersion, 'test-policy@3');
  assert.equal(store.activeModel('policy')?.version, 'test-policy@3');
  assert.ok(store.listEvents({ kind: 'swap_rejected' }).length >= 1);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the listing is asserted field by field
  const list = await fetch(`${r.app.url}/models`).then((x) => x.json() as Promise<any>);
  assert.equal(list.driving.policy, 'test-policy@3');
  assert.equal(list.active.policy, 'test-policy@3');
});

test('a 32x32 reward model sees the 64x64 camera area-averaged exactly as its training loader did', async (t) => {
  const rewardModel = await RewardModel.load(smallRewardPath);
  // The classifier's own value is the subject: the height check (frames far above x*) is off.
  const r = await rig({ reward: rewardFromModel(rewardModel), overrides: { episodeSteps: 3 }, config: (c) => void (c.practice.heightToleranceM = null) });
  t.after(() => r.close());
  const d = r.app.daemon;
  assert.ok(d.startPractice({ count: 1, scenario: 'I' }).ok);
  await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null);
  await logged(r);
  const ep = r.app.log.store.listEpisodes()[0];
  const ts = r.app.log.store.getEpisode(ep?.id as number, { transitions: true, images: true })?.transitions ?? [];
  assert.equal(ts.length, 3);
  assert.equal(d.status().timing.sharpTicks, 0, 'no sharp call for an area resize');
  for (let k = 1; k < ts.length; k++) {
    const img = ts[k]?.image;
    assert.ok(img && img.width === 64, 'the log keeps the camera-size image');
    const small = new Uint8Array(32 * 32 * 3);
    resizeRgb(img.data, 64, 64, small, 32, 32);
    const p = await rewardModel.probability(Float32Array.from(small, (v) => v / 255));
    assert.ok(Math.abs((ts[k - 1]?.rewardProb as number) - p) < 1e-6, `transition ${k - 1}: ${ts[k - 1]?.rewardProb} vs ${p}`);
  }
});
