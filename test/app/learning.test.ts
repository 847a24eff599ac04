/**
 * The background trainer as a real child process beside a real daemon (MuJoCo, SQLite, onnxruntime): it trains on
 * the daemon's practice data, its exports are validated and hot-swapped in, and when it crashes (test hook: exit
 * after N updates) control keeps running and the supervisor restarts it from its own checkpoint.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { startLearning } from '../../src/app/learning.ts';
import { DEFAULT_ONLINE } from '../../src/online/trainer.ts';
import { rig } from '../daemon/helpers.ts';
import { tinyOffline } from '../online/fixtures.ts';
import { teardown } from '../teardown.ts';

const fx = await tinyOffline('trainer-sup-test');
after(() => fx.cleanup());

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('trainer exports are swapped in; a trainer crash leaves control running and the trainer restarts', async (t) => {
  const defer = teardown(t);
  // The child takes its settings from the supervisor alone: environment variables of the old names, set here to other
  // values, must change nothing (with them read, the trainer would not crash at 12 and the wait below times out).
  const oldEnv = { TRAINER_CRASH_AFTER: '1000000', TRAINER_POLL_MS: '60000', TRAINER_NICE: '12' };
  for (const [k, v] of Object.entries(oldEnv)) {
    const was = process.env[k];
    process.env[k] = v;
    defer(() => {
      if (was === undefined) delete process.env[k];
      else process.env[k] = was;
    });
  }
  const r = await rig({ startLoop: true, overrides: { episodeSteps: 6 }, connector: fx.domains[0] as string });
  defer(() => r.close());
  const d = r.app.daemon;
  const learning = startLearning(r.app, {
    trainer: {
      ...DEFAULT_ONLINE,
      db: r.db,
      offlineDb: fx.db,
      offlineDomains: fx.domains,
      onlineFraction: 0.5, // mixed batches, as before the default became practice data alone
      startCheckpoint: fx.checkpoint,
      workDir: join(fx.dir, 'online'),
      batchSize: 16,
      utd: 1,
      exportEvery: 5,
      seed: 1,
    },
    swap: { validation: { probeCount: 8, residualBoundM: 0.005, maxDiffM: 1, maxMeanDiffM: 1, onFlag: 'accept' } },
    supervisor: { backoffBaseMs: 200, backoffMaxMs: 1000, crashAfter: 12, pollMs: 50, nice: 11 },
  });
  defer(() => learning.close());
  // The nice value the supervisor was given, not TRAINER_NICE (sampled while a trainer runs; it may be gone by then).
  const nices: number[] = [];
  learning.supervisor.on('progress', (s: { state: string; pid: number | null }) => {
    if (s.state !== 'running' || s.pid === null) return;
    try {
      nices.push(getPriority(s.pid));
    } catch {
      // exited meanwhile
    }
  });
  assert.ok(d.startPractice({ count: 4, scenario: 'I', explorationNoise: 0.001 }).ok);
  await until(() => learning.supervisor.status().crashes >= 1, 90_000, 'a trainer crash');
  // Control is unaffected by the crash: a new practice run completes while the trainer is down or restarting.
  await until(() => d.status().practice === null, 30_000, 'the first run to end');
  const before = r.app.log.store.listEpisodes().length;
  assert.ok(d.startPractice({ count: 3, scenario: 'I', explorationNoise: 0.001 }).ok);
  await until(() => d.status().practice === null, 30_000, 'the second run to end');
  await r.app.log.flush();
  const eps = r.app.log.store.listEpisodes();
  assert.equal(eps.length, before + 3);
  assert.ok(
    eps.every((e) => e.outcome === 'success' || e.outcome === 'failure'),
    `no episode aborted by the crash: ${JSON.stringify(eps.map((e) => [e.outcome, e.reason]))}`,
  );
  await until(() => learning.supervisor.status().starts >= 2 && learning.supervisor.status().state === 'running', 60_000, 'the restart');
  await until(() => learning.swaps.stats.swaps >= 1 || d.status().policy.pendingSwap !== null, 60_000, 'a swap');
  if (learning.swaps.stats.swaps === 0) {
    assert.ok(d.startPractice({ count: 1, scenario: 'I' }).ok);
    await until(() => learning.swaps.stats.swaps >= 1, 30_000, 'the pending swap to land');
  }
  assert.match(d.policyVersion ?? '', /^policy-iql-online@\d+$/);
  const view = learning.view();
  assert.ok(view.trainer.crashes >= 1);
  // A process can only raise its nice value: 11 is observable when this test runs at 11 or less.
  if (getPriority() <= 11) assert.ok(nices.length > 0 && nices.every((n) => n === 11), `trainer nice values: ${nices.join(', ')}`);
  assert.ok(view.trainer.updates > 0);
  assert.equal(view.policyVersion, d.policyVersion);
  const st = d.status().extra as { trainer?: { crashes: number }; learning?: { policyVersion: string | null } };
  assert.ok((st.trainer?.crashes ?? 0) >= 1);
  // Operator view over REST (the SSE stream sends the same status object).
  const res = await r.app.api.inject({ method: 'GET', url: '/status' });
  const body = res.json<{
    extra: {
      learning: {
        policyVersion: string;
        trainer: { state: string; updates: number; crashes: number };
        gtSuccessRate: number | null;
        learnedSuccessRate: number | null;
        window: number;
        swaps: { swaps: number };
      };
    };
  }>();
  const lv = body.extra.learning;
  assert.equal(lv.policyVersion, d.policyVersion);
  assert.ok(lv.trainer.updates > 0 && lv.trainer.crashes >= 1);
  assert.equal(typeof lv.gtSuccessRate, 'number');
  assert.equal(lv.learnedSuccessRate, null, 'no reward model: no learned rate');
  assert.ok(lv.swaps.swaps >= 1);
  await r.app.log.flush();
  assert.ok(r.app.log.store.listEvents({ kind: 'trainer' }).some((e) => /crashed/.test(e.message)));
});
