/**
 * Camera frames the policy was not calibrated for, through the real simulator (issue 12, the campaign's sensor row):
 * a frame of another size than the camera has been sending (it would otherwise be resized silently) and one of
 * another encoding (4 bytes a pixel). Each stops the arm in the tick it arrives and latches with the reason; a reset
 * is refused while such frames keep coming and accepted once they stop; frozen stamps with data flowing and a NaN
 * wrench from the simulator are caught too.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { SimFaults } from '../../src/robot/sim-backend.ts';
import { rig, tickUntil } from './helpers.ts';
import { teardown } from '../teardown.ts';

async function running(t: TestContext) {
  const r = await rig({ overrides: { episodeSteps: 30 } });
  teardown(t)(() => r.close());
  const d = r.app.daemon;
  assert.ok(d.startPractice({ count: 2, scenario: 'II' }).ok);
  await tickUntil(r.app, () => (d.status().episode?.step ?? 0) >= 2, 40);
  return r;
}

const frames: Array<{ fault: SimFaults; detail: RegExp }> = [
  { fault: { wrongImage: 'size' }, detail: /camera frame is 32x32, the camera has been sending 64x64/ },
  { fault: { wrongImage: 'encoding' }, detail: /camera frame 64x64 has 16384 bytes, expected 12288/ },
];

for (const c of frames) {
  test(`a frame of the wrong ${c.fault.wrongImage}: stopped in that tick, latched, reset refused until frames are right again`, async (t) => {
    const r = await running(t);
    const d = r.app.daemon;
    r.sim.injectFault(c.fault);
    const before = r.sim.commandsExecuted;
    await d.tick();
    assert.equal(r.sim.commandsExecuted, before, 'nothing commanded on the bad frame');
    assert.equal(d.currentState, 'estopped');
    assert.equal(d.status().safety.estop.source, 'internal:observation');
    assert.match(d.status().safety.estop.detail ?? '', c.detail);
    const refused = d.resetEstop();
    assert.ok(!refused.ok, 'reset refused while the frames are still wrong');
    assert.match(refused.ok ? '' : refused.reason, c.detail);
    for (let i = 0; i < 3; i++) await d.tick();
    assert.equal(r.sim.commandsExecuted, before);
    r.sim.clearFaults();
    assert.deepEqual(d.resetEstop(), { ok: true });
  });
}

test('frozen stamps with data flowing and a NaN wrench from the simulator latch with the sensor named', async (t) => {
  for (const [fault, source] of [
    [{ frozenStamps: true }, /internal:stale-(camera|wrench)/],
    [{ nanWrench: true }, /internal:non-finite/],
  ] as const) {
    const r = await running(t);
    const d = r.app.daemon;
    r.sim.injectFault(fault);
    await tickUntil(r.app, () => d.currentState === 'estopped', 10);
    assert.match(d.status().safety.estop.source ?? '', source);
    assert.ok(!d.resetEstop().ok, 'refused while the fault persists');
    r.sim.clearFaults();
    assert.deepEqual(d.resetEstop(), { ok: true });
  }
});
