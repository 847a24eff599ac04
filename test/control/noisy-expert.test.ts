import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NoisyExpert } from '../../src/control/noisy-expert.ts';
import type { Vec3 } from '../../src/core/types.ts';
import { Rng } from '../../src/util/rng.ts';
import { ctx, obs, plantEpisode } from './helpers.ts';

const socket: Vec3 = [0.6, 0.05, 0.1];
// The goal x* is deliberately wrong by 3 mm: the expert must follow the TRUE socket.
const goal: Vec3 = [0.603, 0.05, 0.1];

test('expert moves straight down when within 1 mm of the socket centre-line', () => {
  const e = new NoisyExpert({ randomProb: 0 });
  const c = ctx(1, socket);
  e.reset(c);
  const u = e.act(obs([0.6007, 0.0503, 0.13], goal), c);
  assert.equal(u[0], 0);
  assert.equal(u[1], 0);
  assert.equal(u[2], -0.01);
  // Close to the bottom it aims pressDepth below the seated position, not a full step.
  const v = e.act(obs([0.6, 0.05, 0.1005], goal), c);
  assert.ok(Math.abs(v[2] - -(0.0005 + e.config.pressDepth)) < 1e-12, String(v[2]));
});

test('expert moves toward the true centre-line, not the goal, when misaligned', () => {
  const e = new NoisyExpert({ randomProb: 0 });
  const c = ctx(1, socket);
  e.reset(c);
  // 1.5 mm off in -x and 1 mm in +y (1.8 mm > 1 mm): full correction in one step, no z motion.
  const u = e.act(obs([0.5985, 0.051, 0.13], goal), c);
  assert.ok(Math.abs(u[0] - 0.0015) < 1e-12 && Math.abs(u[1] - -0.001) < 1e-12 && u[2] === 0, String(u));
  // Far away: step length capped at maxStep, direction preserved.
  const w = e.act(obs([0.57, 0.01, 0.13], goal), c);
  assert.ok(Math.abs(Math.hypot(w[0], w[1]) - 0.01) < 1e-12);
  assert.ok(Math.abs(w[1] / w[0] - 0.04 / 0.03) < 1e-9);
  assert.equal(w[2], 0);
});

test('random actions happen with probability 0.2 and stay within the bound', () => {
  const scripted = new NoisyExpert({ randomProb: 0 });
  const noisy = new NoisyExpert();
  const c = ctx(99, socket);
  noisy.reset(c);
  const r = new Rng(5);
  const n = 20000;
  let differ = 0;
  for (let i = 0; i < n; i++) {
    const o = obs([0.6 + r.uniform(-0.02, 0.02), 0.05 + r.uniform(-0.02, 0.02), 0.1 + r.uniform(0, 0.05)], goal);
    const a = noisy.act(o, c);
    const b = scripted.act(o, ctx(0, socket));
    for (const v of a) assert.ok(Math.abs(v) <= c.maxStep);
    if (a.some((v, k) => v !== b[k])) differ++;
  }
  const rate = differ / n;
  // Binomial std at p=0.2, n=20000 is 0.0028: a 0.01 margin is > 3.5 sigma.
  assert.ok(Math.abs(rate - 0.2) < 0.01, `random-action rate ${rate}`);
  assert.equal(noisy.randomActions, differ);
});

test('expert inserts on a point plant from a 15 mm offset and is deterministic under a seed', () => {
  const run = (seed: number, randomProb = 0.2): { seated: boolean; actions: Vec3[] } => {
    // Clearance at least the expert's 1 mm tolerance, so "aligned" means "insertable" on this plant.
    const { plant, actions } = plantEpisode(new NoisyExpert({ randomProb }), [0.615, 0.05 - 0.008, 0.14], goal, socket, seed, 0.0012);
    return { seated: plant.seated, actions };
  };
  let seated = 0;
  let seatedNoiseless = 0;
  for (let s = 0; s < 50; s++) {
    if (run(s).seated) seated++;
    if (run(s, 0).seated) seatedNoiseless++;
  }
  assert.equal(seatedNoiseless, 50);
  // Random actions near the end of an episode can pull the plug out again: noisy, but mostly successful.
  assert.ok(seated >= 25 && seated < 50, `seated ${seated}/50`);
  assert.deepEqual(run(3).actions, run(3).actions);
  assert.notDeepEqual(run(3).actions, run(4).actions);
});

test('expert refuses to run without the privileged socket pose', () => {
  const e = new NoisyExpert();
  assert.throws(() => e.reset(ctx(0)), /privileged/);
  assert.throws(() => new NoisyExpert({ randomProb: 1.5 }), /randomProb/);
});
