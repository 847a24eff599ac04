/**
 * The experiment with a reward that takes the wrist depth image (issue 13): `--depth` gives the simulated cell its
 * depth camera (backend.sim.depth), and without it the run is refused with the reason before anything starts, rather
 * than the daemon stopping the arm at the first tick for want of depth.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveOnnxModel } from '../../src/learn/export.ts';
import { REWARD_CUES } from '../../src/policy/inputs.ts';
import { experimentOptions } from '../../src/cli/experiment.ts';
import { buildPolicyLike, cardDraft } from '../policy/fixtures.ts';
import { tempDir } from '../daemon/helpers.ts';

await tf.setBackend('cpu');

test('a depth reward needs --depth; with it the sim gives depth, an image-only reward leaves it off', (t) => {
  const tmp = tempDir('exp-depth-');
  t.after(tmp.cleanup);
  const path = join(tmp.dir, 'reward-depth.onnx');
  const cue = REWARD_CUES.depth;
  const m = buildPolicyLike({ size: 64, proprioDim: cue.layout.length, hidden: 8, head: 'probability', seed: 3 });
  const draft = cardDraft('reward', { size: 64, proprioDim: cue.layout.length });
  draft.preprocessing.proprio = { layout: [...cue.layout], mean: [...cue.mean], std: [...cue.std] };
  saveOnnxModel(m, path, { inputRoles: ['image', 'proprio'], outputRoles: ['probability'], card: { ...draft, name: 'reward-depth', version: 1 } });
  m.dispose();

  assert.throws(() => experimentOptions(['--connectors', 'europlug', '--reward', path]), /takes the wrist depth image.*--depth/);
  assert.equal(experimentOptions(['--connectors', 'europlug', '--reward', path, '--depth']).simDepth, true);
  assert.equal(experimentOptions(['--connectors', 'europlug', '--reward', 'gt']).simDepth, false);
});
