import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PController, pControl } from '../../src/control/p-controller.ts';
import { clipAction } from '../../src/control/controller.ts';
import { Rng } from '../../src/util/rng.ts';
import type { Vec3 } from '../../src/core/types.ts';
import { ctx, obs } from './helpers.ts';

test('pControl is -kp (x - x*) per axis', () => {
  const r = new Rng(11);
  for (let i = 0; i < 100; i++) {
    const x: Vec3 = [r.uniform(-1, 1), r.uniform(-1, 1), r.uniform(-1, 1)];
    const g: Vec3 = [r.uniform(-1, 1), r.uniform(-1, 1), r.uniform(-1, 1)];
    const kp: Vec3 = [r.uniform(0, 2), r.uniform(0, 2), r.uniform(0, 2)];
    const u = pControl(x, g, kp);
    for (let a = 0; a < 3; a++) assert.ok(Math.abs(u[a]! - -kp[a]! * (x[a]! - g[a]!)) < 1e-12);
  }
  // default gains [1, 1, 0.3]
  const u = pControl([0.002, -0.001, 0.05], [0, 0, 0]);
  assert.ok(Math.abs(u[0] + 0.002) < 1e-12 && Math.abs(u[1] - 0.001) < 1e-12 && Math.abs(u[2] + 0.015) < 1e-12);
});

test('PController clips each axis to the step bound and reaches the goal geometrically in z', () => {
  const p = new PController();
  const c = ctx(0);
  p.reset(c);
  const goal: Vec3 = [0.5, 0.1, 0.2];
  const far = p.act(obs([0.5 + 0.03, 0.1 - 0.004, 0.2 + 0.05], goal), c);
  assert.equal(far[0], -0.01);
  assert.ok(Math.abs(far[1] - 0.004) < 1e-12);
  assert.equal(far[2], -0.01);
  // Simulate perfect execution: z error shrinks by (1 - 0.3) once within the clip range.
  let x: Vec3 = [0.52, 0.11, 0.25];
  for (let k = 0; k < 20; k++) {
    const u = p.act(obs(x, goal), c);
    for (const v of u) assert.ok(Math.abs(v) <= 0.01 + 1e-15);
    x = [x[0] + u[0], x[1] + u[1], x[2] + u[2]];
  }
  assert.ok(Math.abs(x[0] - goal[0]) < 1e-9 && Math.abs(x[1] - goal[1]) < 1e-9);
  assert.ok(Math.abs(x[2] - goal[2]) < 0.05 * 0.7 ** 14, `z error ${x[2] - goal[2]}`);
});

test('clipAction bounds axes and zeroes non-finite components', () => {
  assert.deepEqual(clipAction([0.5, -0.5, 0.003], 0.01), [0.01, -0.01, 0.003]);
  assert.deepEqual(clipAction([Number.NaN, Infinity, -0.02], 0.01), [0, 0, -0.01]);
});

test('PController rejects bad gains with a clear message', () => {
  assert.throws(() => new PController({ kp: [1, Number.NaN, 0.3] }), /kp\[1\]/);
  assert.throws(() => new PController({ kp: [1, -1, 0.3] }), /kp\[1\]/);
});
