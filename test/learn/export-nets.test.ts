/**
 * The exporter on the project's real networks (src/learn/daib.ts), not only on hand-built ones: the inference graphs
 * the learning core produces must export, match tfjs within 1e-4, pass onnx.checker and load through the daemon's loader.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { exportOnnx, saveOnnxModel } from '../../src/learn/export.ts';
import { DaibClassifier, defaultDaibConfig, DAIB_METHODS } from '../../src/learn/daib.ts';
import { EncoderModel, RewardModel } from '../../src/policy/onnx-model.ts';
import { cardDraft, randomizeWeights } from '../policy/fixtures.ts';

await tf.setBackend('cpu');
const dir = mkdtempSync(join(tmpdir(), 'export-nets-test-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const SHAPE: [number, number, number] = [16, 16, 3];

function classifier(method: (typeof DAIB_METHODS)[number], seed: number): DaibClassifier {
  return new DaibClassifier(
    defaultDaibConfig({
      numDomains: 3,
      method,
      seed,
      headHidden: [32, 32],
      domainHidden: [16],
      batchSize: 8,
      encoder: { inputShape: SHAPE, filters: [8, 8, 8], kernelSize: 3, strides: [2, 2, 1], padding: 'same', zIDim: 8, zSDim: 4 },
    }),
  );
}

function checker(path: string): void {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', path], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `onnx.checker refused ${path}:\n${r.stderr}`);
}

const images = (n: number, seed: number) => tf.randomUniform([n, ...SHAPE], 0, 1, 'float32', seed);

for (const method of DAIB_METHODS) {
  test(`DAIB reward classifier (${method}): export matches tfjs, passes the checker, loads as a RewardModel`, async () => {
    const clf = classifier(method, 7);
    // Built twice on purpose: the second graph re-applies the same layers (a second inbound node on each).
    clf.inferenceModel(); // not disposed: that would dispose the shared layers' weights
    const model = clf.inferenceModel();
    randomizeWeights(model, 11); // LayerNorm gains/biases away from 1/0, so they are exercised
    const path = join(dir, `reward-${method}.onnx`);
    saveOnnxModel(model, path, { inputRoles: ['image'], outputRoles: ['probability'], card: cardDraft('reward', { size: 16, proprioDim: 0 }) });
    checker(path);
    const reward = await RewardModel.load(path);
    const x = images(6, 3);
    const p = await reward.probabilities(6, x.dataSync() as Float32Array);
    const ref = (model.predict(x) as tf.Tensor).dataSync();
    for (let i = 0; i < 6; i++) assert.ok(Math.abs((p[i] as number) - (ref[i] as number)) <= 1e-4, `sample ${i}: onnx ${p[i]} vs tfjs ${ref[i]}`);
    assert.ok(Math.max(...ref) - Math.min(...ref) > 1e-3, 'probabilities do not vary across inputs: comparison too weak');
    await reward.dispose();
  });
}

test('DAIB frozen encoder features model exports and loads as an EncoderModel', async () => {
  const clf = classifier('daib', 8);
  const model = clf.rep.featuresModel();
  randomizeWeights(model, 12);
  const bytes = exportOnnx(model);
  assert.ok(bytes.length > 1000);
  const path = join(dir, 'encoder.onnx');
  saveOnnxModel(model, path, { inputRoles: ['image'], outputRoles: ['features'], card: cardDraft('encoder', { size: 16, proprioDim: 0 }) });
  checker(path);
  const enc = await EncoderModel.load(path);
  assert.equal(enc.featureDim, clf.rep.zDim);
  const x = images(3, 5);
  const f = await enc.featuresBatch(3, x.dataSync() as Float32Array);
  const ref = (model.predict(x) as tf.Tensor).dataSync();
  assert.equal(f.length, ref.length);
  let worst = 0;
  for (let i = 0; i < f.length; i++) worst = Math.max(worst, Math.abs((f[i] as number) - (ref[i] as number)));
  assert.ok(worst <= 1e-4, `features differ by ${worst}`);
  await enc.dispose();
});
