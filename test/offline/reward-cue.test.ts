// The wrench cue: a reward classifier fed the wrist's axial force (fz) beside the image tells a plug pressed home from
// one hanging a few millimetres short, which the wrist camera barely can. Small real configuration on real simulator
// data (MuJoCo prior episodes of three training and two held-out connectors), the same seed and steps for both.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { initBackend } from '../../src/learn/backend.ts';
import { exportReward } from '../../src/offline/reward.ts';
import { cardPathFor, readCard } from '../../src/policy/card.ts';
import { inputSpecOf } from '../../src/policy/inputs.ts';
import { RewardModel } from '../../src/policy/onnx-model.ts';
import { nearSeatedAccuracy, tinyDb, tinyRewardOptions } from './fixtures.ts';

await initBackend();
const fx = await tinyDb('reward-cue-test', 6);
after(() => fx.cleanup());

const small = tinyRewardOptions(fx, { steps: 300, seed: 0 });

let withCue: ReturnType<typeof nearSeatedAccuracy>['trained'];
after(() => withCue?.clf.dispose());

test('with the wrench cue (fz) the classifier beats the image-only one on held-out frames 0-6 mm above seated', () => {
  const image = nearSeatedAccuracy({ ...small, cue: 'none' }, 'daib');
  const fz = nearSeatedAccuracy({ ...small, cue: 'fz' }, 'daib', true);
  withCue = fz.trained;
  assert.equal(fz.samples, image.samples);
  assert.ok(fz.samples >= 40, `only ${fz.samples} near-seated held-out samples`);
  assert.ok(fz.accuracy >= image.accuracy + 0.1, `image+fz ${fz.accuracy.toFixed(3)} vs image only ${image.accuracy.toFixed(3)}`);
  assert.ok(fz.accuracy >= 0.85, `image+fz ${fz.accuracy.toFixed(3)}`);
  console.log(`near-seated held-out accuracy: image only ${image.accuracy.toFixed(3)}, image + fz ${fz.accuracy.toFixed(3)} (${fz.samples} samples)`);
});

test('the exported classifier with the cue: its card names the image and the fz input, and ONNX matches tfjs', async () => {
  assert.ok(withCue, 'the previous test trains it');
  const { clf, row, data } = withCue;
  const path = join(fx.dir, 'fz', 'reward.onnx');
  exportReward(clf, row, { ...small, cue: 'fz' }, data, path);
  const card = readCard(cardPathFor(path));
  assert.deepEqual(
    card.inputs.map((i) => [i.name, i.role, i.shape]),
    [
      ['image', 'image', [null, 16, 16, 3]],
      ['proprio', 'proprio', [null, 1]],
    ],
  );
  assert.deepEqual(inputSpecOf(card, path).proprio, { layout: ['fz'], mean: [0], std: [1] });
  assert.equal((card.hyperparameters as { cue?: string }).cue, 'fz');
  const model = await RewardModel.load(path);
  try {
    const h = data.heldOut;
    const n = Math.min(128, h.count);
    const px = 16 * 16 * 3;
    const pro = (h.proprio as Float32Array).slice(0, n);
    const ref = clf.predict(h.images, n, 256, pro);
    const onnx = await model.probabilities(
      n,
      Float32Array.from(h.images.subarray(0, n * px), (v) => v / 255),
      pro,
    );
    let maxDiff = 0;
    for (let i = 0; i < n; i++) maxDiff = Math.max(maxDiff, Math.abs((onnx[i] as number) - (ref[i] as number)));
    assert.ok(maxDiff <= 1e-4, `max |onnx - tfjs| = ${maxDiff}`);
    // The graph uses the force: the same images with fz zeroed score differently.
    const zeroed = await model.probabilities(
      n,
      Float32Array.from(h.images.subarray(0, n * px), (v) => v / 255),
      new Float32Array(n),
    );
    assert.ok(
      onnx.some((p, i) => Math.abs(p - (zeroed[i] as number)) > 0.05),
      "fz does not change the exported model's output",
    );
  } finally {
    await model.dispose();
  }
});
