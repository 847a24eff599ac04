/**
 * The native GEMM (native/gemm.c over OpenBLAS, registered by initBackend on wasm) against tfjs's cpu backend, and
 * the fallback to wasm's own matMul when the addon is absent. Tests that need the addon skip, saying why, when it
 * is not built or no OpenBLAS is installed (bash native/build.sh; Debian libopenblas0-pthread).
 */
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { backendLabel, initBackend, setNativeGemm } from '../../src/learn/backend.ts';
import { loadGemm } from '../../src/learn/gemm.ts';
import { DEFAULT_IQL, IqlAgent, type IqlStats, setFusedHeads } from '../../src/learn/iql.ts';
import { featureBatch } from './fixtures.ts';

const info = await initBackend({ prefer: 'wasm' });
const noGemm = info.gemm === undefined ? `native gemm unavailable: ${info.gemmError ?? '?'}` : false;

/** Runs `f` on wasm (with the native GEMM when `native`) and on cpu (reference). */
async function vsCpu(f: () => tf.Tensor[], native = true): Promise<{ ref: Float32Array[]; got: Float32Array[] }> {
  const run = (): Float32Array[] =>
    tf.tidy(f).map((t) => {
      const d = t.dataSync() as Float32Array;
      t.dispose();
      return d;
    });
  setNativeGemm(native);
  const got = run();
  setNativeGemm(true);
  await tf.setBackend('cpu');
  const ref = run();
  await tf.setBackend('wasm');
  return { ref, got };
}

function assertClose(got: Float32Array, ref: Float32Array, tol: number, what: string): void {
  assert.equal(got.length, ref.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs((got[i] as number) - (ref[i] as number)) / (1 + Math.abs(ref[i] as number)));
  assert.ok(worst <= tol, `${what}: max relative error ${worst} > ${tol}`);
}

const rnd = (shape: number[], seed: number): tf.Tensor => tf.randomUniform(shape, -1, 1, 'float32', seed);

test('the engine is in the label: wasm+openblas with the library and thread count, or plain wasm', { skip: noGemm }, () => {
  // The default: two threads where the process may use two CPUs.
  const threads = availableParallelism() >= 2 ? '2 threads' : '1 thread';
  assert.match(backendLabel(), new RegExp(`^wasm\\+openblas \\(gemm: .*OpenBLAS.*, ${threads}; fixes: `));
  setNativeGemm(false);
  try {
    assert.match(backendLabel(), /^wasm \(fixes: /);
  } finally {
    setNativeGemm(true);
  }
});

test('native matMul, every transpose combination, 2-D and batched (with broadcast), values and gradients = cpu within 1e-4', { skip: noGemm }, async () => {
  // [M, K] x [K, N] with odd sizes; batched 3-D; a 2-D right operand broadcast over a batch; rank-4 batches.
  const cases: Array<{ a: number[]; b: number[] }> = [
    { a: [37, 19], b: [19, 23] },
    { a: [256, 57], b: [57, 256] },
    { a: [3, 5, 7], b: [3, 7, 4] },
    { a: [4, 6, 5], b: [1, 5, 3] },
    { a: [2, 3, 4, 5], b: [2, 3, 5, 2] },
  ];
  for (const [ci, c] of cases.entries()) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const sa = [...c.a];
        const sb = [...c.b];
        const r = sa.length;
        if (ta) [sa[r - 2], sa[r - 1]] = [sa[r - 1] as number, sa[r - 2] as number];
        if (tb) [sb[sb.length - 2], sb[sb.length - 1]] = [sb[sb.length - 1] as number, sb[sb.length - 2] as number];
        const { ref, got } = await vsCpu(() => {
          const A = rnd(sa, 10 + ci);
          const B = rnd(sb, 20 + ci);
          const y = tf.matMul(A, B, ta, tb);
          // tfjs's BatchMatMul gradient does not reduce broadcast batch axes (on any backend): values only there.
          if (sa.slice(0, -2).join() !== sb.slice(0, -2).join()) return [y];
          const [ga, gb] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.square(tf.matMul(p, q, ta, tb))))([A, B]);
          return [y, ga as tf.Tensor, gb as tf.Tensor];
        });
        got.forEach((g, i) => assertClose(g, ref[i] as Float32Array, 1e-4, `${JSON.stringify(c)} tA=${ta} tB=${tb} ${['y', 'dA', 'dB'][i]}`));
      }
    }
  }
});

test('native fused matMul: bias (row vector, scalar) and every supported activation, values and gradients = cpu', { skip: noGemm }, async () => {
  for (const activation of ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu'] as const) {
    for (const biasShape of [[23], [1, 23], [1], null]) {
      for (const [ta, tb] of [
        [false, false],
        [true, false],
        [false, true],
      ] as const) {
        const { ref, got } = await vsCpu(() => {
          const A = tf.mul(rnd(ta ? [19, 37] : [37, 19], 1), 3);
          const B = rnd(tb ? [23, 19] : [19, 23], 2);
          const bias = biasShape ? rnd(biasShape, 3) : undefined;
          const f = (p: tf.Tensor, q: tf.Tensor): tf.Tensor =>
            tf.fused.matMul({ a: p, b: q, transposeA: ta, transposeB: tb, ...(bias ? { bias } : {}), activation, leakyreluAlpha: 0.1 });
          const [ga, gb] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.square(f(p, q))))([A, B]);
          return [f(A, B), ga as tf.Tensor, gb as tf.Tensor];
        });
        ['y', 'dA', 'dB'].forEach((w, i) =>
          assertClose(got[i] as Float32Array, ref[i] as Float32Array, 1e-4, `${activation} bias ${JSON.stringify(biasShape)} tA=${ta} tB=${tb} ${w}`),
        );
      }
    }
  }
});

test('a case the native kernel does not cover (prelu) still gives cpu results through the wasm kernel', { skip: noGemm }, async () => {
  const { ref, got } = await vsCpu(() => {
    const A = rnd([8, 5], 4);
    const B = rnd([5, 6], 5);
    return [tf.fused.matMul({ a: A, b: B, bias: rnd([6], 7), activation: 'prelu', preluActivationWeights: rnd([6], 6) })];
  });
  got.forEach((g, i) => assertClose(g, ref[i] as Float32Array, 1e-4, `case ${i}`));
});

test('the addon refuses arrays too small for the shapes (it writes into the wasm heap)', { skip: noGemm }, () => {
  const r = loadGemm();
  assert.ok(r.gemm, r.error);
  const a = new Float32Array(6);
  const b = new Float32Array(6);
  assert.throws(() => r.gemm.sgemm(false, false, 1, 2, 2, 3, a, 0, b, 0, new Float32Array(3), null, 0, 0, 0), /shapes do not fit/);
  assert.throws(() => r.gemm.sgemm(false, false, 2, 2, 2, 3, a, 6, b, 0, new Float32Array(8), null, 0, 0, 0), /shapes do not fit/);
  assert.throws(() => r.gemm.sgemm(false, false, 1, 2, 2, 3, a, 0, b, 0, new Float32Array(4), new Float32Array(1), 1, 0, 0), /shapes do not fit/);
  const c = new Float32Array(4);
  r.gemm.sgemm(false, false, 1, 2, 2, 3, Float32Array.of(1, 2, 3, 4, 5, 6), 0, Float32Array.of(1, 0, 0, 1, 1, 1), 0, c, Float32Array.of(10, 20), 1, 0, 0);
  assert.deepEqual([...c], [1 + 3 + 10, 2 + 3 + 20, 4 + 6 + 10, 5 + 6 + 20]);
});

test('IQL on cached features: the same losses, step for step, with and without the native GEMM', { skip: noGemm }, () => {
  const run = (native: boolean): IqlStats[] => {
    setNativeGemm(native);
    setFusedHeads(false); // the tfjs kernels on both engines (the fused heads have their own test, fused.test.ts)
    try {
      const agent = new IqlAgent({
        ...DEFAULT_IQL,
        mode: 'features',
        proprioDim: 9,
        proprioScale: [100, 100, 100, 0.1, 0.1, 0.1, 1, 1, 1],
        featureDims: { pi: 48, q: 48, v: 48 },
        seed: 7,
      });
      assert.equal(agent.backend.startsWith('wasm+openblas'), native, agent.backend);
      const out = [0, 1, 2, 3, 4, 5].map((i) => agent.update(featureBatch(100 + i)));
      agent.dispose();
      return out;
    } finally {
      setNativeGemm(true);
      setFusedHeads(true);
    }
  };
  const wasm = run(false);
  const native = run(true);
  for (const [i, w] of wasm.entries()) {
    const n = native[i] as IqlStats;
    for (const k of ['vLoss', 'qLoss', 'piLoss', 'vMean', 'qMean', 'advMean', 'weightMean'] as const) {
      const tol = 1e-4 * (1 + Math.abs(w[k]));
      assert.ok(Math.abs(n[k] - w[k]) <= tol, `step ${i + 1} ${k}: native ${n[k]} vs wasm ${w[k]}`);
    }
  }
  // The updates did something (not a comparison of two no-ops).
  assert.notEqual((wasm[0] as IqlStats).qLoss, (wasm[5] as IqlStats).qLoss);
});

test('without the addon (not built / no OpenBLAS) the wasm matMul runs and the label says plain wasm', async () => {
  const got = await initBackend({ prefer: 'wasm', gemmAddon: '/nonexistent/gemm.node' });
  try {
    assert.equal(got.gemm, undefined);
    assert.match(got.gemmError ?? '', /addon not built .*\/nonexistent\/gemm\.node/);
    assert.match(backendLabel(), /^wasm \(fixes: /);
    assert.equal(setNativeGemm(true), false, 'nothing to switch on');
    const y = tf.tidy(() => tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([1, 0, 0, 1], [2, 2]), false, true).dataSync());
    assert.deepEqual([...y], [1, 2, 3, 4]);
    await assert.rejects(
      initBackend({ prefer: 'wasm', gemm: 'native', gemmAddon: '/nonexistent/gemm.node' }),
      /native gemm requested but unavailable: native gemm addon not built/,
    );
    assert.match(
      loadGemm({ libraries: ['/nonexistent/libopenblas.so.0'] }).error ?? 'loaded',
      noGemm ? /./ : /no BLAS with cblas_sgemm .*libopenblas0-pthread.*\/nonexistent\/libopenblas\.so\.0/,
    );
  } finally {
    await initBackend({ prefer: 'wasm' });
  }
});
