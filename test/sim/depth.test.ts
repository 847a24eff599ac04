// The wrist camera's depth image (CellConfig.depth): free of extra rays, the colour image unchanged, exact where the
// full ray cast is, and a D405-like camera's noise on top. The cue it exists for: seated and 3 mm above differ.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Observation, Vec3 } from '../../src/core/types.ts';
import { SimCell } from '../../src/sim/cell.ts';
import { findConnector, loadConnectors } from '../../src/sim/connectors.ts';
import { D405, DepthNoise } from '../../src/sim/depth.ts';

const all = loadConnectors();

/** Drives the tip to `dz` above seated (P steps on the true socket position); returns the last observation. */
function driveTo(cell: SimCell, dz: number, steps = 25): Observation {
  const sp = cell.socketPos();
  let o = cell.observe();
  for (let k = 0; k < steps; k++) {
    const t = o.eePos;
    o = cell.step([sp[0] - t[0], sp[1] - t[1], Math.max(-0.01, sp[2] + dz - t[2])] as Vec3);
  }
  return o;
}

test('depth on: the colour image, wrench and pose are byte-for-byte those of the cell without depth', async () => {
  const connector = findConnector(all, 'europlug');
  const a = await SimCell.create({ connector });
  const b = await SimCell.create({ connector, depth: true });
  try {
    const oa = [a.reset({ seed: 7, scenario: 'II' })];
    const ob = [b.reset({ seed: 7, scenario: 'II' })];
    for (const act of [
      [0.004, -0.003, -0.006],
      [0.002, 0.001, -0.01],
      [0, 0, -0.01],
    ] as Vec3[]) {
      oa.push(a.step(act));
      ob.push(b.step(act));
    }
    for (let k = 0; k < oa.length; k++) {
      const x = oa[k]!,
        y = ob[k]!;
      assert.equal(x.depth, undefined);
      assert.ok(y.depth && y.depth.width === 64 && y.depth.height === 64 && y.depth.data.length === 64 * 64);
      assert.deepEqual(Buffer.from(y.image.data), Buffer.from(x.image.data), `colour image differs at step ${k}`);
      assert.deepEqual(y.wrench, x.wrench);
      assert.deepEqual(y.eePos, x.eePos);
    }
  } finally {
    a.dispose();
    b.dispose();
  }
});

test("the wrist render's exact depth equals the full ray cast's, and the camera's reading is within its noise", async () => {
  const cell = await SimCell.create({ connector: findConnector(all, 'roundkey'), depth: true });
  try {
    cell.reset({ seed: 3, scenario: 'I' });
    for (const dz of [0.01, 0.003, 0]) {
      const o = driveTo(cell, dz, 12);
      const exact = cell.exactDepth() as Float32Array;
      const ref = new Float32Array(exact.length);
      cell.renderReference(ref);
      let worst = 0;
      for (let p = 0; p < ref.length; p++) worst = Math.max(worst, Math.abs(ref[p]! - exact[p]!));
      assert.ok(worst < 1e-6, `exact depth differs from the full ray cast by ${worst} m at ${dz * 1000} mm above seated`);
      const d = (o.depth as { data: Float32Array }).data;
      let valid = 0;
      for (let p = 0; p < d.length; p++) {
        if (d[p] === 0) continue;
        valid++;
        // scale error <= 0.5 % and stereo noise well under 1 mm at these ranges (< 12 cm)
        assert.ok(Math.abs(d[p]! - exact[p]!) < 0.005 * exact[p]! + 0.001, `pixel ${p}: ${d[p]} vs exact ${exact[p]}`);
      }
      assert.ok(valid > 0.95 * d.length, `only ${valid} valid depth pixels`);
    }
  } finally {
    cell.dispose();
  }
});

test('the cue: the socket face reads nearer by millimetres when the plug is seated than 3 mm above it', async () => {
  const cell = await SimCell.create({ connector: findConnector(all, 'roundkey'), depth: true });
  try {
    cell.reset({ seed: 4, scenario: 'I' });
    const median = (o: Observation): number => {
      const v = Array.from((o.depth as { data: Float32Array }).data)
        .filter((x) => x > 0)
        .sort((p, q) => p - q);
      return v[v.length >> 1] as number;
    };
    const above = driveTo(cell, 0.003);
    assert.equal(cell.groundTruth().success, false);
    const seated = driveTo(cell, 0);
    assert.equal(cell.groundTruth().success, true);
    const diff = median(above) - median(seated);
    assert.ok(diff > 0.0015, `median depth 3 mm above seated minus seated: ${(diff * 1000).toFixed(2)} mm`);
  } finally {
    cell.dispose();
  }
});

test('the D405-like noise: sigma ~ z^2, 0.1 mm steps, nothing nearer than the minimum range, same seed same frame', () => {
  const n = 20000;
  const z = 0.09;
  const plane = new Float32Array(n).fill(z);
  const near = new Float32Array(8).fill(D405.minZ * 0.9);
  const a = new DepthNoise();
  a.reset(11);
  const out = new Float32Array(n);
  a.apply(plane, out);
  const valid = Array.from(out).filter((v) => v > 0);
  assert.ok(valid.length > 0.97 * n && valid.length < n, `dropout: ${n - valid.length} of ${n}`);
  for (const v of valid) assert.ok(Math.abs(v / D405.unit - Math.round(v / D405.unit)) < 1e-3, `${v} is not a multiple of 0.1 mm`);
  const mean = valid.reduce((s, v) => s + v, 0) / valid.length;
  const sd = Math.sqrt(valid.reduce((s, v) => s + (v - mean) ** 2, 0) / valid.length);
  const want = (z * z * D405.subpixel) / (D405.focalPx * D405.baseline);
  assert.ok(sd > 0.7 * want && sd < 1.4 * want, `sd ${(sd * 1e3).toFixed(3)} mm, model ${(want * 1e3).toFixed(3)} mm`);
  assert.ok(Math.abs(mean - z) <= D405.scaleError * z + 1e-4, `per-episode scale error too large: mean ${mean}`);
  const nearOut = new Float32Array(8);
  a.apply(near, nearOut);
  assert.deepEqual(Array.from(nearOut), new Array(8).fill(0));
  const b = new DepthNoise();
  b.reset(11);
  const again = new Float32Array(n);
  b.apply(plane, again);
  assert.deepEqual(again, out);
});
