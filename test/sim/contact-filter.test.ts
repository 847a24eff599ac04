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
import type { Mujoco } from '../../src/sim/mujoco.ts';

test('every connector: the contact filter leaves poses, wrenches and contacts bitwise as they were, from the start to pressing in the holes', async () => {
  let steps = 0;
  let inContact = 0;
  const defs = loadConnectors();
  for (const def of defs) {
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
  assert.equal(steps, defs.length * 2 * 17);
  assert.ok(inContact >= 0.75 * defs.length * 2, `the plug ends in contact in ${inContact} of ${defs.length * 2} episodes`);
});

test("MuJoCo's broadphase sees the filter: each socket body's body_conaffinity is its geoms' current OR, 0 while all are off", async () => {
  // canCollide2 drops a body pair by the bodies' OR'd masks before the midphase walks their box trees; the filter keeps
  // those ORs current, so a socket with every pair off never reaches the midphase (dt12: 83 % of physics steps of an
  // episode that inserts). A stale OR (the compiled one) would only cost time; a too-small one would lose contacts.
  interface Internals {
    mj: Mujoco;
    model: InstanceType<Mujoco['MjModel']>;
    physicsStep(): void;
  }
  let checked = 0;
  let socketOff = 0;
  for (const def of loadConnectors().filter((d) => ['dt12', 'dshape20', 'round12'].includes(d.name))) {
    for (const goalBias of [[0, 0, 0] as Vec3, [0.002, 0, 0] as Vec3]) {
      const cell = await SimCell.create({ connector: def, imageSize: 0, goalBias });
      const c = cell as unknown as Internals;
      const { mj, model } = c;
      const socket = mj.mj_name2id(model, mj.mjtObj.mjOBJ_BODY.value, 'socket');
      const geomBody = model.geom_bodyid as Int32Array;
      const step = c.physicsStep.bind(cell);
      c.physicsStep = () => {
        step();
        const geomAff = model.geom_conaffinity as Int32Array;
        const bodyAff = model.body_conaffinity as Int32Array;
        for (const b of [0, socket]) {
          let or = 0;
          for (let g = 0; g < model.ngeom; g++) if (geomBody[g] === b) or |= geomAff[g]!;
          assert.equal(bodyAff[b], or, `${def.name}: body ${b}'s conaffinity ${bodyAff[b]} is not its geoms' OR ${or}`);
        }
        checked++;
        if (bodyAff[socket] === 0) socketOff++;
      };
      try {
        let o = cell.reset({ seed: 5, scenario: 'I' });
        for (let k = 0; k < 20; k++) o = cell.step(pControl(o.eePos, o.goal));
      } finally {
        cell.dispose();
      }
    }
  }
  assert.ok(checked >= 3 * 2 * 20 * 100, `only ${checked} physics steps checked`);
  assert.ok(socketOff > 0.3 * checked, `the socket body was out of the broadphase in only ${socketOff} of ${checked} physics steps`);
});
