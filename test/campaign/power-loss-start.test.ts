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
import { powerLoss } from '../../src/campaign/power-loss.ts';
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
  assert.ok(started.length > 0, 'the row started a daemon');
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(started.filter(alive), [], 'no daemon the row started outlives it');
});
