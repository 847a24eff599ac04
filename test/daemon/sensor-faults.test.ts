/**
 * Sensor faults through the daemon on the mock robot: the fault stops the arm and latches with its cause; reset is
 * refused while it persists and accepted once it clears. (The sim-backed daemon tests cover a frozen camera, a frozen
 * wrench and a NaN pose; these add a NaN wrench, frozen stamps with data still flowing, and a corrupt camera frame.)
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { MockFaults } from '../../src/robot/mock-backend.ts';
import { mockRig, tickUntil } from './helpers.ts';
import { teardown } from '../teardown.ts';

async function running(t: TestContext, steps = 20) {
  const r = await mockRig({ overrides: { episodeSteps: steps } });
  teardown(t)(() => r.close());
  const d = r.app.daemon;
  assert.ok(d.startPractice({ count: 2, scenario: 'II' }).ok);
  await tickUntil(r.app, () => d.status().episode?.step === 2, 10);
  return r;
}

test('a NaN wrench: stopped and latched in the same tick, reset refused until the sensor reads numbers again', async (t) => {
  const r = await running(t);
  const d = r.app.daemon;
  r.mock.injectFault({ nanWrench: true });
  const before = r.mock.commandsExecuted;
  await d.tick();
  assert.equal(r.mock.commandsExecuted, before, 'nothing commanded on a NaN wrench');
  assert.equal(d.currentState, 'estopped');
  assert.equal(d.status().safety.estop.source, 'internal:non-finite');
  for (let i = 0; i < 3; i++) await d.tick();
  assert.equal(r.mock.commandsExecuted, before);
  assert.ok(!d.resetEstop().ok);
  r.mock.clearFaults();
  assert.deepEqual(d.resetEstop(), { ok: true });
});

const stale: Array<{ fault: MockFaults; source: string }> = [
  { fault: { frozenStamps: true }, source: 'internal:stale-camera' },
  { fault: { cameraStopped: true }, source: 'internal:stale-camera' },
  { fault: { wrenchStopped: true }, source: 'internal:stale-wrench' },
];

for (const s of stale) {
  test(`${JSON.stringify(s.fault)}: the watchdog latches within the configured age and says which sensor`, async (t) => {
    const r = await running(t, 40);
    const d = r.app.daemon;
    r.mock.injectFault(s.fault);
    const before = r.mock.commandsExecuted;
    await tickUntil(r.app, () => d.currentState === 'estopped', 20);
    const moved = r.mock.commandsExecuted - before;
    const maxMoves = Math.ceil(r.calibration.limits.staleSensorMaxAgeS * r.config.tickHz);
    assert.ok(moved <= maxMoves, `${moved} commands on stale data (limit ${maxMoves})`);
    assert.equal(d.status().safety.estop.source, s.source);
    const after = r.mock.commandsExecuted;
    for (let i = 0; i < 3; i++) await d.tick();
    assert.equal(r.mock.commandsExecuted, after, 'nothing after the latch');
    const refused = d.resetEstop();
    assert.ok(!refused.ok && /old/.test(refused.reason), 'refused while stale');
    r.mock.clearFaults();
    assert.deepEqual(d.resetEstop(), { ok: true });
  });
}

// A frame whose data does not match its size makes preprocessing throw: treated like a non-finite observation.
test('a corrupt camera frame: stopped and latched with the reason, the tick does not throw', async (t) => {
  const r = await running(t);
  const d = r.app.daemon;
  r.mock.injectFault({ corruptImage: true });
  const before = r.mock.commandsExecuted;
  const stops = r.mock.stopsRequested;
  await d.tick();
  assert.equal(r.mock.commandsExecuted, before);
  assert.ok(r.mock.stopsRequested > stops, 'the arm was told to hold');
  assert.equal(d.currentState, 'estopped');
  assert.match(d.status().safety.estop.detail ?? '', /camera frame/);
  assert.equal(d.status().episode, null, 'the episode was closed');
});

// A robot clock that stands still makes every sensor look fresh (ages are measured on it): the loop checks that it
// advances between commanded ticks.
test('a frozen robot clock: stopped and latched at the next tick, which would otherwise go on moving', async (t) => {
  const r = await running(t);
  const d = r.app.daemon;
  r.mock.injectFault({ frozenClock: true });
  const before = r.mock.commandsExecuted;
  await d.tick();
  await d.tick();
  assert.ok(r.mock.commandsExecuted - before <= 1, `${r.mock.commandsExecuted - before} commands on a frozen clock`);
  assert.equal(d.currentState, 'estopped');
  assert.equal(d.status().safety.estop.source, 'internal:stale-clock');
  assert.match(d.status().safety.estop.detail ?? '', /clock did not advance/);
});
