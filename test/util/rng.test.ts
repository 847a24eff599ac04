import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Rng, deriveSeed } from '../../src/util/rng.ts';

test('same seed gives the same stream, different seeds differ', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const c = new Rng(43);
  const sa = Array.from({ length: 100 }, () => a.next());
  const sb = Array.from({ length: 100 }, () => b.next());
  const sc = Array.from({ length: 100 }, () => c.next());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
});

test('uniform moments and range', () => {
  const r = new Rng(1);
  const n = 50000;
  let sum = 0;
  let sum2 = 0;
  for (let i = 0; i < n; i++) {
    const u = r.next();
    assert.ok(u >= 0 && u < 1);
    sum += u;
    sum2 += u * u;
  }
  const mean = sum / n;
  const variance = sum2 / n - mean * mean;
  assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1 / 12) < 0.005, `variance ${variance}`);
});

test('normal has the requested mean and std', () => {
  const r = new Rng(7);
  const n = 50000;
  let sum = 0;
  let sum2 = 0;
  for (let i = 0; i < n; i++) {
    const z = r.normal(3, 2);
    sum += z;
    sum2 += z * z;
  }
  const mean = sum / n;
  const std = Math.sqrt(sum2 / n - mean * mean);
  assert.ok(Math.abs(mean - 3) < 0.05, `mean ${mean}`);
  assert.ok(Math.abs(std - 2) < 0.05, `std ${std}`);
});

test('int covers [0, n) evenly and rejects bad n', () => {
  const r = new Rng(3);
  const counts = [0, 0, 0, 0, 0];
  for (let i = 0; i < 10000; i++) counts[r.int(5)]! += 1;
  for (const c of counts) assert.ok(Math.abs(c - 2000) < 200, `counts ${counts.join(',')}`);
  assert.throws(() => r.int(0), /positive integer/);
});

test('deriveSeed separates labels, order and types; fork does not advance the parent', () => {
  assert.equal(deriveSeed(1, 'a', 2), deriveSeed(1, 'a', 2));
  assert.notEqual(deriveSeed(1, 'a', 2), deriveSeed(1, 'a', 3));
  assert.notEqual(deriveSeed(1, 2), deriveSeed(2, 1));
  assert.notEqual(deriveSeed('a'), deriveSeed(97));
  assert.notEqual(deriveSeed(0.1), deriveSeed(0.2));
  assert.throws(() => deriveSeed(Number.NaN), /non-finite/);
  const p = new Rng(5);
  const q = p.clone();
  const f = p.fork('x');
  assert.equal(p.next(), q.next());
  assert.notEqual(f.next(), new Rng(5).fork('y').next());
});

test('normal and next give the same bits as ever: a golden hash over a mixed stream, spares carried through clone()', () => {
  // The simulated depth camera's noise, every logged depth image and every seeded reset draw from this stream; a change
  // in how normal() rounds (e.g. std * (r * cos) for (std * r) * cos) would move them all. Hash from the implementation
  // before the spare became a double field (sim10).
  const r = new Rng(42);
  const f = new Float64Array(2000);
  for (let i = 0; i < 2000; i++) f[i] = i % 3 === 0 ? r.next() : r.normal(i % 7 === 0 ? 0.5 : 0, 1 + (i % 5) * 0.37);
  const c = r.clone();
  const f2 = Float64Array.of(r.normal(0, 3), c.normal(0, 3), r.normal(), c.normal());
  const hash = createHash('sha256').update(new Uint8Array(f.buffer)).update(new Uint8Array(f2.buffer)).digest('hex').slice(0, 16);
  assert.equal(hash, '995564b74d9fed3f');
});
