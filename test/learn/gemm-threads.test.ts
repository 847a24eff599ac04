/**
 * The native addon on two threads (setThreads(2), INSERTION_GEMM_THREADS=2): every kernel it splits gives the same
 * bits as on one thread, and so does an IQL update on the fused heads (every weight after several steps, twin
 * critics and an ensemble), also with its heads on two lanes (pi and the even critics queued on the helper thread
 * while the caller runs V and the odd ones). Skips, saying why, when the addon or OpenBLAS is missing.
 */
import { createRequire } from 'node:module';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backendLabel, initBackend, nativeGemm } from '../../src/learn/backend.ts';
import { loadGemm, type Gemm } from '../../src/learn/gemm.ts';
import { DEFAULT_IQL, IqlAgent } from '../../src/learn/iql.ts';
import { netVariables } from '../../src/learn/nets.ts';
import { NATIVE_ADDON } from '../../src/util/native-addon.ts';
import { Rng } from '../../src/util/rng.ts';
import { featureBatch } from './fixtures.ts';

const info = await initBackend({ prefer: 'wasm' });
const gemm = nativeGemm();
const noGemm = gemm === null ? `native gemm unavailable: ${info.gemmError ?? '?'}` : false;
const addon = gemm as Gemm;

const rng = new Rng(11);
const rnd = (n: number, s = 1): Float32Array => Float32Array.from({ length: n }, () => rng.normal(0, s));

/** LayerNorm shapes (whole and ragged row blocks, a small one) with their random inputs. */
function layerNormCases(): Array<{ rows: number; c: number; x: Float32Array; dy: Float32Array; gamma: Float32Array; beta: Float32Array }> {
  return [
    [256, 256],
    [255, 256],
    [3, 64],
  ].map(([rows = 0, c = 0]) => ({ rows, c, x: rnd(rows * c), dy: rnd(rows * c), gamma: rnd(c), beta: rnd(c) }));
}

/** f's outputs on one thread, then on two; back at one thread afterwards. */
function both(f: () => Float32Array[]): [Float32Array[], Float32Array[]] {
  try {
    assert.equal(addon.setThreads(1), 1);
    const one = f();
    assert.equal(addon.setThreads(2), 2);
    return [one, f()];
  } finally {
    addon.setThreads(1);
  }
}

function assertSameBits(a: Float32Array[], b: Float32Array[], what: string): void {
  assert.equal(a.length, b.length);
  a.forEach((x, k) => {
    const y = b[k] as Float32Array;
    assert.equal(x.length, y.length, `${what}[${k}] length`);
    const i = x.findIndex((v, j) => !Object.is(v, y[j]));
    assert.equal(i, -1, `${what}[${k}]: element ${i} differs, ${x[i]} on one thread vs ${y[i]} on two`);
  });
}

test('two threads: sgemm (online shapes and odd ones, every transpose, bias, activations) = one thread, bit for bit', { skip: noGemm }, () => {
  const [jobs0] = addon.threadStats();
  for (const [M, N, K] of [
    [256, 256, 57],
    [256, 256, 256],
    [57, 256, 256],
    [256, 1, 256],
    [300, 37, 200],
    [33, 500, 129],
  ] as const) {
    for (const tA of [false, true])
      for (const tB of [false, true])
        for (const [bias, act] of [
          [0, 0],
          [1, 1],
          [2, 3],
        ] as const) {
          const A = rnd(M * K);
          const B = rnd(K * N);
          const b = rnd(N);
          const [one, two] = both(() => {
            const C = new Float32Array(M * N);
            addon.sgemm(tA, tB, 1, M, N, K, A, 0, B, 0, C, bias ? b : null, bias, act, 0);
            return [C];
          });
          assertSameBits(one, two, `sgemm ${M}x${N}x${K} tA=${tA} tB=${tB} bias=${bias} act=${act}`);
        }
  }
  // The big shapes were split (the helper may or may not have run a part: on a loaded machine the caller does both).
  assert.ok(addon.threadStats()[0] > jobs0, 'no job was split over two threads');
});

test('two threads: Adam, LayerNorm and its gradient, bias sums, ReLU and convolutions = one thread, bit for bit', { skip: noGemm }, () => {
  for (const n of [1000, 65536, 65541]) {
    const w = rnd(n);
    const g = rnd(n);
    const m0 = rnd(n);
    const v0 = rnd(n).map(Math.abs);
    const [one, two] = both(() => {
      const m = m0.slice();
      const v = v0.slice();
      const out = new Float32Array(n);
      addon.adam(w, g, m, v, out, 1e-3, 0.9, 0.999, 1e-8, 0.3, 0.02);
      return [m, v, out];
    });
    assertSameBits(one, two, `adam n=${n}`);
  }
  for (const { rows, c, x, dy, gamma, beta } of layerNormCases()) {
    const [one, two] = both(() => {
      const y = new Float32Array(rows * c);
      const dx = new Float32Array(rows * c);
      const dg = new Float32Array(c);
      const db = new Float32Array(c);
      const sums = new Float32Array(c);
      const r = x.slice();
      const dr = new Float32Array(rows * c);
      addon.layerNorm(x, gamma, beta, y, 1e-5);
      addon.layerNormGrad(dy, x, gamma, dx, dg, db, 1e-5);
      addon.sumRows(x, sums);
      addon.relu(r);
      addon.reluGrad(dy, x, dr);
      return [y, dx, dg, db, sums, r, dr];
    });
    assertSameBits(one, two, `layerNorm/grad/sumRows/relu ${rows}x${c}`);
  }
  for (const [mode, [N, H, W, Ci, KH, KW, Co, s]] of [0, 1, 2].flatMap((m) =>
    [
      [16, 32, 32, 3, 4, 4, 16, 2],
      [8, 16, 16, 16, 4, 4, 32, 2],
      [16, 16, 16, 32, 3, 3, 32, 2], // the encoder's middle layer (direct kernels: 32 channels)
      [4, 32, 32, 3, 3, 3, 32, 2],
    ].map((d) => [m as 0 | 1 | 2, d as [number, number, number, number, number, number, number, number]] as const),
  )) {
    const OH = Math.floor((H - KH) / s) + 1;
    const dims = Int32Array.of(N, H, W, Ci, KH, KW, Co, s, s, 0, 0, OH, OH);
    const nx = N * H * W * Ci;
    const nw = KH * KW * Ci * Co;
    const ny = N * OH * OH * Co;
    const sizes = (
      [
        [nx, nw, ny],
        [ny, nw, nx],
        [nx, ny, nw],
      ] as const
    )[mode];
    const a = rnd(sizes[0]);
    const b = rnd(sizes[1]);
    const bias = rnd(Co);
    const [one, two] = both(() => {
      const out = new Float32Array(sizes[2]);
      addon.conv(mode, dims, a, b, out);
      const fused = new Float32Array(mode === 0 ? sizes[2] : 0);
      if (mode === 0) addon.convBiasRelu?.(dims, a, b, bias, fused);
      return [out, fused];
    });
    assertSameBits(one, two, `conv mode ${mode} ${Ci}->${Co}`);
  }
});

test(
  'the fused kernels = the calls they replace, bit for bit, on one and two threads: LayerNorm + ReLU, its gradient, Adam + Polyak; bias sums, Polyak in place',
  { skip: noGemm },
  () => {
    for (const { rows, c, x, dy, gamma, beta } of layerNormCases()) {
      // The two calls, on one thread: the reference.
      addon.setThreads(1);
      const y0 = new Float32Array(rows * c);
      addon.layerNorm(x, gamma, beta, y0, 1e-5);
      addon.relu(y0);
      const t = new Float32Array(rows * c);
      addon.reluGrad(dy, y0, t);
      const dx0 = new Float32Array(rows * c);
      const dg0 = new Float32Array(c);
      const db0 = new Float32Array(c);
      addon.layerNormGrad(t, x, gamma, dx0, dg0, db0, 1e-5);
      const [one, two] = both(() => {
        const y = new Float32Array(rows * c);
        addon.layerNormRelu(x, gamma, beta, y, 1e-5);
        const dx = new Float32Array(rows * c);
        const dg = new Float32Array(c);
        const db = new Float32Array(c);
        addon.reluLayerNormGrad(dy, y, x, gamma, dx, dg, db, 1e-5);
        // Again with the rows' statistics kept by the forward and read by the gradient.
        const stats = new Float32Array(2 * rows);
        const yS = new Float32Array(rows * c);
        addon.layerNormRelu(x, gamma, beta, yS, 1e-5, stats);
        const [dxS, dgS, dbS] = [new Float32Array(rows * c), new Float32Array(c), new Float32Array(c)];
        addon.reluLayerNormGrad(dy, yS, x, gamma, dxS, dgS, dbS, 1e-5, stats);
        assertSameBits([y, dx, dg, db], [yS, dxS, dgS, dbS], `fused LayerNorm+ReLU ${rows}x${c} with kept statistics`);
        return [y, dx, dg, db];
      });
      assert.ok(y0.some((v) => v === 0) && y0.some((v) => v > 0), 'the ReLU cuts some values');
      assertSameBits([y0, dx0, dg0, db0], one, `fused LayerNorm+ReLU ${rows}x${c} vs the two calls`);
      assertSameBits(one, two, `fused LayerNorm+ReLU ${rows}x${c}`);
    }
    for (const n of [1000, 65541]) {
      const w = rnd(n);
      const g = rnd(n);
      const m0 = rnd(n);
      const v0 = rnd(n).map(Math.abs);
      const target = rnd(n);
      addon.setThreads(1);
      const [m1, v1, out1, tOut1] = [m0.slice(), v0.slice(), new Float32Array(n), new Float32Array(n)];
      addon.adam(w, g, m1, v1, out1, 1e-3, 0.9, 0.999, 1e-8, 0.3, 0.02);
      addon.lerp(tOut1, out1, target, 0.005);
      const [one, two] = both(() => {
        const [m, v, out, tOut] = [m0.slice(), v0.slice(), new Float32Array(n), new Float32Array(n)];
        addon.adamPolyak(w, g, m, v, out, 1e-3, 0.9, 0.999, 1e-8, 0.3, 0.02, target, tOut, 0.005);
        return [m, v, out, tOut];
      });
      assertSameBits([m1, v1, out1, tOut1], one, `adamPolyak n=${n} vs adam + lerp`);
      assertSameBits(one, two, `adamPolyak n=${n}`);
    }
    for (const [rows, c] of [
      [256, 256],
      [3, 37],
    ] as const) {
      // The bias sums (vectorised per column): the JS loop's order, rows in turn, in double.
      const x = rnd(rows * c);
      const acc = new Float64Array(c);
      for (let r = 0; r < rows; r++) for (let k = 0; k < c; k++) acc[k] = (acc[k] as number) + (x[r * c + k] as number);
      const [one, two] = both(() => {
        const out = new Float32Array(c);
        addon.sumRows(x, out);
        return [out];
      });
      assertSameBits([Float32Array.from(acc)], one, `sumRows ${rows}x${c} vs the JS loop`);
      assertSameBits(one, two, `sumRows ${rows}x${c}`);
    }
    for (const n of [5, 65541]) {
      const s = rnd(n);
      const t0 = rnd(n);
      const out = new Float32Array(n);
      addon.lerp(out, s, t0, 0.005);
      const inPlace = t0.slice();
      addon.lerp(inPlace, s, inPlace, 0.005);
      assertSameBits([out], [inPlace], `lerp n=${n} in place`);
      const f = Math.fround; // float32 arithmetic, tau and 1 - tau rounded to float (src/learn/optim.ts lerpInto)
      const js = Float32Array.from(t0, (v, k) => f(f(f(0.005) * (s[k] as number)) + f(f(1 - 0.005) * v)));
      assertSameBits([js], [out], `lerp n=${n} vs the JS loop`);
    }
  },
);

test(
  'reluLayerNormGradEx = the product a one-output layer passes down, reluLayerNormGrad and sumRows, bit for bit, on one and two threads and queued on the helper lane',
  { skip: noGemm },
  () => {
    for (const { rows, c, x, dy, gamma, beta } of layerNormCases()) {
      // The gradient from a one-output layer above: zeros among its values, negative weights (a -0 product).
      const dOut = Float32Array.from(rnd(rows), (v, i) => (i % 7 === 0 ? 0 : v * 1e-3));
      const w = rnd(c);
      w[0] = -Math.abs(w[0] as number);
      const y = new Float32Array(rows * c);
      const stats = new Float32Array(2 * rows);
      addon.setThreads(1);
      addon.layerNormRelu(x, gamma, beta, y, 1e-5, stats);
      const calls = (d: Float32Array | null): Float32Array[] => {
        let g = dy;
        const dw = new Float32Array(c);
        if (d) {
          g = new Float32Array(rows * c);
          addon.sgemm(false, true, 1, rows, c, 1, d, 0, w, 0, g, null, 0, 0, 0);
          addon.sgemm(true, false, 1, c, 1, rows, y, 0, d, 0, dw, null, 0, 0, 0);
        }
        const [dx, dg, db, bias] = [new Float32Array(rows * c), new Float32Array(c), new Float32Array(c), new Float32Array(c)];
        addon.reluLayerNormGrad(g, y, x, gamma, dx, dg, db, 1e-5, stats);
        addon.sumRows(dx, bias);
        return [dx, dg, db, bias, dw];
      };
      const ex = (k: Gemm, d: Float32Array | null): Float32Array[] => {
        const [dx, dg, db, bias, dw] = [new Float32Array(rows * c), new Float32Array(c), new Float32Array(c), new Float32Array(c), new Float32Array(c)];
        const wrote = k.reluLayerNormGradEx(d ?? dy, d ? w : null, y, x, gamma, dx, dg, db, 1e-5, stats, bias, d ? dw : null);
        k.sync();
        // This machine's addon sums the weight gradient itself (x86-64 with FMA); elsewhere it may leave it to sgemm.
        assert.equal(wrote, d !== null, 'dw written');
        return [dx, dg, db, bias, dw];
      };
      for (const d of [dOut, null]) {
        const what = `reluLayerNormGradEx ${rows}x${c}${d ? ' from a one-output layer' : ''}`;
        const ref = calls(d);
        assert.ok(ref[0]?.some((v) => v !== 0) && ref[3]?.some((v) => v !== 0) && (!d || ref[4]?.some((v) => v !== 0)), `${what}: a gradient to compare`);
        const [one, two] = both(() => ex(addon, d));
        assertSameBits(ref, one, `${what} vs the calls it folds, one thread`);
        assertSameBits(ref, two, `${what} vs the calls it folds, two threads`);
        addon.setThreads(2);
        const queued0 = addon.threadStats()[5];
        const lane = ex(addon.helper, d);
        const queued = addon.threadStats()[5] - queued0;
        addon.setThreads(1);
        assert.equal(queued, 1, `${what}: queued on the helper lane`);
        assertSameBits(ref, lane, `${what} vs the calls it folds, queued on the helper lane`);
      }
      // Without dbias and stats: dx, dgamma, dbeta as reluLayerNormGrad's.
      const [dx, dg, db] = [new Float32Array(rows * c), new Float32Array(c), new Float32Array(c)];
      addon.reluLayerNormGradEx(dy, null, y, x, gamma, dx, dg, db, 1e-5, null, null);
      assertSameBits(calls(null).slice(0, 3), [dx, dg, db], `reluLayerNormGradEx ${rows}x${c} without stats and dbias`);
    }
    assert.throws(
      () =>
        addon.reluLayerNormGradEx(rnd(6), rnd(8), rnd(40), rnd(40), rnd(8), new Float32Array(40), new Float32Array(8), new Float32Array(8), 1e-5, null, null),
      /one value a row/,
      'dy of the wrong length with w',
    );
  },
);

test("the addon's switches (setQueue, setConvDirect, setConvWide) take exactly one boolean and answer with one", { skip: noGemm }, () => {
  const raw = createRequire(import.meta.url)(NATIVE_ADDON) as Record<'setQueue' | 'setConvDirect' | 'setConvWide', (...a: unknown[]) => unknown>;
  const direct = raw.setConvDirect(true);
  const wide = raw.setConvWide(true);
  try {
    for (const name of ['setQueue', 'setConvDirect', 'setConvWide'] as const) {
      for (const bad of [[], [1], ['true'], [null]]) {
        assert.throws(
          () => raw[name](...bad),
          (e: Error) => e instanceof TypeError && e.message.startsWith(`gemm.${name}`),
          `${name}(${JSON.stringify(bad)})`,
        );
      }
      assert.equal(typeof raw[name](false), 'boolean', name);
    }
    assert.equal(raw.setConvDirect(false), false, 'off is off');
  } finally {
    raw.setConvDirect(direct);
    raw.setConvWide(wide);
  }
});

test('an older addon without setConvWide: the wrapper reports the wide conv tiles off', { skip: noGemm }, () => {
  const old = loadGemm({ without: ['setConvWide'] }).gemm as Gemm;
  assert.ok(old, 'the addon loads without that export');
  assert.equal(old.setConvWide(true), false);
});

test('reluGradSumRows = reluGrad then sumRows, bit for bit: one thread, two, queued on the helper lane, and an older addon', { skip: noGemm }, () => {
  const old = loadGemm({ without: ['reluGradSumRows'] }).gemm as Gemm;
  assert.ok(old, 'the addon loads without that export');
  // [rows, columns]: the encoder's middle layer (split on two threads), 16 and 48 columns (the 16-wide pass), and
  // columns that are not a multiple of 16 (the plain loops).
  for (const [rows, c] of [
    [65536, 32],
    [4096, 16],
    [1500, 48],
    [3000, 8],
    [1000, 24],
    [7, 32],
  ] as const) {
    const n = rows * c;
    // Signs at random, exact zeros and negative zeros in both (y = 0 is not > 0; dy = -0 passes as -0).
    const y = rnd(n).map((v, i) => (i % 13 === 0 ? 0 : i % 17 === 0 ? -0 : v));
    const dy = rnd(n).map((v, i) => (i % 11 === 0 ? -0 : v));
    const ref = ((): Float32Array[] => {
      const [dz, db] = [new Float32Array(n), new Float32Array(c)];
      addon.reluGrad(dy, y, dz);
      addon.sumRows(dz, db);
      return [dz, db];
    })();
    const run = (k: Gemm): Float32Array[] => {
      const [dz, db] = [new Float32Array(n), new Float32Array(c)];
      k.reluGradSumRows(dy, y, dz, db);
      k.sync();
      return [dz, db];
    };
    const [one, two] = both(() => run(addon));
    assertSameBits(ref, one, `reluGradSumRows ${rows}x${c}, one thread`);
    assertSameBits(ref, two, `reluGradSumRows ${rows}x${c}, two threads`);
    assertSameBits(ref, run(old), `reluGradSumRows ${rows}x${c}, an older addon's fallback`);
    try {
      addon.setThreads(2);
      assertSameBits(ref, run(addon.helper), `reluGradSumRows ${rows}x${c}, queued on the helper lane`);
    } finally {
      addon.setThreads(1);
    }
  }
  assert.throws(() => addon.reluGradSumRows(new Float32Array(10), new Float32Array(10), new Float32Array(10), new Float32Array(3)), /rows of db.length/);
});

test('an older addon without the fused kernels: the fallbacks give the same bits, at once and queued on the helper lane', { skip: noGemm }, () => {
  const old = loadGemm({ without: ['layerNormRelu', 'reluLayerNormGrad', 'adamPolyak', 'reluLayerNormGradEx'] }).gemm as Gemm;
  assert.ok(old, 'the addon loads without those exports');
  const [rows, c, n] = [256, 256, 65541];
  const x = rnd(rows * c);
  const dy = rnd(rows * c);
  const gamma = rnd(c);
  const beta = rnd(c);
  const [w, g, m0, v0, target] = [rnd(n), rnd(n), rnd(n), rnd(n).map(Math.abs), rnd(n)];
  const run = (k: Gemm): Float32Array[] => {
    const y = new Float32Array(rows * c);
    const stats = new Float32Array(2 * rows);
    k.layerNormRelu(x, gamma, beta, y, 1e-5, stats);
    const [dx, dg, db] = [new Float32Array(rows * c), new Float32Array(c), new Float32Array(c)];
    k.reluLayerNormGrad(dy, y, x, gamma, dx, dg, db, 1e-5, stats);
    const [dxE, dgE, dbE, biasE] = [new Float32Array(rows * c), new Float32Array(c), new Float32Array(c), new Float32Array(c)];
    const dwE = new Float32Array(c);
    assert.ok(k.reluLayerNormGradEx(dy.subarray(0, rows), gamma, y, x, gamma, dxE, dgE, dbE, 1e-5, stats, biasE, dwE), 'dw written');
    const [m, v, out, tOut] = [m0.slice(), v0.slice(), new Float32Array(n), new Float32Array(n)];
    k.adamPolyak(w, g, m, v, out, 1e-3, 0.9, 0.999, 1e-8, 0.3, 0.02, target, tOut, 0.005);
    k.sync();
    return [y, dx, dg, db, dxE, dgE, dbE, biasE, dwE, m, v, out, tOut];
  };
  try {
    addon.setThreads(2);
    assert.equal(old.setThreads(2), 2);
    assertSameBits(run(addon), run(old), 'fused kernels vs the fallbacks');
    const queued0 = old.threadStats()[5];
    const lane = run(old.helper);
    assert.ok(old.threadStats()[5] > queued0, 'the fallbacks queued their kernels on the helper lane');
    assertSameBits(run(addon), lane, 'fused kernels vs the fallbacks queued on the helper lane');
  } finally {
    old.setThreads(1);
    addon.setThreads(1);
  }
});

for (const [critics, parallel] of [
  [2, true],
  [10, true],
  [2, false],
] as const) {
  test(
    `two threads${parallel ? ' and the heads on two lanes' : ', split kernels only'}: IQL on cached features (fused heads, ${critics} critics), every weight after 4 updates = one thread, bit for bit`,
    { skip: noGemm },
    () => {
      const F = 48;
      const batch = featureBatch(5);
      const queued0 = addon.threadStats()[5];
      addon.parallel = parallel;
      const [one, two] = both(() => {
        const agent = new IqlAgent({
          ...DEFAULT_IQL,
          mode: 'features',
          proprioDim: 9,
          proprioScale: [100, 100, 100, 0.1, 0.1, 0.1, 1, 1, 1],
          featureDims: { pi: F, q: F, v: F },
          critics,
          targetCritics: 2,
          seed: 4,
        });
        assert.match(agent.backend, /IQL heads: fused/);
        // The third update trains the critics only (no policy step on the helper lane).
        const losses = [0, 1, 2, 3].map((i) => {
          const s = agent.update(i === 2 ? { ...batch, trainActor: false } : batch);
          return [s.vLoss, s.qLoss, s.piLoss];
        });
        const vars = [
          ...netVariables(agent.pi),
          agent.logStd,
          ...netVariables(agent.v),
          ...agent.qs.flatMap(netVariables),
          ...agent.qTargets.flatMap(netVariables),
        ];
        const weights = vars.map((v) => v.dataSync() as Float32Array);
        agent.dispose();
        return [Float32Array.from(losses.flat()), ...weights];
      });
      addon.parallel = true;
      assertSameBits(one, two, `IQL ${critics} critics (losses, then each variable)`);
      // Each update queued pi's and the even critics' kernels on the helper lane (which thread ran them varies).
      const queued = addon.threadStats()[5] - queued0;
      if (parallel) assert.ok(queued >= 4 * 40, `only ${queued} kernels were queued on the helper lane in 4 updates`);
      else assert.equal(queued, 0);
    },
  );
}

test('the thread count is in the engine label, and a later initBackend() without one keeps it (the reward tuner re-inits)', { skip: noGemm }, async () => {
  const saved = process.env['INSERTION_GEMM_THREADS'];
  delete process.env['INSERTION_GEMM_THREADS'];
  try {
    await initBackend({ prefer: 'wasm', gemmThreads: 2 });
    assert.match(backendLabel(), /, 2 threads; fixes: /);
    await initBackend({ prefer: 'wasm' });
    assert.match(backendLabel(), /, 2 threads; fixes: /);
    assert.equal(nativeGemm()?.threads, 2);
  } finally {
    await initBackend({ prefer: 'wasm', gemmThreads: 1 });
    if (saved !== undefined) process.env['INSERTION_GEMM_THREADS'] = saved;
  }
  assert.match(backendLabel(), /, 1 thread; fixes: /);
});
