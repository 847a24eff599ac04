// The contact filter (src/sim/contact-filter.ts) switches socket geoms off for the plug geoms that provably cannot
// touch them. It must change nothing the cell outputs: on every connector, from the start above the face (scenario I)
// or beside the holes (II) to pressing into the holes, the tip pose, the wrench and the contact count must be bitwise
// those of the same cell without the filter. And it must do its work: most plug-socket pairs off, most steps filtered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Vec3 } from '../../src/core/types.ts';
import { pControl } from '../../src/control/p-controller.ts';
import { SimCell } from '../../src/sim/cell.ts';
import { loadConnectors } from '../../src/sim/connectors.ts';

test('every connector: the contact filter leaves poses, wrenches and contacts bitwise as they were, from the start to pressing in the holes', async () => {
  let steps = 0;
  let inContact = 0;
  for (const def of loadConnectors()) {
    const on = await SimCell.create({ connector: def, imageSize: 0, goalNoise: 0.002 });
    const off = await SimCell.create({ connector: def, imageSize: 0, goalNoise: 0.002 });
    off.contactFilter(false);
    try {
      for (const [seed, scenario] of [
        [3, 'I'],
        [4, 'II'],
      ] as const) {
        let a = on.reset({ seed, scenario });
        let b = off.reset({ seed, scenario });
        for (let k = 0; k <= 16; k++) {
          const got = [...a.eePos, ...a.eeQuat, ...a.wrench, on.contactCount()];
          const want = [...b.eePos, ...b.eeQuat, ...b.wrench, off.contactCount()];
          const at = got.findIndex((x, i) => !Object.is(x, want[i]));
          assert.equal(at, -1, `${def.name} seed ${seed} step ${k}: value ${at} (pose, quaternion, wrench, contacts) is ${got[at]}, unfiltered ${want[at]}`);
          steps++;
          if (k === 16) {
            if (on.contactCount() > 0) inContact++;
            break;
          }
          // P control to the noisy goal for 10 steps, then straight down: into the holes, or pressing beside them.
          const act: Vec3 = k < 10 ? pControl(a.eePos, a.goal) : [0, 0, -0.01];
          a = on.step(act);
          b = off.step(act);
        }
      }
      const s = on.contactFilterStats();
      assert.ok(s.pairsOff > 0.5 * s.pairs, `${def.name}: only ${s.pairsOff} of ${s.pairs} plug-socket pairs were off`);
      assert.ok(s.unfiltered < 0.2 * s.steps, `${def.name}: ${s.unfiltered} of ${s.steps} steps ran unfiltered`);
      assert.equal(off.contactFilterStats().rebuilds, 0);
    } finally {
      on.dispose();
      off.dispose();
    }
  }
  assert.equal(steps, 20 * 2 * 17);
  assert.ok(inContact >= 30, `the plug ends in contact in ${inContact} of 40 episodes`);
});
