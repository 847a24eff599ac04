import assert from 'node:assert/strict';
import { DEFAULT_IQL, IqlAgent, type IqlBatch, type IqlConfig } from '../../src/learn/iql.ts';
import { Rng } from '../../src/util/rng.ts';

/**
 * The chain MDP of the IQL tests: states 0..n-1, state n-1 terminal; one action moves right, the other left
 * (clamped at 0); reward 1 on entering n-1. With a dataset taking both actions with probability 1/2, IQL's value is
 * the tau-expectile over dataset actions of Q(s, a) = r + gamma V(s'): V(s) = tau*Q_hi + (1 - tau)*Q_lo.
 * Returns that fixed point by iteration (V of the terminal state is 0).
 */
export function chainExpectileValues(n: number, gamma: number, tau: number): number[] {
  const V = new Array<number>(n).fill(0);
  for (let it = 0; it < 500; it++) {
    for (let s = 0; s < n - 1; s++) {
      const q = (sn: number): number => (sn === n - 1 ? 1 : gamma * (V[sn] ?? 0));
      const hi = q(s + 1);
      const lo = q(Math.max(0, s - 1));
      V[s] = tau * Math.max(hi, lo) + (1 - tau) * Math.min(hi, lo);
    }
  }
  return V;
}

/** One dataset transition of the chain: a uniform non-terminal state and either action with probability 1/2. */
export function chainStep(rng: Rng, n: number): { s: number; sn: number; action: number; reward: number } {
  const s = rng.int(n - 1);
  const right = rng.bernoulli(0.5);
  const sn = right ? s + 1 : Math.max(0, s - 1);
  return { s, sn, action: right ? 0.5 : -0.5, reward: sn === n - 1 ? 1 : 0 };
}

/** A batch of B chain transitions with one-hot state features (features-mode IQL). */
export function chainFeatureBatch(rng: Rng, n: number, B: number): IqlBatch {
  const f = new Float32Array(B * n);
  const fn = new Float32Array(B * n);
  const a = new Float32Array(B);
  const r = new Float32Array(B);
  for (let i = 0; i < B; i++) {
    const t = chainStep(rng, n);
    f[i * n + t.s] = 1;
    fn[i * n + t.sn] = 1;
    a[i] = t.action;
    r[i] = t.reward;
  }
  // The reward is 1 exactly on entering the terminal state.
  return { size: B, features: f, nextFeatures: fn, action: a, reward: r, done: r.slice() };
}

/** The features-mode agent of the chain tests: one-hot states in, one action dimension, small heads. */
export function chainAgentConfig(n: number, o: { gamma: number; tau: number; beta: number; seed: number }): IqlConfig {
  return {
    ...DEFAULT_IQL,
    mode: 'features',
    proprioDim: 0,
    proprioScale: [],
    actionDim: 1,
    actionScale: [1],
    hidden: [32, 32],
    expectile: o.tau,
    temperature: o.beta,
    gamma: o.gamma,
    polyak: 0.05,
    actorLr: 1e-3,
    criticLr: 1e-3,
    valueLr: 1e-3,
    featureDims: { pi: n, q: n, v: n },
    seed: o.seed,
  };
}

/** One-hot features of the non-terminal states 0..n-2. */
export function chainStates(n: number): Float32Array {
  const eye = new Float32Array((n - 1) * n);
  for (let s = 0; s < n - 1; s++) eye[s * n + s] = 1;
  return eye;
}

/**
 * Trains the 5-state chain's features agent for 800 updates (gamma 0.9, tau 0.9, beta 10) on the engine in use, and
 * asserts its label matches `backend`, V is within 0.06 of the expectile fixed point, and the policy moves right.
 */
export function assertChainLearned(backend: RegExp): void {
  const N = 5;
  const gamma = 0.9;
  const tau = 0.9;
  const V = chainExpectileValues(N, gamma, tau);
  const agent = new IqlAgent(chainAgentConfig(N, { gamma, tau, beta: 10, seed: 3 }));
  try {
    assert.match(agent.backend, backend);
    const rng = new Rng(1);
    for (let step = 0; step < 800; step++) agent.update(chainFeatureBatch(rng, N, 64));
    const eye = chainStates(N);
    const learned = agent.values(eye);
    const acts = agent.actFeatures(eye);
    for (let s = 0; s < N - 1; s++) {
      assert.ok(Math.abs((learned[s] ?? 0) - (V[s] ?? 0)) < 0.06, `V(${s}) = ${learned[s]?.toFixed(3)}, expected ${V[s]?.toFixed(3)}`);
      assert.ok((acts[s] ?? 0) > 0.05, `policy at ${s} moves right: ${acts[s]}`);
    }
  } finally {
    agent.dispose();
  }
}
