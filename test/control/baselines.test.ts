import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Localize, LocalizeFirst, RandomSearch, SpiralSearch, StraightDown, spiralOffset } from '../../src/control/baselines.ts';
import type { Controller } from '../../src/control/controller.ts';
import { CONTROLLER_NAMES, createController } from '../../src/control/registry.ts';
import type { Vec3 } from '../../src/core/types.ts';
import { Rng } from '../../src/util/rng.ts';
import { ctx, obs, plantEpisode } from './helpers.ts';

const socket: Vec3 = [0.6, 0.05, 0.1];

const episode = (c: Controller, start: Vec3, goal: Vec3, seed: number, clearance = 0.0005) => plantEpisode(c, start, goal, socket, seed, clearance);

test('straight down: centred start inserts, 2 mm off is blocked with a large force, no lateral motion', () => {
  const ok = episode(new StraightDown(), [0.6, 0.05, 0.14], socket, 0);
  assert.ok(ok.plant.seated);
  const off = episode(new StraightDown(), [0.602, 0.05, 0.14], socket, 0);
  assert.ok(!off.plant.seated);
  assert.ok(Math.abs(off.plant.pos[2] - off.plant.surfaceZ) < 1e-12);
  assert.ok(off.plant.fz > 1, `fz ${off.plant.fz}`);
  for (const u of [...ok.actions, ...off.actions]) assert.ok(u[0] === 0 && u[1] === 0 && u[2] <= 0);
});

test('spiral offsets: growing radius, steady spacing, and coverage of the disc', () => {
  const pitch = 0.001;
  let prevR = 0;
  for (let s = 0.001; s < 0.1; s += 0.001) {
    const [x, y] = spiralOffset(s, pitch);
    const r = Math.hypot(x, y);
    assert.ok(r > prevR, 'radius must grow with arc length');
    prevR = r;
  }
  const sp = new SpiralSearch({ pitch: 0.001, arcStep: 0.0015, maxRadius: 0.006 });
  sp.reset(ctx(3));
  const pts = Array.from({ length: 60 }, (_, k) => sp.searchOffset(k));
  // Consecutive points about arcStep apart once past the centre.
  for (let k = 5; k < 40; k++) {
    const d = Math.hypot(pts[k + 1]![0] - pts[k]![0], pts[k + 1]![1] - pts[k]![1]);
    assert.ok(d > 0.001 && d < 0.002, `spacing ${d} at ${k}`);
  }
  // Max radius over the first k steps grows with k (the search widens), and stays within maxRadius.
  const radii = pts.map(([x, y]) => Math.hypot(x, y));
  const maxUpTo = (k: number): number => Math.max(...radii.slice(0, k));
  assert.ok(maxUpTo(5) < maxUpTo(15) && maxUpTo(15) < maxUpTo(30));
  assert.ok(Math.max(...radii) <= 0.006 + 1e-9);
  // Every point of the disc of radius 4 mm is within ~1 mm of a point visited in the first 60 steps.
  const r = new Rng(8);
  for (let i = 0; i < 500; i++) {
    const rad = 0.004 * Math.sqrt(r.next());
    const a = 2 * Math.PI * r.next();
    const p = [rad * Math.cos(a), rad * Math.sin(a)];
    const dmin = Math.min(...pts.map(([x, y]) => Math.hypot(x - p[0]!, y - p[1]!)));
    assert.ok(dmin < 0.00105, `point (${p.join(',')}) is ${dmin} from the spiral`);
  }
});

test('spiral search finds an offset hole by pressing and then stays in', () => {
  // The goal x* is 1.5 mm off the true socket; straight down onto it fails, the spiral recovers.
  const goal: Vec3 = [0.6015, 0.05, 0.1];
  let seatedSpiral = 0;
  let seatedStraight = 0;
  for (let s = 0; s < 30; s++) {
    const { plant, actions } = episode(new SpiralSearch(), [goal[0], goal[1], 0.13], goal, s, 0.0007);
    if (plant.seated) seatedSpiral++;
    // Pressing while searching: after the first contact, every lateral move comes with dz <= 0.
    for (const u of actions) assert.ok(u[2] <= 0);
    if (episode(new StraightDown(), [goal[0], goal[1], 0.13], goal, s, 0.0007).plant.seated) seatedStraight++;
  }
  assert.equal(seatedStraight, 0);
  assert.ok(seatedSpiral >= 20, `spiral seated ${seatedSpiral}/30`);
});

test('random search visits its 5 positions around the contact point while pressing', () => {
  const rs = new RandomSearch({ dwellSteps: 2, radius: 0.003 });
  const goal: Vec3 = [0.605, 0.05, 0.1]; // 5 mm off: the hole is out of reach, so all 5 positions are visited
  const { plant, actions } = episode(rs, [goal[0], goal[1], 0.13], goal, 4);
  assert.ok(!plant.seated);
  const offs = rs.searchOffsets;
  assert.equal(offs.length, 5);
  for (const [x, y] of offs) assert.ok(Math.hypot(x, y) <= 0.003 + 1e-12);
  // Reconstruct visited lateral positions: the plant follows exactly, so positions = start + cumulative moves.
  let p: [number, number] = [goal[0], goal[1]];
  const visited = new Set<string>();
  for (const u of actions) {
    p = [p[0] + u[0], p[1] + u[1]];
    visited.add(`${((p[0] - goal[0]) * 1e6).toFixed(0)},${((p[1] - goal[1]) * 1e6).toFixed(0)}`);
  }
  for (const [x, y] of offs) assert.ok(visited.has(`${(x * 1e6).toFixed(0)},${(y * 1e6).toFixed(0)}`), `offset ${x},${y} not visited`);
  // Pressing: the plant reports a contact force at the end.
  assert.ok(plant.fz > 0);
});

test('localize: estimate = socket + bias + N(0, std^2); moves laterally first, then down', () => {
  const exact = new Localize({ errorStd: 0 });
  const c = ctx(1, socket);
  exact.reset(c);
  assert.deepEqual(exact.socketEstimate, socket);
  const u0 = exact.act(obs([0.61, 0.05, 0.14], [0.6, 0.05, 0.1]), c);
  assert.ok(Math.abs(u0[0] - -0.01) < 1e-12 && u0[2] === 0);
  // On target but still moving (10 mm since the last step): wait; settled: go down.
  const u1 = exact.act(obs([0.6, 0.05, 0.14], [0.6, 0.05, 0.1]), c);
  assert.equal(u1[2], 0);
  const u2 = exact.act(obs([0.6001, 0.05, 0.14], [0.6, 0.05, 0.1]), c);
  assert.equal(u2[2], -0.01);
  assert.ok(Math.abs(u2[0] - -0.0001) < 1e-12); // keeps servoing (x, y) on the estimate while descending
  // Error statistics over many episodes.
  const loc = new Localize({ errorBias: [0.001, -0.002, 0], errorStd: 0.0015 });
  const r = ctx(2, socket);
  const ex: number[] = [];
  for (let i = 0; i < 4000; i++) {
    loc.reset(r);
    ex.push(loc.socketEstimate![0] - socket[0]);
  }
  const mean = ex.reduce((a, b) => a + b, 0) / ex.length;
  const std = Math.sqrt(ex.reduce((a, b) => a + (b - mean) ** 2, 0) / ex.length);
  assert.ok(Math.abs(mean - 0.001) < 0.0001, `mean ${mean}`);
  assert.ok(Math.abs(std - 0.0015) < 0.0001, `std ${std}`);
  // With an exact estimate it inserts from scenario II distances; with a 3 mm bias it never does.
  assert.ok(episode(new Localize({ errorStd: 0 }), [0.615, 0.035, 0.13], socket, 0).plant.seated);
  assert.ok(!episode(new Localize({ errorStd: 0, errorBias: [0.003, 0, 0] }), [0.615, 0.035, 0.13], socket, 0).plant.seated);
});

test('localize-first hands over to the inner strategy at the estimate', () => {
  const lf = new LocalizeFirst(new StraightDown(), { errorStd: 0 });
  assert.equal(lf.name, 'loc-straight');
  const { plant, actions } = episode(lf, [0.615, 0.035, 0.13], socket, 0);
  assert.ok(plant.seated);
  assert.equal(actions[0]![2], 0); // first moves laterally at constant height
  // Plain straight down from the same scenario II start never inserts.
  assert.ok(!episode(new StraightDown(), [0.615, 0.035, 0.13], socket, 0).plant.seated);
});

test('every registered controller clips to the step bound and is deterministic under a seed', () => {
  const r = new Rng(21);
  for (const name of CONTROLLER_NAMES) {
    for (let trial = 0; trial < 10; trial++) {
      const start: Vec3 = [0.6 + r.uniform(-0.03, 0.03), 0.05 + r.uniform(-0.03, 0.03), 0.1 + r.uniform(0.005, 0.06)];
      const goal: Vec3 = [0.6 + r.uniform(-0.002, 0.002), 0.05 + r.uniform(-0.002, 0.002), 0.1];
      const a = episode(createController(name), start, goal, trial);
      const b = episode(createController(name), start, goal, trial);
      assert.deepEqual(a.actions, b.actions, `${name} not deterministic`);
      for (const u of a.actions) for (const v of u) assert.ok(Number.isFinite(v) && Math.abs(v) <= 0.01, `${name}: ${u.join(',')}`);
      // A smaller bound is honoured too.
      const c = createController(name);
      const cx = ctx(trial, socket, 0.002);
      c.reset(cx);
      const u = c.act(obs(start, goal), cx) as Vec3;
      for (const v of u) assert.ok(Math.abs(v) <= 0.002, `${name}: ${u.join(',')}`);
    }
  }
  assert.throws(() => createController('nope'), /unknown controller "nope"; known: p, /);
});
