import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { exportOnnx, OnnxExportError } from '../../src/learn/export.ts';
import { scale } from '../../src/learn/layers.ts';
import { buildPolicyLike, randomizeWeights } from '../policy/fixtures.ts';

await tf.setBackend('cpu');
const dir = mkdtempSync(join(tmpdir(), 'export-test-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const sym = (x: tf.SymbolicTensor | tf.SymbolicTensor[] | tf.Tensor | tf.Tensor[]) => x as tf.SymbolicTensor;

/** Random inputs for every model input: images in [0,1], others ~ N(0,1); batch n. */
function randomInputs(model: tf.LayersModel, n: number, seed: number): tf.Tensor[] {
  return model.inputs.map((t, i) => {
    const shape = [n, ...(t.shape.slice(1) as number[])];
    return t.shape.length === 4 ? tf.randomUniform(shape, 0, 1, 'float32', seed + i) : tf.randomNormal(shape, 0, 1, 'float32', seed + i);
  });
}

/** Runs the exported bytes in onnxruntime and tfjs on the same inputs; returns the worst abs error per output. */
async function compare(model: tf.LayersModel, bytes: Uint8Array, n: number, seed: number): Promise<number[]> {
  const xs = randomInputs(model, n, seed);
  const session = await ort.InferenceSession.create(bytes);
  try {
    const feeds: Record<string, ort.Tensor> = {};
    session.inputNames.forEach((name, i) => {
      const x = xs[i] as tf.Tensor;
      feeds[name] = new ort.Tensor('float32', x.dataSync() as Float32Array, x.shape);
    });
    const res = await session.run(feeds);
    const pred = model.predict(xs);
    const refs = Array.isArray(pred) ? pred : [pred];
    return session.outputNames.map((name, i) => {
      const ref = refs[i] as tf.Tensor;
      const out = res[name] as ort.Tensor;
      assert.deepEqual(out.dims, ref.shape, `output ${name} shape`);
      const a = ref.dataSync();
      const b = out.data as Float32Array;
      let worst = 0;
      for (let k = 0; k < a.length; k++) worst = Math.max(worst, Math.abs((a[k] as number) - (b[k] as number)) / Math.max(1, Math.abs(a[k] as number)));
      // Guard against a degenerate comparison (e.g. everything saturated at the same constant).
      const spread = Math.max(...a) - Math.min(...a);
      if (a.length > 1) assert.ok(spread > 1e-3, `output ${name} barely varies (${spread}); the comparison would prove nothing`);
      return worst;
    });
  } finally {
    await session.release();
    xs.forEach((x) => x.dispose());
  }
}

function onnxCheck(bytes: Uint8Array, name: string): { ok: boolean; stderr: string } {
  const file = join(dir, `${name}.onnx`);
  writeFileSync(file, bytes);
  // Debian's python3-onnx, not the pyenv python3 on PATH.
  const r = spawnSync('/usr/bin/python3', ['-c', 'import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', file], {
    encoding: 'utf8',
  });
  return { ok: r.status === 0, stderr: r.stderr };
}

async function assertEquivalent(model: tf.LayersModel, label: string): Promise<Uint8Array> {
  const bytes = exportOnnx(model);
  for (const [n, seed] of [
    [1, 11],
    [5, 22],
  ] as const) {
    const errs = await compare(model, bytes, n, seed);
    for (const e of errs) assert.ok(e <= 1e-4, `${label}: onnxruntime differs from tfjs by ${e} (batch ${n})`);
  }
  const chk = onnxCheck(bytes, label);
  assert.ok(chk.ok, `${label}: onnx.checker refused the export:\n${chk.stderr}`);
  return bytes;
}

test('conv stack: same padding with odd sizes and strides (asymmetric pads), valid, rectangular kernels, no-bias, Scale and activations on NCHW', async () => {
  const img = tf.input({ shape: [13, 11, 3], name: 'image' });
  let x = sym(tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(img));
  x = sym(tf.layers.conv2d({ filters: 5, kernelSize: [2, 3], strides: [1, 2], padding: 'valid' }).apply(x));
  x = sym(tf.layers.conv2d({ filters: 6, kernelSize: 4, strides: 3, padding: 'same', useBias: false, activation: 'tanh' }).apply(x));
  x = sym(scale([1, -2, 0.5, 3, 1.5, -1]).apply(x));
  x = sym(tf.layers.activation({ activation: 'sigmoid' }).apply(x));
  x = sym(tf.layers.conv2d({ filters: 3, kernelSize: 2, strides: 1, padding: 'same' }).apply(x));
  const f = sym(tf.layers.flatten().apply(x));
  const out = sym(tf.layers.dense({ units: 4 }).apply(f));
  const model = tf.model({ inputs: img, outputs: out });
  randomizeWeights(model, 2);
  await assertEquivalent(model, 'conv-stack');
});

test('image + proprio: flatten after conv, concat, dense relu/tanh/sigmoid, LayerNorm (with and without centre/scale), two outputs', async () => {
  const img = tf.input({ shape: [16, 16, 3], name: 'image' });
  const pro = tf.input({ shape: [7], name: 'proprio' });
  let x = sym(tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(img));
  x = sym(tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu' }).apply(x));
  const f = sym(tf.layers.flatten().apply(x));
  const p = sym(scale([1, 2, 3, 4, 5, 6, 7]).apply(pro));
  let h = sym(tf.layers.concatenate().apply([f, p]));
  h = sym(tf.layers.dense({ units: 32, activation: 'relu' }).apply(h));
  h = sym(tf.layers.layerNormalization({ epsilon: 1e-5 }).apply(h));
  h = sym(tf.layers.dense({ units: 16, activation: 'tanh', useBias: false }).apply(h));
  h = sym(tf.layers.layerNormalization({ epsilon: 1e-3, center: false, scale: false }).apply(h));
  const a = sym(tf.layers.dense({ units: 3 }).apply(h));
  const s = sym(tf.layers.dense({ units: 1, activation: 'sigmoid' }).apply(h));
  const model = tf.model({ inputs: [img, pro], outputs: [a, s] });
  randomizeWeights(model, 3);
  const bytes = await assertEquivalent(model, 'two-input');
  const session = await ort.InferenceSession.create(bytes);
  assert.deepEqual(session.inputNames, ['image', 'proprio']);
  assert.equal(session.outputNames.length, 2);
  await session.release();
});

test('nested encoder model, Dense on a rank-4 tensor, LayerNorm on channels of a feature map, softplus/elu', async () => {
  const eIn = tf.input({ shape: [10, 10, 1] });
  let e = sym(tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'elu' }).apply(eIn));
  e = sym(tf.layers.dense({ units: 5, activation: 'softplus' }).apply(e)); // acts on the channel axis of [b,5,5,4]
  e = sym(tf.layers.layerNormalization({ epsilon: 1e-5 }).apply(e));
  e = sym(tf.layers.flatten().apply(e));
  const encoder = tf.model({ inputs: eIn, outputs: e, name: 'encoder' });
  const img = tf.input({ shape: [10, 10, 1], name: 'image' });
  const z = sym(encoder.apply(img));
  const out = sym(tf.layers.dense({ units: 2 }).apply(z));
  const model = tf.model({ inputs: img, outputs: out });
  randomizeWeights(model, 4);
  randomizeWeights(encoder, 5);
  await assertEquivalent(model, 'nested');
});

test('policy-shaped network (3-conv encoder on 64x64x3 + 2x256 MLP + tanh*bound) matches tfjs and passes the checker', async () => {
  const model = buildPolicyLike({ head: 'action', bound: 0.5, seed: 6 });
  await assertEquivalent(model, 'policy-like');
});

test('the export carries opset 17, IR 8, a dynamic batch dimension and the requested names', () => {
  const model = buildPolicyLike({ size: 16, hidden: 8, head: 'probability', seed: 7 });
  const bytes = exportOnnx(model, { inputNames: ['img', 'prop'], outputNames: ['p_success'], docString: 'reward test', metadata: { kind: 'reward' } });
  const proto = onnxProto.onnx.ModelProto.decode(bytes);
  assert.equal(Number(proto.irVersion), 8);
  assert.deepEqual(
    proto.opsetImport.map((o) => [o.domain, Number(o.version)]),
    [['', 17]],
  );
  assert.equal(proto.docString, 'reward test');
  assert.deepEqual(
    proto.metadataProps.map((m) => [m.key, m.value]),
    [['kind', 'reward']],
  );
  const graph = proto.graph as onnxProto.onnx.GraphProto;
  assert.deepEqual(
    graph.input.map((i) => i.name),
    ['img', 'prop'],
  );
  assert.deepEqual(
    graph.output.map((i) => i.name),
    ['p_success'],
  );
  const dims = graph.input[0]?.type?.tensorType?.shape?.dim ?? [];
  assert.equal(dims[0]?.dimParam, 'batch');
  assert.deepEqual(
    dims.slice(1).map((d) => Number(d.dimValue)),
    [16, 16, 3],
  );
  // The first conv's TF 'same' padding for 16 px, k5, s2 is 1 before and 2 after.
  const conv = graph.node.find((n) => n.opType === 'Conv');
  assert.deepEqual((conv?.attribute ?? []).find((a) => a.name === 'pads')?.ints?.map(Number), [1, 1, 2, 2]);
});

test('the checker invocation can fail: a graph whose node reads an undefined tensor is refused', () => {
  const model = buildPolicyLike({ size: 16, hidden: 8, head: 'probability', seed: 8 });
  const proto = onnxProto.onnx.ModelProto.decode(exportOnnx(model));
  const node = proto.graph?.node?.[0];
  assert.ok(node?.input);
  node.input[0] = 'no_such_tensor';
  const chk = onnxCheck(onnxProto.onnx.ModelProto.encode(proto).finish(), 'broken');
  assert.equal(chk.ok, false);
  assert.match(chk.stderr, /no_such_tensor/);
});

test('unsupported layers, bad options and non-finite weights are refused with the layer named', () => {
  const inp = tf.input({ shape: [4] });
  const bn = sym(tf.layers.batchNormalization({ name: 'my_bn' }).apply(inp));
  assert.throws(
    () => exportOnnx(tf.model({ inputs: inp, outputs: bn })),
    (e: unknown) => e instanceof OnnxExportError && /layer 'my_bn' \(class BatchNormalization\)/.test(e.message),
  );

  const inp2 = tf.input({ shape: [4] });
  const sm = sym(tf.layers.dense({ units: 2, activation: 'softmax', name: 'soft' }).apply(inp2));
  assert.throws(() => exportOnnx(tf.model({ inputs: inp2, outputs: sm })), /layer 'soft' \(class Dense\): activation 'softmax'/);

  const img = tf.input({ shape: [8, 8, 2] });
  const causal = sym(tf.layers.conv1d({ filters: 2, kernelSize: 2, name: 'c1' }).apply(sym(tf.layers.reshape({ targetShape: [64, 2] }).apply(img))));
  assert.throws(() => exportOnnx(tf.model({ inputs: img, outputs: causal })), /class Reshape/);

  const inp3 = tf.input({ shape: [3] });
  const d = tf.layers.dense({ units: 2, name: 'nan_dense' });
  const out3 = sym(d.apply(inp3));
  const m3 = tf.model({ inputs: inp3, outputs: out3 });
  d.setWeights([
    tf.tensor2d([
      [1, Number.NaN],
      [0, 0],
      [0, 0],
    ]),
    tf.zeros([2]),
  ]);
  assert.throws(() => exportOnnx(m3), /nan_dense\/kernel.*not finite/);
  assert.throws(() => exportOnnx(m3, { inputNames: ['a', 'b'] }), /inputNames has 2 names but the model has 1 inputs/);
  assert.throws(() => exportOnnx(m3, { outputNames: ['x y'] }), /not a usable ONNX/);
  assert.throws(() => exportOnnx(m3, { opset: 18 as 17 }), /opset 18 is not supported/);
});

test('a Sequential model, and one nested in a functional model, export with default names', async () => {
  const seq = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 2], filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', name: 'seq_conv' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 2, name: 'seq_out' }),
    ],
  });
  randomizeWeights(seq, 9);
  const bytes = await assertEquivalent(seq, 'sequential');
  const session = await ort.InferenceSession.create(bytes);
  assert.deepEqual(session.outputNames, ['seq_out']);
  await session.release();
  const inp = tf.input({ shape: [8, 8, 2], name: 'image' });
  const out = sym(tf.layers.dense({ units: 3 }).apply(sym(seq.apply(inp))));
  const outer = tf.model({ inputs: inp, outputs: out });
  randomizeWeights(outer, 10);
  await assertEquivalent(outer, 'nested-sequential');
});
