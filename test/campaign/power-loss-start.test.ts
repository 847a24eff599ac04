/**
 * The power-loss row's (re)start that times out (src/campaign/power-loss.ts): the daemon it started is ended, not left
 * practising and training beside the next start on the same log (at load 33 a restart took over 90 s and its daemon,
 * with its trainer, ran on for the rest of the campaign).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { powerLoss, START_MIN_MS, startLimitMs } from '../../src/campaign/power-loss.ts';
import { alive, childPids } from '../../src/campaign/proc.ts';

test('a daemon that does not come up in time is killed, not left running', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'power-loss-start-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const mine = new Set(childPids(process.pid));
  let started: number[] = [];
  // Whatever this process starts while the row runs: the daemon under test.
  const watch = setInterval(() => (started = [...new Set([...started, ...childPids(process.pid).filter((p) => !mine.has(p))])]), 20);
  const row = await powerLoss({ dir, kills: 1, seed: 1, trainer: false, startTimeoutMs: 1500 });
  clearInterval(watch);
  assert.equal(row.passed, 0);
  assert.match(row.failures.join('\n'), /within 1500 ms/);
  // It says what it waited for and why that long.
  assert.match(row.failures.join('\n'), /did not print its "API: http:\/\/\.\.\." line: the limit set by --start-timeout; 1-min load [\d.]+ at the start/);
  assert.ok(started.length > 0, 'the row started a daemon');
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(started.filter(alive), [], 'no daemon the row started outlives it');
});

test('the start limit follows the load per core, never below 90 s', () => {
  assert.equal(startLimitMs(0, 2), START_MIN_MS);
  assert.equal(startLimitMs(NaN, 2), START_MIN_MS);
  assert.equal(startLimitMs(8, 2), START_MIN_MS); // 15 s x 5 = 75 s
  // Load 28 on 2 cores, where a restart passed 90 s: 15 s x 15.
  assert.equal(startLimitMs(28, 2), 225_000);
  assert.equal(startLimitMs(28, 4), 120_000);
});
