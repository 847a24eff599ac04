// The depth cue: a reward classifier fed the wrist depth image's 8x8 cells beside the image tells seated from a few
// millimetres above on held-out connectors, which the colour image barely can. Small real configuration on real
// simulator data (MuJoCo prior episodes with the simulated D405's depth), the same data, seed and steps for both.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { initBackend } from '../../src/learn/backend.ts';
import { depthBands } from '../../src/cli/depth-bands.ts';
import { exportReward } from '../../src/offline/reward.ts';
import { cardPathFor, readCard } from '../../src/policy/card.ts';
import { inputSpecOf, REWARD_CUES } from '../../src/policy/inputs.ts';
import { nearSeatedAccuracy, tinyDb, tinyRewardOptions } from './fixtures.ts';

await initBackend();
const fx = await tinyDb('reward-depth-test', 6, undefined, { depth: true });
after(() => fx.cleanup());

const small = tinyRewardOptions(fx, { steps: 300, seed: 0 });

test('with depth cells the classifier beats the image-only one on held-out frames 0-6 mm above seated; its card names them', () => {
  const image = nearSeatedAccuracy({ ...small, cue: 'none' }, 'erm');
  const path = join(fx.dir, 'depth', 'reward.onnx');
  const depth = nearSeatedAccuracy({ ...small, cue: 'depth' }, 'erm', true);
  const trained = depth.trained;
  assert.ok(trained);
  try {
    exportReward(trained.clf, trained.row, { ...small, cue: 'depth' }, trained.data, path);
  } finally {
    trained.clf.dispose();
  }
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

test('depth-bands: the socket face of a deep plug a few mm short is nearer than a shallow plug seated; the step is not', () => {
  // Why absolute depth cells mislead (europlug seats at 16 mm, dt12 at 10): the face distance says how deep the tip is,
  // not whether it is seated; the largest vertical step grows with the height above seated for both.
  const rows = depthBands(fx.db, ['dt12', 'europlug']);
  const band = (name: string, b: string) => rows.find((r) => r.name === name)!.bands.find((x) => x.band === b)!;
  const eu = ['0-3 mm', '3-6 mm'].map((b) => band('europlug', b)).filter((b) => b.frames > 0);
  assert.ok(eu.length > 0 && band('dt12', 'seated').frames > 0, JSON.stringify(rows));
  for (const b of eu) {
    assert.ok(b.faceMm < band('dt12', 'seated').faceMm, `europlug ${b.band} face ${b.faceMm} vs dt12 seated ${band('dt12', 'seated').faceMm}`);
    assert.ok(b.stepMm > Math.max(band('dt12', 'seated').stepMm, band('europlug', 'seated').stepMm), `europlug ${b.band} step ${b.stepMm}`);
  }
});
