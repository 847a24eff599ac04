// The wrist view's world pass is cast in JavaScript (src/sim/view-rays.ts) instead of mj_multiRay on the static view
// model. The shipped reward and policy models see these images, so the colour image and the exact depth must stay
// bitwise what mj_multiRay gives, on every connector, from the start above the face to seated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Vec3 } from '../../src/core/types.ts';
import { pControl } from '../../src/control/p-controller.ts';
import { SimCell } from '../../src/sim/cell.ts';
import { loadConnectors } from '../../src/sim/connectors.ts';

test('every connector: the analytic world pass gives bitwise the images and depth of mj_multiRay, from the start to seated', async () => {
  let frames = 0;
  const defs = loadConnectors();
  for (const def of defs) {
    const cell = await SimCell.create({ connector: def, depth: true, goalNoise: 0.002 });
    try {
      for (const [seed, scenario] of [
        [3, 'I'],
        [4, 'II'],
      ] as const) {
        let o = cell.reset({ seed, scenario });
        for (let k = 0; k < 16; k++) {
          if (k % 3 === 0) {
            cell.analyticWorldRays(false);
            const ref = cell.render().data;
            const refDepth = cell.exactDepth()!;
            cell.analyticWorldRays(true);
            const got = cell.render().data;
            const depth = cell.exactDepth()!;
            let at = -1;
            for (let i = 0; i < ref.length && at < 0; i++) if (ref[i] !== got[i]) at = i;
            assert.equal(at, -1, `${def.name} seed ${seed} step ${k}: colour byte ${at} is ${got[at]}, mj_multiRay gives ${ref[at]}`);
            for (let p = 0; p < depth.length && at < 0; p++) if (!Object.is(depth[p], refDepth[p])) at = p;
            assert.equal(at, -1, `${def.name} seed ${seed} step ${k}: depth at pixel ${at} is ${depth[at]} m, mj_multiRay gives ${refDepth[at]} m`);
            frames++;
          }
          // P control to the noisy goal for 10 steps, then straight down: the late frames are at or near seated.
          const a: Vec3 = k < 10 ? pControl(o.eePos, o.goal) : [0, 0, -0.01];
          o = cell.step(a);
        }
      }
    } finally {
      cell.dispose();
    }
  }
  assert.equal(frames, defs.length * 2 * 6);
});

test("the wrist camera's cell steps without the arm's visual geoms: bitwise the trajectory and wrench of the cell with them", async () => {
  // A fixed-camera cell keeps the arm's visual geoms (that camera sees the arm); a wrist-camera cell leaves them out,
  // which only changes MuJoCo's broadphase sweep frame, never a contact. Pressing on the face and into the holes.
  for (const name of ['europlug', 'roundkey', 'dt12']) {
    const def = loadConnectors().find((c) => c.name === name)!;
    const wrist = await SimCell.create({ connector: def, goalNoise: 0.002 });
    const fixed = await SimCell.create({ connector: def, goalNoise: 0.002, camera: 'fixed', imageSize: 8 });
    try {
      let a = wrist.reset({ seed: 7, scenario: 'II' });
      let b = fixed.reset({ seed: 7, scenario: 'II' });
      for (let k = 0; k < 14; k++) {
        assert.deepEqual([...a.eePos, ...a.eeQuat, ...a.wrench], [...b.eePos, ...b.eeQuat, ...b.wrench], `${name} step ${k}`);
        const act: Vec3 = k < 9 ? pControl(a.eePos, a.goal) : [0, 0, -0.01];
        a = wrist.step(act);
        b = fixed.step(act);
      }
      assert.ok(wrist.contactCount() > 0, `${name}: the plug ends in contact`);
    } finally {
      wrist.dispose();
      fixed.dispose();
    }
  }
});
