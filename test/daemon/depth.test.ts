/**
 * The depth cue through the daemon (issue 13): with a depth camera (backend.sim.depth) the daemon logs each
 * transition's depth image and scores the reward on the depth cells its card names; the same reward model on a backend
 * without depth stops the arm in the first tick and says why, rather than scoring without its cue.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveOnnxModel } from '../../src/learn/export.ts';
import { RewardModel } from '../../src/policy/onnx-model.ts';
import { REWARD_CUES } from '../../src/policy/inputs.ts';
import { rewardFromModel } from '../../src/daemon/models.ts';
import { SimBackend } from '../../src/robot/sim-backend.ts';
import { buildPolicyLike, cardDraft } from '../policy/fixtures.ts';
import { backendRig, logged, tempDir, tickUntil } from './helpers.ts';

await tf.setBackend('cpu');
const tmp = tempDir('daemon-depth-');
process.on('exit', tmp.cleanup);

/** A random-weight reward classifier taking the image and the 64 depth cells (the card of `--cue depth`). */
function saveDepthReward(): string {
  const path = join(tmp.dir, 'reward-depth.onnx');
  const cue = REWARD_CUES.depth;
  const m = buildPolicyLike({ size: 64, proprioDim: cue.layout.length, hidden: 16, head: 'probability', seed: 5 });
  const draft = cardDraft('reward', { size: 64, proprioDim: cue.layout.length });
  draft.preprocessing.proprio = { layout: [...cue.layout], mean: [...cue.mean], std: [...cue.std] };
  saveOnnxModel(m, path, { inputRoles: ['image', 'proprio'], outputRoles: ['probability'], card: { ...draft, name: 'reward-depth', version: 1 } });
  m.dispose();
  return path;
}
const rewardPath = saveDepthReward();

const simRig = async (depth: boolean) =>
  backendRig(
    (config) =>
      SimBackend.create({
        connector: config.backend.sim.connector,
        cell: { imageSize: 64, controlHz: config.tickHz, startHeight: config.backend.sim.startHeight, nuisance: false, depth },
      }),
    { reward: rewardFromModel(await RewardModel.load(rewardPath)), overrides: { episodeSteps: 4 } },
  );

test('with a depth camera: every transition is logged with its depth image and a reward from the depth cells', async (t) => {
  const r = await simRig(true);
  t.after(() => r.close());
  const d = r.app.daemon;
  assert.ok(d.startPractice({ count: 1, scenario: 'I', explorationNoise: 0 }).ok);
  await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null);
  await logged(r);
  const ep = r.app.log.store.listEpisodes()[0];
  assert.ok(ep);
  const ts = r.app.log.store.getEpisode(ep.id, { transitions: true, images: true })?.transitions ?? [];
  assert.equal(ts.length, 4);
  for (const tr of ts) {
    assert.ok(tr.depth && tr.depth.width === 64 && tr.depth.height === 64, `step ${tr.step}: no depth logged`);
    const valid = Array.from(tr.depth.data).filter((v) => v > 0);
    assert.ok(valid.length > 3000 && valid.every((v) => v > 0.03 && v < 0.5), `step ${tr.step}: depth out of the camera's range`);
    assert.ok(tr.rewardProb !== null && tr.rewardProb >= 0 && tr.rewardProb <= 1, `step ${tr.step}: reward ${tr.rewardProb}`);
  }
  assert.equal(d.currentState, 'idle');
});

test('the same reward model on a backend without depth: the arm stops in the first tick and the e-stop says why', async (t) => {
  const r = await simRig(false);
  t.after(() => r.close());
  const d = r.app.daemon;
  assert.ok(d.startPractice({ count: 1, scenario: 'I', explorationNoise: 0 }).ok);
  await tickUntil(r.app, () => d.currentState === 'estopped' || d.status().practice === null, 20);
  assert.equal(d.currentState, 'estopped');
  assert.equal(d.status().safety.estop.source, 'internal:observation');
  assert.match(d.status().safety.estop.detail ?? '', /no depth image, and the model takes depth cells/);
  assert.equal(r.backend.commandsExecuted, 0, 'nothing was commanded');
});
