import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadLabelledImages, loadTransitions } from '../../src/data/dataset.ts';
import type { ResidualPolicy, RewardScorer } from '../../src/daemon/interfaces.ts';
import { gatherImages } from '../../src/learn/nets.ts';
import { readCard, type ModelCard } from '../../src/policy/card.ts';
import { cardPreprocessing, DEFAULT_PROPRIO_SPEC, inputSpecOf, InputSpecError, rewardCueSpec } from '../../src/policy/inputs.ts';
import { Store } from '../../src/store/index.ts';
import type { Vec3 } from '../../src/core/types.ts';
import { logged, rig, scriptedPolicy, tickUntil } from '../daemon/helpers.ts';

const shippedPolicy = readCard('models/policy.onnx.json');

test('training-time and drive-time inputs of the same logged observation are identical (shipped policy card)', async (t) => {
  const spec = inputSpecOf(shippedPolicy, 'models/policy.onnx');
  assert.ok(spec.image && spec.proprio);
  // A policy that records what the daemon's tick feeds it, with the shipped card's input contract.
  const fed: { image: Float32Array; proprio: Float32Array }[] = [];
  const policy: ResidualPolicy = {
    version: 'recorder@1',
    input: spec,
    run: async (image, proprio): Promise<Vec3> => {
      fed.push({ image: Float32Array.from(image ?? []), proprio: Float32Array.from(proprio ?? []) });
      return [0.001, -0.001, 0];
    },
  };
  const r = await rig({ policy, overrides: { episodeSteps: 5 } });
  t.after(() => r.close());
  const start = r.app.daemon.startPractice({ count: 1, kind: 'practice' });
  assert.ok(start.ok);
  await tickUntil(r.app, () => r.app.daemon.currentState === 'idle' && r.app.daemon.status().lastEpisode !== null);
  await logged(r);
  assert.equal(fed.length, 5);

  // The training path: the loader (resize, proprio) and the learner's batch conversion.
  const store = Store.openReadOnly(r.db);
  try {
    const d = loadTransitions(store, { domains: [r.config.backend.sim.connector], imageSize: spec.image.width, kinds: ['practice'], proprio: spec.proprio });
    assert.equal(d.count, 5);
    const px = spec.image.width * spec.image.height * 3;
    for (let k = 0; k < d.count; k++) {
      const img = new Float32Array(px);
      gatherImages(d.obsImages, d.shape, [d.obs[k] as number], img);
      const drive = fed[k] as { image: Float32Array; proprio: Float32Array };
      assert.deepEqual(img, drive.image, `step ${k}: image input differs between training and the tick`);
      const o = d.obs[k] as number;
      assert.deepEqual(d.obsProprio.subarray(o * d.proprioDim, (o + 1) * d.proprioDim), drive.proprio, `step ${k}: proprio input differs`);
    }
  } finally {
    store.close();
  }
});

test('a reward classifier with the wrench cue: the tick feeds it the same image and fz as the training loader', async (t) => {
  // The card train:reward --cue fz writes: an image and a one-element proprio input, raw newtons.
  const shipped = readCard('models/reward.onnx.json');
  const img = shipped.inputs.find((s) => s.role === 'image');
  assert.ok(img);
  const card = {
    ...shipped,
    inputs: [img, { name: 'proprio', role: 'proprio', shape: [null, 1], dtype: 'float32' }],
    preprocessing: cardPreprocessing(64, rewardCueSpec('fz')),
  } as ModelCard;
  const spec = inputSpecOf(card, 'reward-fz.onnx');
  assert.ok(spec.image && spec.proprio);
  assert.deepEqual(spec.proprio.layout, ['fz']);
  const fed: { image: Float32Array; proprio: Float32Array }[] = [];
  const reward: RewardScorer = {
    version: 'reward-recorder@1',
    input: spec,
    probability: async (image, proprio) => {
      fed.push({ image: Float32Array.from(image ?? []), proprio: Float32Array.from(proprio ?? []) });
      return 0.5;
    },
  };
  // A residual that presses down, so the plug reaches the socket and the wrench is not all zeros.
  const r = await rig({ reward, policy: scriptedPolicy('press@1', () => [0, 0, -0.004]), overrides: { episodeSteps: 12 } });
  t.after(() => r.close());
  assert.ok(r.app.daemon.startPractice({ count: 1, kind: 'practice' }).ok);
  await tickUntil(r.app, () => r.app.daemon.currentState === 'idle' && r.app.daemon.status().lastEpisode !== null);
  await logged(r);
  // Scored: the observation of every step after the first (for the previous transition), then the final one.
  assert.equal(fed.length, 12);

  const store = Store.openReadOnly(r.db);
  try {
    // The training path of train:reward: labelled observations (simulator ground truth), proprio by the card's spec.
    const d = loadLabelledImages(store, { domains: [r.config.backend.sim.connector], imageSize: spec.image.width, kinds: ['practice'], proprio: spec.proprio });
    assert.ok(d.proprio);
    const steps = new Map(store.getTransitions(Array.from(d.transitionId), { images: false }).map((x) => [x.id, x.step]));
    assert.equal(d.count, 11, 'rows 1..11 have a known label (row 0: none logged)');
    const px = spec.image.width * spec.image.height * 3;
    for (let k = 0; k < d.count; k++) {
      const step = steps.get(d.transitionId[k] as number) as number;
      const drive = fed[step - 1] as { image: Float32Array; proprio: Float32Array };
      const img = new Float32Array(px);
      gatherImages(d.images, d.shape, [k], img);
      assert.deepEqual(img, drive.image, `step ${step}: image input differs between training and the tick`);
      assert.deepEqual(d.proprio.subarray(k, k + 1), drive.proprio, `step ${step}: fz input differs between training and the tick`);
    }
    assert.ok(
      fed.some((f) => Math.abs(f.proprio[0] as number) > 0.5),
      `the plug never pushed on anything (fz ${fed.map((f) => (f.proprio[0] as number).toFixed(2)).join(' ')}): the comparison is too weak`,
    );
  } finally {
    store.close();
  }
});

test('cards written by training say what inputSpecOf reads back', () => {
  const pre = cardPreprocessing(32, DEFAULT_PROPRIO_SPEC);
  const card = { ...shippedPolicy, preprocessing: pre } as ModelCard;
  const spec = inputSpecOf(card, 'x');
  assert.deepEqual(spec.image, { width: 32, height: 32, scale: 1 / 255, offset: 0 });
  assert.deepEqual(spec.proprio, DEFAULT_PROPRIO_SPEC);
  // Every shipped model that takes observations reads.
  for (const f of ['models/policy.onnx.json', 'models/reward.onnx.json']) inputSpecOf(readCard(f), f);
});

test('a card asking for a resampling or crop that training never did is refused, naming the field', () => {
  const img = shippedPolicy.preprocessing.image;
  assert.ok(img);
  const linear = { ...shippedPolicy, preprocessing: { ...shippedPolicy.preprocessing, image: { ...img, resize: 'linear' } } } as ModelCard;
  assert.throws(
    () => inputSpecOf(linear, 'p.onnx'),
    (e: Error) => e instanceof InputSpecError && /p\.onnx: field 'preprocessing\.image\.resize' 'linear'/.test(e.message),
  );
  const crop = {
    ...shippedPolicy,
    preprocessing: { ...shippedPolicy.preprocessing, image: { ...img, crop: { x: 0, y: 0, width: 8, height: 8 } } },
  } as ModelCard;
  assert.throws(() => inputSpecOf(crop, 'p.onnx'), /preprocessing\.image\.crop/);
  const badProprio = {
    ...shippedPolicy,
    preprocessing: { ...shippedPolicy.preprocessing, proprio: { layout: ['dx', 'wat'], mean: [0, 0], std: [1, 1] } },
  } as ModelCard;
  assert.throws(() => inputSpecOf(badProprio, 'p.onnx'), /layout\[1\] 'wat'/);
});
