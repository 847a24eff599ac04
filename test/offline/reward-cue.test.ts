// The wrench cue: a reward classifier fed the wrist's axial force (fz) beside the image tells a plug pressed home from
// one hanging a few millimetres short, which the wrist camera barely can. Small real configuration on real simulator
// data (MuJoCo prior episodes of three training and two held-out connectors), the same seed and steps for both.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../src/learn/backend.ts';
import { evaluateBalanced } from '../../src/learn/daib.ts';
import { DEFAULT_REWARD, loadRewardData, trainRewardMethod, type RewardData, type RewardOptions } from '../../src/offline/reward.ts';
import { tinyDb } from './fixtures.ts';

await initBackend();
const fx = await tinyDb('reward-cue-test', 6);
after(() => fx.cleanup());

const small: RewardOptions = {
  ...DEFAULT_REWARD, db: fx.db, heldOutDb: fx.db, split: fx.split, steps: 300, imageSize: 16, batchSize: 32,
  filters: [8, 8], zIDim: 8, zSDim: 4, headHidden: [32], logEvery: 100_000, maxPerDomain: 1000, seed: 0,
};

/** Held-out accuracy (50/50 per connector) on seated frames and unseated ones less than 6 mm above seated. */
function nearSeatedAccuracy(o: RewardOptions): { accuracy: number; samples: number } {
  const data: RewardData = loadRewardData(o);
  const { clf } = trainRewardMethod(o, data, 'daib');
  try {
    const h = data.heldOut;
    const prob = clf.predict(h.images, h.count, 256, h.proprio);
    const keep: number[] = [];
    for (let i = 0; i < h.count; i++) if (h.success[i] === 1 || (h.aboveSeated[i] as number) < 0.006) keep.push(i);
    const e = evaluateBalanced(keep.map((i) => prob[i] as number), keep.map((i) => h.success[i] as number), keep.map((i) => h.domain[i] as number));
    return { accuracy: e.accuracy, samples: keep.length };
  } finally {
    clf.dispose();
  }
}

test('with the wrench cue (fz) the classifier beats the image-only one on held-out frames 0-6 mm above seated', () => {
  const image = nearSeatedAccuracy({ ...small, cue: 'none' });
  const fz = nearSeatedAccuracy({ ...small, cue: 'fz' });
  assert.equal(fz.samples, image.samples);
  assert.ok(fz.samples >= 40, `only ${fz.samples} near-seated held-out samples`);
  assert.ok(fz.accuracy >= image.accuracy + 0.1, `image+fz ${fz.accuracy.toFixed(3)} vs image only ${image.accuracy.toFixed(3)}`);
  assert.ok(fz.accuracy >= 0.85, `image+fz ${fz.accuracy.toFixed(3)}`);
  console.log(`near-seated held-out accuracy: image only ${image.accuracy.toFixed(3)}, image + fz ${fz.accuracy.toFixed(3)} (${fz.samples} samples)`);
});
