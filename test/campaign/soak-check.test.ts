/**
 * The soak's "tick p99 steady" rule (tickP99Drift): one loaded moment passes, a real drift fails. The outlier case is
 * the recorded 1,000-episode soak on the control thread, whose five 22-34 ms windows near episode 959 failed the old
 * rule (quarters' means).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { tickP99Drift, type SoakSample } from '../../src/campaign/soak.ts';

const recorded = (JSON.parse(readFileSync(new URL('../../results/campaign/soak-1000-control-thread.json', import.meta.url), 'utf8')) as SoakSample[]).map(
  (s) => s.tickP99Ms ?? NaN,
);

test('one burst of slow windows in the last quarter does not fail the check', () => {
  assert.ok(recorded.length >= 100 && recorded.some((v) => v > 30), 'the recorded soak has its burst');
  const r = tickP99Drift(recorded);
  assert.deepEqual(r.problems, []);
  assert.ok(r.lastMax > 30, 'the burst is still reported');
  // A single outlier sample, too.
  const flat = Array.from({ length: 100 }, (_, i) => 1.4 + 0.1 * Math.sin(i));
  flat[97] = 33;
  assert.deepEqual(tickP99Drift(flat).problems, []);
});

test('a drift fails it: p99 climbing over the run, or a last quarter at twice the second plus', () => {
  const climbing = Array.from({ length: 100 }, (_, i) => 1.4 + (i / 100) ** 2 * 8);
  const r = tickP99Drift(climbing);
  assert.equal(r.problems.length, 1);
  assert.match(r.problems[0] ?? '', /rose from a median of .* ms/);
  const step = Array.from({ length: 100 }, (_, i) => (i < 70 ? 1.5 : 6));
  assert.equal(tickP99Drift(step).problems.length, 1);
  // Too few samples for quarters: nothing to judge.
  assert.deepEqual(tickP99Drift([1, 50, 60]).problems, []);
});
