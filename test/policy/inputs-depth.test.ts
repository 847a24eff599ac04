// Depth cells as a model input (policy/inputs.ts): the mean of the valid pixels per cell, a fixed value for a cell with
// none, the same cells from any image size, and a clear refusal when a model takes depth and the observation has none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Observation } from '../../src/core/types.ts';
import {
  DEPTH_EMPTY_M,
  InputSpecError,
  ModelInputs,
  ProprioBuilder,
  REWARD_CUES,
  depthCellsOf,
  depthGrid,
  rewardCueSpec,
  unmetSensors,
} from '../../src/policy/inputs.ts';

function obs(depth?: { width: number; height: number; data: Float32Array }): Observation {
  return {
    image: { width: 4, height: 4, data: new Uint8Array(48) },
    ...(depth ? { depth } : {}),
    wrench: [0, 0, 7.5, 0, 0, 0],
    eePos: [0, 0, 0],
    eeQuat: [1, 0, 0, 0],
    goal: [0, 0, 0],
    imageStamp: 0,
    wrenchStamp: 0,
  };
}

test('depth cells: mean of valid pixels per cell, empty cells read the near limit, any size gives the same cells', () => {
  // 4x4 depth: the top-left 2x2 cell has one hole, the top-right is all holes.
  const d = Float32Array.from([0.05, 0, 0, 0, 0.07, 0.06, 0, 0, 0.1, 0.1, 0.2, 0.2, 0.1, 0.1, 0.2, 0.2]);
  const out = new Float64Array(4);
  depthGrid(obs({ width: 4, height: 4, data: d }), 2, out);
  assert.deepEqual(
    Array.from(out, (v) => +v.toFixed(6)),
    [0.06, DEPTH_EMPTY_M, 0.1, 0.2],
  );
  // The same scene at 8x8 (every pixel doubled) gives the same cells.
  const big = new Float32Array(64);
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) big[y * 8 + x] = d[(y >> 1) * 4 + (x >> 1)]!;
  const out8 = new Float64Array(4);
  depthGrid(obs({ width: 8, height: 8, data: big }), 2, out8);
  assert.deepEqual(
    Array.from(out8, (v) => +v.toFixed(6)),
    Array.from(out, (v) => +v.toFixed(6)),
  );
});

test("the 'depth+fz' cue: 64 cells normalised around 0.1 m in centimetres, then fz; without depth it refuses", () => {
  const spec = rewardCueSpec('depth+fz');
  assert.ok(spec);
  assert.equal(spec.layout.length, 65);
  assert.equal(spec.layout[0], 'depth8_0_0');
  assert.equal(spec.layout[63], 'depth8_7_7');
  assert.equal(spec.layout[64], 'fz');
  assert.equal(REWARD_CUES.depth.layout.length, 64);
  const b = new ProprioBuilder(spec, 'card x');
  const v = b.build(obs({ width: 16, height: 16, data: new Float32Array(256).fill(0.093) }));
  assert.ok(Math.abs(v[0]! - -0.7) < 1e-5, `cell ${v[0]}`);
  assert.equal(v[64], 7.5);
  const inputs = new ModelInputs({ image: null, proprio: spec }, 'card x');
  assert.throws(
    () => inputs.build(obs()),
    (e: Error) => e instanceof InputSpecError && /no depth image/.test(e.message),
  );
  assert.throws(
    () => new ProprioBuilder({ layout: ['depth8_8_0'], mean: [0], std: [1] }, 'card y'),
    /card y: proprio layout\[0\] 'depth8_8_0' is not a known element/,
  );
});

test("the 'depth-dy' cue: vertical steps between rows of cells, no absolute depth; it needs a depth camera", () => {
  const spec = rewardCueSpec('depth-dy');
  assert.ok(spec);
  assert.equal(spec.layout.length, 31 * 4);
  assert.equal(spec.layout[0], 'depthdy32x4_0_0');
  assert.equal(spec.layout.at(-1), 'depthdy32x4_30_3');
  // 4 rows x 2 columns of cells, 2x2 pixels each: rows at 0.06, 0.06, 0.07, 0.05 m; the right column 1 mm farther.
  const rows = [0.06, 0.06, 0.07, 0.05];
  const d = new Float32Array(32);
  for (let y = 0; y < 8; y++) for (let x = 0; x < 4; x++) d[y * 4 + x] = rows[y >> 1]! + (x >= 2 ? 0.001 : 0);
  const b = new ProprioBuilder(
    { layout: ['depthdy4x2_0_0', 'depthdy4x2_1_1', 'depthdy4x2_2_0', 'depth2_0_0'], mean: [0, 0, 0, 0.1], std: [0.002, 0.002, 0.002, 0.01] },
    'card z',
  );
  const v = b.build(obs({ width: 4, height: 8, data: d }));
  // Steps 0, +1 cm, -2 cm in units of 2 mm; the square grid beside it is filled from the same image.
  assert.deepEqual(
    Array.from(v, (x) => +x.toFixed(4)),
    [0, 5, -10, -4],
  );
  // The same scene moved 1 cm nearer gives the same steps: they carry no absolute depth.
  const near = b.build(obs({ width: 4, height: 8, data: d.map((z) => z - 0.01) }));
  assert.deepEqual(
    Array.from(near.slice(0, 3), (x) => +x.toFixed(4)),
    [0, 5, -10],
  );
  assert.deepEqual(depthCellsOf({ image: null, proprio: spec }).length, 124);
  assert.match(unmetSensors({ image: null, proprio: spec }, { depth: false }) ?? '', /124 depth cells \(depthdy32x4_0_0\.\.\.\)/);
  assert.throws(
    () => new ProprioBuilder({ layout: ['depthdy4x2_3_0'], mean: [0], std: [1] }, 'card w'),
    /card w: proprio layout\[0\] 'depthdy4x2_3_0' is not a known element/,
  );
});
