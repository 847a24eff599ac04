import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../src/learn/backend.ts';
import { DEFAULT_IQL, IqlAgent, iqlDaibConfig } from '../../src/learn/iql.ts';
import { Rng } from '../../src/util/rng.ts';
import { chainExpectileValues, chainStep } from './chain.ts';

await initBackend();

/**
 * The chain MDP of iql.test.ts seen through pixels: state s is a white bar at column 1 + 3s of a 16x16 image, on a
 * background colour that depends on the domain (two domains). IQL in image mode, with a DAIB encoder per network
 * trained by its own losses, must reach the same expectile values as the tabular fixed point, in both domains.
 */
test('image-mode IQL with DAIB encoders learns the visual chain in every domain', () => {
  const N = 5;
  const S = 16;
  const gamma = 0.9;
  const tau = 0.9;
  const V = chainExpectileValues(N, gamma, tau);
  const render = (s: number, dom: number, out: Uint8Array, off: number): void => {
    const bg = dom === 0 ? [40, 60, 90] : [90, 40, 30];
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const o = off + (y * S + x) * 3;
        const bar = x >= 1 + 3 * s && x < 3 + 3 * s;
        for (let c = 0; c < 3; c++) out[o + c] = bar ? 250 : (bg[c] ?? 0);
      }
    }
  };
  const agent = new IqlAgent({
    ...DEFAULT_IQL,
    mode: 'image',
    proprioDim: 0,
    proprioScale: [],
    actionDim: 1,
    actionScale: [1],
    hidden: [32, 32],
    expectile: tau,
    temperature: 10,
    gamma,
    polyak: 0.05,
    actorLr: 2e-3,
    criticLr: 2e-3,
    valueLr: 2e-3,
    shiftPad: 0,
    successAuxWeight: 0,
    seed: 2,
    daib: iqlDaibConfig({
      numDomains: 2,
      domainHidden: [16],
      encoder: { inputShape: [S, S, 3], filters: [8, 8], kernelSize: 3, strides: [2, 2], padding: 'same', zIDim: 8, zSDim: 4 },
    }),
  });
  const rng = new Rng(1);
  const B = 32;
  const size = S * S * 3;
  const qLoss: number[] = [];
  for (let step = 0; step < 400; step++) {
    const img = new Uint8Array(B * size);
    const next = new Uint8Array(B * size);
    const a = new Float32Array(B);
    const r = new Float32Array(B);
    const dom = new Int32Array(B);
    for (let i = 0; i < B; i++) {
      const t = chainStep(rng, N);
      dom[i] = rng.int(2);
      render(t.s, dom[i] ?? 0, img, i * size);
      render(t.sn, dom[i] ?? 0, next, i * size);
      a[i] = t.action;
      r[i] = t.reward;
    }
    const st = agent.update({ size: B, images: img, nextImages: next, action: a, reward: r, done: r, domain: dom });
    if (step % 50 === 0) qLoss.push(st.qLoss);
    assert.ok(Number.isFinite(st.domainCe), 'the domain adversary runs');
  }
  const probe = new Uint8Array(2 * (N - 1) * size);
  for (let d = 0; d < 2; d++) for (let s = 0; s < N - 1; s++) render(s, d, probe, (d * (N - 1) + s) * size);
  const v = agent.values(agent.computeFeatures(probe, 2 * (N - 1)).v);
  for (let d = 0; d < 2; d++) {
    for (let s = 0; s < N - 1; s++) {
      const got = v[d * (N - 1) + s] ?? NaN;
      assert.ok(Math.abs(got - (V[s] ?? 0)) < 0.1, `domain ${d}, V(${s}) = ${got.toFixed(3)}, expected ${V[s]?.toFixed(3)}`);
    }
    assert.ok((v[d * (N - 1) + 3] ?? 0) > (v[d * (N - 1)] ?? 0) + 0.15, `domain ${d}: value rises towards the goal`);
  }
  assert.ok((qLoss.at(-1) ?? 1) < (qLoss[0] ?? 0) / 10, `Q loss fell: ${qLoss.map((q) => q.toFixed(4)).join(', ')}`);
});
