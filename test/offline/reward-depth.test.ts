// The depth cue: a reward classifier fed the wrist depth image's 8x8 cells beside the image tells seated from a few
// millimetres above on held-out connectors, which the colour image barely can. Small real configuration on real
// simulator data (MuJoCo prior episodes with the simulated D405's depth), the same data, seed and steps for both.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { initBackend } from '../../src/learn/backend.ts';
import { evaluateBalanced } from '../../src/learn/daib.ts';
import { DEFAULT_REWARD, exportReward, loadRewardData, trainRewardMethod, type RewardOptions } from '../../src/offline/reward.ts';
import { cardPathFor, readCard } from '../../src/policy/card.ts';
import { inputSpecOf, REWARD_CUES } from '../../src/policy/inputs.ts';
import { tinyDb } from './fixtures.ts';

await initBackend();
const fx = await tinyDb('reward-depth-test', 6, undefined, { depth: true });
after(() => fx.cleanup());

const small: RewardOptions = {
  ...DEFAULT_REWARD,
  db: fx.db,
  heldOutDb: fx.db,
  split: fx.split,
  steps: 300,
  imageSize: 16,
  batchSize: 32,
  filters: [8, 8],
  zIDim: 8,
  zSDim: 4,
  headHidden: [32],
  logEvery: 100_000,
  maxPerDomain: 1000,
  seed: 0,
};

test('with depth cells the classifier beats the image-only one on held-out frames 0-6 mm above seated; its card names them', () => {
  const near = (o: RewardOptions, exportTo?: string): { accuracy: number; samples: number } => {
    const data = loadRewardData(o);
    const { clf, row } = trainRewardMethod(o, data, 'erm');
    try {
      const h = data.heldOut;
      const prob = clf.predict(h.images, h.count, 256, h.proprio);
      const keep: number[] = [];
      for (let i = 0; i < h.count; i++) if (h.success[i] === 1 || (h.aboveSeated[i] as number) < 0.006) keep.push(i);
      const e = evaluateBalanced(
        keep.map((i) => prob[i] as number),
        keep.map((i) => h.success[i] as number),
        keep.map((i) => h.domain[i] as number),
      );
      if (exportTo) exportReward(clf, row, o, data, exportTo);
      return { accuracy: e.accuracy, samples: keep.length };
    } finally {
      clf.dispose();
    }
  };
  const image = near({ ...small, cue: 'none' });
  const path = join(fx.dir, 'depth', 'reward.onnx');
  const depth = near({ ...small, cue: 'depth' }, path);
  console.log(`near-seated held-out accuracy: image only ${image.accuracy.toFixed(3)}, image + depth ${depth.accuracy.toFixed(3)} (${depth.samples} samples)`);
  assert.equal(depth.samples, image.samples);
  assert.ok(depth.samples >= 40, `only ${depth.samples} near-seated held-out samples`);
  // Measured: image only 0.434, image + depth 0.536 (73 samples). At this size the gain is smaller than at full size
  // (results/reward-depth: 0-3 mm frames), so the margin asked is 0.05.
  assert.ok(depth.accuracy >= image.accuracy + 0.05, `image+depth ${depth.accuracy.toFixed(3)} vs image only ${image.accuracy.toFixed(3)}`);
  // Drive time reads the card, so the daemon feeds the same 64 cells the loader built here.
  const card = readCard(cardPathFor(path));
  assert.deepEqual(inputSpecOf(card, path).proprio?.layout, [...REWARD_CUES.depth.layout]);
  assert.equal((card.hyperparameters as { cue?: string }).cue, 'depth');
});
