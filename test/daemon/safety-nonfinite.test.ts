/**
 * Non-finite goal, sensor stamps and clock: the safety filter must trip and latch on each, because each one silently
 * disables another check (a NaN stamp makes every "older than" comparison false, so the stale-sensor watchdog passes;
 * a NaN goal makes the P-controller's action NaN). Unit level on decideSafety, then through the daemon on the mock
 * robot: trip, latched, nothing commanded, reset refused until the fault clears.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideSafety, EstopLatch, type SafetyInput, type SafetyLimits } from '../../src/daemon/safety.ts';
import type { MockFaults } from '../../src/robot/mock-backend.ts';
import type { Observation } from '../../src/core/types.ts';
import { calmObservation, mockRig, tickUntil } from './helpers.ts';

const limits: SafetyLimits = { forceLimitN: 30, maxStepM: 0.01, staleSensorMaxAgeS: 0.5, workspace: { min: [0, -0.2, 0], max: [1, 0.2, 0.5] } };

function input(obs: Partial<Observation> = {}, now = 10.05): SafetyInput {
  return {
    now,
    obs: calmObservation(obs),
    // A finite action: the goal or stamp must be caught on its own, not through a NaN action it would cause.
    proposed: [0.001, 0, -0.002],
    latch: new EstopLatch().state,
    backendEstop: { engaged: false, source: null },
  };
}

function assertLatchedTrip(d: ReturnType<typeof decideSafety>, what: string): void {
  assert.equal(d.kind, 'trip', `${what}: must trip`);
  if (d.kind !== 'trip') return;
  assert.equal(d.reason, 'non-finite', what);
  assert.equal(d.latch, true, `${what}: latches`);
  assert.equal(d.retract, false, `${what}: no motion, not even a retract`);
  assert.match(d.detail, /observation/, what);
}

test('decideSafety: a non-finite goal, image stamp, wrench stamp or clock trips and latches', () => {
  assert.equal(decideSafety(input(), limits).kind, 'move', 'the baseline input moves');
  for (const bad of [NaN, Infinity, -Infinity]) {
    for (let i = 0; i < 3; i++) {
      const goal: [number, number, number] = [0.5, 0, 0.1];
      goal[i] = bad;
      assertLatchedTrip(decideSafety(input({ goal }), limits), `goal[${i}] = ${bad}`);
    }
    assertLatchedTrip(decideSafety(input({ imageStamp: bad }), limits), `imageStamp = ${bad}`);
    assertLatchedTrip(decideSafety(input({ wrenchStamp: bad }), limits), `wrenchStamp = ${bad}`);
    assertLatchedTrip(decideSafety(input({}, bad), limits), `now = ${bad}`);
  }
});

const cases: Array<{ name: string; fault: MockFaults }> = [
  { name: 'a NaN goal from the backend', fault: { nanGoal: true } },
  { name: 'NaN sensor stamps', fault: { nanStamps: true } },
  { name: 'a NaN backend clock', fault: { nanClock: true } },
];

for (const c of cases) {
  test(`the daemon on ${c.name}: trips in that tick, latches, commands nothing, reset refused until it clears`, async (t) => {
    const r = await mockRig({ overrides: { episodeSteps: 20 } });
    t.after(() => r.close());
    const d = r.app.daemon;
    assert.ok(d.startPractice({ count: 2, scenario: 'II' }).ok);
    await tickUntil(r.app, () => d.status().episode?.step === 3, 10);
    const epId = d.status().episode?.id;
    r.mock.injectFault(c.fault);
    const before = r.mock.commandsExecuted;
    const motions = r.mock.motions;
    await d.tick();
    assert.equal(r.mock.commandsExecuted, before, 'nothing commanded in the tick that saw it');
    assert.equal(d.currentState, 'estopped');
    const s = d.status().safety;
    assert.equal(s.estop.engaged, true);
    assert.equal(s.estop.source, 'internal:non-finite');
    assert.match(s.estop.detail ?? '', /observation holds a non-finite number/);
    assert.equal(d.status().practice, null, 'practice cancelled');
    for (let i = 0; i < 5; i++) await d.tick();
    await d.settle();
    assert.equal(r.mock.commandsExecuted, before, 'and nothing after');
    assert.equal(r.mock.motions, motions, 'no retract, no reset: the arm did not move');
    const refused = d.resetEstop();
    assert.ok(!refused.ok && /fault still present/.test(refused.reason), 'reset refused while the fault persists');
    r.mock.clearFaults();
    assert.deepEqual(d.resetEstop(), { ok: true });
    await r.app.log.flush();
    assert.equal(r.app.log.store.getEpisode(epId as number)?.outcome, 'tripped');
  });
}
