import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clampPerAxis, composeAction, composeTakeover, DEFAULT_RESIDUAL_BOUND_M, limitStep } from '../../src/control/action.ts';
import type { Controller } from '../../src/control/controller.ts';
import { PolicyController } from '../../src/control/policy-controller.ts';
import { loadCalibration } from '../../src/config/load.ts';
import { runEpisode, type EvalCell } from '../../src/eval/evaluate.ts';
import type { Observation, Vec3 } from '../../src/core/types.ts';
import { ctx, obs } from './helpers.ts';

const limits = { residualBoundM: 0.005, maxStepM: 0.01 };
const norm = (v: Vec3): number => Math.hypot(v[0], v[1], v[2]);

test('composeAction: residual bounded per axis, then the step limited by its Euclidean norm', () => {
  const a = composeAction([0.002, 0, -0.003], [0.02, -0.001, 0], limits);
  assert.deepEqual(a.actionResidual, [0.005, -0.001, 0]);
  assert.deepEqual(a.executed, [0.007, -0.001, -0.003]);
  assert.equal(a.stepLimited, false);
  // Diagonal: a per-axis clip would let this through at 17 mm; the rule allows 10 mm, direction kept.
  const d = composeAction([0.01, 0.01, 0.01], [0, 0, 0], limits);
  assert.ok(d.stepLimited);
  assert.ok(Math.abs(norm(d.executed) - 0.01) < 1e-12);
  assert.ok(Math.abs(d.executed[0] - d.executed[2]) < 1e-15);
  // executed = P + residual exactly whenever the step limit did not act.
  const e = composeAction([0.001, 0.002, -0.004], [0.003, -0.002, 0.001], limits);
  assert.deepEqual(e.executed, [0.001 + 0.003, 0.002 - 0.002, -0.004 + 0.001]);
});

test('composeAction: a free residual (null bound) is kept; NaN is never silently zeroed', () => {
  assert.deepEqual(composeAction([0, 0, 0], [0.008, 0, 0], { residualBoundM: null, maxStepM: 0.01 }).actionResidual, [0.008, 0, 0]);
  const n = composeAction([0, 0, 0], [Number.NaN, 0, 0], limits);
  assert.ok(Number.isNaN(n.executed[0]));
  assert.deepEqual(clampPerAxis([0.1, -0.1, 0.001], 0.005), [0.005, -0.005, 0.001]);
  assert.equal(limitStep([0.003, 0.004, 0], 0.005).clamped, false);
});

test('composeTakeover: the operator move, step-limited; the logged residual is executed - u_H, bounded, and reproduces it', () => {
  const uH: Vec3 = [0.003, -0.001, -0.004];
  const a = composeTakeover(uH, [0.001, 0.001, -0.002], limits);
  assert.deepEqual(a.executed, [0.001, 0.001, -0.002]);
  assert.ok(a.actionResidual.every((v, i) => Math.abs(v - ([-0.002, 0.002, 0.002][i] as number)) < 1e-15));
  assert.equal(a.residualClamped, false);
  // The residual is one the policy could have output: the action rule maps it back to the operator's move.
  const back = composeAction(uH, a.actionResidual, limits).executed;
  assert.ok(back.every((v, i) => Math.abs(v - (a.executed[i] as number)) < 1e-15));
  const big = composeTakeover([0.02, 0, 0], [-0.03, 0, 0.01], limits);
  assert.ok(big.stepLimited && Math.abs(norm(big.executed) - 0.01) < 1e-15);
  assert.equal(big.residualClamped, true);
  assert.deepEqual(big.actionResidual, [-0.005, 0, 0.0031622776601683794]);
});

test('the shipped calibration residual bound is the default the offline tools use', () => {
  assert.equal(loadCalibration('calibration').limits.residualBoundM, DEFAULT_RESIDUAL_BOUND_M);
});

test('the evaluator applies the step limit to every controller, as the daemon does', async () => {
  const executed: Vec3[] = [];
  const o = obs([0, 0, 0.05], [0, 0, 0]);
  const cell: EvalCell = {
    reset: () => o,
    step: (a) => {
      executed.push(a);
      return o;
    },
    groundTruth: () => ({ success: false, depth: 0, socketPos: [0, 0, 0], lateralError: 0 }),
    dispose: () => undefined,
  };
  const diagonal: Controller = { name: 'diag', reset: () => undefined, act: () => [0.01, 0.01, -0.01] };
  await runEpisode(cell, diagonal, { seed: 0, scenario: 'I', controlSeed: 0, episodeLength: 3, maxStep: 0.01, privileged: false });
  assert.equal(executed.length, 3);
  for (const a of executed) assert.ok(norm(a) <= 0.01 + 1e-12, `executed ${a.join(',')} is longer than the step limit`);
});

test('the policy controller composes its action with the daemon rule (shipped policy)', async () => {
  const pc = new PolicyController({ modelPath: 'models/policy.onnx' });
  try {
    await pc.load();
    const img = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(90) };
    // Far from the goal in x, y and z: u_H saturates every axis.
    const far: Observation = { ...obs([0.03, 0.03, 0.05], [0, 0, 0]), image: img };
    const a = await pc.act(far, ctx(0));
    assert.ok(Math.abs(norm(a) - 0.01) < 1e-9, `executed ${a.join(',')} should be step-limited to 10 mm`);
    assert.equal(pc.fallbacks, 0);
  } finally {
    await pc.dispose();
  }
});
