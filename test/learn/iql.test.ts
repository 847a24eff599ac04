import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/learn/backend.ts';
import { DEFAULT_IQL, IqlAgent, type IqlConfig, expectileLoss, gaussianLogProb } from '../../src/learn/iql.ts';
import { defaultDaibConfig } from '../../src/learn/daib.ts';
import { Rng } from '../../src/util/rng.ts';

await initBackend();

test('expectile loss and its gradient match hand-computed values', () => {
  // d = [2, -1, 0.5, -3], tau = 0.8: terms 0.8*4, 0.2*1, 0.8*0.25, 0.2*9 -> mean 1.35
  const d = tf.tensor1d([2, -1, 0.5, -3]);
  assert.ok(Math.abs(expectileLoss(d, 0.8).dataSync()[0]! - 1.35) < 1e-6);
  // d/dd = 2*w*d/4 with w = tau for d > 0, 1 - tau for d < 0
  const g = tf
    .grad((x: tf.Tensor) => expectileLoss(x, 0.8))(d)
    .dataSync();
  [0.8, -0.1, 0.2, -0.3].forEach((v, i) => assert.ok(Math.abs((g[i] ?? 0) - v) < 1e-6, `grad ${i}: ${g[i]} vs ${v}`));
  // tau = 0.5 is half the mean squared error.
  assert.ok(Math.abs(expectileLoss(d, 0.5).dataSync()[0]! - (0.5 * (4 + 1 + 0.25 + 9)) / 4) < 1e-6);
});

test('Gaussian log-density matches the formula', () => {
  const lp = gaussianLogProb(tf.tensor2d([[0.5, -0.2]]), tf.tensor2d([[0, 0]]), tf.tensor1d([0, Math.log(0.5)])).dataSync()[0]!;
  const ref = -0.5 * 0.25 - 0.5 * Math.log(2 * Math.PI) + (-0.5 * 0.16 - Math.log(0.5) - 0.5 * Math.log(2 * Math.PI));
  assert.ok(Math.abs(lp - ref) < 1e-5);
});

function tinyImageConfig(seed: number): IqlConfig {
  return {
    ...DEFAULT_IQL,
    mode: 'image',
    proprioDim: 9,
    proprioScale: [100, 100, 100, 0.1, 0.1, 0.1, 1, 1, 1],
    hidden: [32, 32],
    shiftPad: 2,
    seed,
    daib: defaultDaibConfig({
      numDomains: 3,
      method: 'daib',
      domainHidden: [16],
      encoder: { inputShape: [32, 32, 3], filters: [4, 4], kernelSize: 3, strides: [2, 2], padding: 'same', zIDim: 8, zSDim: 4 },
    }),
  };
}

function randomImageBatch(rng: Rng, n: number): Parameters<IqlAgent['update']>[0] {
  const img = (): Uint8Array => Uint8Array.from({ length: n * 32 * 32 * 3 }, () => rng.int(256));
  const f = (k: number, s = 1): Float32Array => Float32Array.from({ length: n * k }, () => rng.normal(0, s));
  return {
    size: n,
    images: img(),
    nextImages: img(),
    proprio: f(9, 0.01),
    nextProprio: f(9, 0.01),
    action: f(3, 0.003),
    reward: Float32Array.from({ length: n }, () => (rng.bernoulli(0.3) ? 1 : 0)),
    done: new Float32Array(n),
    success: Uint8Array.from({ length: n }, () => (rng.bernoulli(0.3) ? 1 : 0)),
    domain: Int32Array.from({ length: n }, () => rng.int(3)),
  };
}

test('image mode: updates run, the policy inference model uses contract layers and matches the agent', () => {
  const agent = new IqlAgent(tinyImageConfig(4));
  const rng = new Rng(2);
  for (let i = 0; i < 3; i++) {
    const s = agent.update(randomImageBatch(rng, 16));
    assert.ok(Number.isFinite(s.domainCe) && Number.isFinite(s.kl), 'DAIB terms are reported');
  }
  const model = agent.policyInferenceModel();
  const allowed = new Set(['InputLayer', 'Conv2D', 'Dense', 'LayerNormalization', 'Flatten', 'Concatenate', 'Activation', 'Scale']);
  for (const l of model.layers) assert.ok(allowed.has(l.getClassName()), `layer ${l.name} is a ${l.getClassName()}`);
  assert.deepEqual(
    model.inputs.map((i) => i.name.split('/')[0]),
    ['image', 'proprio'],
  );
  const b = randomImageBatch(rng, 5);
  const feats = agent.computeFeatures(b.images as Uint8Array, 5);
  const eager = agent.actFeatures(feats.pi, b.proprio);
  const x = tf.tensor4d(
    Float32Array.from(b.images as Uint8Array, (v) => v / 255),
    [5, 32, 32, 3],
  );
  const out = (model.predict([x, tf.tensor2d(b.proprio as Float32Array, [5, 9])]) as tf.Tensor).dataSync();
  eager.forEach((v, i) => assert.ok(Math.abs(v - (out[i] ?? NaN)) < 1e-6, `residual ${i}: ${v} vs ${out[i]}`));
  for (const v of out) assert.ok(Math.abs(v) <= 0.005 + 1e-9, 'residual bounded by actionScale');
  // Encoder features model matches computeFeatures.
  const enc = agent.encoderInferenceModel('q');
  const fq = (enc.predict(x) as tf.Tensor).dataSync();
  feats.q.forEach((v, i) => assert.ok(Math.abs(v - (fq[i] ?? NaN)) < 1e-5));
  // Frozen encoders: the same heads keep training on cached features; the encoders stay put.
  agent.freezeEncoders();
  const encBefore = agent.reps?.pi.encoder.layers[0]?.getWeights()[0]?.dataSync().slice();
  const fb = randomImageBatch(rng, 8);
  const ff = agent.computeFeatures(fb.images as Uint8Array, 8);
  const fn = agent.computeFeatures(fb.nextImages as Uint8Array, 8);
  agent.update({ ...fb, images: undefined, nextImages: undefined, features: ff, nextFeatures: fn });
  assert.deepEqual(agent.reps?.pi.encoder.layers[0]?.getWeights()[0]?.dataSync(), encBefore);
});

test('checkpoints restore weights, optimiser state and step; bad files are refused by name', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iql-ckpt-'));
  try {
    const rngA = new Rng(5);
    const a = new IqlAgent(tinyImageConfig(6));
    for (let i = 0; i < 2; i++) a.update(randomImageBatch(rngA, 8));
    await a.saveCheckpoint(dir);
    // Continue a for one step; a fresh agent restored from the checkpoint must take exactly the same step.
    const batch = randomImageBatch(new Rng(9), 8);
    const b = new IqlAgent(tinyImageConfig(6)); // a has moved on from this init: its weights must come from the file
    await b.loadCheckpoint(dir);
    assert.equal(b.step, 2);
    const pa = a.actFeatures(a.computeFeatures(batch.images as Uint8Array, 8).pi, batch.proprio);
    const pb = b.actFeatures(b.computeFeatures(batch.images as Uint8Array, 8).pi, batch.proprio);
    assert.deepEqual(Array.from(pb), Array.from(pa));
    // The same update on both: noise and augmentation are functions of (seed, step), so they match too.
    const sa = a.update(batch);
    const sb = b.update(batch);
    assert.ok(Math.abs(sa.qLoss - sb.qLoss) < 1e-5 && Math.abs(sa.piLoss - sb.piLoss) < 1e-5, `${JSON.stringify(sa)} vs ${JSON.stringify(sb)}`);
    const wa = a.pi.layers[0]?.getWeights()[0]?.dataSync() ?? new Float32Array();
    const wb = b.pi.layers[0]?.getWeights()[0]?.dataSync() ?? new Float32Array();
    let maxd = 0;
    wa.forEach((v, i) => (maxd = Math.max(maxd, Math.abs(v - (wb[i] ?? 0)))));
    assert.ok(maxd < 1e-6, `weights after a resumed Adam step differ by ${maxd}`);
    // Only complete checkpoints are visible; old ones are pruned.
    await a.saveCheckpoint(dir);
    await a.saveCheckpoint(dir);
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.includes('tmp')),
      [],
    );
    assert.equal(fs.readdirSync(dir).filter((f) => f.startsWith('ckpt-')).length, 2);
    // Saving the same step twice keeps one complete checkpoint; a latest.json pointing nowhere falls back to it.
    await a.saveCheckpoint(dir);
    const latestNow = JSON.parse(fs.readFileSync(path.join(dir, 'latest.json'), 'utf8')) as { checkpoint: string };
    fs.writeFileSync(path.join(dir, 'latest.json'), JSON.stringify({ checkpoint: 'ckpt-999999999' }));
    const c = new IqlAgent(tinyImageConfig(6));
    await c.loadCheckpoint(dir);
    assert.equal(c.step, a.step);
    fs.writeFileSync(path.join(dir, 'latest.json'), JSON.stringify(latestNow));
    c.dispose();
    // A mismatched network is refused, naming the tensor.
    const other = new IqlAgent({ ...tinyImageConfig(6), hidden: [16, 16] });
    await assert.rejects(other.loadCheckpoint(dir), /tensor 'pi_head_d0\/0' has shape/);
    // A truncated weights file is refused, naming the file.
    const latest = JSON.parse(fs.readFileSync(path.join(dir, 'latest.json'), 'utf8')) as { checkpoint: string };
    const bin = path.join(dir, latest.checkpoint, 'weights.bin');
    fs.truncateSync(bin, 100);
    await assert.rejects(b.loadCheckpoint(dir), new RegExp(`${bin.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} has 100 bytes`));
    fs.writeFileSync(path.join(dir, 'latest.json'), '{"checkpoint": 3}');
    await assert.rejects(b.loadCheckpoint(dir), /latest\.json: field 'checkpoint'/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('updates leak no tensors (image mode, then frozen features)', () => {
  const agent = new IqlAgent(tinyImageConfig(8));
  const rng = new Rng(3);
  agent.update(randomImageBatch(rng, 8)); // first step creates optimiser state
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) agent.update(randomImageBatch(rng, 8));
  assert.equal(tf.memory().numTensors, before);
  agent.freezeEncoders();
  const fb = (): Parameters<IqlAgent['update']>[0] => {
    const b = randomImageBatch(rng, 8);
    return {
      ...b,
      images: undefined,
      nextImages: undefined,
      features: agent.computeFeatures(b.images as Uint8Array, 8),
      nextFeatures: agent.computeFeatures(b.nextImages as Uint8Array, 8),
    };
  };
  agent.update(fb());
  const mid = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) agent.update(fb());
  assert.equal(tf.memory().numTensors, mid);
});

test('bad IQL config is refused naming the field', () => {
  assert.throws(() => new IqlAgent({ ...tinyImageConfig(1), expectile: 1.5 }), /'expectile'/);
  assert.throws(() => new IqlAgent({ ...tinyImageConfig(1), actionScale: [0.005] }), /'actionScale'/);
  assert.throws(() => new IqlAgent({ ...tinyImageConfig(1), daib: undefined }), /'daib'/);
  const a = new IqlAgent({ ...DEFAULT_IQL, mode: 'features', proprioDim: 0, proprioScale: [], featureDims: { pi: 4, q: 4, v: 4 } });
  assert.throws(() => a.update({ size: 2, action: new Float32Array(6), reward: new Float32Array(2), done: new Float32Array(2) }), /'features' is required/);
  assert.throws(() => a.update({ size: 2, action: new Float32Array(5), reward: new Float32Array(2), done: new Float32Array(2) }), /'action' has 5 values/);
});
