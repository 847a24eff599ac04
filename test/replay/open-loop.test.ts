/** The open-loop residual: what the daemon's action rule makes of it is the logged command, on or off the logged track. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { composeAction } from '../../src/control/action.ts';
import { pControl } from '../../src/control/p-controller.ts';
import type { ReplayBackend } from '../../src/replay/backend.ts';
import { OpenLoopResidual } from '../../src/replay/open-loop.ts';
import type { Observation, Vec3 } from '../../src/core/types.ts';
import type { TransitionRecord } from '../../src/store/types.ts';

const kp: Vec3 = [1, 1, 0.3];
const goal: Vec3 = [0.5, 0.1, 0.2];

function fakeBackend(eePos: Vec3, step: number): ReplayBackend {
  const obs = {
    eePos,
    goal,
    wrench: [0, 0, 0, 0, 0, 0],
    eeQuat: [1, 0, 0, 0],
    image: { width: 0, height: 0, data: new Uint8Array(0) },
    imageStamp: 0,
    wrenchStamp: 0,
  } as Observation;
  return { step, observe: () => obs } as unknown as ReplayBackend;
}

function row(step: number, eePos: Vec3, residual: Vec3): TransitionRecord {
  const actionP = pControl(eePos, goal, kp);
  const c = composeAction(actionP, residual, { residualBoundM: 0.005, maxStepM: 0.01 });
  return { step, eePos, goal, actionP, actionResidual: c.actionResidual, actionExecuted: c.executed } as unknown as TransitionRecord;
}

describe('OpenLoopResidual', () => {
  const logged = [row(0, [0.51, 0.105, 0.23], [0.004, -0.002, 0.001]), row(1, [0.503, 0.1, 0.221], [-0.003, 0.001, 0])];
  const limits = { residualBoundM: Number.POSITIVE_INFINITY, maxStepM: 0.01 };

  it('on the logged track: exactly the logged residual, so the daemon composes the logged command bit for bit', async () => {
    const p = new OpenLoopResidual(fakeBackend(logged[1]!.eePos, 1), kp);
    p.load(logged);
    const r = await p.run();
    assert.deepEqual(r, logged[1]!.actionResidual);
    assert.deepEqual(composeAction(pControl(logged[1]!.eePos, goal, kp), r, limits).executed, logged[1]!.actionExecuted);
  });

  it('off the track (the replayed tip 4 mm elsewhere): still the logged command', async () => {
    const here: Vec3 = [0.507, 0.098, 0.224];
    const p = new OpenLoopResidual(fakeBackend(here, 1), kp);
    p.load(logged);
    const executed = composeAction(pControl(here, goal, kp), await p.run(), limits).executed;
    executed.forEach((x, k) => assert.ok(Math.abs(x - logged[1]!.actionExecuted![k]!) < 1e-15, `axis ${k}: ${x} vs ${logged[1]!.actionExecuted![k]}`));
  });

  it('past the logged steps: nothing added to the P-controller', async () => {
    const p = new OpenLoopResidual(fakeBackend(logged[1]!.eePos, 2), kp);
    p.load(logged);
    assert.deepEqual(await p.run(), [0, 0, 0]);
  });
});
