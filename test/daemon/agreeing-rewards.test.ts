// Two rewards that must agree (daemon/models.ts agreeingRewards), with the real trained classifiers: the shipped image
// reward and the depth-steps reward of results/reward-depth-relative, fed real simulator observations with depth.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agreeingRewards, rewardFromModel } from '../../src/daemon/models.ts';
import type { RewardScorer } from '../../src/daemon/interfaces.ts';
import { ModelInputs } from '../../src/policy/inputs.ts';
import { RewardModel } from '../../src/policy/onnx-model.ts';
import { SimBackend } from '../../src/robot/sim-backend.ts';

const IMAGE = 'models/reward.onnx';
const DEPTH = 'results/reward-depth-relative/models/reward-depth.onnx';

test('agreeing rewards: the smaller probability on every observation, proprio to the one that takes it; bad pairs refused', async (t) => {
  const image = rewardFromModel(await RewardModel.load(IMAGE));
  const depth = rewardFromModel(await RewardModel.load(DEPTH));
  const depth2 = rewardFromModel(await RewardModel.load(DEPTH));
  const sim = await SimBackend.create({ connector: 'europlug', cell: { imageSize: 64, controlHz: 10, nuisance: false, depth: true } });
  t.after(async () => {
    await image.dispose?.();
    await depth.dispose?.();
    await depth2.dispose?.();
    sim.dispose();
  });
  const both = agreeingRewards(image, depth);
  assert.equal(both.version, `${image.version}&${depth.version}`);
  assert.deepEqual(both.input, { image: image.input.image, proprio: depth.input.proprio });
  const score = async (m: RewardScorer, inputs: ModelInputs) => {
    const x = inputs.build(sim.observe());
    return m.probability(x.image, x.proprio);
  };
  const inputsOf = (m: RewardScorer) => new ModelInputs(m.input, m.version);
  const [ii, di, bi] = [inputsOf(image), inputsOf(depth), inputsOf(both)];
  // Down onto the socket from the start, then up again: frames far above, near and on the face.
  const moves: Array<[number, number, number]> = [
    [0, 0, -0.01],
    [0, 0, -0.01],
    [0, 0, -0.01],
    [0, 0, -0.01],
    [0, 0, 0.01],
  ];
  let smaller = 0;
  for (const u of moves) {
    sim.command(u);
    const [pi, pd, pb] = [await score(image, ii), await score(depth, di), await score(both, bi)];
    assert.ok(Math.abs(pb - Math.min(pi, pd)) < 1e-6, `both ${pb} vs image ${pi}, depth ${pd}`);
    if (Math.abs(pi - pd) > 1e-3) smaller++;
  }
  // The two disagree somewhere, so the minimum was tested, not a copy of one of them.
  assert.ok(smaller > 0);
  assert.throws(() => agreeingRewards(depth, depth2), /only one of them may take proprio inputs/);
});
