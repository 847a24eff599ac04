// The fleet demo's fault plan and its per-fault accounting (pure functions over the demo's samples); the faults
// themselves run against real processes and a real PostgreSQL in the demo (results/fleet-demo/README.md).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { badFleetVersions, faultPlan, faultWindows, missedTicks, type Sample } from '../../src/cli/fleet-demo.ts';
import { BAD_MODEL_KINDS } from '../../src/campaign/bad-models.ts';
import { sha256Hex } from '../../src/policy/card.ts';

test('the fault plan: bad versions first (at 20%), then PostgreSQL, the learner and the last arm, one at a time', () => {
  assert.deepEqual(faultPlan({ faults: false, badVersions: false }), []);
  assert.deepEqual(
    faultPlan({ faults: true, badVersions: true, lastArm: 'arm-8' }).map((f) => [f.at, f.kind]),
    [
      [0.2, 'bad'],
      [0.3, 'pg'],
      [0.5, 'learner'],
      [0.7, 'arm'],
    ],
  );
  assert.match(faultPlan({ faults: true, badVersions: false, lastArm: 'arm-8' }).at(-1)!.what, /arm-8 killed/);
  assert.deepEqual(
    faultPlan({ faults: false, badVersions: true }).map((f) => f.kind),
    ['bad'],
  );
});

test("the bad versions are the campaign's five, each under its own version, published with the bytes' hash", () => {
  const dir = mkdtempSync(join(tmpdir(), 'bad-fleet-'));
  try {
    const vs = badFleetVersions(join(import.meta.dirname, '../../models/policy.onnx'), dir);
    assert.equal(vs.length, BAD_MODEL_KINDS.length);
    assert.equal(new Set(vs.map((v) => v.version)).size, vs.length);
    for (const v of vs) {
      assert.equal(v.kind, 'policy');
      assert.equal(v.sha256, sha256Hex(v.onnx));
      assert.deepEqual(v.rollout, { mode: 'all' });
      assert.equal(typeof (v.card as { name?: unknown }).name, 'string');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A sample: per arm [episode index or null (down), missed ticks, process start, deadman resumes so far]. */
function sample(t: number, arms: Array<[number | null, number, number, number]>): Sample {
  return {
    t,
    arms: arms.map(([ep, missed, start, resumes], i) => ({
      robotId: `arm-${i + 1}`,
      up: ep !== null,
      start,
      practising: ep !== null,
      resumes,
      episodes: ep,
      gtSuccess: null,
      learned: null,
      missedControl: ep === null ? null : missed,
      policy: null,
      shipped: null,
      shipError: null,
    })),
    pg: null,
    learner: null,
  };
}

test('each arm through a fault: episodes, the longest stall, missed ticks over process restarts, deadman trips', () => {
  // arm-1 practises on throughout (one missed tick in the window, one deadman trip); arm-2 is killed at 30 s, down
  // for 9 s, and starts again from episode 0 and missed 0.
  const samples = [
    sample(0, [
      [0, 0, 1, 0],
      [0, 0, 1, 0],
    ]),
    sample(27, [
      [9, 2, 1, 0],
      [9, 5, 1, 0],
    ]),
    sample(30, [
      [10, 2, 1, 0],
      [10, 5, 1, 0],
    ]),
    sample(33, [
      [11, 2, 1, 0],
      [null, 0, 1, 0],
    ]),
    sample(39, [
      [13, 3, 1, 1],
      [null, 0, 2, 0],
    ]),
    sample(42, [
      [14, 3, 1, 1],
      [0, 1, 2, 0],
    ]),
    sample(45, [
      [15, 3, 1, 1],
      [1, 4, 2, 0],
    ]),
    sample(90, [
      [30, 3, 1, 1],
      [16, 4, 2, 0],
    ]),
  ];
  // A run's missed ticks add each process start's count: 5 before the kill + 4 after.
  assert.equal(missedTicks(samples, 'arm-2'), 9);
  assert.equal(missedTicks(samples, 'arm-1'), 3);
  const [w] = faultWindows(samples, [{ t: 30, kind: 'arm' }], 15);
  assert.ok(w);
  const [a1, a2] = w.arms;
  assert.deepEqual(a1 && { e: a1.episodes, s: a1.longestStallS, m: a1.missedTicks, d: a1.deadmanTrips }, { e: 5, s: 6, m: 1, d: 1 });
  // arm-2: 10 at the kill, then 0 and 1 after the restart: one episode counted in the window, stalled 12 s (30 -> 42).
  assert.deepEqual(a2 && { e: a2.episodes, s: a2.longestStallS, m: a2.missedTicks, d: a2.deadmanTrips }, { e: 1, s: 12, m: 4, d: 0 });
  assert.equal(a2?.missedPerWindowInRun, (9 * 15) / 90);
});
