/** The mock robot itself: kinematics, spring contact, camera, clock, e-stop and the scripted faults. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MockBackend } from '../../src/robot/mock-backend.ts';
import type { EstopSignal } from '../../src/robot/backend.ts';
import type { Observation, Vec3 } from '../../src/core/types.ts';

const close = (a: number, b: number, tol = 1e-12): boolean => Math.abs(a - b) <= tol;

/** A P-controller toward the published goal, per-axis gains as the shipped calibration. */
function pStep(o: Observation): Vec3 {
  return [-(o.eePos[0] - o.goal[0]), -(o.eePos[1] - o.goal[1]), -0.3 * (o.eePos[2] - o.goal[2])];
}

test('moveToStart is deterministic under the seed; scenarios start where the sim cell starts them', async () => {
  const a = new MockBackend({ seed: 4, wrenchNoiseN: 0.2 });
  const b = new MockBackend({ seed: 4, wrenchNoiseN: 0.2 });
  const run = async (m: MockBackend): Promise<Observation[]> => {
    await m.moveToStart({ seed: 9, scenario: 'II' });
    m.zeroWrench();
    const out = [m.observe()];
    for (let i = 0; i < 8; i++) {
      m.command(pStep(m.observe()));
      out.push(m.observe());
    }
    return out;
  };
  const ra = await run(a);
  const rb = await run(b);
  assert.deepEqual(ra, rb, 'same seed, same observations (images, noisy wrenches and stamps included)');
  const c = new MockBackend({ seed: 5, wrenchNoiseN: 0.2 });
  const rc = await run(c);
  assert.deepEqual(rc[0]?.eePos, ra[0]?.eePos, 'the start pose depends on the episode seed only');
  assert.notDeepEqual(
    rc.map((o) => o.wrench),
    ra.map((o) => o.wrench),
    'the noise depends on the backend seed',
  );
  for (let seed = 0; seed < 20; seed++) {
    await a.moveToStart({ seed, scenario: 'II' });
    const o = a.observe();
    const lateral = Math.hypot(o.eePos[0] - o.goal[0], o.eePos[1] - o.goal[1]);
    assert.ok(lateral >= 0.01 - 1e-12 && lateral <= 0.02 + 1e-12, `II: ${lateral}`);
    await a.moveToStart({ seed, scenario: 'I' });
    const p = a.observe();
    assert.ok(Math.abs(p.eePos[0] - p.goal[0]) <= 0.01 && Math.abs(p.eePos[1] - p.goal[1]) <= 0.01);
    assert.ok(close(p.eePos[2] - a.geometry.socketTop, 0.03, 1e-12), 'starts 30 mm above the face');
  }
  await assert.rejects(a.moveToStart({ seed: 1, scenario: 'III' as 'I' }), /scenario/);
});

test('the tip follows commanded moves (clipped per axis) and the clock advances one period per command', async () => {
  const m = new MockBackend({ controlHz: 20 });
  await m.moveToStart({ seed: 1, scenario: 'I' });
  const t0 = m.clock();
  const p0 = m.observe().eePos;
  m.command([0.002, -0.003, 0.001]);
  const p1 = m.observe();
  assert.ok(close(p1.eePos[0] - p0[0], 0.002) && close(p1.eePos[1] - p0[1], -0.003) && close(p1.eePos[2] - p0[2], 0.001));
  assert.ok(close(m.clock() - t0, 0.05));
  assert.equal(p1.imageStamp, m.clock());
  assert.equal(p1.wrenchStamp, m.clock());
  m.command([0.5, 0, 0]);
  assert.ok(close(m.observe().eePos[0] - p1.eePos[0], 0.01), 'clipped to maxStep per axis like the sim cell');
  assert.throws(() => m.command([NaN, 0, 0]), /finite/);
  assert.equal(m.commandsExecuted, 2);
  assert.throws(() => new MockBackend({ imageSize: 0 }), /imageSize/);
  assert.throws(() => new MockBackend({ overshoot: -1 }), /overshoot/);
});

test('spring contact: pushing down on the face reads as +Fz = k x penetration; aligned, the tip seats', async () => {
  const k = 4000;
  const m = new MockBackend({ stiffnessNPerM: k });
  const g = m.geometry;
  // 2 mm off the axis (beyond the 0.5 mm clearance): the face stops the plug.
  await m.moveToStart({ seed: 1, scenario: 'I' });
  m.zeroWrench();
  const off: Vec3 = [g.socketXY[0] + 0.002, g.socketXY[1], 0];
  const here = m.observe().eePos;
  m.command([off[0] - here[0], off[1] - here[1], 0]);
  for (let i = 0; i < 4; i++) m.command([0, 0, -0.01]); // 40 mm down from 30 mm above the face
  let o = m.observe();
  assert.ok(close(o.eePos[2], g.socketTop), `on the face: z ${o.eePos[2]}`);
  assert.ok(close(o.wrench[2], k * 0.01, 1e-9), `Fz ${o.wrench[2]} = k x 10 mm`);
  assert.ok(close(o.wrench[4], 0) && close(o.wrench[0], 0));
  m.command([0, 0, -0.002]);
  assert.ok(close(m.observe().wrench[2], k * 0.002, 1e-9), 'force follows the push');
  m.command([0, 0, 0]);
  assert.ok(close(m.observe().wrench[2], 0), 'no push, no force');
  assert.equal(m.groundTruth().success, false);
  // On the axis: the P-controller seats it, ground truth says success, the image shows it.
  await m.moveToStart({ seed: 2, scenario: 'II' });
  const before = m.observe().image;
  for (let i = 0; i < 20; i++) m.command(pStep(m.observe()));
  o = m.observe();
  const gt = m.groundTruth();
  assert.ok(gt.success, `seated: depth ${gt.depth}, lateral ${gt.lateralError}`);
  assert.ok(gt.depth <= g.depth + 1e-12, 'not through the hole bottom');
  assert.notDeepEqual(o.image.data, before.data);
  // Pressing on the hole bottom reads force; pushing sideways in the hole meets the wall.
  m.command([0, 0, -0.003]); // lands on the bottom
  m.command([0, 0, -0.003]);
  assert.ok(close(m.observe().wrench[2], k * 0.003, 1e-9), `Fz ${m.observe().wrench[2]}`);
  m.command([0.004, 0, 0]);
  o = m.observe();
  assert.ok(Math.hypot(o.eePos[0] - g.socketXY[0], o.eePos[1] - g.socketXY[1]) <= g.clearance + 1e-12, 'confined by the wall');
  assert.ok(o.wrench[0] < -1, `the wall pushes back: Fx ${o.wrench[0]}`);
  assert.ok(o.wrench[4] > 0, 'and the lateral force reads as a torque at the wrist');
});

test('camera: configured size, deterministic, and the frame depends on the tip relative to the socket', async () => {
  const m = new MockBackend({ imageSize: [48, 32] });
  await m.moveToStart({ seed: 3, scenario: 'II' });
  const a = m.observe().image;
  assert.equal(a.width, 48);
  assert.equal(a.height, 32);
  assert.equal(a.data.length, 48 * 32 * 3);
  assert.ok(
    a.data.some((v) => v !== a.data[0]),
    'not blank',
  );
  const again = new MockBackend({ imageSize: [48, 32] });
  await again.moveToStart({ seed: 3, scenario: 'II' });
  assert.deepEqual(again.observe().image.data, a.data);
  m.command([0.003, 0, 0]);
  const b = m.observe().image;
  assert.notDeepEqual(b.data, a.data, 'a lateral move shows');
  m.command([0, 0, -0.005]);
  assert.notDeepEqual(m.observe().image.data, b.data, 'a vertical move shows');
  // Cheap: 200 distinct 64x64 frames well under a second even on a loaded machine (measured ~0.1 ms each).
  const big = new MockBackend();
  await big.moveToStart({ seed: 3, scenario: 'II' });
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) {
    big.command([i % 2 ? 0.0001 : -0.0001, 0, 0]);
    big.observe();
  }
  assert.ok(performance.now() - t0 < 2000);
});

test('e-stop button: listeners, commands refused while engaged, a reset refused or aborted', async () => {
  const m = new MockBackend();
  await m.moveToStart({ seed: 1, scenario: 'I' });
  const seen: EstopSignal[] = [];
  const off = m.onEstop((s) => seen.push(s));
  m.pressEstop();
  m.pressEstop('other'); // already engaged: a new source is an event
  assert.deepEqual(m.estopEngaged(), { engaged: true, source: 'other' });
  const pose = m.tipPos;
  m.command([0.001, 0, 0]);
  assert.deepEqual(m.tipPos, pose, 'brakes on');
  assert.equal(m.commandsRefused, 1);
  await assert.rejects(m.moveToStart({ seed: 1, scenario: 'I' }), /e-stop engaged/);
  m.releaseEstop();
  off();
  m.pressEstop();
  m.releaseEstop();
  assert.deepEqual(seen, [
    { engaged: true, source: 'mock-button' },
    { engaged: true, source: 'other' },
    { engaged: false, source: null },
  ]);
  // Pressed during a reset: the motion stops there and moveToStart rejects, whatever stop() is set to do.
  const ig = new MockBackend({ stopDuringReset: 'ignore' });
  const gate = ig.gateNextReset();
  const p = ig.moveToStart({ seed: 1, scenario: 'II' });
  await gate.entered;
  const at = ig.tipPos;
  ig.pressEstop();
  await assert.rejects(p, /e-stop engaged/);
  assert.deepEqual(ig.tipPos, at);
  assert.equal(ig.resetsCompleted, 0);
});

test('resets: scripted failure, held open by a gate, aborted or finished after stop() as configured', async () => {
  const m = new MockBackend();
  m.failNextReset(new Error('gripper lost the plug'));
  await assert.rejects(m.moveToStart({ seed: 1, scenario: 'I' }), /gripper lost the plug/);
  await m.moveToStart({ seed: 1, scenario: 'I' });
  assert.equal(m.resetsCompleted, 1);

  let gate = m.gateNextReset();
  let p = m.moveToStart({ seed: 2, scenario: 'I' });
  assert.deepEqual(await gate.entered, { seed: 2, scenario: 'I' });
  const held = m.tipPos;
  m.stop();
  await assert.rejects(p, /aborted: stop\(\) requested/);
  gate.release(); // too late: nothing moves
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(m.tipPos, held);

  gate = m.gateNextReset();
  p = m.moveToStart({ seed: 2, scenario: 'I' });
  await gate.entered;
  gate.fail(new Error('controller fault'));
  await assert.rejects(p, /controller fault/);

  const ig = new MockBackend({ stopDuringReset: 'ignore' });
  gate = ig.gateNextReset();
  p = ig.moveToStart({ seed: 2, scenario: 'I' });
  await gate.entered;
  ig.stop();
  gate.release();
  await p; // the sim-like backend finishes the reset anyway
  assert.equal(ig.resetsCompleted, 1);

  const d = new MockBackend({ domains: ['alpha', 'beta'] });
  assert.deepEqual(d.domains?.(), ['alpha', 'beta']);
  await d.moveToStart({ seed: 1, scenario: 'I', domain: 'beta' });
  await assert.rejects(d.moveToStart({ seed: 1, scenario: 'I', domain: 'gamma' }), /unknown domain 'gamma'/);
  assert.equal(new MockBackend().domains, undefined, 'without a list any label is accepted');
});

test('sensor faults: each one shows in the observation as described, and clears', async () => {
  const m = new MockBackend();
  await m.moveToStart({ seed: 1, scenario: 'II' });
  const step = (): Observation => {
    m.command([0.001, 0, -0.001]);
    return m.observe();
  };
  let o0 = m.observe();

  m.injectFault({ cameraStopped: true });
  let o = step();
  assert.equal(o.imageStamp, o0.imageStamp, 'stopped camera: old stamp');
  assert.deepEqual(o.image.data, o0.image.data, 'and old pixels');
  assert.equal(o.wrenchStamp, m.clock(), 'the wrench still streams');
  m.clearFaults();
  assert.equal(m.observe().imageStamp, m.clock(), 'fresh after clearing');

  o0 = m.observe();
  m.injectFault({ cameraFrozen: true });
  o = step();
  assert.equal(o.imageStamp, m.clock(), 'frozen camera: fresh stamps');
  assert.deepEqual(o.image.data, o0.image.data, 'but the same pixels');
  m.clearFaults();

  m.injectFault({ imageSize: { width: 32, height: 24 } });
  o = m.observe();
  assert.equal(o.image.width, 32);
  assert.equal(o.image.data.length, 32 * 24 * 3);
  m.injectFault({ imageSize: null, corruptImage: true });
  o = m.observe();
  assert.ok(o.image.data.length < o.image.width * o.image.height * 3, 'short frame');
  m.clearFaults();

  o0 = m.observe();
  m.injectFault({ wrenchStopped: true });
  o = step();
  assert.equal(o.wrenchStamp, o0.wrenchStamp);
  assert.equal(o.imageStamp, m.clock());
  m.injectFault({ nanWrench: true });
  assert.ok(m.observe().wrench.every(Number.isNaN));
  m.clearFaults();

  o0 = m.observe();
  m.injectFault({ frozenStamps: true });
  o = step();
  assert.equal(o.imageStamp, o0.imageStamp);
  assert.equal(o.wrenchStamp, o0.wrenchStamp);
  assert.notDeepEqual(o.eePos, o0.eePos, 'data still flows');
  assert.ok(m.clock() > o0.imageStamp);
  m.injectFault({ nanStamps: true });
  o = m.observe();
  assert.ok(Number.isNaN(o.imageStamp) && Number.isNaN(o.wrenchStamp));
  m.clearFaults();

  const c0 = m.clock();
  m.injectFault({ frozenClock: true });
  o = step();
  assert.equal(m.clock(), c0);
  assert.equal(o.imageStamp, c0);
  m.injectFault({ nanClock: true });
  assert.ok(Number.isNaN(m.clock()));
  m.clearFaults();
  assert.ok(m.clock() > c0, 'the clock ran on underneath');

  m.injectFault({ nanPose: true, nanGoal: true });
  o = m.observe();
  assert.ok(o.eePos.every(Number.isNaN) && o.goal.every(Number.isNaN));
  assert.ok(m.tipPos.every(Number.isFinite), 'the robot itself is fine');
  m.clearFaults();
  assert.deepEqual(m.activeFaults, {});
  assert.ok(m.observe().eePos.every(Number.isFinite));
});

test('retract lifts the tip in steps, not under an engaged e-stop; push moves it without a command', async () => {
  const m = new MockBackend();
  await m.moveToStart({ seed: 1, scenario: 'I' });
  const z0 = m.tipPos[2];
  const t0 = m.clock();
  await m.retract(0.025);
  assert.ok(close(m.tipPos[2] - z0, 0.025, 1e-12));
  assert.ok(close(m.clock() - t0, 0.3, 1e-12), 'three steps of at most 10 mm');
  await m.retract(NaN);
  m.pressEstop();
  await m.retract(0.01);
  assert.ok(close(m.tipPos[2] - z0, 0.025, 1e-12));
  m.releaseEstop();
  const n = m.commandsExecuted;
  m.push([0.05, 0, 0]);
  assert.ok(close(m.tipPos[0] - m.seatedPos()[0], 0.05, 0.011));
  assert.equal(m.commandsExecuted, n);
});

test('overshoot: a free-space move lands beyond its target by the configured fraction', async () => {
  const m = new MockBackend({ overshoot: 0.5 });
  await m.moveToStart({ seed: 1, scenario: 'I' });
  const x0 = m.tipPos[0];
  m.command([0.004, 0, 0]);
  assert.ok(close(m.tipPos[0] - x0, 0.006));
});
