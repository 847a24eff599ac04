/**
 * The experiment's search baselines run without rendering (they never read the image): the same successes as with the
 * 64 px camera the experiment used to render for them, on a connector and trials where they neither all fail nor all
 * succeed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measureBaselines } from '../../src/experiment/online.ts';

test('baselines without images: the same outcomes as with the camera rendering', async () => {
  const o = { trials: 6, episodeSteps: 20, offsetMm: 1.5 };
  const seed = 17;
  const plain = await measureBaselines('europlug', o, seed, false);
  const rendered = await measureBaselines('europlug', o, seed, false, 64);
  assert.deepEqual(plain, rendered);
  const successes = Object.values(plain).map((b) => b.successes);
  assert.ok(successes.some((s) => s > 0) && successes.some((s) => s < o.trials), `a discriminating set-up: ${JSON.stringify(plain)}`);
});
