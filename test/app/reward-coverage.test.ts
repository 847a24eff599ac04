/**
 * The daemon says when its reward was not trained on connectors as deep as the ones it may practise: /status
 * (extra.rewardCoverage) lists every defined connector outside the reward's training depths, and a default connector
 * outside them is a start-up warning (src/sim/connectors.ts rewardDepthCoverage; results/online-s20/).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveOnnxModel } from '../../src/learn/export.ts';
import { buildPolicyLike, cardDraft } from '../policy/fixtures.ts';
import { simApp, tempDir } from '../daemon/helpers.ts';

await tf.setBackend('cpu');
const tmp = tempDir('reward-coverage-');
process.on('exit', tmp.cleanup);

/** A random-weight image reward whose card says it was trained on dt12 (10 mm deep) and megablock (14 mm). */
const modelsDir = join(tmp.dir, 'models');
mkdirSync(modelsDir);
{
  const m = buildPolicyLike({ size: 64, proprioDim: 1, hidden: 16, head: 'probability', seed: 3 });
  const draft = cardDraft('reward', { size: 64, proprioDim: 1 });
  draft.preprocessing.proprio = { layout: ['dz'], mean: [0], std: [1] };
  draft.training.connectors = ['dt12', 'megablock'];
  saveOnnxModel(m, join(modelsDir, 'reward.onnx'), {
    inputRoles: ['image', 'proprio'],
    outputRoles: ['probability'],
    card: { ...draft, name: 'reward-narrow', version: 1 },
  });
  m.dispose();
}

for (const [connector, warned] of [
  ['dsub', true], // 8 mm: shallower than both
  ['nema15', false], // 12 mm: between them
] as const) {
  test(`default connector ${connector}: ${warned ? 'a start-up warning' : 'no warning'}; /status lists the connectors outside 10-14 mm`, async (t) => {
    const app = await simApp(tmp.dir, `cov-${connector}`, { modelsDir }, (c) => {
      c.backend.sim.connector = connector;
      c.backend.sim.depth = false;
      c.backend.sim.imageSize = 64;
    });
    t.after(() => app.close());
    assert.equal(app.daemon.status().reward.version, 'reward-narrow@1', app.notes.join('\n'));
    const said = app.notes.filter((n) => /^WARNING: reward model reward-narrow@1: /.test(n));
    assert.equal(said.length, warned ? 1 : 0, app.notes.join('\n'));
    if (warned) assert.match(said[0] ?? '', /dsub inserts 8 mm deep, outside the 10-14 mm of the 2 connectors the reward was trained on/);
    const cov = app.daemon.status().extra.rewardCoverage as { reward: string; outside: Record<string, string> };
    assert.equal(cov.reward, 'reward-narrow@1');
    // data/connectors: 8-9 mm (dsub, grid3x2, header2x4, pin3row) and 16 mm (europlug, schuko) are outside; dt12 is not.
    for (const name of ['dsub', 'pin3row', 'europlug', 'schuko']) assert.ok(cov.outside[name], `${name} listed: ${Object.keys(cov.outside).join(', ')}`);
    for (const name of ['dt12', 'megablock', 'nema15', 'round16']) assert.equal(cov.outside[name], undefined, name);
  });
}
