import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideSafety, EstopLatch, type SafetyInput, type SafetyLimits } from '../../src/daemon/safety.ts';
import type { Vec3 } from '../../src/core/types.ts';
import { calmObservation } from './helpers.ts';

const limits: SafetyLimits = {
  forceLimitN: 30,
  maxStepM: 0.01,
  staleSensorMaxAgeS: 0.5,
  workspace: { min: [0, -0.2, 0], max: [1, 0.2, 0.5] },
};

const obs = calmObservation;

function input(over: Partial<SafetyInput> = {}): SafetyInput {
  return {
    now: 10.05,
    obs: obs(),
    proposed: [0.001, 0, -0.002],
    latch: new EstopLatch().state,
    backendEstop: { engaged: false, source: null },
    ...over,
  };
}

test('a safe action passes unchanged', () => {
  const d = decideSafety(input(), limits);
  assert.equal(d.kind, 'move');
  if (d.kind === 'move') {
    assert.deepEqual(d.action, [0.001, 0, -0.002]);
    assert.equal(d.stepClamped, false);
    assert.equal(d.workspaceClamped, false);
  }
});

test('e-stop from the latch or the backend trips first, even with other faults present', () => {
  const latch = new EstopLatch();
  latch.engage('rest', 'rest', 'operator');
  const d = decideSafety(input({ latch: latch.state, proposed: [NaN, 0, 0], now: 99 }), limits);
  assert.equal(d.kind, 'trip');
  if (d.kind === 'trip') assert.equal(d.reason, 'estop');
  const b = decideSafety(input({ backendEstop: { engaged: true, source: 'button' } }), limits);
  assert.ok(b.kind === 'trip' && b.reason === 'estop' && b.latch && /button/.test(b.detail));
});

test('stale camera and stale wrench trip the watchdog and latch', () => {
  const cam = decideSafety(input({ obs: obs({ imageStamp: 9.4 }) }), limits);
  assert.ok(cam.kind === 'trip' && cam.reason === 'stale-camera' && cam.latch);
  const wr = decideSafety(input({ obs: obs({ wrenchStamp: 9.0 }) }), limits);
  assert.ok(wr.kind === 'trip' && wr.reason === 'stale-wrench' && wr.latch);
  // Just inside the age limit passes.
  const ok = decideSafety(input({ obs: obs({ imageStamp: 9.56, wrenchStamp: 9.56 }) }), limits);
  assert.equal(ok.kind, 'move');
});

test('force above the limit stops and retracts without latching; below it passes', () => {
  const hi = decideSafety(input({ obs: obs({ wrench: [10, 10, 28, 0, 0, 0] }) }), limits);
  assert.ok(hi.kind === 'trip' && hi.reason === 'force-limit' && hi.retract && !hi.latch);
  const lo = decideSafety(input({ obs: obs({ wrench: [0, 0, 29, 5, 5, 5] }) }), limits);
  assert.equal(lo.kind, 'move');
});

test('non-finite observation or action trips; nothing non-finite is ever a move', () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    const a = decideSafety(input({ proposed: [0, bad, 0] }), limits);
    assert.ok(a.kind === 'trip' && a.reason === 'non-finite' && a.latch);
    const o = decideSafety(input({ obs: obs({ eePos: [0.5, bad, 0.2] }) }), limits);
    assert.ok(o.kind === 'trip' && o.reason === 'non-finite');
    const w = decideSafety(input({ obs: obs({ wrench: [0, 0, bad, 0, 0, 0] }) }), limits);
    assert.ok(w.kind === 'trip' && w.reason === 'non-finite');
  }
  // Random fuzz: every move is finite, within the step limit, and keeps the target in the box.
  let seed = 7;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const specials = [NaN, Infinity, 1e300, -1e300, 0];
  for (let i = 0; i < 2000; i++) {
    const p: Vec3 = [rnd() * 0.05, rnd() * 0.05, rnd() * 0.05];
    if (i % 10 === 0) p[i % 3] = specials[(i / 10) % specials.length] as number;
    const ee: Vec3 = [0.5 + rnd() * 0.5, rnd() * 0.2, 0.25 + rnd() * 0.25];
    const d = decideSafety(input({ proposed: p, obs: obs({ eePos: ee }) }), limits);
    if (d.kind === 'move') {
      assert.ok(d.action.every(Number.isFinite));
      assert.ok(Math.hypot(...d.action) <= limits.maxStepM + 1e-12);
      for (let k = 0; k < 3; k++) {
        const t = (ee[k] as number) + (d.action[k] as number);
        assert.ok(t >= (limits.workspace.min[k] as number) - 1e-12 && t <= (limits.workspace.max[k] as number) + 1e-12);
      }
    }
  }
});

test('per-step displacement is clamped by norm, keeping direction', () => {
  const d = decideSafety(input({ proposed: [0.03, 0, -0.04] }), limits);
  assert.equal(d.kind, 'move');
  if (d.kind === 'move') {
    assert.ok(d.stepClamped);
    assert.ok(Math.abs(Math.hypot(...d.action) - 0.01) < 1e-12);
    assert.ok(Math.abs(d.action[0] / d.action[2] - 0.03 / -0.04) < 1e-9);
  }
});

test('workspace: target kept inside the box; outside the box trips', () => {
  const edge = decideSafety(input({ obs: obs({ eePos: [0.5, 0, 0.005] }), proposed: [0, 0, -0.01] }), limits);
  assert.ok(edge.kind === 'move' && edge.workspaceClamped);
  if (edge.kind === 'move') assert.ok(Math.abs(edge.action[2] + 0.005) < 1e-12);
  const out = decideSafety(input({ obs: obs({ eePos: [0.5, 0.3, 0.2] }) }), limits);
  assert.ok(out.kind === 'trip' && out.reason === 'workspace' && !out.latch);
});

test('latch: reset refused while the backend e-stop or an internal fault persists', () => {
  const latch = new EstopLatch();
  assert.ok(latch.engage('backend', 'backend:button', 'pressed'));
  assert.equal(latch.engage('rest', 'rest', 'later'), false, 'first cause is kept');
  assert.equal(latch.state.source, 'backend:button');
  const refused = latch.reset({ engaged: true, source: 'button' });
  assert.equal(refused.ok, false);
  assert.ok(latch.engaged);
  assert.deepEqual(latch.reset({ engaged: false, source: null }), { ok: true });
  assert.equal(latch.engaged, false);

  latch.engage('internal', 'internal:stale-camera', 'old frame');
  const r = latch.reset({ engaged: false, source: null }, 'camera frame 3 s old');
  assert.ok(!r.ok && /camera/.test(r.reason));
  assert.ok(latch.engaged);
  assert.ok(latch.reset({ engaged: false, source: null }, null).ok);
  // A REST e-stop is not blocked by stale internal conditions.
  latch.engage('rest', 'rest', 'operator');
  assert.ok(latch.reset({ engaged: false, source: null }, 'anything').ok);
});
