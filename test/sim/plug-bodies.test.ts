// The plug's housing is a body of its own in the model the cell steps (fewer collision tests for the pins), welded to
// the pins' body. That must change neither the physics nor what the camera sees: the first version
// of this change cut fingers and pins out of the wrist view, because mj_multiRay skips a body whose bounding sphere
// (built over its colliding geoms only) a ray misses, and it blinded the depth cue (test/offline/reward-depth.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Vec3 } from '../../src/core/types.ts';
import { SimCell } from '../../src/sim/cell.ts';
import { findConnector, loadConnectors } from '../../src/sim/connectors.ts';
import { buildCellXml } from '../../src/sim/mjcf.ts';
import { compileXml, mujoco } from '../../src/sim/mujoco.ts';

const all = loadConnectors();

test("every connector: the pins' body has bitwise the one-body plug's mass, centre and inertia; the housing's body weighs nothing", async () => {
  const mj = await mujoco();
  const BODY = mj.mjtObj.mjOBJ_BODY.value;
  const GEOM = mj.mjtObj.mjOBJ_GEOM.value;
  for (const def of all) {
    const split = compileXml(mj, buildCellXml(def, { timestep: 0.001 }).xml);
    const one = compileXml(mj, buildCellXml(def, { timestep: 0.001, plugOneBody: true }).xml);
    try {
      const a = mj.mj_name2id(split, BODY, 'plug');
      const b = mj.mj_name2id(one, BODY, 'plug');
      const slice = (m: typeof split, field: 'body_mass' | 'body_ipos' | 'body_iquat' | 'body_inertia', id: number, n: number): number[] =>
        Array.from((m[field] as Float64Array).subarray(n * id, n * id + n));
      assert.deepEqual(slice(split, 'body_mass', a, 1), slice(one, 'body_mass', b, 1), `${def.name} mass`);
      assert.deepEqual(slice(split, 'body_ipos', a, 3), slice(one, 'body_ipos', b, 3), `${def.name} centre`);
      assert.deepEqual(slice(split, 'body_iquat', a, 4), slice(one, 'body_iquat', b, 4), `${def.name} principal axes`);
      assert.deepEqual(slice(split, 'body_inertia', a, 3), slice(one, 'body_inertia', b, 3), `${def.name} inertia`);
      assert.equal((split.body_mass as Float64Array)[mj.mj_name2id(split, BODY, 'plug_housing')], 0, `${def.name}: the housing's body weighs nothing`);
      const housingBody = (split.geom_bodyid as Int32Array)[mj.mj_name2id(split, GEOM, 'plug_housing')];
      assert.notEqual(housingBody, a, `${def.name}: the colliding housing is outside the pins' body`);
    } finally {
      split.delete();
      one.delete();
    }
  }
});

test('the wrist view and its depth see every pin and finger an unculled ray cast sees, from the start to seated', async () => {
  // europlug lost finger pixels and blade3 a whole pin in the first version. (dsub, dshape14 and square16 lose a few
  // finger pixels to the same culling in the one-body plug too; the images have always had that, so it stays.)
  for (const name of ['europlug', 'blade3']) {
    const cell = await SimCell.create({ connector: findConnector(all, name), depth: true });
    try {
      let o = cell.reset({ seed: 2, scenario: 'II' });
      const sp = cell.socketPos();
      for (let k = 0; k <= 12; k++) {
        if (k % 4 === 0) {
          const exact = cell.exactDepth() as Float32Array;
          const ref = cell.unculledDepth() as Float64Array;
          let worst = 0,
            at = -1;
          for (let p = 0; p < ref.length; p++) {
            const e = Math.abs(exact[p]! - ref[p]!);
            if (e > worst) [worst, at] = [e, p];
          }
          assert.ok(worst < 1e-6, `${name} step ${k}: depth off the unculled cast by ${(worst * 1000).toFixed(1)} mm at pixel ${at}`);
        }
        const t = o.eePos;
        o = cell.step([sp[0] - t[0], sp[1] - t[1], Math.max(-0.01, sp[2] - t[2])] as Vec3);
      }
    } finally {
      cell.dispose();
    }
  }
});
