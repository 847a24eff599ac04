/**
 * The daemon's log under a slow or dying writer thread, made deterministic with the writer's test hooks (no random
 * kill timing). What another connection sees at any instant is what a SIGKILL at that instant would leave on disk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { StoreLog } from '../../src/daemon/log.ts';
import { Store } from '../../src/store/index.ts';
import { EPISODE, SESSION, tick } from './fixtures/ticks.ts';
import { tempDir } from './helpers.ts';

const t = tempDir('log-order-');
test.after(t.cleanup);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("an episode's end never commits before its transitions, even when the writer is slow (issue 12)", { timeout: 30_000 }, async () => {
  const db = join(t.dir, 'order.db');
  // Every write transaction of the writer thread takes 150 ms between its statements and its COMMIT.
  const log = await StoreLog.open(db, SESSION, { writerTestHooks: { holdBeforeCommitMs: 150 } });
  const ro = Store.openReadOnly(db);
  try {
    for (let round = 0; round < 2; round++) {
      const ep = log.beginEpisode(EPISODE);
      for (let k = 0; k < 20; k++) log.transition(tick(ep, k, k === 19));
      log.endEpisode(ep, { outcome: 'failure', reason: 'step budget spent', learnedSuccessProb: 0.2, gtSuccess: false });
      if (round === 1) log.beginEpisode(EPISODE); // the next episode starts at once, as in practice
      let flushed = false;
      const flush = log.flush().then(() => (flushed = true));
      const seen: { ended: boolean; n: number }[] = [];
      while (!flushed) {
        const e = ro.getEpisode(ep)!;
        seen.push({ ended: e.endedAt !== null, n: e.transitionCount });
        await sleep(5);
      }
      await flush;
      for (const s of seen) if (s.ended) assert.equal(s.n, 20, `round ${round}: an ended episode with ${s.n} of 20 transitions on disk`);
      assert.ok(
        seen.some((s) => !s.ended),
        'the writer was observed before its commit (the window the test is about)',
      );
      const e = ro.getEpisode(ep)!;
      assert.deepEqual([e.outcome, e.reason, e.learnedSuccessProb, e.gtSuccess, e.transitionCount], ['failure', 'step budget spent', 0.2, false, 20]);
    }
    assert.equal(log.writer.stats().ended, 2);
  } finally {
    ro.close();
    await log.close();
  }
});

test(
  'the writer thread dies: flush rejects naming the file, lost rows count as dropped, the episode is not presented as complete',
  { timeout: 30_000 },
  async () => {
    const db = join(t.dir, 'dead.db');
    const errors: string[] = [];
    // The thread exits (as if it crashed) when the row of step 3 of any episode reaches it.
    const log = await StoreLog.open(db, SESSION, { onError: (m) => errors.push(m), writerTestHooks: { exitAtStep: 3 } });
    try {
      const ep1 = log.beginEpisode(EPISODE);
      for (let k = 0; k < 3; k++) log.transition(tick(ep1, k));
      await log.flush(); // steps 0-2 committed
      for (let k = 3; k < 6; k++) log.transition(tick(ep1, k));
      log.endEpisode(ep1, { outcome: 'success', reason: null, learnedSuccessProb: 0.9, gtSuccess: true }); // queued behind the fatal row
      await assert.rejects(log.flush(), (e: unknown) => (e as Error).message.includes(db) && /log writer thread exited \(code 70\)/.test((e as Error).message));
      const w = log.writer.stats();
      assert.equal(w.alive, false);
      assert.equal(w.committed, 3);
      assert.equal(w.dropped, 4, 'three rows and the episode end were lost with the thread');
      assert.ok(
        errors.some((m) => /log writer thread exited/.test(m)),
        errors.join('\n'),
      );

      // Later ticks: append refuses (counted, and said once as an event), the next episode's end is recorded by the
      // main connection as 'error' with why, never as the success the loop reported.
      const ep2 = log.beginEpisode(EPISODE);
      log.transition(tick(ep2, 0));
      log.transition(tick(ep2, 1));
      assert.equal(log.writer.stats().dropped, 6);
      log.endEpisode(ep2, { outcome: 'success', reason: null, learnedSuccessProb: 0.9, gtSuccess: true });
      await log.flush().catch(() => undefined);
      const e1 = log.store.getEpisode(ep1)!;
      assert.equal(e1.endedAt, null, 'the episode whose end was lost stays open: the next start closes it as error');
      assert.equal(e1.transitionCount, 3);
      const e2 = log.store.getEpisode(ep2)!;
      assert.equal(e2.outcome, 'error');
      assert.match(e2.reason ?? '', /log writer failed, transitions may be missing \(episode ended success\)/);
      const dropped = log.store.listEvents({ kind: 'log_dropped' });
      assert.equal(dropped.length, 1, 'the first drop is an event (then every 100th)');
    } finally {
      // close still closes the session and the database, then reports the death again (the daemon exits non-zero).
      await assert.rejects(log.close(), /log writer thread exited/);
    }
    const s = Store.openReadOnly(db);
    assert.equal(s.getSession(1)!.endedAt !== null, true, 'the session was closed by the main connection');
    s.close();
  },
);
