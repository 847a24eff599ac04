import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveOnnxModel } from '../../src/learn/export.ts';
import { scale } from '../../src/learn/layers.ts';
import { cardPathFor, sha256Hex, type ModelKind } from '../../src/policy/card.ts';
import { EncoderModel, loadModel, ModelFileBuffer, ModelLoadError, ModelRunError, PolicyModel, RewardModel } from '../../src/policy/onnx-model.ts';
import { buildPolicyLike, cardDraft, randomizeWeights } from './fixtures.ts';

await tf.setBackend('cpu');
const dir = mkdtempSync(join(tmpdir(), 'onnx-model-test-'));
if (!process.env.KEEP_TEST_DIR) process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
else console.log('test dir', dir);

const SIZE = 16;
const PROPRIO = 9;
const head = { policy: 'action', reward: 'probability', encoder: 'features' } as const;

function save(name: string, kind: ModelKind, model?: tf.LayersModel): { path: string; model: tf.LayersModel } {
  const m = model ?? buildPolicyLike({ size: SIZE, proprioDim: PROPRIO, hidden: 16, head: head[kind], bound: 0.002, seed: name.length });
  const path = join(dir, `${name}.onnx`);
  saveOnnxModel(m, path, {
    inputRoles: ['image', 'proprio'],
    outputRoles: [head[kind]],
    card: cardDraft(kind, { size: SIZE, proprioDim: PROPRIO, bound: 0.002 }),
  });
  return { path, model: m };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the test deliberately writes cards that break the ModelCard type
function editCard(path: string, edit: (card: Record<string, any>) => void): void {
  const cardPath = cardPathFor(path);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
  const card = JSON.parse(readFileSync(cardPath, 'utf8')) as Record<string, any>;
  edit(card);
  writeFileSync(cardPath, JSON.stringify(card));
}

function randomObs(n: number, seed: number): { image: Float32Array; proprio: Float32Array; t: tf.Tensor[] } {
  const image = tf.randomUniform([n, SIZE, SIZE, 3], 0, 1, 'float32', seed);
  const proprio = tf.randomNormal([n, PROPRIO], 0, 1, 'float32', seed + 1);
  return { image: image.dataSync() as Float32Array, proprio: proprio.dataSync() as Float32Array, t: [image, proprio] };
}

async function refused(p: Promise<unknown>, file: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ModelLoadError, `expected ModelLoadError, got ${String(e)}`);
    assert.ok(e.message.includes(file), `message does not name the file: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('a policy loads, matches tfjs, stays in its bounds, checks input sizes and can be disposed', async () => {
  const { path, model } = save('policy', 'policy');
  const policy = await PolicyModel.load(path);
  assert.equal(policy.card.kind, 'policy');
  assert.deepEqual(policy.bounds, { low: [-0.002, -0.002, -0.002], high: [0.002, 0.002, 0.002] });
  const obs = randomObs(1, 5);
  const u = await policy.run(obs.image, obs.proprio);
  const ref = (model.predict(obs.t) as tf.Tensor).dataSync();
  assert.equal(u.length, 3);
  u.forEach((v, i) => assert.ok(Math.abs(v - (ref[i] as number)) < 1e-7 + 1e-4 * 0.002, `axis ${i}: ${v} vs ${ref[i]}`));
  assert.ok(
    u.some((v) => Math.abs(v) > 1e-5),
    'residual is trivially zero',
  );
  await assert.rejects(
    policy.run(obs.image.subarray(1), obs.proprio),
    (e: unknown) => e instanceof ModelRunError && /input 'image' needs 768 values/.test(e.message),
  );
  // Disposing while runs are in flight lets them finish (a hot-swap may dispose the old policy mid-tick).
  const inflight = [policy.run(obs.image, obs.proprio), policy.run(obs.image, obs.proprio)];
  const disposed = policy.dispose();
  await assert.rejects(policy.run(obs.image, obs.proprio), /disposed/);
  for (const r of await Promise.all(inflight)) assert.deepEqual(r, u);
  await disposed;
  await policy.dispose();
});

test('a reward model gives probabilities for a batch that match tfjs; an encoder gives its features', async () => {
  const r = save('reward', 'reward');
  const reward = await RewardModel.load(r.path);
  const obs = randomObs(4, 9);
  const p = await reward.probabilities(4, obs.image, obs.proprio);
  const ref = (r.model.predict(obs.t) as tf.Tensor).dataSync();
  assert.equal(p.length, 4);
  p.forEach((v, i) => assert.ok(Math.abs(v - (ref[i] as number)) < 1e-4));
  const one = await reward.probability(obs.image.subarray(0, SIZE * SIZE * 3), obs.proprio.subarray(0, PROPRIO));
  assert.ok(Math.abs(one - (p[0] as number)) < 1e-6);
  await reward.dispose();

  const e = save('encoder', 'encoder');
  const enc = await loadModel(e.path);
  assert.ok(enc instanceof EncoderModel);
  const again = await loadModel(r.path);
  assert.ok(again instanceof RewardModel);
  await again.dispose();
  assert.equal(enc.featureDim, 16);
  const f = await enc.featuresBatch(4, obs.image, obs.proprio);
  const fref = (e.model.predict(obs.t) as tf.Tensor).dataSync();
  assert.equal(f.length, 64);
  f.forEach((v, i) => assert.ok(Math.abs(v - (fref[i] as number)) < 1e-4));
  await enc.dispose();
});

test('refuses a missing file, a corrupt file and a truncated file', async () => {
  const missing = join(dir, 'nope.onnx');
  await refused(PolicyModel.load(missing), missing, /does not exist/);
  await refused(PolicyModel.load(dir), dir, /cannot be read/); // a directory: unreadable as a file
  const empty = join(dir, 'empty.onnx');
  writeFileSync(empty, '');
  await refused(PolicyModel.load(empty), empty, /empty/);

  const { path } = save('corrupt', 'policy');
  const good = readFileSync(path);
  // Garbage with a card that matches it: the protobuf parse must catch it, not the hash.
  const garbage = Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 7919 + 13) % 256));
  writeFileSync(path, garbage);
  editCard(path, (c) => {
    c.onnx.sha256 = sha256Hex(garbage);
    c.onnx.bytes = garbage.length;
  });
  await refused(PolicyModel.load(path), path, /not a valid ONNX protobuf|not an ONNX model/);

  // Truncated mid-file, card updated to match: still refused.
  const cut = good.subarray(0, Math.floor(good.length * 0.6));
  writeFileSync(path, cut);
  editCard(path, (c) => {
    c.onnx.sha256 = sha256Hex(cut);
    c.onnx.bytes = cut.length;
  });
  await refused(PolicyModel.load(path), path, /corrupt or truncated|cannot load/);

  // Truncated with the original card: the hash catches it.
  const { path: p2 } = save('truncated', 'policy');
  writeFileSync(p2, readFileSync(p2).subarray(0, 1000));
  await refused(PolicyModel.load(p2), p2, /corrupt or truncated|sha256/);
});

test('loads through a shared ModelFileBuffer: one buffer reused, the same models, the same refusals, overlapping loads apart', async () => {
  const files = new ModelFileBuffer();
  const big = save('buffer-big', 'policy', buildPolicyLike({ size: SIZE, proprioDim: PROPRIO, hidden: 64, head: 'action', bound: 0.002, seed: 5 }));
  const small = save('buffer-small', 'reward');
  const bigBytes = files.read(big.path);
  assert.deepEqual(bigBytes, readFileSync(big.path));
  files.release(bigBytes);
  const smallBytes = files.read(small.path);
  assert.equal(smallBytes.buffer, bigBytes.buffer, "the second read reuses the first one's memory");
  assert.deepEqual(smallBytes, readFileSync(small.path), "only the smaller file's bytes, none of the larger one's tail");
  assert.notEqual(files.read(big.path).buffer, smallBytes.buffer, 'a read while the buffer is in use gets its own memory');
  files.release(smallBytes);

  const obs = randomObs(1, 4);
  const ref = { policy: (big.model.predict(obs.t) as tf.Tensor).dataSync(), reward: (small.model.predict(obs.t) as tf.Tensor).dataSync() };
  // Overlapping loads (onnxruntime reads the bytes after an await): each must get its own file's session.
  const [policy, reward] = await Promise.all([PolicyModel.load(big.path, { fileBuffer: files }), RewardModel.load(small.path, { fileBuffer: files })]);
  const a = await policy.run(obs.image, obs.proprio);
  a.forEach((v, i) => assert.ok(Math.abs(v - (ref.policy[i] as number)) < 1e-7 + 1e-4 * 0.002, `policy output ${i}: ${v} vs ${ref.policy[i]}`));
  assert.ok(Math.abs((await reward.probability(obs.image, obs.proprio)) - (ref.reward[0] as number)) < 1e-4);
  await Promise.all([policy.dispose(), reward.dispose()]);

  // A refused load leaves the buffer free; a smaller file after it loads.
  const missing = join(dir, 'buffer-nope.onnx');
  await refused(PolicyModel.load(missing, { fileBuffer: files }), missing, /does not exist/);
  const { path: cut } = save('buffer-cut', 'policy');
  writeFileSync(cut, readFileSync(cut).subarray(0, 1000));
  await refused(PolicyModel.load(cut, { fileBuffer: files }), cut, /corrupt or truncated|sha256/);
  const again = await RewardModel.load(small.path, { fileBuffer: files });
  const bytes = files.read(small.path);
  assert.equal(bytes.buffer, bigBytes.buffer, 'the buffer was released after each load');
  files.release(bytes);
  await again.dispose();
  obs.t.forEach((t) => t.dispose());
});

test('refuses a missing, unparsable or invalid card, naming the card file and field', async () => {
  const { path } = save('cards', 'policy');
  const card = readFileSync(cardPathFor(path), 'utf8');
  unlinkSync(cardPathFor(path));
  await refused(PolicyModel.load(path), cardPathFor(path), /card .* does not exist/);
  writeFileSync(cardPathFor(path), card.slice(0, 50));
  await refused(PolicyModel.load(path), cardPathFor(path), /not valid JSON/);
  writeFileSync(cardPathFor(path), card);
  editCard(path, (c) => {
    c.training.episodes = -1;
  });
  await refused(PolicyModel.load(path), cardPathFor(path), /field 'training\.episodes' must be >= 0/);
  writeFileSync(cardPathFor(path), card);
  const ok = await PolicyModel.load(path);
  await ok.dispose();
});

test('refuses a model whose bytes do not match the card sha256, or whose kind is not the one asked for', async () => {
  const { path } = save('sha', 'policy');
  const card = readFileSync(cardPathFor(path), 'utf8');
  // Same architecture, different weights, old card: a swapped file.
  save('sha', 'policy', buildPolicyLike({ size: SIZE, proprioDim: PROPRIO, hidden: 16, head: 'action', bound: 0.002, seed: 99 }));
  writeFileSync(cardPathFor(path), card);
  await refused(PolicyModel.load(path), path, /sha256 [0-9a-f]{64} of the file does not match [0-9a-f]{64}/);

  const r = save('kind', 'reward');
  await refused(PolicyModel.load(r.path), r.path, /kind 'reward', but a policy model was asked for/);
});

test('refuses a model whose card lies about input shapes or output names', async () => {
  const { path } = save('lies', 'policy');
  editCard(path, (c) => {
    c.inputs[1].shape = [null, 8];
    c.preprocessing.proprio.layout = c.preprocessing.proprio.layout.slice(0, 8);
    c.preprocessing.proprio.mean = c.preprocessing.proprio.mean.slice(0, 8);
    c.preprocessing.proprio.std = c.preprocessing.proprio.std.slice(0, 8);
  });
  await refused(PolicyModel.load(path), path, /input 'proprio' has shape \[null,9\] in the model, card says \[null,8\]/);

  const b = save('lies2', 'policy');
  editCard(b.path, (c) => {
    c.outputs[0].name = 'residual';
  });
  await refused(PolicyModel.load(b.path), b.path, /output names in the model \[.+\] differ from the card's \[residual\]/);
});

test('refuses a model producing NaN, a policy beyond its bounds and a "probability" outside [0, 1]', async () => {
  // Two scalings by 1e30 overflow float32 to +-inf; a dense layer then computes inf - inf = NaN.
  const image = tf.input({ shape: [SIZE, SIZE, 3], name: 'image' });
  const proprio = tf.input({ shape: [PROPRIO], name: 'proprio' });
  const big = scale([1e30]).apply(scale([1e30]).apply(proprio)) as tf.SymbolicTensor;
  const flat = tf.layers.flatten().apply(image) as tf.SymbolicTensor;
  const h = tf.layers.concatenate().apply([flat, big]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, activation: 'tanh' }).apply(h) as tf.SymbolicTensor;
  const nanModel = tf.model({ inputs: [image, proprio], outputs: out });
  randomizeWeights(nanModel, 5); // seeded: mixed-sign weights, so +inf and -inf meet
  const nan = save('nan', 'policy', nanModel);
  await refused(PolicyModel.load(nan.path), nan.path, /probe run .*non-finite/);

  const { path } = save('bounds', 'policy', buildPolicyLike({ size: SIZE, proprioDim: PROPRIO, hidden: 16, head: 'action', bound: 0.5, seed: 3 }));
  await refused(PolicyModel.load(path), path, /outside the card's action bounds \[-0\.002, 0\.002\]/);

  // Minus a sigmoid: always in (-1, 0), never a probability.
  const sig = buildPolicyLike({ size: SIZE, proprioDim: PROPRIO, hidden: 16, head: 'probability', seed: 4 });
  const neg = tf.model({ inputs: sig.inputs, outputs: scale([-1]).apply(sig.outputs[0] as tf.SymbolicTensor) as tf.SymbolicTensor });
  const notProb = save('notprob', 'reward', neg);
  await refused(RewardModel.load(notProb.path), notProb.path, /not a probability in \[0, 1\]/);
});
