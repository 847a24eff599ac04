import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../src/learn/backend.ts';
import { IqlAgent } from '../../src/learn/iql.ts';
import { Rng } from '../../src/util/rng.ts';
import { chainAgentConfig, chainExpectileValues, chainFeatureBatch, chainStates } from './chain.ts';

await initBackend();

/**
 * Chain MDP: states 0..4, state 4 terminal; action > 0 moves right, else left (clamped at 0); reward 1 on entering 4.
 * The dataset takes both actions with probability 1/2. IQL's value is the tau-expectile over dataset actions of
 * Q(s, a) = r + gamma V(s'); with two equally likely actions V(s) = tau*Q_hi + (1 - tau)*Q_lo, computed here by
 * iteration and compared with what the networks learn. The AWR policy mean must be the advantage-weighted mean of
 * the dataset actions, w = exp(beta * (Q - V)), which goes right (the optimal direction) everywhere.
 */
test('IQL on a chain MDP converges to the known expectile value and the optimal policy', () => {
  const N = 5;
  const gamma = 0.9;
  const tau = 0.9;
  const beta = 10;
  const V = chainExpectileValues(N, gamma, tau);
  const agent = new IqlAgent(chainAgentConfig(N, { gamma, tau, beta, seed: 3 }));
  const rng = new Rng(1);
  const B = 64;
  const vLosses: number[] = [];
  for (let step = 0; step < 800; step++) {
    const st = agent.update(chainFeatureBatch(rng, N, B));
    if (step % 100 === 0) vLosses.push(st.vLoss);
  }
  const eye = chainStates(N);
  const learned = agent.values(eye);
  const acts = agent.actFeatures(eye);
  for (let s = 0; s < N - 1; s++) {
    assert.ok(Math.abs((learned[s] ?? 0) - (V[s] ?? 0)) < 0.06, `V(${s}) = ${learned[s]?.toFixed(3)}, expected ${V[s]?.toFixed(3)}`);
    const q = (sn: number): number => (sn === N - 1 ? 1 : gamma * (V[sn] ?? 0));
    const wHi = Math.min(100, Math.exp(beta * (q(s + 1) - (V[s] ?? 0))));
    const wLo = Math.min(100, Math.exp(beta * (q(Math.max(0, s - 1)) - (V[s] ?? 0))));
    const mean = (0.5 * wHi - 0.5 * wLo) / (wHi + wLo);
    assert.ok((acts[s] ?? 0) > 0.05, `policy at ${s} moves right: ${acts[s]}`);
    assert.ok(Math.abs((acts[s] ?? 0) - mean) < 0.06, `policy mean at ${s}: ${acts[s]?.toFixed(3)}, AWR optimum ${mean.toFixed(3)}`);
  }
  // The expectile is not the mean: V must sit clearly above the 50/50 average of the two actions' values.
  assert.ok((learned[0] ?? 0) > 0.5 * (gamma * (V[1] ?? 0) + gamma * (V[0] ?? 0)) + 0.03);
  assert.ok((vLosses.at(-1) ?? 1) < (vLosses[0] ?? 0));
});
