/**
 * bf16 GEMM inputs (learning.gemmPrecision: 'bf16'): sgemm rounds A and B to bfloat16 and oneDNN multiplies them with
 * float32 sums. Checked against float32 arithmetic on the rounded inputs (so the rounding is round-to-nearest-even
 * and nothing else is lost), one thread = two bit for bit, an IQL update on cached features close to float32's over
 * several steps (losses and every weight), learning on the chain MDP, and the engine label. Skips, saying why, where
 * the addon, oneDNN or the CPU's bf16 is missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backendLabel, initBackend, nativeGemm, setGemmPrecision } from '../../src/learn/backend.ts';
import { loadGemm, type Gemm } from '../../src/learn/gemm.ts';
import { DEFAULT_IQL, IqlAgent, type IqlConfig, type IqlStats } from '../../src/learn/iql.ts';
import { netVariables } from '../../src/learn/nets.ts';
import { Rng } from '../../src/util/rng.ts';
import { assertChainLearned } from './chain.ts';
import { featureBatch } from './fixtures.ts';

const info = await initBackend({ prefer: 'wasm', gemmPrecision: 'fp32' });
const gemm = nativeGemm();
const why =
  gemm === null ? `native gemm unavailable: ${info.gemmError ?? '?'}` : setGemmPrecision('bf16') === 'bf16' ? false : `bf16 unavailable: ${backendLabel()}`;
if (gemm) setGemmPrecision('fp32');
const addon = gemm as Gemm;

const rng = new Rng(5);
const rnd = (n: number, s = 1): Float32Array => Float32Array.from({ length: n }, () => rng.normal(0, s));

/** bfloat16 rounding (nearest, ties to even) of a float32, as a float32. */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function bf16(x: number): number {
  f32[0] = x;
  const u = u32[0] as number;
  u32[0] = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16;
  return f32[0];
}

/** C = op(A) op(B) in double from the given (already rounded or not) inputs; row-major, op = transpose when set. */
function refGemm(tA: boolean, tB: boolean, M: number, N: number, K: number, A: Float32Array, B: Float32Array): Float64Array {
  const C = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (A[tA ? k * M + i : i * K + k] as number) * (B[tB ? j * K + k : k * N + j] as number);
      C[i * N + j] = s;
    }
  return C;
}

function withPrecision<T>(p: 'fp32' | 'bf16', f: () => T): T {
  assert.equal(setGemmPrecision(p), p);
  try {
    return f();
  } finally {
    setGemmPrecision('fp32');
  }
}

test('bf16 sgemm = float32 arithmetic on inputs rounded to bf16 (every transpose, bias, ReLU), and not float32 sgemm', { skip: why }, () => {
  for (const [M, N, K] of [
    [256, 256, 48],
    [256, 256, 256],
    [48, 256, 256],
    [37, 29, 61],
  ] as const)
    for (const tA of [false, true])
      for (const tB of [false, true]) {
        const A = rnd(M * K);
        const B = rnd(K * N);
        const bias = rnd(N);
        const run = (): Float32Array => {
          const C = new Float32Array(M * N);
          addon.sgemm(tA, tB, 1, M, N, K, A, 0, B, 0, C, bias, 1, 1, 0);
          return C;
        };
        const got = withPrecision('bf16', run);
        const fp32 = run();
        const want = refGemm(tA, tB, M, N, K, A.map(bf16), B.map(bf16));
        const exact = refGemm(tA, tB, M, N, K, A, B);
        let worst = 0;
        let differs = 0;
        got.forEach((v, k) => {
          const w = Math.max(0, (want[k] as number) + (bias[k % N] as number));
          // float32 sums of K products of size ~1: a few K ulps of the largest partial sum.
          worst = Math.max(worst, Math.abs(v - w) / (1 + Math.abs(w)));
          if (v !== fp32[k]) differs++;
        });
        const what = `${M}x${N}x${K} tA=${tA} tB=${tB}`;
        assert.ok(worst < K * 2 ** -22, `${what}: bf16 sgemm vs rounded-input reference, worst relative error ${worst}`);
        assert.ok(differs > (M * N) / 4, `${what}: only ${differs} of ${M * N} outputs differ from float32 sgemm (bf16 not applied?)`);
        // And the rounding costs what bf16 should (8 significant bits): far from float32's own error, not gross.
        let rel = 0;
        let norm = 0;
        got.forEach((v, k) => {
          const e = Math.max(0, (exact[k] as number) + (bias[k % N] as number));
          rel += Math.abs(v - e);
          norm += Math.abs(e);
        });
        assert.ok(rel / norm > 1e-4 && rel / norm < 1e-2, `${what}: mean relative error against exact ${rel / norm}`);
      }
});

test('bf16: products with a side under 16 (the heads outputs) stay float32: the same bits as float32 sgemm', { skip: why }, () => {
  for (const [M, N, K] of [
    [256, 1, 256],
    [256, 3, 256],
    [256, 256, 3],
  ] as const) {
    const A = rnd(M * K);
    const B = rnd(K * N);
    const run = (): Float32Array => {
      const C = new Float32Array(M * N);
      addon.sgemm(false, false, 1, M, N, K, A, 0, B, 0, C, null, 0, 0, 0);
      return C;
    };
    const got = withPrecision('bf16', run);
    const want = run();
    assert.equal(
      got.findIndex((v, k) => !Object.is(v, want[k])),
      -1,
      `${M}x${N}x${K}`,
    );
  }
});

test('bf16: two threads = one thread, bit for bit (split GEMMs run one primitive per block)', { skip: why }, () => {
  withPrecision('bf16', () => {
    for (const [M, N, K] of [
      [256, 256, 256],
      [48, 256, 256],
      [256, 256, 48],
      [300, 37, 200],
    ] as const)
      for (const tA of [false, true])
        for (const tB of [false, true]) {
          const A = rnd(M * K);
          const B = rnd(K * N);
          const out: Float32Array[] = [];
          for (const threads of [1, 2]) {
            addon.setThreads(threads);
            const C = new Float32Array(M * N);
            addon.sgemm(tA, tB, 1, M, N, K, A, 0, B, 0, C, null, 0, 0, 0);
            out.push(C);
          }
          addon.setThreads(1);
          const [one, two] = out as [Float32Array, Float32Array];
          const i = one.findIndex((v, k) => !Object.is(v, two[k]));
          assert.equal(i, -1, `${M}x${N}x${K} tA=${tA} tB=${tB}: element ${i} ${one[i]} on one thread vs ${two[i]} on two`);
        }
  });
});

const featureConfig = (critics: number): IqlConfig => ({
  ...DEFAULT_IQL,
  mode: 'features',
  proprioDim: 9,
  proprioScale: [100, 100, 100, 0.1, 0.1, 0.1, 1, 1, 1],
  featureDims: { pi: 48, q: 48, v: 48 },
  critics,
  targetCritics: 2,
  seed: 7,
});

/** `steps` fused updates at the online shapes (hidden 256,256, batch 256); the stats, the final weights, the label. */
function runAgent(
  p: 'fp32' | 'bf16',
  critics: number,
  steps: number,
): { stats: IqlStats[]; weights: Float32Array[]; initial: Float32Array[]; backend: string } {
  return withPrecision(p, () => {
    const agent = new IqlAgent(featureConfig(critics));
    const vars = (): Float32Array[] =>
      [...netVariables(agent.pi), agent.logStd, ...netVariables(agent.v), ...agent.qs.flatMap((q) => netVariables(q))].map((v) =>
        Float32Array.from(v.dataSync()),
      );
    const initial = vars();
    const stats = Array.from({ length: steps }, (_, i) => agent.update(featureBatch(100 + i)));
    const out = { stats, weights: vars(), initial, backend: agent.backend };
    agent.dispose();
    return out;
  });
}

for (const critics of [2, 10]) {
  test(
    `IQL on cached features, ${critics} critics, 6 updates: bf16 losses within 3 % of float32's, means within 0.005, weights within 10 % of their movement`,
    { skip: why },
    () => {
      const steps = 6;
      const ref = runAgent('fp32', critics, steps);
      const got = runAgent('bf16', critics, steps);
      assert.match(got.backend, /wasm\+openblas\+onednn-bf16 .*bf16 inputs: oneDNN \d+\.\d+\.\d+ .*IQL heads: fused/);
      assert.doesNotMatch(ref.backend, /bf16/);
      // Measured: losses within 0.5 % (V, Q) and 1.5 % (pi: exp(beta * advantage) magnifies the advantage's error), the
      // means within 0.0025 of values of size 0.1-1; the bounds are twice that.
      for (let i = 0; i < steps; i++)
        for (const k of ['vLoss', 'qLoss', 'piLoss', 'vMean', 'qMean', 'advMean'] as const) {
          const [a, b] = [(got.stats[i] as IqlStats)[k], (ref.stats[i] as IqlStats)[k]];
          const tol = k.endsWith('Loss') ? 0.03 * Math.abs(b) : 0.005;
          assert.ok(Math.abs(a - b) <= tol, `step ${i + 1} ${k}: bf16 ${a} vs fp32 ${b}`);
        }
      // Adam moves each weight by about lr a step whatever the gradient's size, so the test is on the movement: bf16's
      // weights must have moved where float32's did (measured: the difference is 2.2-2.5 % of the movement).
      let diff = 0;
      let moved = 0;
      ref.weights.forEach((w, v) =>
        w.forEach((x, k) => {
          diff += Math.abs((got.weights[v]?.[k] as number) - x);
          moved += Math.abs(x - (ref.initial[v]?.[k] as number));
        }),
      );
      assert.ok(moved > 0, 'the updates moved the weights');
      assert.ok(diff < 0.1 * moved, `sum |bf16 - fp32| = ${diff.toExponential(3)} vs the movement ${moved.toExponential(3)}`);
      assert.notEqual((ref.stats[0] as IqlStats).qLoss, (ref.stats[steps - 1] as IqlStats).qLoss);
    },
  );
}

test('bf16: the fused heads on the chain MDP still reach the known expectile value and the optimal policy', { skip: why }, () => {
  withPrecision('bf16', () => assertChainLearned(/onednn-bf16.*IQL heads: fused/));
});

test('the label names the precision; an addon without bf16 keeps float32 and says why', { skip: why }, async () => {
  withPrecision('bf16', () => assert.match(backendLabel(), /^wasm\+openblas\+onednn-bf16 \(gemm: .*bf16 inputs: oneDNN/));
  assert.match(backendLabel(), /^wasm\+openblas \(gemm: [^;]*thread/);
  assert.doesNotMatch(backendLabel(), /bf16/);
  // An addon lacking setPrecision (built before it): asking for bf16 throws, and the GEMM stays float32.
  const old = loadGemm({ without: ['setPrecision'] });
  assert.ok(old.gemm);
  assert.throws(() => old.gemm.setPrecision('bf16'), /predates bf16/);
  assert.equal(old.gemm.precision, 'fp32');
  // initBackend with bf16 asked: the label says which ran (a later initBackend without it keeps it, as threads do).
  await initBackend({ prefer: 'wasm', gemmPrecision: 'bf16' });
  assert.match(backendLabel(), /onednn-bf16/);
  await initBackend({ prefer: 'wasm' });
  assert.match(backendLabel(), /onednn-bf16/);
  await initBackend({ prefer: 'wasm', gemmPrecision: 'fp32' });
  assert.doesNotMatch(backendLabel(), /bf16/);
});
