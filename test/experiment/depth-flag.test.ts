/**
 * The experiment with a reward that takes the wrist depth image (issue 13). The shipped config gives the simulated cell
 * its depth camera (backend.sim.depth); `--no-depth` takes it away, `--depth` adds it to a config without. A depth
 * reward without depth is refused with the reason before anything starts, rather than the daemon stopping the arm at
 * the first tick for want of depth. Without --reward the experiment takes the daemon's own choice (rewardPreference).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveOnnxModel } from '../../src/learn/export.ts';
import { REWARD_CUES } from '../../src/policy/inputs.ts';
import { experimentOptions } from '../../src/cli/experiment.ts';
import { buildPolicyLike, cardDraft } from '../policy/fixtures.ts';
import { tempDir } from '../daemon/helpers.ts';

await tf.setBackend('cpu');
const root = resolve(import.meta.dirname, '../..');
const shipped = join(root, 'config/daemon.yaml');

test('a depth reward needs depth: refused with --no-depth; --depth gives the sim depth on a config without it', (t) => {
  const tmp = tempDir('exp-depth-');
  t.after(tmp.cleanup);
  const path = join(tmp.dir, 'reward-depth.onnx');
  const cue = REWARD_CUES.depth;
  const m = buildPolicyLike({ size: 64, proprioDim: cue.layout.length, hidden: 8, head: 'probability', seed: 3 });
  const draft = cardDraft('reward', { size: 64, proprioDim: cue.layout.length });
  draft.preprocessing.proprio = { layout: [...cue.layout], mean: [...cue.mean], std: [...cue.std] };
  saveOnnxModel(m, path, { inputRoles: ['image', 'proprio'], outputRoles: ['probability'], card: { ...draft, name: 'reward-depth', version: 1 } });
  m.dispose();

  assert.throws(() => experimentOptions(['--connectors', 'europlug', '--reward', path, '--no-depth']), /takes the wrist depth image.*--depth/);
  assert.equal(experimentOptions(['--connectors', 'europlug', '--reward', path]).simDepth, true);
  assert.equal(experimentOptions(['--connectors', 'europlug', '--reward', 'gt', '--no-depth']).simDepth, false);
  assert.throws(() => experimentOptions(['--connectors', 'europlug', '--depth', '--no-depth']), /give one/);
  // A config without depth: --depth turns it on.
  const noDepth = join(tmp.dir, 'daemon.yaml');
  writeFileSync(
    noDepth,
    readFileSync(shipped, 'utf8')
      .replace(/depth: true /, 'depth: false')
      .replace(/^modelsDir: \.\.\/models/m, `modelsDir: ${join(root, 'models')}`),
  );
  assert.equal(experimentOptions(['--connectors', 'europlug', '--config', noDepth, '--reward', 'gt']).simDepth, false);
  assert.equal(experimentOptions(['--connectors', 'europlug', '--config', noDepth, '--reward', path, '--depth']).simDepth, true);
});

test('without --reward the experiment runs what the daemon starts with: the depth reward with depth, the image reward without', () => {
  const o = experimentOptions(['--connectors', 'europlug']);
  assert.equal(o.simDepth, true);
  assert.equal(o.rewardPath, join(root, 'models/reward-depth.onnx'));
  const image = experimentOptions(['--connectors', 'europlug', '--no-depth']);
  assert.equal(image.simDepth, false);
  assert.equal(image.rewardPath, join(root, 'models/reward.onnx'));
});
