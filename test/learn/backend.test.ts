import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend, backendLabel, nativeGemm, setConvTrunk, setNativeGemm, setSmallSums } from '../../src/learn/backend.ts';
import { loadGemm } from '../../src/learn/gemm.ts';
import { buildEncoder, buildMlp, eagerApply, netVariables } from '../../src/learn/nets.ts';

const info = await initBackend();

/** Run `f` on the cpu backend (reference) and on the training backend; return both results as arrays. */
async function onBoth(f: () => tf.Tensor[]): Promise<{ ref: Float32Array[]; got: Float32Array[] }> {
  const run = async (): Promise<Float32Array[]> => {
    const outs = tf.tidy(f);
    const data = await Promise.all(outs.map((o) => o.data() as Promise<Float32Array>));
    outs.forEach((o) => o.dispose());
    return data;
  };
  const got = await run();
  await tf.setBackend('cpu');
  const ref = await run();
  await tf.setBackend(info.name);
  return { ref, got };
}

function maxRelErr(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] ?? 0) - (b[i] ?? 0)) / (1 + Math.abs(b[i] ?? 0)));
  return m;
}

test('backend is reported with its fixes', () => {
  assert.ok(['tensorflow', 'wasm'].includes(info.name), `unexpected backend ${info.name}`);
  assert.equal(tf.getBackend(), info.name);
  if (info.name === 'wasm') {
    assert.ok(info.fixes.includes('Conv2DBackpropFilter'));
    assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'), 'kernel registered');
    assert.match(backendLabel(), /^wasm(\+openblas \(gemm: [^;]+; | \()fixes: /);
  }
});

test('a native backend that fails to load (any error, not only MODULE_NOT_FOUND) falls back to wasm', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-node-broken-'));
  try {
    // Like a half-installed tfjs-node: the package is there, its native library is not.
    const broken = path.join(dir, 'index.mjs');
    fs.writeFileSync(broken, "throw new Error('libtensorflow.so.2: cannot open shared object file');\n");
    const got = await initBackend({ nativeModule: pathToFileURL(broken).href });
    assert.equal(got.name, 'wasm');
    assert.match(got.nativeError ?? '', /libtensorflow\.so\.2/);
    await assert.rejects(
      initBackend({ prefer: 'tensorflow', nativeModule: pathToFileURL(broken).href }),
      /native tfjs backend requested but unavailable: libtensorflow/,
    );
    assert.equal(tf.getBackend(), 'wasm');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('conv2d filter and input gradients match the cpu backend (strides, same/valid, odd sizes)', async () => {
  const cases: Array<{ x: [number, number, number, number]; f: [number, number, number, number]; s: number; pad: 'same' | 'valid' }> = [
    { x: [2, 9, 9, 3], f: [3, 3, 3, 4], s: 2, pad: 'same' },
    { x: [2, 9, 9, 3], f: [3, 3, 3, 4], s: 2, pad: 'valid' },
    { x: [3, 8, 8, 2], f: [4, 4, 2, 5], s: 2, pad: 'valid' },
    { x: [2, 7, 7, 3], f: [3, 3, 3, 2], s: 1, pad: 'same' },
    { x: [2, 8, 8, 3], f: [3, 3, 3, 2], s: 2, pad: 'same' },
    { x: [2, 10, 10, 3], f: [4, 4, 3, 2], s: 2, pad: 'same' },
    { x: [2, 11, 11, 2], f: [3, 3, 2, 3], s: 3, pad: 'valid' },
    { x: [2, 11, 11, 2], f: [5, 5, 2, 3], s: 3, pad: 'same' },
    { x: [2, 6, 6, 2], f: [1, 1, 2, 3], s: 2, pad: 'valid' },
    { x: [2, 6, 7, 2], f: [2, 3, 2, 3], s: 1, pad: 'valid' },
    { x: [3, 9, 9, 8], f: [3, 3, 8, 4], s: 2, pad: 'same' }, // ci >= 8: the bulk-copy im2col path
    { x: [2, 8, 8, 16], f: [3, 3, 16, 5], s: 1, pad: 'valid' },
    // 16 or 32 output (forward, filter gradient) or input (input gradient) channels: the addon's direct kernels.
    { x: [3, 9, 9, 3], f: [3, 3, 3, 32], s: 2, pad: 'same' }, // padding on both sides, pixels not a multiple of 6
    { x: [2, 16, 16, 32], f: [3, 3, 32, 32], s: 2, pad: 'same' }, // the encoder's middle layer
    { x: [2, 10, 10, 16], f: [4, 4, 16, 16], s: 2, pad: 'same' }, // stride phases with 4 and 2x2 taps
    { x: [2, 11, 11, 16], f: [4, 4, 16, 32], s: 3, pad: 'same' }, // stride > kernel/2: phases with 1 and 2 taps a side
    { x: [1, 7, 9, 32], f: [2, 3, 32, 16], s: 1, pad: 'valid' },
    { x: [2, 6, 6, 16], f: [1, 1, 16, 48], s: 2, pad: 'valid' },
    { x: [3, 12, 12, 16], f: [3, 3, 16, 16], s: 1, pad: 'same' }, // 432 pixels: the filter gradient sums two chunks
  ];
  // Every engine on wasm: the addon's direct kernels with their AVX2 tiles and (where the CPU has AVX-512F) the wide
  // ones, its im2col + OpenBLAS (when loaded), wasm's kernels with the fixes.
  const direct = nativeGemm()?.setConvDirect(true) ?? false;
  const wide = nativeGemm()?.setConvWide(true) ?? false;
  for (const [c, native] of cases.flatMap(
    (c) =>
      [
        [c, 'wide'],
        [c, 'direct'],
        [c, 'im2col'],
        [c, 'wasm'],
      ] as const,
  )) {
    if ((native === 'direct' && !direct) || (native === 'wide' && !wide)) continue;
    setNativeGemm(native !== 'wasm');
    nativeGemm()?.setConvDirect(native === 'direct' || native === 'wide');
    nativeGemm()?.setConvWide(native === 'wide');
    const xv = tf.randomNormal(c.x, 0, 1, 'float32', 11);
    const fv = tf.randomNormal(c.f, 0, 1, 'float32', 12);
    const { ref, got } = await onBoth(() => {
      const [gx, gf] = tf.grads((x: tf.Tensor, f: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.s, c.pad))))([xv, fv]);
      return [gx as tf.Tensor, gf as tf.Tensor, tf.conv2d(xv as tf.Tensor4D, fv as tf.Tensor4D, c.s, c.pad)];
    });
    setNativeGemm(true);
    nativeGemm()?.setConvDirect(true);
    nativeGemm()?.setConvWide(true);
    const what = `${JSON.stringify(c)} ${native}`;
    assert.ok(maxRelErr(got[2] as Float32Array, ref[2] as Float32Array) < 1e-4, `conv ${what}: ${maxRelErr(got[2] as Float32Array, ref[2] as Float32Array)}`);
    // A filter gradient sums hundreds of products of values in the hundreds, in the BLAS kernel's order: OpenBLAS's
    // Haswell kernels put im2col 1.4e-4 from tfjs cpu on the 32-channel case (a wrong gradient is off by ~1).
    assert.ok(
      maxRelErr(got[1] as Float32Array, ref[1] as Float32Array) < 5e-4,
      `filter grad ${what}: ${maxRelErr(got[1] as Float32Array, ref[1] as Float32Array)}`,
    );
    assert.ok(
      maxRelErr(got[0] as Float32Array, ref[0] as Float32Array) < 1e-4,
      `input grad ${what}: ${maxRelErr(got[0] as Float32Array, ref[0] as Float32Array)}`,
    );
    xv.dispose();
    fv.dispose();
  }
});

test("the direct convs' wide (AVX-512F) tiles give the same bits as the AVX2 tiles", (t) => {
  const g = nativeGemm();
  if (!g?.convBiasRelu || !g.setConvDirect(true) || !g.setConvWide(true)) {
    t.skip('no direct conv kernels with wide tiles here (an older addon, or a CPU without AVX-512F)');
    return;
  }
  // [N, H, W, Ci, KH, KW, Co, sH, sW, padTop, padLeft]: tiles of 12 pixels across images with a remainder; the filter
  // gradient's rows of 12 (Ci = 32), 9 (Ci = 3: one filter row a tile) and packed runs (KW*Ci = 64: neither), over more
  // than one chunk of pixels; the input gradient's 8-row tiles over phases of 4x4, 3x3 and 8x8 pixels; 64 channels.
  const shapes = [
    [5, 16, 16, 32, 3, 3, 32, 2, 2, 0, 0],
    [7, 32, 32, 3, 3, 3, 32, 2, 2, 0, 0],
    [3, 8, 8, 32, 3, 3, 32, 2, 2, 0, 0],
    [2, 7, 7, 32, 3, 3, 64, 2, 2, 1, 1],
    [3, 9, 10, 32, 2, 2, 32, 1, 1, 0, 0],
    [2, 12, 12, 64, 3, 3, 32, 1, 1, 1, 1],
  ] as const;
  const rnd = (n: number, seed: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 3.1);
  for (const [N, H, W, Ci, KH, KW, Co, sh, sw, pT, pL] of shapes) {
    const pB = sh === 1 ? KH - 1 - pT : 0;
    const OH = Math.floor((H + pT + pB - KH) / sh) + 1;
    const OW = Math.floor((W + pL + (sw === 1 ? KW - 1 - pL : 0) - KW) / sw) + 1;
    const dims = Int32Array.of(N, H, W, Ci, KH, KW, Co, sh, sw, pT, pL, OH, OW);
    const x = rnd(N * H * W * Ci, 1);
    const f = rnd(KH * KW * Ci * Co, 2);
    const dy = rnd(N * OH * OW * Co, 3);
    const bias = rnd(Co, 4);
    const run = (w: boolean): Float32Array[] => {
      g.setConvWide(w);
      const y = new Float32Array(N * OH * OW * Co);
      const yb = new Float32Array(y.length);
      const dx = new Float32Array(x.length);
      const dw = new Float32Array(f.length);
      g.conv(0, dims, x, f, y);
      g.convBiasRelu?.(dims, x, f, bias, yb);
      g.conv(1, dims, dy, f, dx);
      g.conv(2, dims, x, dy, dw);
      return [y, yb, dx, dw];
    };
    const [narrow, wideOut] = [run(false), run(true)];
    ['conv', 'convBiasRelu', 'input gradient', 'filter gradient'].forEach((what, k) => {
      const a = narrow[k] as Float32Array;
      const b = wideOut[k] as Float32Array;
      const bad = a.findIndex((v, i) => !Object.is(v, b[i]));
      assert.equal(bad, -1, `${what} of ${dims.join('x')}: element ${bad}: AVX2 ${a[bad]} wide ${b[bad]}`);
      assert.ok(
        a.some((v) => v !== 0),
        `${what} of ${dims.join('x')} is all zeros`,
      );
    });
  }
  g.setConvWide(true);
});

test('matMul with every transpose combination (values and gradients) matches cpu', async () => {
  const a = tf.randomNormal([2, 5, 7], 0, 1, 'float32', 1);
  const b = tf.randomNormal([2, 7, 3], 0, 1, 'float32', 2);
  for (const [ta, tb] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    const A = ta ? tf.transpose(a, [0, 2, 1]) : a;
    const B = tb ? tf.transpose(b, [0, 2, 1]) : b;
    const { ref, got } = await onBoth(() => {
      const y = tf.matMul(A, B, ta, tb);
      const [ga, gb] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.square(tf.matMul(p, q, ta, tb))))([A, B]);
      return [y, ga as tf.Tensor, gb as tf.Tensor];
    });
    got.forEach((g, i) => assert.ok(maxRelErr(g, ref[i] as Float32Array) < 1e-5, `transposeA=${ta} transposeB=${tb} output ${i}`));
    // Against the untransposed product too: the wrapper must not silently drop a transpose.
    const plain = tf.matMul(a, b).dataSync() as Float32Array;
    assert.ok(maxRelErr(got[0] as Float32Array, plain) < 1e-5);
  }
});

test('sum over all but the last axis (bias gradients) matches cpu; other sums unchanged', async () => {
  const x = tf.randomNormal([8, 16, 16, 5], 0, 1, 'float32', 4);
  for (const native of [true, false]) {
    setNativeGemm(native);
    const { ref, got } = await onBoth(() => [
      tf.sum(x, [0, 1, 2]),
      tf.sum(x, [2, 0, 1], true),
      tf.sum(x, [-4, -3, -2]),
      tf.sum(x, [1, 2]),
      tf.sum(x, -1),
      tf.sum(x),
    ]);
    setNativeGemm(true);
    assert.deepEqual(
      got.map((g) => g.length),
      [5, 5, 5, 40, 2048, 1],
    );
    got.forEach((g, i) => assert.ok(maxRelErr(g, ref[i] as Float32Array) < 1e-4, `sum case ${i} native=${native}: ${maxRelErr(g, ref[i] as Float32Array)}`));
  }
  assert.deepEqual(tf.sum(x, [0, 1, 2], true).shape, [1, 1, 1, 5]);
});

test("small sums over all but the last axis (under 1024 rows: the heads' bias gradients) = wasm's own Sum, bit for bit", (t) => {
  if (info.name !== 'wasm') return t.skip('wasm only');
  // Values of mixed magnitudes, so that another summation order or a double accumulator rounds differently somewhere.
  const x = tf.tidy(() => tf.mul(tf.randomNormal([256, 256], 0, 1, 'float32', 5), tf.exp(tf.randomNormal([256, 256], 0, 3, 'float32', 6))));
  const cases = (): tf.Tensor[] => [
    tf.sum(x, 0),
    tf.sum(tf.reshape(x, [1, 256, 256]), [0, 1]),
    tf.sum(tf.reshape(x, [4, 64, 256]), [1, 0], true),
    tf.sum(tf.slice(tf.reshape(x, [1024, 64]), [0, 0], [1023, 64]), 0), // the most rows summed in float
    tf.sum(tf.reshape(x, [65536, 1]), 0), // 65536 rows: the double sums (sumRows), not these
  ];
  const run = (small: boolean, native: boolean): Float32Array[] => {
    const was = setSmallSums(small);
    setNativeGemm(native);
    try {
      return tf.tidy(() => cases().map((c) => c.dataSync() as Float32Array));
    } finally {
      setSmallSums(was);
      setNativeGemm(true);
    }
  };
  const own = run(false, true);
  // The addon's loop (sumRowsFloat) and the JS one (without the addon).
  for (const native of [true, false]) {
    const small = run(true, native);
    own.forEach((o, k) => {
      const s = small[k] as Float32Array;
      assert.equal(s.length, o.length);
      const i = s.findIndex((v, j) => !Object.is(v, o[j]));
      assert.equal(i, -1, `case ${k} (native ${native}): element ${i} is ${s[i]}, wasm's Sum gives ${o[i]}`);
    });
  }
  assert.deepEqual(
    tf.tidy(() => tf.sum(tf.reshape(x, [4, 64, 256]), [0, 1], true).shape),
    [1, 1, 256],
  );
  x.dispose();
});

test('concat (float32, any axis, 2-3 inputs; wasm: a loop between heap views) = cpu exactly; int32 and empty inputs too', async () => {
  const t = (shape: number[], seed: number): tf.Tensor => tf.randomNormal(shape, 0, 1, 'float32', seed);
  const { ref, got } = await onBoth(() => [
    tf.concat([t([256, 48], 1), t([256, 9], 2)], -1),
    tf.concat([t([256, 48], 3), t([256, 9], 4), t([256, 3], 5)], 1),
    tf.concat([t([2, 3, 4], 6), t([2, 5, 4], 7)], 1),
    tf.concat([t([2, 3, 4], 8), t([1, 3, 4], 9)], 0),
    tf.concat([t([4, 2], 10), tf.zeros([4, 0]), t([4, 1], 11)], 1),
    tf.concat([tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), tf.tensor2d([5, 6], [2, 1], 'int32')], 1),
  ]);
  assert.deepEqual(
    got.map((g) => g.length),
    [256 * 57, 256 * 60, 2 * 8 * 4, 3 * 3 * 4, 12, 6],
  );
  got.forEach((g, i) => assert.deepEqual(g, ref[i], `concat case ${i}`));
});

test('gradient of a small conv-net loss matches cpu for every variable (conv + bias + ReLU fused on the native kernels)', async () => {
  // 4 and 6 filters: im2col + sgemm under the fused layer; 16 and 32: the direct kernels (and the plain ops without the addon).
  for (const [k, filters] of [
    [4, 6],
    [16, 32],
  ].entries()) {
    const enc = buildEncoder(`bt_enc${k}`, { inputShape: [16, 16, 3], filters, kernelSize: 3, strides: [2, 2], padding: 'same', zIDim: 5, zSDim: 3 }, 5);
    const head = buildMlp(`bt_head${k}`, { inDim: 8, hidden: [16], outDim: 1, layerNorm: true }, 5);
    const x = tf.randomUniform([4, 16, 16, 3], 0, 1, 'float32', 3);
    const vars = [...netVariables(enc), ...netVariables(head)];
    const loss = (): tf.Scalar => {
      const o = enc.apply(x);
      return tf.add<tf.Scalar>(tf.mean(tf.square(head.apply(enc.features(x)))), tf.mean(tf.square(o.zSLogVar as tf.Tensor)));
    };
    const { ref, got } = await onBoth(() => {
      const { grads } = tf.variableGrads(loss, vars);
      return [enc.features(x), ...vars.map((v) => grads[v.name] as tf.Tensor)];
    });
    assert.equal(got.length, vars.length + 1);
    got.forEach((g, i) =>
      assert.ok(
        maxRelErr(g, ref[i] as Float32Array) < 1e-4,
        `filters ${filters.join(',')} ${i ? `variable ${vars[i - 1]?.name}` : 'features'}: ${maxRelErr(g, ref[i] as Float32Array)}`,
      ),
    );
    if (nativeGemm()?.convBiasRelu) {
      // The fused kernel ran each way (two forwards of the trunk, apply and features), no plain conv; the first
      // layer's input gradient (the image's) was not computed.
      const p = await tf.profile(() => {
        tf.tidy(() => {
          tf.variableGrads(loss, vars);
        });
      });
      const count = (name: string): number => p.kernels.filter((q) => q.name === name).length;
      if (nativeGemm()?.convTrunk) {
        // The trunk kernel each way (its layers inside it), one gradient per recorded forward.
        assert.deepEqual(['ConvTrunk', 'ConvTrunkGrad', 'ConvBiasRelu', 'Conv2D', 'Conv2DBackpropFilter'].map(count), [2, 2, 0, 0, 0]);
      } else {
        assert.deepEqual(['ConvBiasRelu', 'ConvBiasReluGrad', 'Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput'].map(count), [4, 4, 0, 4, 2]);
      }
    }
    tf.dispose(x);
  }
});

test('the conv trunk as one kernel each way = the layers one by one, bit for bit: features, every gradient, the input gradient', async (t) => {
  const g = nativeGemm();
  if (!g?.convTrunk) {
    t.skip('no trunk kernel here (plain wasm, or an older addon: the encoders apply their layers one by one)');
    return;
  }
  // 32 channels (the direct kernels, wide tiles where the CPU has them) and 8 (the trunk kernel's layer-by-layer
  // fallback); 19 images: a full group of the addon's 16 and a partial one, 9: one partial group; the third case keeps
  // more recorded forwards than the trunk holds (8), so the oldest gradients recompute their intermediates; the fourth
  // has 16 input channels, so the input gradient runs in the trunk too (an image's 3 take the fallback for it).
  const cases: { filters: number[]; n: number; passes: number; c?: number }[] = [
    { filters: [32, 32, 32], n: 19, passes: 1 },
    { filters: [8, 16], n: 9, passes: 1 },
    { filters: [16, 32], n: 9, passes: 10 },
    { filters: [32, 16], n: 19, passes: 1, c: 16 },
  ];
  const threads = g.threads;
  try {
    for (const [k, { filters, n, passes, c = 3 }] of cases.entries()) {
      const enc = buildEncoder(
        `trunk_enc${k}`,
        { inputShape: [16, 16, c], filters, kernelSize: 3, strides: filters.map(() => 2), padding: 'same', zIDim: 5, zSDim: 3 },
        7,
      );
      const xs = Array.from({ length: passes }, (_, i) => tf.randomUniform<tf.Rank.R4>([n, 16, 16, c], -0.2, 1, 'float32', 11 + i));
      const vars = netVariables(enc).filter((v) => !v.name.includes('logvar')); // features() does not use that head
      const loss = (): tf.Scalar => tf.addN(xs.map((x) => tf.mean(tf.square(tf.sub(enc.features(x), 0.3))))) as tf.Scalar;
      const run = (): Float32Array[] =>
        tf
          .tidy(() => {
            const { grads } = tf.variableGrads(loss, vars);
            const dx = tf.grad((x: tf.Tensor) => tf.sum(tf.square(enc.features(x as tf.Tensor4D))))(xs[0] as tf.Tensor4D);
            return [enc.features(xs[0] as tf.Tensor4D), dx, ...vars.map((v) => grads[v.name] as tf.Tensor)];
          })
          .map((o) => {
            const d = o.dataSync() as Float32Array;
            o.dispose();
            return d;
          });
      setConvTrunk(false);
      const ref = run();
      setConvTrunk(true);
      for (const th of [1, 2]) {
        g.setThreads(th);
        const got = run();
        got.forEach((a, i) =>
          assert.deepEqual(
            a,
            ref[i],
            `filters ${filters.join(',')}, ${th} thread(s): ${i === 0 ? 'features' : i === 1 ? 'input gradient' : `gradient of ${vars[i - 2]?.name}`}`,
          ),
        );
      }
      g.setThreads(threads);
      tf.dispose(xs);
    }
  } finally {
    setConvTrunk(true);
    g.setThreads(threads);
  }
});

test('an older addon without the trunk kernel: the wrapper reports none (the encoders then apply their layers one by one)', (t) => {
  if (!nativeGemm()) {
    t.skip('no native kernels here');
    return;
  }
  const old = loadGemm({ without: ['convTrunk', 'convTrunkGrad'] }).gemm;
  assert.ok(old, 'the addon loads without those exports');
  assert.equal(old.convTrunk, null);
  assert.equal(old.convTrunkGrad, null);
});

test(
  'Identity and same-dtype Cast share the buffer on wasm (no copy); each owner disposes independently',
  { skip: info.name !== 'wasm' && 'wasm only' },
  () => {
    const before = tf.memory().numTensors;
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.clone(x);
    const z = tf.cast(x, 'float32');
    const w = tf.cast(tf.tensor1d([1, 0, 2], 'int32'), 'float32'); // a real cast still converts
    assert.equal(y.dataId, x.dataId, 'clone shares the buffer');
    assert.equal(z.dataId, x.dataId, 'cast to the same dtype shares the buffer');
    assert.deepEqual([...w.dataSync()], [1, 0, 2]);
    x.dispose();
    assert.deepEqual([...y.dataSync()], [1, 2, 3]);
    y.dispose();
    assert.deepEqual([...z.dataSync()], [1, 2, 3]);
    z.dispose();
    w.dispose();
    assert.equal(tf.memory().numTensors, before + 1); // the int32 input of w, kept on purpose
  },
);

test('LayerNorm as one kernel (wasm; native and JS loops) = the op formula on cpu: values and gradients for x, gamma, beta', async () => {
  const ln = tf.layers.layerNormalization({ epsilon: 1e-5 });
  for (const [shape, native] of [
    [256, 256],
    [7, 33],
    [2, 3, 5],
  ].flatMap(
    (s) =>
      [
        [s, true],
        [s, false],
      ] as const,
  )) {
    setNativeGemm(native);
    const c = shape[shape.length - 1] as number;
    const x0 = tf.add(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', 1), 3), 0.5);
    if (!ln.built) ln.apply(tf.zeros([1, 256]));
    const lnc = tf.layers.layerNormalization({ epsilon: 1e-5 });
    lnc.apply(tf.zeros([1, c]));
    lnc.setWeights([tf.randomNormal([c], 1, 0.5, 'float32', 2), tf.randomNormal([c], 0, 0.5, 'float32', 3)]);
    const dy = tf.randomNormal(shape, 0, 1, 'float32', 4);
    const { ref, got } = await onBoth(() => {
      const y = eagerApply(lnc, x0);
      const { grads } = tf.variableGrads(
        () => tf.sum<tf.Scalar>(tf.mul(eagerApply(lnc, x0), dy)),
        lnc.trainableWeights.map((w) => w.read() as tf.Variable),
      );
      const dx = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(eagerApply(lnc, x), dy)))(x0);
      return [y, dx, ...Object.values(grads)];
    });
    assert.equal(got.length, 4);
    got.forEach((g, i) =>
      assert.ok(
        maxRelErr(g, ref[i] as Float32Array) < 1e-4,
        `${JSON.stringify(shape)} native=${native} ${['y', 'dx', 'dgamma', 'dbeta'][i]}: ${maxRelErr(g, ref[i] as Float32Array)}`,
      ),
    );
  }
  setNativeGemm(true);
  if (info.name === 'wasm') {
    const p = await tf.profile(() => {
      tf.tidy(() => {
        eagerApply(ln, tf.ones([4, 256]));
      });
    });
    assert.deepEqual(
      p.kernels.map((k) => k.name).filter((n) => n !== 'Fill'),
      ['LayerNormLastAxis'],
    );
  }
});

test('bias add (a row broadcast over a big tensor) = cpu, both operand orders; other adds unchanged', async () => {
  const big = tf.randomNormal([8, 16, 16, 5], 0, 1, 'float32', 5);
  const row = tf.randomNormal([5], 0, 1, 'float32', 6);
  const row4 = tf.reshape(row, [1, 1, 1, 5]);
  const small = tf.randomNormal([3, 5], 0, 1, 'float32', 7);
  const col = tf.randomNormal([8, 16, 16, 1], 0, 1, 'float32', 8);
  for (const native of [true, false]) {
    setNativeGemm(native);
    const { ref, got } = await onBoth(() => [
      tf.add(big, row),
      tf.add(row, big),
      tf.add(big, row4),
      tf.add(small, row),
      tf.add(big, col),
      tf.add(big, big),
      ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.add(a, b))))([big, row]),
    ]);
    setNativeGemm(true);
    assert.deepEqual(
      got.map((g) => g.length),
      [2048 * 5, 2048 * 5, 2048 * 5, 15, 2048 * 5, 2048 * 5, 2048 * 5, 5],
    );
    got.forEach((g, i) => assert.ok(maxRelErr(g, ref[i] as Float32Array) < 1e-4, `add case ${i} native=${native}: ${maxRelErr(g, ref[i] as Float32Array)}`));
  }
});
