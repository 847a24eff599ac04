/**
 * `npm start` learns on the job by default: runDaemon (the main job's entry) starts the background trainer from the
 * shipped offline checkpoint with the declared learning settings, and `--no-learning` runs without it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runDaemon } from '../../src/cli/daemon.ts';
import type { Learning } from '../../src/app/learning.ts';
import { LEARNING_DEFAULTS } from '../../src/config/schema.ts';
import { root, tempDir } from '../daemon/helpers.ts';

async function start(extra: string[]): Promise<{ learning: Learning | null; trainerState: string | null; code: number }> {
  const tmp = tempDir('daemon-learning-');
  try {
    const stop = new AbortController();
    let seen: { learning: Learning | null; trainerState: string | null } | null = null;
    // No prior data: the trainer must start on practice data alone.
    const args = [
      '--port',
      '0',
      '--db',
      join(tmp.dir, 'log.db'),
      '--free-run',
      '--priority',
      'none',
      '--learning-work-dir',
      join(tmp.dir, 'trainer'),
      '--offline-db',
      join(tmp.dir, 'none.db'),
      ...extra,
    ];
    const code = await runDaemon(args, null, {
      stop: stop.signal,
      started: ({ learning }) => {
        seen = { learning, trainerState: learning?.supervisor.status().state ?? null };
        stop.abort();
      },
    });
    assert.ok(seen, 'the daemon started');
    return { ...(seen as { learning: Learning | null; trainerState: string | null }), code };
  } finally {
    tmp.cleanup();
  }
}

test('npm start runs the background trainer by default, from the shipped checkpoint with the declared settings', async () => {
  const r = await start([]);
  assert.equal(r.code, 0);
  assert.ok(r.learning, 'learning started');
  assert.equal(r.trainerState, 'starting', 'the trainer child was forked');
  const cfg = r.learning.supervisor.config;
  assert.equal(cfg.startCheckpoint, join(root, 'models/iql-offline'));
  assert.equal(cfg.onlineFraction, LEARNING_DEFAULTS.onlineFraction);
  assert.equal(cfg.onlineFraction, 1, 'practice data alone (results/online-seeds-of100/)');
  assert.equal(cfg.utd, LEARNING_DEFAULTS.utd);
  assert.equal(cfg.utd, 3, 'three updates per practice transition (results/online-s22/)');
  assert.equal(cfg.warmupUpdates, LEARNING_DEFAULTS.warmupUpdates);
  assert.equal(cfg.warmupUpdates, 1600, 'the critic-only warm-up at the switch (results/online-s19/)');
  assert.equal(cfg.temperature, LEARNING_DEFAULTS.temperature);
  assert.equal(cfg.temperature, 6, 'the greedier extraction of results/online-s19/');
  assert.equal(cfg.offlineDb, null, 'no prior data: practice data alone');
  assert.deepEqual(cfg.offlineDomains, []);
  assert.equal(r.learning.supervisor.status().state, 'stopped', 'and stopped with the daemon');
});

test('--no-learning runs the daemon without a trainer', async () => {
  const r = await start(['--no-learning']);
  assert.equal(r.code, 0);
  assert.equal(r.learning, null);
});
