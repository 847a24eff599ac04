// Offline IQL on a tiny real collected database: an interrupted + resumed run reproduces the uninterrupted one
// exactly, the exported policy matches tfjs within 1e-4 on real logged observations, the encoders and cards are
// valid, and the exported policy runs in the simulated cell through the residual controller.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/learn/backend.ts';
import { PolicyController } from '../../src/control/policy-controller.ts';
import { createController } from '../../src/control/registry.ts';
import { cardPathFor, readCard } from '../../src/policy/card.ts';
import { EncoderModel, PolicyModel } from '../../src/policy/onnx-model.ts';
import { DEFAULT_OFFLINE, exportOffline, trainOffline, type OfflineOptions } from '../../src/train/offline.ts';
import { evaluatePolicy, policyMetrics } from '../../src/train/evaluate-policy.ts';
import { HELD_OUT, TRAIN, tinyDb } from './fixtures.ts';

await initBackend();
const fx = await tinyDb('train-offline-test', 2, [...TRAIN.slice(0, 2), HELD_OUT[0] as string]);
after(() => fx.cleanup());

const opts = (dir: string | null, extra: Partial<OfflineOptions> = {}): OfflineOptions => ({
  ...DEFAULT_OFFLINE, db: fx.db, split: fx.split, steps: 6, imageSize: 16, batchSize: 16, filters: [4, 4], zIDim: 4, zSDim: 4,
  hidden: [16, 16], seed: 7, checkpointDir: dir, checkpointEvery: 2, resume: true, logEvery: 1000, ...extra,
});

/** Policy outputs (tfjs) on the first n real logged observations of the run's dataset. */
function policyOn(run: Awaited<ReturnType<typeof trainOffline>>, n: number): { out: Float32Array; images: Float32Array; proprio: Float32Array } {
  const d = run.data;
  const px = d.shape[0] * d.shape[1] * d.shape[2];
  const images = Float32Array.from(d.obsImages.subarray(0, n * px), (v) => v / 255);
  const proprio = d.obsProprio.slice(0, n * d.proprioDim);
  const model = run.agent.policyInferenceModel();
  const out = tf.tidy(() => (model.predict([tf.tensor4d(images, [n, ...d.shape]), tf.tensor2d(proprio, [n, d.proprioDim])]) as tf.Tensor).dataSync() as Float32Array);
  return { out: Float32Array.from(out), images, proprio };
}

test('interrupted offline IQL resumes to exactly the uninterrupted result', async () => {
  const full = await trainOffline(opts(join(fx.dir, 'ck-full')));
  assert.equal(full.agent.step, 6);
  assert.ok(Number.isFinite(full.last?.qLoss ?? NaN));
  // Interrupted after 3 updates: the newest checkpoint is step 2, so one update is lost and redone.
  const cut = await trainOffline(opts(join(fx.dir, 'ck-cut'), { stopAfter: 3 }));
  assert.ok(cut.interrupted);
  assert.equal(cut.agent.step, 3);
  cut.agent.dispose();
  const resumed = await trainOffline(opts(join(fx.dir, 'ck-cut')));
  assert.equal(resumed.updatesThisRun, 4, 'resumed from the step-2 checkpoint');
  assert.equal(resumed.agent.step, 6);
  const a = policyOn(full, 20).out;
  const b = policyOn(resumed, 20).out;
  assert.deepEqual(Array.from(b), Array.from(a));
  // And training changed the policy (the comparison is not between two untouched initialisations).
  const fresh = await trainOffline(opts(null, { steps: 0, resume: false }));
  const c = policyOn(fresh, 20).out;
  assert.ok(a.some((v, i) => Math.abs(v - (c[i] as number)) > 1e-7), 'six updates left the policy unchanged');
  fresh.agent.dispose();
  resumed.agent.dispose();

  // Export: policy == tfjs within 1e-4 on real logged observations; encoders and cards valid.
  const out = join(fx.dir, 'models');
  const o = opts(null);
  exportOffline(full, o, out, { metrics: { test: 1 } });
  const card = readCard(cardPathFor(join(out, 'policy.onnx')));
  assert.equal(card.kind, 'policy');
  assert.equal(card.training.updates, 6);
  assert.deepEqual(card.preprocessing.proprio?.layout, ['dx', 'dy', 'dz', 'fx', 'fy', 'fz', 'tx', 'ty', 'tz']);
  const n = 20;
  const ref = policyOn(full, n);
  const policy = await PolicyModel.load(join(out, 'policy.onnx'));
  const px = 16 * 16 * 3;
  let maxDiff = 0;
  for (let k = 0; k < n; k++) {
    const u = await policy.run(ref.images.subarray(k * px, (k + 1) * px), ref.proprio.subarray(k * 9, (k + 1) * 9));
    u.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - (ref.out[k * 3 + j] as number)))));
  }
  await policy.dispose();
  assert.ok(maxDiff <= 1e-4 * o.actionBound, `max |onnx - tfjs| = ${maxDiff} m`);
  assert.ok(Math.max(...ref.out) - Math.min(...ref.out) > 0, 'residuals identical: comparison too weak');
  for (const w of ['pi', 'q', 'v'] as const) {
    const enc = await EncoderModel.load(join(out, `encoder-${w}.onnx`));
    assert.equal(enc.featureDim, 8);
    await enc.dispose();
  }
  full.agent.dispose();

  // The exported policy runs in the real cell as P + residual (registered as 'policy'), next to the baselines.
  const ctrl = createController('policy', { policy: { modelPath: join(out, 'policy.onnx') } });
  assert.ok(ctrl instanceof PolicyController);
  const report = await evaluatePolicy({
    policyPath: join(out, 'policy.onnx'), split: fx.split, sets: ['heldout'], trials: 1, goalBiasMm: [1.5], scenarios: ['I'],
    baselines: { I: ['p'], II: ['p'] }, seed: 1,
  });
  const e = report.entries[0];
  assert.ok(e);
  assert.equal(e.policyFallbacks, 0);
  assert.deepEqual(e.result.controllers, ['policy', 'p']);
  assert.equal(e.result.cells.length, 2 * HELD_OUT.length);
  const m = policyMetrics(report);
  assert.ok(Number.isFinite(m.successRate_heldout_I_bias1p5mm_policy));
});
