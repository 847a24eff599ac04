import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, nativeGemm, setNativeGemm } from '../../src/learn/backend.ts';
import { HeapAdam, makeAdam, polyak, polyakArrays, variableValues } from '../../src/learn/optim.ts';

const info = await initBackend();

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return m;
}

/** A small regression problem with two variables; returns the losses and final weights after `steps` updates. */
function run(opt: tf.Optimizer, steps: number, init?: { w: tf.Variable; b: tf.Variable }): { losses: number[]; w: Float32Array; b: Float32Array } {
  const w = init?.w ?? tf.variable(tf.randomNormal([4, 3], 0, 1, 'float32', 1));
  const b = init?.b ?? tf.variable(tf.zeros([3]));
  const x = tf.randomNormal([32, 4], 0, 1, 'float32', 2);
  const y = tf.randomNormal([32, 3], 0, 1, 'float32', 3);
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const l = opt.minimize(() => tf.mean<tf.Scalar>(tf.square(tf.sub(tf.add(tf.matMul(x, w), b), y))), true, [w, b]);
    losses.push(l?.dataSync()[0] ?? NaN);
    l?.dispose();
  }
  return { losses, w: w.dataSync() as Float32Array, b: b.dataSync() as Float32Array };
}

test('heap Adam matches tf.train.adam step for step', { skip: info.name !== 'wasm' && 'wasm only' }, () => {
  const heap = run(new HeapAdam(0.01), 50);
  const ref = run(tf.train.adam(0.01, 0.9, 0.999, 1e-7), 50);
  assert.ok(heap.losses[49]! < heap.losses[0]! * 0.8, 'loss falls');
  assert.ok(maxAbsDiff(heap.losses, ref.losses) < 1e-4, `losses differ by ${maxAbsDiff(heap.losses, ref.losses)}`);
  assert.ok(maxAbsDiff(heap.w, ref.w) < 1e-4 && maxAbsDiff(heap.b, ref.b) < 1e-4);
});

test('heap Adam never writes into a buffer another tensor shares (nor one XNNPack cached)', { skip: info.name !== 'wasm' && 'wasm only' }, () => {
  const src = tf.variable(tf.randomNormal([4, 3], 0, 1, 'float32', 5));
  const w = tf.variable(tf.zeros([4, 3]));
  w.assign(src); // w and src now share one buffer
  const before = src.dataSync().slice();
  run(new HeapAdam(0.05), 3, { w, b: tf.variable(tf.zeros([3])) });
  assert.deepEqual(src.dataSync(), before, 'the source of the assign is untouched');
  assert.ok(maxAbsDiff(w.dataSync(), before) > 1e-3, 'the trained variable moved');
});

test('optimiser state round-trips through getWeights/setWeights (resume gives identical steps)', async () => {
  const mk = (): { w: tf.Variable; b: tf.Variable } => ({ w: tf.variable(tf.randomNormal([4, 3], 0, 1, 'float32', 1)), b: tf.variable(tf.zeros([3])) });
  const va = mk();
  const a = makeAdam(0.01);
  run(a, 10, va);
  const saved = await a.getWeights();
  const vb = { w: tf.variable(va.w.clone()), b: tf.variable(va.b.clone()) };
  const b = makeAdam(0.01);
  await b.setWeights(saved);
  assert.equal(b.iterations, 10);
  const ra = run(a, 5, va);
  const rb = run(b, 5, vb);
  assert.ok(maxAbsDiff(ra.w, rb.w) < 1e-6, `resumed weights differ by ${maxAbsDiff(ra.w, rb.w)}`);
  // A fresh optimiser (no restored moments) takes a different path: the test can fail.
  const vc = { w: tf.variable(va.w.clone()), b: tf.variable(va.b.clone()) };
  const rc = run(makeAdam(0.01), 5, vc);
  assert.ok(maxAbsDiff(rc.w, ra.w) > 1e-5);
});

test('polyak averages, and tau = 1 copies values without sharing buffers', () => {
  const s: tf.Variable[] = [tf.variable(tf.tensor1d([1, 2, 3])), tf.variable(tf.tensor2d([[4, 5]]))];
  const t: tf.Variable[] = [tf.variable(tf.tensor1d([0, 0, 0])), tf.variable(tf.tensor2d([[1, 1]]))];
  polyak(t, s, 0.25);
  assert.deepEqual(Array.from(t[0]!.dataSync()), [0.25, 0.5, 0.75]);
  assert.deepEqual(Array.from(t[1]!.dataSync()), [1.75, 2]);
  polyak(t, s, 1);
  assert.deepEqual(Array.from(t[0]!.dataSync()), [1, 2, 3]);
  (s[0] as tf.Variable).assign(tf.tensor1d([9, 9, 9]));
  polyak([s[1]!], [t[1]!], 0.5); // writes into s[1] only
  assert.deepEqual(Array.from(t[0]!.dataSync()), [1, 2, 3], 'the copy is independent of the source');
  assert.throws(() => polyak([t[0]!], [s[1]!], 0.5), /sizes differ/);
});

test(
  'native Adam and Polyak loops (native/gemm.c) give bit-identical weights to the JS loops',
  { skip: !nativeGemm() && `native kernels unavailable: ${info.gemmError ?? info.name}` },
  () => {
    const steps = (native: boolean): { w: Float32Array; t: Float32Array } => {
      setNativeGemm(native);
      try {
        const w = tf.variable(tf.randomNormal([1000], 0, 1, 'float32', 11), true, `adam-native-${native}`);
        const t = tf.variable(tf.randomNormal([1000], 0, 1, 'float32', 12));
        const opt = new HeapAdam(0.01);
        for (let i = 0; i < 5; i++) {
          const g = tf.randomNormal([1000], 0, 1 + i, 'float32', 20 + i);
          opt.applyGradients({ [w.name]: g });
          g.dispose();
          polyak([t], [w], 0.3);
        }
        const out = { w: w.dataSync() as Float32Array, t: t.dataSync() as Float32Array };
        w.dispose();
        t.dispose();
        return out;
      } finally {
        setNativeGemm(true);
      }
    };
    const js = steps(false);
    const nat = steps(true);
    assert.ok(maxAbsDiff(js.w, tf.randomNormal([1000], 0, 1, 'float32', 11).dataSync()) > 1e-3, 'Adam moved the weights');
    assert.deepEqual(nat.w, js.w);
    assert.deepEqual(nat.t, js.t);
  },
);

test("polyakArrays (the trainer's policy average between exports) gives bitwise polyak()'s values", () => {
  const rnd = (seed: number, shape: number[]): tf.Variable => tf.variable(tf.randomNormal(shape, 0, 1, 'float32', seed));
  const t = [rnd(1, [5, 7]), rnd(2, [7])];
  const arrays = variableValues(t);
  for (let k = 0; k < 5; k++) {
    const s = [rnd(10 + k, [5, 7]), rnd(20 + k, [7])];
    polyak(t, s, 0.005);
    polyakArrays(arrays, variableValues(s), 0.005);
    s.forEach((v) => v.dispose());
  }
  variableValues(t).forEach((v, i) => assert.ok(Buffer.from(v.buffer).equals(Buffer.from(arrays[i]!.buffer)), `variable ${i}`));
  assert.throws(() => polyakArrays([arrays[0]!], [arrays[1]!], 0.5), /sizes differ/);
  t.forEach((v) => v.dispose());
});
