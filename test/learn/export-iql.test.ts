/**
 * The exporter on the real IQL inference graphs (src/learn/iql.ts): the deterministic policy (image mode and cached-feature
 * mode) and the frozen encoders. Each must match tfjs within 1e-4, pass onnx.checker, and load through the daemon's loader.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveOnnxModel } from '../../src/learn/export.ts';
import { IqlAgent, DEFAULT_IQL, type IqlConfig } from '../../src/learn/iql.ts';
import { defaultDaibConfig } from '../../src/learn/daib.ts';
import { EncoderModel, PolicyModel } from '../../src/policy/onnx-model.ts';
import { cardDraft, randomizeWeights } from '../policy/fixtures.ts';

await tf.setBackend('cpu');
const dir = mkdtempSync(join(tmpdir(), 'export-iql-test-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const SIZE = 16;
const BOUND = 0.005;

function checker(path: string): void {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', path], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `onnx.checker refused ${path}:\n${r.stderr}`);
}

function agent(mode: 'image' | 'features'): IqlAgent {
  const cfg: IqlConfig = {
    ...DEFAULT_IQL,
    mode,
    proprioDim: 9,
    proprioScale: [100, 100, 100, 0.1, 0.1, 0.1, 1, 1, 1],
    hidden: [32, 32],
    actionScale: [BOUND, BOUND, BOUND],
    seed: 3,
  };
  if (mode === 'image') {
    cfg.daib = defaultDaibConfig({
      numDomains: 3,
      encoder: { inputShape: [SIZE, SIZE, 3], filters: [8, 8, 8], kernelSize: 3, strides: [2, 2, 1], padding: 'same', zIDim: 8, zSDim: 4 },
    });
  } else {
    cfg.featureDims = { pi: 12, q: 12, v: 12 };
  }
  return new IqlAgent(cfg);
}

/** Inputs in the ranges the daemon feeds: images in [0,1], proprio in raw units (metres and newtons). */
function inputs(model: tf.LayersModel, n: number, seed: number): tf.Tensor[] {
  return model.inputs.map((t, i) => {
    const shape = [n, ...(t.shape.slice(1) as number[])];
    if (t.shape.length === 4) return tf.randomUniform(shape, 0, 1, 'float32', seed + i);
    if (t.sourceLayer.name === 'proprio')
      return tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed + i), tf.tensor1d([0.005, 0.005, 0.005, 5, 5, 5, 0.5, 0.5, 0.5]));
    return tf.randomNormal(shape, 0, 1, 'float32', seed + i);
  });
}

for (const mode of ['image', 'features'] as const) {
  test(`IQL policy (${mode} mode): export matches tfjs, passes the checker, loads as a bounded PolicyModel`, async () => {
    const a = agent(mode);
    const model = a.policyInferenceModel();
    randomizeWeights(model, 21);
    const roles = model.inputs.map((t) => (t.sourceLayer.name === 'proprio' ? 'proprio' : mode === 'image' ? 'image' : 'features'));
    const draft = cardDraft('policy', { size: SIZE, proprioDim: 9, bound: BOUND });
    if (mode === 'features') delete draft.preprocessing.image;
    const path = join(dir, `policy-${mode}.onnx`);
    saveOnnxModel(model, path, { inputRoles: roles, outputRoles: ['action'], card: draft });
    checker(path);
    const policy = await PolicyModel.load(path);
    const xs = inputs(model, 5, 7);
    const ref = (model.predict(xs) as tf.Tensor).dataSync();
    for (let k = 0; k < 5; k++) {
      const feeds: Record<string, Float32Array> = {};
      model.inputs.forEach((t, i) => {
        const per = (t.shape.slice(1) as number[]).reduce((p, d) => p * d, 1);
        feeds[roles[i] as string] = (xs[i]?.dataSync() as Float32Array).slice(k * per, (k + 1) * per);
      });
      const u = await policy.runFeeds(feeds);
      u.forEach((v, j) =>
        assert.ok(Math.abs(v - (ref[k * 3 + j] as number)) <= 1e-4 * BOUND + 1e-9, `sample ${k} axis ${j}: onnx ${v} vs tfjs ${ref[k * 3 + j]}`),
      );
    }
    assert.ok(Math.max(...ref) - Math.min(...ref) > BOUND * 0.05, 'residuals barely vary: comparison too weak');
    await policy.dispose();
  });
}

test('IQL frozen encoders (pi, q, v) export and load as EncoderModels', async () => {
  const a = agent('image');
  for (const which of ['pi', 'q', 'v'] as const) {
    const model = a.encoderInferenceModel(which);
    randomizeWeights(model, 30);
    const path = join(dir, `encoder-${which}.onnx`);
    saveOnnxModel(model, path, { inputRoles: ['image'], outputRoles: ['features'], card: cardDraft('encoder', { size: SIZE, proprioDim: 0 }) });
    checker(path);
    const enc = await EncoderModel.load(path);
    const x = tf.randomUniform([3, SIZE, SIZE, 3], 0, 1, 'float32', 40);
    const f = await enc.featuresBatch(3, x.dataSync() as Float32Array);
    const ref = (model.predict(x) as tf.Tensor).dataSync();
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs((f[i] as number) - (ref[i] as number)));
    assert.ok(worst <= 1e-4, `${which} encoder features differ by ${worst}`);
    await enc.dispose();
  }
});
