import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExamSchedule, ExplorationNoise, NoiseAnneal, practiceNoise } from '../../src/control/exploration.ts';
import { connectorClearances } from '../../src/sim/connectors.ts';
import { Rng } from '../../src/util/rng.ts';
import type { Vec3 } from '../../src/core/types.ts';

/** Many episodes of `steps` draws: per-axis std dev over all draws, and the lag-1 correlation within episodes. */
function stats(sigma: number, correlation: number, episodes = 400, steps = 20): { std: number; lag1: number } {
  let sum2 = 0;
  let n = 0;
  let cross = 0;
  let pairs = 0;
  for (let e = 0; e < episodes; e++) {
    const noise = new ExplorationNoise(sigma, correlation, new Rng(1000 + e));
    let prev: Vec3 | null = null;
    for (let t = 0; t < steps; t++) {
      const x = noise.next();
      for (let k = 0; k < 3; k++) {
        sum2 += (x[k] as number) ** 2;
        n++;
        if (prev) {
          cross += (x[k] as number) * (prev[k] as number);
          pairs++;
        }
      }
      prev = x;
    }
  }
  const v = sum2 / n;
  return { std: Math.sqrt(v), lag1: cross / pairs / v };
}

test('white noise (correlation 0): std dev sigma, no correlation from step to step', () => {
  const s = stats(0.0005, 0);
  assert.ok(Math.abs(s.std / 0.0005 - 1) < 0.05, `std ${s.std}`);
  assert.ok(Math.abs(s.lag1) < 0.05, `lag-1 correlation ${s.lag1}`);
});

test('correlated noise keeps the std dev and has the asked correlation', () => {
  for (const c of [0.5, 0.9]) {
    const s = stats(0.001, c);
    assert.ok(Math.abs(s.std / 0.001 - 1) < 0.08, `c ${c}: std ${s.std}`);
    assert.ok(Math.abs(s.lag1 - c) < 0.05, `c ${c}: lag-1 correlation ${s.lag1}`);
  }
});

test('correlation 1 holds one offset for the episode; each episode draws its own', () => {
  const a = new ExplorationNoise(0.001, 1, new Rng(3));
  const first = a.next();
  for (let t = 0; t < 19; t++) assert.deepEqual(a.next(), first);
  const b = new ExplorationNoise(0.001, 1, new Rng(4)).next();
  assert.notDeepEqual(b, first);
});

test('correlation 0 is the white noise of one draw per axis and step (the stream of earlier logs)', () => {
  const rng = new Rng(9);
  const noise = new ExplorationNoise(0.0005, 0, new Rng(9));
  for (let t = 0; t < 5; t++) assert.deepEqual(noise.next(), [rng.normal(0, 0.0005), rng.normal(0, 0.0005), rng.normal(0, 0.0005)]);
});

test('apply adds the noise to the residual; sigma 0 adds nothing and draws nothing', () => {
  const r: Vec3 = [0.001, -0.002, 0.0005];
  const noise = new ExplorationNoise(0.0005, 0.5, new Rng(2));
  const twin = new ExplorationNoise(0.0005, 0.5, new Rng(2));
  const out = noise.apply(r, 0.01);
  const n = twin.next();
  for (let k = 0; k < 3; k++) assert.ok(Math.abs((out[k] as number) - ((r[k] as number) + (n[k] as number))) < 1e-15);
  assert.deepEqual(new ExplorationNoise(0, 1, new Rng(2)).apply(r, 0.01), r);
});

test('bad settings are refused with a clear error', () => {
  assert.throws(() => new ExplorationNoise(-1, 0, new Rng(1)), /finite number >= 0/);
  assert.throws(() => new ExplorationNoise(Number.NaN, 0, new Rng(1)), /finite number >= 0/);
  assert.throws(() => new ExplorationNoise(0.001, 1.5, new Rng(1)), /\[0, 1\]/);
  assert.throws(() => new ExplorationNoise(0.001, Number.NaN, new Rng(1)), /\[0, 1\]/);
});

test('the taper fades the noise linearly from taperM above x* to nothing at x* and below', () => {
  const r: Vec3 = [0, 0, 0];
  const at = (h: number): Vec3 => new ExplorationNoise(0.001, 0, new Rng(5), 0.008).apply(r, h);
  const full = new ExplorationNoise(0.001, 0, new Rng(5)).apply(r, 0);
  assert.ok(Math.hypot(...full) > 1e-5);
  assert.deepEqual(at(0.016), full, 'full noise above the taper');
  at(0.004).forEach((v, k) => assert.ok(Math.abs(v - 0.5 * (full[k] as number)) < 1e-15, 'half way: half the noise'));
  assert.deepEqual(at(0), [0, 0, 0]);
  assert.deepEqual(at(-0.002), [0, 0, 0]);
  assert.deepEqual(at(Number.NaN), [0, 0, 0], 'an unknown height gets no noise');
  assert.throws(() => new ExplorationNoise(0.001, 0, new Rng(1), -0.001), /taper/);
});

test('annealing: full noise until half the window has succeeded, then down to the floor; per connector', () => {
  const a = new NoiseAnneal(10, 0.25);
  assert.equal(a.scale('dt12'), 1, 'nothing practised yet: full noise');
  for (let i = 0; i < 5; i++) a.add('dt12', true);
  assert.equal(a.scale('dt12'), 1, '5 of 10 succeeded (the rest not yet practised count as failures)');
  for (let i = 0; i < 2; i++) a.add('dt12', true);
  assert.ok(Math.abs(a.scale('dt12') - 0.6) < 1e-12, '7 of 10: 2 (1 - 0.7)');
  for (let i = 0; i < 3; i++) a.add('dt12', true);
  assert.equal(a.scale('dt12'), 0.25, 'all 10: the floor');
  for (let i = 0; i < 4; i++) a.add('dt12', false);
  assert.ok(Math.abs(a.scale('dt12') - 0.8) < 1e-12, 'the window slides: 6 of the last 10 succeeded');
  assert.equal(a.scale('europlug'), 1, 'another connector keeps its own window');
  const off = new NoiseAnneal(0, 0.25);
  off.add('dt12', true);
  assert.equal(off.scale('dt12'), 1, 'window 0: off');
  assert.throws(() => new NoiseAnneal(-1, 0.25), /window/);
  assert.throws(() => new NoiseAnneal(2.5, 0.25), /window/);
  assert.throws(() => new NoiseAnneal(10, 1.5), /floor/);
});

test('exams: every Nth practice episode of each connector, counted over runs; 0 is none', () => {
  const e = new ExamSchedule(3);
  const a = Array.from({ length: 7 }, () => e.next('a'));
  assert.deepEqual(a, [false, false, true, false, false, true, false]);
  assert.deepEqual([e.next('b'), e.next('b'), e.next('b')], [false, false, true], 'each connector has its own count');
  assert.deepEqual([e.next('a'), e.next('a')], [false, true], "'a' goes on from its 7th");
  const off = new ExamSchedule(0);
  assert.ok(Array.from({ length: 10 }, () => off.next('a')).every((x) => !x));
  assert.throws(() => new ExamSchedule(-1), /exam interval/);
  assert.throws(() => new ExamSchedule(1.5), /exam interval/);
});

test("practiceNoise: the connector's clearance times the ratio when on and known, else the configured noise", () => {
  const on = { explorationNoise: 0.0005, noiseFromClearance: 1 };
  assert.equal(practiceNoise(on, 0.0008), 0.0008);
  assert.equal(practiceNoise({ ...on, noiseFromClearance: 2 }, 0.0004), 0.0008);
  assert.equal(practiceNoise(on, undefined), 0.0005, 'a connector without a definition gets the configured noise');
  assert.equal(practiceNoise({ ...on, noiseFromClearance: 0 }, 0.0008), 0.0005, 'off: the configured noise for every connector');
  // A 0.5 mm fit at ratio 1 gets exactly the old default: those runs repeat bit for bit.
  assert.equal(practiceNoise(on, 0.5 / 1000), 0.0005);
  const known = connectorClearances();
  assert.equal(known.get('dt12'), 0.0005);
  assert.equal(known.get('europlug'), 0.0008);
  assert.equal(connectorClearances('/nonexistent/connectors').size, 0, 'no directory: none known, practice keeps the configured noise');
});
