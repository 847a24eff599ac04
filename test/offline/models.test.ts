// The shipped models in models/: each loads through the daemon's loader (which checks the card, the sha256, the
// graph's names and shapes, and a probe run), and the cards say what the README claims they are.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cardPathFor, readCard } from '../../src/policy/card.ts';
import { EncoderModel, PolicyModel, RewardModel } from '../../src/policy/onnx-model.ts';
import { SHIPPED } from '../../src/cli/models.ts';
import type { Observation } from '../../src/core/types.ts';
import { inputSpecOf, ModelInputs, REWARD_CUES } from '../../src/policy/inputs.ts';

const MODELS = resolve(import.meta.dirname, '../../models');

test('shipped reward classifier: loads, valid card, held-out accuracy recorded, trained only on training connectors', async () => {
  const path = join(MODELS, 'reward.onnx');
  const card = readCard(cardPathFor(path));
  assert.equal(card.kind, 'reward');
  // At most the version `npm run models` writes (a daemon registers name@version once, so a replaced model needs a new
  // one); lower while an older run's reward is shipped (models/README.md, results/models-from-scratch/).
  assert.ok(card.version <= SHIPPED.rewardCardVersion, `reward card v${card.version} > pipeline v${SHIPPED.rewardCardVersion}`);
  assert.ok(card.training.heldOut.length > 0);
  for (const c of card.training.heldOut) assert.ok(!card.training.connectors.includes(c), `${c} is both trained on and held out`);
  assert.match(card.training.database?.sha256 ?? '', /^[0-9a-f]{64}$/);
  assert.ok((card.metrics.heldOutAccuracy ?? NaN) > 0.5, `held-out accuracy ${card.metrics.heldOutAccuracy}`);
  // The card names every input (the image, and the wrench cue's proprio when it takes one), and the model runs on what
  // the input pipeline builds from an observation by that card.
  const spec = inputSpecOf(card, path);
  assert.ok(spec.image, 'the reward classifier takes the wrist image');
  // A proprio input, if any, is one of the cues train:reward knows.
  if (spec.proprio)
    assert.ok(
      Object.values(REWARD_CUES).some((c) => c !== null && c.layout.join(',') === spec.proprio?.layout.join(',')),
      `proprio ${spec.proprio.layout.join(',')}`,
    );
  const m = await RewardModel.load(path);
  const obs: Observation = {
    image: { width: spec.image.width, height: spec.image.height, data: new Uint8Array(spec.image.width * spec.image.height * 3).fill(128) },
    wrench: [0, 0, 9, 0, 0, 0],
    eePos: [0, 0, 0],
    eeQuat: [1, 0, 0, 0],
    goal: [0, 0, 0],
    imageStamp: 0,
    wrenchStamp: 0,
  };
  const x = new ModelInputs(spec, path).build(obs);
  const p = await m.probability(x.image as Float32Array, x.proprio);
  assert.ok(p >= 0 && p <= 1);
  await m.dispose();
});

test('shipped offline policy and encoders: load, valid cards, bounded residual, same training data', async () => {
  const policyPath = join(MODELS, 'policy.onnx');
  const card = readCard(cardPathFor(policyPath));
  assert.equal(card.kind, 'policy');
  // The shipped policy may be from an earlier run than the pipeline's current one (models/README.md), never a later one.
  assert.ok(card.version <= SHIPPED.offlineCardVersion, `policy card v${card.version} > pipeline v${SHIPPED.offlineCardVersion}`);
  assert.ok(card.training.updates > 0);
  const policy = await PolicyModel.load(policyPath);
  const size = card.preprocessing.image?.width ?? 0;
  const u = await policy.run(new Float32Array(size * size * 3).fill(0.5), new Float32Array(9));
  u.forEach((v, i) => assert.ok(Math.abs(v) <= (card.action?.high[i] ?? 0) + 1e-6));
  await policy.dispose();
  for (const w of ['pi', 'q', 'v']) {
    const path = join(MODELS, `encoder-${w}.onnx`);
    const ec = readCard(cardPathFor(path));
    assert.equal(ec.kind, 'encoder');
    assert.equal(ec.version, card.version, `encoder-${w} and the policy come from the same run`);
    assert.equal(ec.training.database?.sha256, card.training.database?.sha256, `encoder-${w} and the policy come from the same data`);
    const e = await EncoderModel.load(path);
    assert.ok(e.featureDim > 0);
    await e.dispose();
  }
  // The README lists every shipped model file.
  const readme = readFileSync(join(MODELS, 'README.md'), 'utf8');
  for (const f of ['reward.onnx', 'policy.onnx', 'encoder-pi.onnx', 'encoder-q.onnx', 'encoder-v.onnx']) {
    assert.ok(existsSync(join(MODELS, f)), f);
    assert.ok(readme.includes(`\`${f}\``), `models/README.md does not list ${f}`);
  }
});
