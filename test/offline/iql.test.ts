// Offline IQL on a tiny real collected database: an interrupted + resumed run reproduces the uninterrupted one
// exactly, the exported policy matches tfjs within 1e-4 on real logged observations, the encoders and cards are
// valid, and the exported policy runs in the simulated cell through the residual controller.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/learn/backend.ts';
import { variableValues } from '../../src/learn/optim.ts';
import { netVariables } from '../../src/learn/nets.ts';
import { PolicyController } from '../../src/control/policy-controller.ts';
import { createController } from '../../src/control/registry.ts';
import { cardPathFor, readCard } from '../../src/policy/card.ts';
import { EncoderModel, PolicyModel } from '../../src/policy/onnx-model.ts';
import { actorLearningRate, exportOffline, trainOffline, type OfflineOptions } from '../../src/offline/iql.ts';
import { evaluatePolicy, policyMetrics } from '../../src/offline/evaluate-policy.ts';
import { DEFAULT_ONLINE, OnlineTrainer, checkpointConfig, exportCheckpointPolicy } from '../../src/online/trainer.ts';
import { main as trainOfflineCli } from '../../src/cli/train-offline.ts';
import { HELD_OUT, TRAIN, tinyDb, tinyOfflineOptions } from './fixtures.ts';

await initBackend();
const fx = await tinyDb('train-offline-test', 2, [...TRAIN.slice(0, 2), HELD_OUT[0] as string]);
after(() => fx.cleanup());

const opts = (dir: string | null, extra: Partial<OfflineOptions> = {}): OfflineOptions =>
  tinyOfflineOptions(fx, dir, { steps: 6, seed: 7, checkpointEvery: 2, resume: true, logEvery: 1000, ...extra });

/** Policy outputs (tfjs) on the first n real logged observations of the run's dataset. */
function policyOn(run: Awaited<ReturnType<typeof trainOffline>>, n: number): { out: Float32Array; images: Float32Array; proprio: Float32Array } {
  const d = run.data;
  const px = d.shape[0] * d.shape[1] * d.shape[2];
  const images = Float32Array.from(d.obsImages.subarray(0, n * px), (v) => v / 255);
  const proprio = d.obsProprio.slice(0, n * d.proprioDim);
  const model = run.agent.policyInferenceModel();
  const out = tf.tidy(
    () => (model.predict([tf.tensor4d(images, [n, ...d.shape]), tf.tensor2d(proprio, [n, d.proprioDim])]) as tf.Tensor).dataSync() as Float32Array,
  );
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
  assert.ok(
    a.some((v, i) => Math.abs(v - (c[i] as number)) > 1e-7),
    'six updates left the policy unchanged',
  );
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
    policyPath: join(out, 'policy.onnx'),
    split: fx.split,
    sets: ['heldout'],
    trials: 1,
    goalBiasMm: [1.5],
    scenarios: ['I'],
    baselines: { I: ['p'], II: ['p'] },
    seed: 1,
  });
  const e = report.entries[0];
  assert.ok(e);
  assert.equal(e.policyFallbacks, 0);
  assert.deepEqual(e.result.controllers, ['policy', 'p']);
  assert.equal(e.result.cells.length, 2 * HELD_OUT.length);
  const m = policyMetrics(report);
  assert.ok(Number.isFinite(m.successRate_heldout_I_bias1p5mm_policy));
});

test('weightAverage: the last step carries the running average of every trained weight, not the last iterate', async () => {
  // The batches of update k depend only on (seed, k), so runs of 0, 1 and 2 updates give the iterates w0, w1, w2.
  const weights = async (steps: number, weightAverage = 0): Promise<Float32Array[]> => {
    const run = await trainOffline(opts(null, { steps, weightAverage, resume: false }));
    const w = variableValues(run.agent.trainedVariables());
    run.agent.dispose();
    return w;
  };
  const [w0, w1, w2] = [await weights(0), await weights(1), await weights(2)];
  const averaged = await weights(2, 0.5);
  // avg: w0 -> 0.5 w0 + 0.5 w1 -> 0.25 w0 + 0.25 w1 + 0.5 w2.
  let maxErr = 0;
  let moved = 0;
  averaged.forEach((a, i) => {
    for (let k = 0; k < a.length; k++) {
      const want = 0.25 * (w0[i]?.[k] ?? NaN) + 0.25 * (w1[i]?.[k] ?? NaN) + 0.5 * (w2[i]?.[k] ?? NaN);
      maxErr = Math.max(maxErr, Math.abs((a[k] as number) - want));
      moved = Math.max(moved, Math.abs((a[k] as number) - (w2[i]?.[k] ?? NaN)));
    }
  });
  assert.ok(maxErr < 1e-6, `average off by ${maxErr}`);
  assert.ok(moved > 1e-5, 'the averaged weights are the last iterate');
});

test('actorLrSchedule cosine: the actor follows actorLr (1 + cos(pi k / steps)) / 2, the critics and V keep their rate', async () => {
  assert.equal(actorLearningRate('cosine', 3e-4, 0, 3000), 3e-4);
  assert.ok(Math.abs(actorLearningRate('cosine', 3e-4, 1500, 3000) - 1.5e-4) < 1e-12);
  assert.ok(actorLearningRate('cosine', 3e-4, 2999, 3000) < 1e-9);
  assert.equal(actorLearningRate('constant', 3e-4, 2999, 3000), 3e-4);
  // Two updates: the first at the full rate (the same as a constant run), the second at half.
  const run = async (steps: number, actorLrSchedule: OfflineOptions['actorLrSchedule']) => {
    const r = await trainOffline(opts(null, { steps, actorLrSchedule, resume: false }));
    const w = {
      pi: variableValues([...netVariables(r.agent.pi), r.agent.logStd]),
      critics: variableValues([...r.agent.qs, r.agent.v].flatMap((m) => netVariables(m))),
    };
    r.agent.dispose();
    return w;
  };
  const [c1, k1, c2, k2] = [await run(1, 'constant'), await run(1, 'cosine'), await run(2, 'constant'), await run(2, 'cosine')];
  assert.deepEqual(k1.pi, c1.pi, 'the first update is at the full rate');
  assert.deepEqual(k2.critics, c2.critics, 'critics and V do not follow the schedule');
  // The second update moved the actor by about half as much as the constant run's did (Adam's step is ~ lr).
  const dist = (a: Float32Array[], b: Float32Array[]): number =>
    Math.sqrt(a.reduce((s, x, i) => s + x.reduce((t, v, k) => t + (v - ((b[i] as Float32Array)[k] as number)) ** 2, 0), 0));
  const ratio = dist(k2.pi, k1.pi) / dist(c2.pi, c1.pi);
  assert.ok(ratio > 0.4 && ratio < 0.6, `second actor step ratio ${ratio.toFixed(3)} (want ~0.5)`);
});

// Table 7's "no DAIB in the policy": the same pipeline with plain ERM encoders (no domain adversary, no bottleneck).
test('encoderMethod erm: no adversary and no KL; trains, resumes, exports, and the online trainer uses its features', async () => {
  // A DAIB agent has the domain head and the KL term (the contrast the ERM assertions below rely on).
  const daibDir = join(fx.dir, 'ck-daib-1');
  const daib = await trainOffline(opts(daibDir, { steps: 2, resume: false }));
  assert.equal(daib.agent.config.daib?.method, 'daib');
  assert.ok(daib.agent.reps?.pi.domainHead, 'DAIB agent has a domain head');
  assert.ok(Number.isFinite(daib.last?.domainCe ?? NaN) && (daib.last?.domainCe ?? 0) > 0, `DAIB domain CE ${daib.last?.domainCe}`);
  assert.ok(Number.isFinite(daib.last?.kl ?? NaN), `DAIB KL ${daib.last?.kl}`);
  assert.equal(daib.agent.featureDims.pi, 8, 'DAIB features = concat(zI, zS)');
  daib.agent.dispose();

  const erm = (dir: string | null, extra: Partial<OfflineOptions> = {}): OfflineOptions => opts(dir, { encoderMethod: 'erm', steps: 4, ...extra });
  const full = await trainOffline(erm(join(fx.dir, 'ck-erm-full')));
  const ag = full.agent;
  assert.equal(ag.step, 4);
  assert.equal(ag.config.daib?.method, 'erm');
  for (const w of ['pi', 'q', 'v'] as const) {
    assert.equal(ag.reps?.[w].domainHead, null, `${w}: no domain adversary`);
    assert.equal(ag.reps?.[w].settings.bottleneck, false, `${w}: no bottleneck`);
  }
  assert.deepEqual(ag.featureDims, { pi: 4, q: 4, v: 4 }, 'ERM features = zI only');
  assert.ok(ag.aux, 'the success aux head is still there');
  const s = full.last;
  assert.ok(s && Number.isFinite(s.qLoss) && Number.isFinite(s.piLoss) && Number.isFinite(s.vLoss));
  assert.ok(Number.isNaN(s.domainCe), `ERM reports no domain CE, got ${s.domainCe}`);
  assert.ok(Number.isNaN(s.kl), `ERM reports no KL, got ${s.kl}`);

  // Interrupted + resumed == uninterrupted, as for DAIB.
  const cutDir = join(fx.dir, 'ck-erm-cut');
  const cut = await trainOffline(erm(cutDir, { stopAfter: 3 }));
  assert.ok(cut.interrupted);
  cut.agent.dispose();
  const resumed = await trainOffline(erm(cutDir));
  assert.equal(resumed.updatesThisRun, 2, 'resumed from the step-2 checkpoint');
  assert.deepEqual(Array.from(policyOn(resumed, 12).out), Array.from(policyOn(full, 12).out));
  resumed.agent.dispose();
  // A checkpoint never continues under another encoder method, and the error names the field (not a tensor shape).
  await assert.rejects(trainOffline(erm(daibDir)), /config\.daib\.method.*"daib".*'erm'/);
  await assert.rejects(trainOffline(opts(cutDir, { steps: 4 })), /config\.daib\.method.*"erm".*'daib'/);

  // Export: the cards say so; the ONNX policy loads in onnxruntime and matches tfjs; encoders output zI (width 4).
  const out = join(fx.dir, 'models-erm');
  const o = erm(null);
  const ex = exportOffline(full, o, out);
  assert.match(ex.policy.description, /without DAIB \(ERM encoders/);
  assert.equal(ex.policy.hyperparameters.encoderMethod, 'erm');
  assert.equal((ex.policy.hyperparameters.iql as { daib?: { method?: string } }).daib?.method, 'erm');
  const card = readCard(cardPathFor(join(out, 'policy.onnx')));
  assert.match(card.description, /without DAIB/);
  assert.match(ex.encoders.pi.description, /ERM encoder/);
  const ref = policyOn(full, 8);
  const policy = await PolicyModel.load(join(out, 'policy.onnx'));
  const px = 16 * 16 * 3;
  let maxDiff = 0;
  for (let k = 0; k < 8; k++) {
    const u = await policy.run(ref.images.subarray(k * px, (k + 1) * px), ref.proprio.subarray(k * 9, (k + 1) * 9));
    u.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - (ref.out[k * 3 + j] as number)))));
  }
  await policy.dispose();
  assert.ok(maxDiff <= 1e-4 * o.actionBound, `max |onnx - tfjs| = ${maxDiff} m`);
  const enc = await EncoderModel.load(join(out, 'encoder-pi.onnx'));
  assert.equal(enc.featureDim, 4);

  // Online: the trainer starts from the ERM checkpoint, caches its features (== the exported encoder's), updates, exports.
  const daemonDb = join(fx.dir, 'daemon-erm.db');
  copyFileSync(fx.db, daemonDb);
  assert.equal(checkpointConfig(join(fx.dir, 'ck-erm-full')).daib?.method, 'erm');
  const tr = new OnlineTrainer({
    ...DEFAULT_ONLINE,
    db: daemonDb,
    offlineDb: fx.db,
    offlineDomains: full.domains,
    startCheckpoint: join(fx.dir, 'ck-erm-full'),
    workDir: join(fx.dir, 'online-erm'),
    onlineFraction: 0,
    batchSize: 16,
    offlineAugmentCopies: 1,
    seed: 1,
  });
  try {
    await tr.init();
    assert.deepEqual(tr.agent.featureDims, { pi: 4, q: 4, v: 4 });
    const f = tr.agent.computeFeatures(ref.images.subarray(0, 2 * px), 2);
    const g = await enc.featuresBatch(2, ref.images.subarray(0, 2 * px));
    assert.equal(f.pi.length, 8);
    f.pi.forEach((v, i) => assert.ok(Math.abs(v - (g[i] as number)) < 1e-4, `feature ${i}: trainer ${v} vs onnx encoder ${g[i]}`));
    const u = tr.update();
    assert.ok(Number.isFinite(u.qLoss) && Number.isNaN(u.kl), `online update on frozen ERM features: q ${u.qLoss}, kl ${u.kl}`);
    const e = await tr.export();
    const p = await PolicyModel.load(e.path);
    const r = await p.run(ref.images.subarray(0, px), ref.proprio.subarray(0, 9));
    assert.ok(r.every((x) => Number.isFinite(x) && Math.abs(x) <= o.actionBound + 1e-9));
    assert.match(p.card.description, /without DAIB \(ERM/);
    await p.dispose();
  } finally {
    tr.close();
    await enc.dispose();
  }
  // The experiment's path: the checkpoint's own policy exported for --ablation no-daib-policy.
  const ck = await exportCheckpointPolicy(join(fx.dir, 'ck-erm-full'), join(out, 'ckpt-policy.onnx'));
  const cp = await PolicyModel.load(ck);
  assert.match(cp.card.description, /ERM/);
  await cp.dispose();
  full.agent.dispose();
});

test('train-offline --encoder-method: erm reaches the cards; a bad value is refused naming the option', async () => {
  const errors: string[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => void errors.push(a.join(' '));
  let code: number;
  try {
    code = await trainOfflineCli(['--db', fx.db, '--split', fx.splitFile, '--encoder-method', 'nodaib']);
  } finally {
    console.error = orig;
  }
  assert.equal(code, 2);
  assert.match(errors.join('\n'), /--encoder-method: must be one of erm, vib, dann, daib-nobottleneck, daib, got "nodaib"/);
  const out = join(fx.dir, 'cli-erm');
  const origLog = console.log;
  console.log = () => undefined;
  try {
    code = await trainOfflineCli([
      '--db',
      fx.db,
      '--split',
      fx.splitFile,
      '--steps',
      '1',
      '--image-size',
      '16',
      '--batch-size',
      '8',
      '--filters',
      '4',
      '--z-dim',
      '3',
      '--hidden',
      '8',
      '--encoder-method',
      'erm',
      '--eval-trials',
      '0',
      '--out',
      out,
    ]);
  } finally {
    console.log = origLog;
  }
  assert.equal(code, 0);
  const card = readCard(cardPathFor(join(out, 'policy.onnx')));
  assert.equal(card.hyperparameters.encoderMethod, 'erm');
  assert.match(card.description, /without DAIB/);
  const enc = await EncoderModel.load(join(out, 'encoder-v.onnx'));
  assert.equal(enc.featureDim, 3, 'ERM encoder outputs zI only');
  await enc.dispose();
});
