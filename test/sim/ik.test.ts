import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Vec3 } from '../../src/core/types.ts';
import { SimCell } from '../../src/sim/cell.ts';
import { findConnector, loadConnectors } from '../../src/sim/connectors.ts';
import { Rng } from '../../src/util/rng.ts';
import { CELL_HOME } from '../../src/sim/sawyer.ts';

const def = findConnector(loadConnectors(), 'square16');

test('DLS IK reaches random tip targets around the socket within 0.5 mm, tip pointing down', async () => {
  const cell = await SimCell.create({ connector: def, imageSize: 0 });
  const sp = cell.socketPos();
  const rng = new Rng(2024);
  let worst = 0;
  for (let i = 0; i < 60; i++) {
    const target: Vec3 = [sp[0] + rng.uniform(-0.1, 0.1), sp[1] + rng.uniform(-0.1, 0.1), sp[2] + rng.uniform(0.01, 0.15)];
    const sol = cell.inverseKinematics(target, CELL_HOME, 200);
    // Check with an independent forward-kinematics evaluation of the returned joints.
    const fk = cell.forwardKinematics(sol.q);
    const err = Math.hypot(fk[0] - target[0], fk[1] - target[1], fk[2] - target[2]);
    worst = Math.max(worst, err);
    assert.ok(err < 5e-4, `target ${i}: ${(err * 1000).toFixed(3)} mm`);
    assert.ok(sol.rotErr < 1e-3, `target ${i}: orientation error ${sol.rotErr}`);
  }
  assert.ok(worst < 5e-4);
  cell.dispose();
});

test('the simulated arm tracks relative Cartesian moves in free space within 0.5 mm', async () => {
  const cell = await SimCell.create({ connector: def, imageSize: 0, startHeight: 0.06 });
  const rng = new Rng(7);
  let o = cell.reset({ seed: 5, scenario: 'I' });
  for (let i = 0; i < 25; i++) {
    const u: Vec3 = [rng.uniform(-0.01, 0.01), rng.uniform(-0.01, 0.01), rng.uniform(-0.004, 0.004)];
    const before = o.eePos;
    o = cell.step(u);
    const moved = [0, 1, 2].map((k) => o.eePos[k]! - before[k]!);
    const err = Math.hypot(moved[0]! - u[0], moved[1]! - u[1], moved[2]! - u[2]);
    assert.ok(
      err < 5e-4,
      `step ${i}: commanded ${u.map((x) => (x * 1000).toFixed(2)).join(',')} mm, moved ${moved.map((x) => (x * 1000).toFixed(2)).join(',')} mm`,
    );
    assert.ok(2 * Math.acos(Math.min(1, o.eeQuat[0])) < 2e-3, `orientation drifted: ${o.eeQuat.join(',')}`);
    assert.ok(Math.hypot(o.wrench[0], o.wrench[1], o.wrench[2]) < 1, 'free-space motion reads no force');
  }
  cell.dispose();
});
