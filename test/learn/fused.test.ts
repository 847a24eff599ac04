import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, nativeGemm } from '../../src/learn/backend.ts';
import { FusedMlp } from '../../src/learn/fused.ts';
import { DEFAULT_IQL, IqlAgent, type IqlBatch, type IqlConfig, type IqlStats, setFusedHeads, targetCriticSubset } from '../../src/learn/iql.ts';
import { buildMlp, netVariables } from '../../src/learn/nets.ts';
import { Rng } from '../../src/util/rng.ts';
import { assertChainLearned } from './chain.ts';

const info = await initBackend();
const noGemm = info.gemm ? false : `native gemm unavailable (${info.gemmError})`;

const close = (a: number, b: number, rel: number, what: string): void => {
  assert.ok(Math.abs(a - b) <= rel * (1 + Math.abs(b)), `${what}: fused ${a} vs tfjs ${b}`);
};

test('fused MLP: outputs and every parameter gradient = tf.grad of the tfjs layers (with and without LayerNorm)', { skip: noGemm }, () => {
  const g = nativeGemm();
  assert.ok(g);
  const rng = new Rng(4);
  for (const layerNorm of [false, true]) {
    const mlp = buildMlp(`fused_t_${layerNorm}`, { inDim: 13, hidden: [32, 24], outDim: 3, layerNorm }, 5);
    const f = new FusedMlp(mlp.config, g);
    const vars = netVariables(mlp);
    vars.forEach((v, i) => (f.params[i] as Float32Array).set(v.dataSync()));
    const n = 37;
    const x = Float32Array.from({ length: n * 13 }, () => rng.normal(0, 1));
    const dOut = Float32Array.from({ length: n * 3 }, () => rng.normal(0, 1));
    const out = f.forward(x, n).slice();
    f.backward(dOut);
    const xt = tf.tensor2d(x, [n, 13]);
    const ref = tf.tidy(() => mlp.apply(xt).dataSync());
    out.forEach((v, i) => close(v, ref[i] as number, 1e-4, `LN ${layerNorm} output ${i}`));
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(mlp.apply(xt), tf.tensor2d(dOut, [n, 3]))), vars);
    vars.forEach((v, i) => {
      const want = (grads[v.name] as tf.Tensor).dataSync();
      const got = f.grads[i] as Float32Array;
      assert.equal(got.length, want.length);
      const scale = Math.max(...Array.from(want, Math.abs));
      got.forEach((gv, k) =>
        assert.ok(Math.abs(gv - (want[k] as number)) <= 1e-4 * (1 + scale), `LN ${layerNorm} grad of variable ${i} [${k}]: ${gv} vs ${want[k]}`),
      );
    });
    tf.dispose([xt, ...Object.values(grads)]);
  }
});

function featureBatch(seed: number, B = 64, F = 12): IqlBatch {
  const rng = new Rng(seed);
  const f = (k: number, s = 1): Float32Array => Float32Array.from({ length: B * k }, () => rng.normal(0, s));
  return {
    size: B,
    features: { pi: f(F), q: f(F), v: f(F) },
    nextFeatures: { pi: f(F), q: f(F), v: f(F) },
    proprio: f(9, 0.01),
    nextProprio: f(9, 0.01),
    action: f(3, 0.003),
    reward: Float32Array.from({ length: B }, () => (rng.bernoulli(0.3) ? 1 : 0)),
    done: Float32Array.from({ length: B }, () => (rng.bernoulli(0.1) ? 1 : 0)),
  };
}

const featureConfig = (over: Partial<IqlConfig> = {}): IqlConfig => ({
  ...DEFAULT_IQL,
  mode: 'features',
  proprioDim: 9,
  proprioScale: [100, 100, 100, 0.1, 0.1, 0.1, 1, 1, 1],
  hidden: [32, 32],
  featureDims: { pi: 12, q: 12, v: 12 },
  seed: 7,
  ...over,
});

/** Hindsight aims on every other row, lateral only (NaN elsewhere), as the online trainer gives them. */
function withAims(b: IqlBatch, aim: [number, number]): IqlBatch {
  const aims = new Float32Array(b.size * 3).fill(NaN);
  for (let i = 0; i < b.size; i += 2) aims.set(aim, i * 3);
  return { ...b, aims };
}

/** Runs `steps` updates on one engine; returns the stats and the final weights (through the tfjs variables). */
function runAgent(
  fused: boolean,
  cfg: IqlConfig,
  steps: number,
  batch: (i: number) => IqlBatch = (i) => featureBatch(100 + i),
): { stats: IqlStats[]; weights: Float32Array[]; backend: string } {
  setFusedHeads(fused);
  try {
    const agent = new IqlAgent(cfg);
    const stats = Array.from({ length: steps }, (_, i) => agent.update(batch(i)));
    const backend = agent.backend;
    const weights = [
      ...netVariables(agent.pi),
      agent.logStd,
      ...netVariables(agent.v),
      ...agent.qs.flatMap((q) => netVariables(q)),
      ...agent.qTargets.flatMap((q) => netVariables(q)),
    ].map((v) => Float32Array.from(v.dataSync()));
    agent.dispose();
    return { stats, weights, backend };
  } finally {
    setFusedHeads(true);
  }
}

for (const critics of [2, 5]) {
  test(`IQL on cached features, ${critics} critics: fused heads = tfjs autodiff step for step (losses, stats, every weight)`, { skip: noGemm }, () => {
    const cfg = featureConfig(critics === 2 ? {} : { critics, targetCritics: 2 });
    const steps = 6;
    const ref = runAgent(false, cfg, steps);
    const got = runAgent(true, cfg, steps);
    assert.match(got.backend, /IQL heads: fused/);
    assert.doesNotMatch(ref.backend, /fused/);
    for (let i = 0; i < steps; i++) {
      for (const k of ['vLoss', 'qLoss', 'piLoss', 'vMean', 'qMean', 'qMax', 'advMean', 'weightMean', 'logStdMean'] as const) {
        close((got.stats[i] as IqlStats)[k], (ref.stats[i] as IqlStats)[k], 2e-4, `step ${i + 1} ${k}`);
      }
    }
    // Weights after 6 Adam steps: Adam normalises the gradient, so a wrong gradient sign or scale shows here.
    ref.weights.forEach((w, i) => {
      const gw = got.weights[i] as Float32Array;
      let worst = 0;
      w.forEach((x, k) => (worst = Math.max(worst, Math.abs(x - (gw[k] as number)))));
      assert.ok(worst < 2e-4, `variable ${i}: max |fused - tfjs| = ${worst}`);
    });
    assert.notEqual((ref.stats[0] as IqlStats).qLoss, (ref.stats[steps - 1] as IqlStats).qLoss);
  });
}

test('hindsight aims: fused heads = tfjs autodiff step for step, and they pull the policy mean toward the aim', { skip: noGemm }, () => {
  const cfg = featureConfig({ aimWeight: 1 });
  const steps = 6;
  const aimed = (i: number): IqlBatch => withAims(featureBatch(100 + i), [0.002, -0.002]);
  const ref = runAgent(false, cfg, steps, aimed);
  const got = runAgent(true, cfg, steps, aimed);
  for (let i = 0; i < steps; i++) close((got.stats[i] as IqlStats).piLoss, (ref.stats[i] as IqlStats).piLoss, 2e-4, `step ${i + 1} piLoss`);
  ref.weights.forEach((w, i) => {
    const gw = got.weights[i] as Float32Array;
    let worst = 0;
    w.forEach((x, k) => (worst = Math.max(worst, Math.abs(x - (gw[k] as number)))));
    assert.ok(worst < 2e-4, `variable ${i}: max |fused - tfjs| = ${worst}`);
  });
  // Learning: the same updates with and without the aims; the mean residual on the batches' states moves toward the
  // aim (+2 mm in x, -2 mm in y) only with them; aimWeight 0 ignores them.
  const meanAction = (weight: number, aims: boolean): [number, number] => {
    setFusedHeads(true);
    const agent = new IqlAgent(featureConfig({ aimWeight: weight }));
    for (let i = 0; i < 60; i++) agent.update(aims ? aimed(i) : featureBatch(100 + i));
    const b = featureBatch(999);
    const a = agent.actFeatures((b.features as { pi: Float32Array }).pi, b.proprio);
    agent.dispose();
    let x = 0;
    let y = 0;
    for (let i = 0; i < b.size; i++) {
      x += (a[i * 3] as number) / b.size;
      y += (a[i * 3 + 1] as number) / b.size;
    }
    return [x, y];
  };
  const plain = meanAction(1, false);
  const pulled = meanAction(1, true);
  const off = meanAction(0, true);
  assert.ok(pulled[0] - plain[0] > 0.0005 && plain[1] - pulled[1] > 0.0005, `toward (+2, -2) mm: ${plain.join()} -> ${pulled.join()}`);
  assert.deepEqual(off, plain, 'aimWeight 0: the aims change nothing');
});

test('ensemble: the target is the min over a random subset of the target critics (RLPD), drawn per step from the seed', { skip: noGemm }, () => {
  const cfg = featureConfig({ critics: 6, targetCritics: 2 });
  // The subset: k distinct sorted indices, reproducible, not always the same.
  const subsets = Array.from({ length: 40 }, (_, s) => targetCriticSubset(cfg, s));
  for (const s of subsets) assert.ok(s.length === 2 && (s[0] as number) < (s[1] as number) && (s[1] as number) < 6, JSON.stringify(s));
  assert.deepEqual(targetCriticSubset(cfg, 3), subsets[3]);
  assert.ok(new Set(subsets.map((s) => s.join())).size > 5, 'subsets vary with the step');
  assert.deepEqual(targetCriticSubset({ ...cfg, targetCritics: 6 }, 3), [0, 1, 2, 3, 4, 5]);
  // Target critic j outputs the constant 10 + j: each step's advantage + V(s) must be 10 + (lowest index drawn),
  // not 10 (the min over all critics).
  const step = subsets.findIndex((s) => (s[0] as number) > 0);
  assert.ok(step >= 0);
  for (const fused of [false, true]) {
    setFusedHeads(fused);
    try {
      const agent = new IqlAgent(cfg);
      agent.step = step;
      agent.qTargets.forEach((q, j) => {
        const vars = netVariables(q);
        const k = vars.at(-2) as tf.Variable;
        const b = vars.at(-1) as tf.Variable;
        k.assign(tf.zerosLike(k));
        b.assign(tf.fill(b.shape, 10 + j));
      });
      const batch = featureBatch(9);
      const vs = agent.values((batch.features as { v: Float32Array }).v, batch.proprio);
      const st = agent.update(batch);
      const vMean = vs.reduce((a, x) => a + x, 0) / vs.length;
      close(st.advMean + vMean, 10 + (subsets[step]?.[0] as number), 1e-4, `${fused ? 'fused' : 'tfjs'}: target`);
      agent.dispose();
    } finally {
      setFusedHeads(true);
    }
  }
});

test('fused heads on the chain MDP reach the known expectile value; checkpoints and readers see the fused weights', { skip: noGemm }, () => {
  assertChainLearned(/IQL heads: fused/);
});

test('switching engines mid-run continues the same run (weights, targets and Adam state shared), checkpoints included', { skip: noGemm }, async () => {
  const cfg = featureConfig({ critics: 3, targetCritics: 2 });
  const ref = runAgent(false, cfg, 6);
  const agent = new IqlAgent(cfg);
  const dir = (await import('node:fs')).mkdtempSync((await import('node:path')).join((await import('node:os')).tmpdir(), 'fused-ckpt-'));
  try {
    const stats: IqlStats[] = [];
    for (let i = 0; i < 6; i++) {
      setFusedHeads(i % 2 === 0);
      stats.push(agent.update(featureBatch(100 + i)));
      if (i === 2) {
        // A checkpoint taken after a fused step, restored into a fresh agent that carries on.
        setFusedHeads(true);
        await agent.saveCheckpoint(dir);
        await agent.loadCheckpoint(dir);
      }
    }
    stats.forEach((s, i) => {
      for (const k of ['vLoss', 'qLoss', 'piLoss', 'advMean'] as const) close(s[k], (ref.stats[i] as IqlStats)[k], 2e-4, `step ${i + 1} ${k}`);
    });
  } finally {
    setFusedHeads(true);
    agent.dispose();
    (await import('node:fs')).rmSync(dir, { recursive: true, force: true });
  }
});
