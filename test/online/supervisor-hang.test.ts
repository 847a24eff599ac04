/**
 * A trainer that stops answering but keeps its process (SIGSTOP here; a deadlock or a swap storm in life) is found by
 * the supervisor's silence limit, killed and restarted, with the reason recorded (issue 12, the campaign's trainer
 * row). The real trainer child from the shipped offline checkpoint, with an empty log to train on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { Store } from '../../src/store/index.ts';
import { TrainerSupervisor } from '../../src/online/supervisor.ts';
import { DEFAULT_ONLINE } from '../../src/online/trainer.ts';
import { tempDir } from '../daemon/helpers.ts';
import { alive } from '../../src/campaign/proc.ts';
import { teardown } from '../teardown.ts';

const root = resolve(import.meta.dirname, '../..');

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The start and restart waits are set-up, not the subject: a trainer took over 45 s to start at load 26 (2 cores).
test('a hung trainer (stopped, process kept) is killed and restarted, and says why', { timeout: 400_000 }, async (t) => {
  const defer = teardown(t);
  const tmp = tempDir('supervisor-hang-');
  defer(tmp.cleanup);
  const db = join(tmp.dir, 'log.db');
  Store.open(db).close();
  const sup = new TrainerSupervisor({
    config: {
      ...DEFAULT_ONLINE,
      db,
      startCheckpoint: join(root, 'models/iql-offline'),
      offlineDb: null,
      offlineDomains: [],
      workDir: join(tmp.dir, 'trainer'),
    },
    backoffBaseMs: 100,
    hangMs: 1500,
    pollMs: 100,
  });
  const crashes: string[] = [];
  sup.on('crash', (c: { error: string | null }) => crashes.push(c.error ?? ''));
  sup.start();
  defer(() => sup.stop());
  await until(() => sup.status().state === 'running', 180_000, 'the trainer to be ready');
  // Still answering: no false alarm over three silence limits.
  await new Promise((r) => setTimeout(r, 4500));
  assert.equal(sup.hangs, 0, 'a trainer that answers is not hung');
  const pid = sup.status().pid;
  assert.ok(pid !== null);
  process.kill(pid, 'SIGSTOP');
  await until(() => sup.hangs === 1, 10_000, 'the hang to be detected');
  await until(() => sup.status().state === 'running' && sup.status().pid !== pid, 180_000, 'the restart');
  assert.equal(alive(pid), false, 'the hung process is gone');
  assert.match(crashes[0] ?? '', /no message for [\d.]+ s \(limit 1\.5 s\): hung, killed/);
  assert.equal(sup.status().crashes, 1);
});
