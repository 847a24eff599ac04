import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/learn/backend.ts';
import {
  DaibClassifier,
  DAIB_METHODS,
  batchStandardize,
  bceWithLogits,
  compareMethods,
  defaultDaibConfig,
  domainMoments,
  evaluateBalanced,
  formatAccuracyTable,
  gaussianKl,
  gradientReversal,
  jitterColours,
  oneHot,
} from '../../src/learn/daib.ts';
import { makePegDataset } from '../../src/learn/synthetic.ts';
import { Rng } from '../../src/util/rng.ts';

await initBackend();

test('gradient reversal: identity forward, -lambda x the normal gradient backward', () => {
  const x = tf.tensor1d([0.5, -1.5, 2]);
  const c = tf.tensor1d([1, 2, 3]);
  const f = (t: tf.Tensor): tf.Scalar => tf.sum<tf.Scalar>(tf.mul(c, tf.square(t)));
  for (const lambda of [1, 0.25]) {
    assert.deepEqual(Array.from(gradientReversal(x, lambda).dataSync()), Array.from(x.dataSync()));
    const normal = tf.grad(f)(x).dataSync();
    const reversed = tf
      .grad((t: tf.Tensor) => f(gradientReversal(t, lambda)))(x)
      .dataSync();
    normal.forEach((g, i) => assert.ok(Math.abs((reversed[i] ?? 0) - -lambda * g) < 1e-6, `lambda ${lambda} index ${i}`));
    assert.ok(
      normal.some((g) => Math.abs(g) > 0.1),
      'the reference gradient is not trivially zero',
    );
  }
});

test('KL(N(mu, sigma^2) || N(0, I)) matches the closed form, and its gradient', () => {
  // One sample, two dimensions: 0.5*(1 + 1 - 1 - 0) + 0.5*(0 + 2 - 1 - ln 2)
  const mu = tf.tensor2d([[1, 0]]);
  const lv = tf.tensor2d([[0, Math.log(2)]]);
  const expected = 0.5 + 0.5 * (1 - Math.log(2));
  assert.ok(Math.abs(gaussianKl(mu, lv).dataSync()[0]! - expected) < 1e-6);
  const [gMu, gLv] = tf.grads((m: tf.Tensor, l: tf.Tensor) => gaussianKl(m, l))([mu, lv]);
  assert.deepEqual(
    Array.from(gMu!.dataSync()).map((v) => +v.toFixed(6)),
    [1, 0],
  ); // d/dmu = mu
  assert.deepEqual(
    Array.from(gLv!.dataSync()).map((v) => +v.toFixed(6)),
    [0, 0.5],
  ); // d/dlogvar = (exp(lv) - 1) / 2
  // Batch mean: two identical rows give the same value.
  assert.ok(Math.abs(gaussianKl(tf.concat([mu, mu]), tf.concat([lv, lv])).dataSync()[0]! - expected) < 1e-6);
});

test('binary cross-entropy from logits matches -y log p - (1-y) log(1-p), also for large logits', () => {
  const logits = [2, -1, 30, -30];
  const labels = [1, 0, 0, 0];
  const ref =
    logits
      .map((z, i) => {
        const p = 1 / (1 + Math.exp(-z));
        return labels[i] ? -Math.log(p) : z > 20 ? z : -Math.log(1 - p);
      })
      .reduce((s, v) => s + v, 0) / 4;
  const got = bceWithLogits(tf.tensor1d(logits), tf.tensor1d(labels)).dataSync()[0]!;
  assert.ok(Math.abs(got - ref) < 1e-4, `${got} vs ${ref}`);
});

test('rebalanced accuracy weights positives and negatives 50/50 per domain', () => {
  // Domain 0: 3 positives all right, 1 negative wrong -> 0.5*(1 + 0) = 0.5; domain 1: 1 pos right, 1 neg right -> 1.
  const e = evaluateBalanced([0.9, 0.8, 0.7, 0.6, 0.9, 0.1], [1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 1, 1]);
  assert.equal(e.perDomain[0]?.accuracy, 0.5);
  assert.equal(e.perDomain[1]?.accuracy, 1);
  assert.equal(e.accuracy, 0.75);
  assert.equal(e.samples, 6);
  assert.match(formatAccuracyTable([{ method: 'daib', evaluation: e, seed: 1 }]), /daib\s+75\.0%\s+2\s+6\s+1/);
});

test('compareMethods trains each method on the split and evaluates on the held-out domains', () => {
  const train = makePegDataset({ domains: [0, 1, 2], perDomain: 6, size: 32, seed: 4 });
  const held = makePegDataset({ domains: [50, 51], perDomain: 6, size: 32, seed: 4 });
  const base = defaultDaibConfig({
    numDomains: 3,
    batchSize: 8,
    seed: 9,
    headHidden: [8],
    encoder: { inputShape: [32, 32, 3], filters: [4], kernelSize: 3, strides: [4], padding: 'valid', zIDim: 4, zSDim: 2 },
  });
  const seen: string[] = [];
  const rows = compareMethods(train, held, base, 2, ['erm', 'daib'], (r) => seen.push(r.method));
  assert.deepEqual(
    rows.map((r) => r.method),
    ['erm', 'daib'],
  );
  assert.deepEqual(seen, ['erm', 'daib']);
  for (const r of rows) {
    assert.equal(r.evaluation.domains, 2);
    assert.equal(r.evaluation.samples, 12);
    assert.equal(r.seed, 9);
  }
});

test('bad config is refused naming the field', () => {
  assert.throws(() => new DaibClassifier(defaultDaibConfig({ numDomains: 0 })), /numDomains/);
  assert.throws(() => new DaibClassifier(defaultDaibConfig({ numDomains: 3, method: 'bogus' as never })), /unknown DAIB method 'bogus'/);
  assert.throws(() => new DaibClassifier(defaultDaibConfig({ numDomains: 3, colorJitter: 1 })), /colorJitter/);
  assert.throws(() => new DaibClassifier(defaultDaibConfig({ numDomains: 3, adversary: 'grl' as never })), /field 'adversary' is "grl"/);
});

test("the moment adversary's term is 0 when the domains share mean and variance, and grows with their difference", () => {
  const dom = oneHot([0, 0, 1, 1], 2);
  const term = (rows: number[][]): number => tf.tidy(() => domainMoments(batchStandardize(tf.tensor2d(rows)), dom).dataSync()[0]!);
  // Both domains: values -1 and 1 in column 0, 2 and -2 in column 1 -> same mean and variance per domain.
  assert.ok(
    term([
      [-1, 2],
      [1, -2],
      [1, 2],
      [-1, -2],
    ]) < 1e-6,
  );
  // Domain 1 shifted in column 0: its mean differs.
  const shifted = term([
    [-1, 2],
    [1, -2],
    [3, 2],
    [5, -2],
  ]);
  assert.ok(shifted > 0.3, `shifted: ${shifted}`);
  // Same means, domain 1 four times as spread: only the second moment tells them apart.
  const spread = term([
    [-1, 2],
    [1, -2],
    [4, 2],
    [-4, -2],
  ]);
  assert.ok(spread > 0.05, `spread: ${spread}`);
  // Scale does not hide it: the same shift made 10 times smaller gives the same term.
  assert.ok(
    Math.abs(
      term([
        [-0.1, 2],
        [0.1, -2],
        [0.3, 2],
        [0.5, -2],
      ]) - shifted,
    ) < 1e-2,
  );
  dom.dispose();
});

test("colour augmentation permutes each image's channels and scales each within the gain range", () => {
  const shape = [2, 2, 3] as const;
  const img = Float32Array.from({ length: 4 * 12 }, (_, i) => [0.1, 0.4, 0.7][i % 3]!);
  // No gain: every pixel keeps its three values, in one of the 6 orders, the same order across an image.
  const a = img.slice();
  const rng = new Rng(5);
  const rand = (): number => rng.next();
  jitterColours(a, 4, shape, 0, rand);
  const orders = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const px = [...a.subarray(i * 12, i * 12 + 3)].map((v) => v.toFixed(2));
    assert.deepEqual([...px].sort(), ['0.10', '0.40', '0.70']);
    for (let p = 1; p < 4; p++)
      assert.deepEqual(
        [...a.subarray(i * 12 + 3 * p, i * 12 + 3 * p + 3)].map((v) => v.toFixed(2)),
        px,
      );
    orders.add(px.join());
  }
  assert.ok(orders.size > 1, 'four images, all in the same channel order');
  // With gain 0.2: each value is one of the originals times a factor in [0.8, 1.2], clipped to 1.
  const b = img.slice();
  jitterColours(b, 4, shape, 0.2, rand);
  for (const v of b)
    assert.ok(
      [0.1, 0.4, 0.7].some((o) => v >= o * 0.8 - 1e-6 && v <= Math.min(1, o * 1.2) + 1e-6),
      `${v}`,
    );
  assert.ok(b.some((v, i) => Math.abs(v - img[i]!) > 1e-3));
  assert.throws(() => jitterColours(b, 1, [2, 2, 1], 0.2, rand), /RGB/);
});

test('every ablation builds and its inference model matches predict()', () => {
  const ds = makePegDataset({ domains: [0, 1], perDomain: 4, size: 32, seed: 2 });
  for (const method of DAIB_METHODS) {
    const c = new DaibClassifier(
      defaultDaibConfig({
        numDomains: 2,
        method,
        batchSize: 8,
        seed: 3,
        headHidden: [16],
        encoder: { inputShape: [32, 32, 3], filters: [4, 4], kernelSize: 3, strides: [2, 2], padding: 'same', zIDim: 6, zSDim: 4 },
      }),
    );
    c.fit(ds, 2);
    const model = c.inferenceModel();
    const allowed = new Set(['InputLayer', 'Conv2D', 'Dense', 'LayerNormalization', 'Flatten', 'Concatenate', 'Activation', 'Scale']);
    for (const l of model.layers) assert.ok(allowed.has(l.getClassName()), `${method}: layer ${l.name} is a ${l.getClassName()}`);
    const p = c.predict(ds.images, ds.count);
    const x = tf.tensor4d(
      Float32Array.from(ds.images, (v) => v / 255),
      [ds.count, 32, 32, 3],
    );
    const q = (model.predict(x) as tf.Tensor).dataSync();
    p.forEach((v, i) => assert.ok(Math.abs(v - (q[i] ?? NaN)) < 1e-5, `${method} sample ${i}: ${v} vs ${q[i]}`));
  }
});

test('DAIB classifier beats chance on held-out connectors (synthetic peg-in-hole, small run)', () => {
  const S = 32;
  const train = makePegDataset({ domains: [...Array(40).keys()], perDomain: 24, size: S, seed: 7 });
  const held = makePegDataset({ domains: [100, 101, 102, 103], perDomain: 60, size: S, seed: 7 });
  const c = new DaibClassifier(
    defaultDaibConfig({
      numDomains: 40,
      method: 'daib',
      batchSize: 64,
      lr: 1e-3,
      advWeight: 0.3,
      beta: 1e-3,
      grlWarmupSteps: 300,
      seed: 1,
      headHidden: [64],
      encoder: { inputShape: [S, S, 3], filters: [16, 16, 16], kernelSize: 3, strides: [2, 2, 2], padding: 'same', zIDim: 32, zSDim: 16 },
    }),
  );
  const before = c.evaluate(held).accuracy;
  const logs: number[] = [];
  c.fit(train, 200, (s) => logs.push(s.bce), 50);
  const after = c.evaluate(held);
  assert.ok((logs.at(-1) ?? 1) < (logs[0] ?? 0), `training BCE fell: ${logs.join(', ')}`);
  assert.equal(after.domains, 4);
  assert.ok(after.accuracy > 0.7, `held-out rebalanced accuracy ${after.accuracy.toFixed(3)} (before training ${before.toFixed(3)}; chance 0.5)`);
});
