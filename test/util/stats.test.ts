import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median } from '../../src/util/stats.ts';

test('median: the middle value, the mean of the middle two, NaN when empty; the input is left as it was', () => {
  const xs = [3, -1, 2];
  assert.equal(median(xs), 2);
  assert.deepEqual(xs, [3, -1, 2]);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
  assert.ok(Number.isNaN(median([])));
});
