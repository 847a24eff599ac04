import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { startWorker } from '../../src/util/worker.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TransitionWriter, type CommittedTransition } from '../../src/store/index.ts';
import { makeTransition, openEpisodeLog } from './fixtures/data.ts';
import { assertSameTransition } from './fixtures/assert.ts';

const dir = mkdtempSync(join(tmpdir(), 'store-writer-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const setup = (name: string) => openEpisodeLog(join(dir, name));

test('the writer commits in the background; everything round-trips; the caller may reuse its buffers', async () => {
  const { file, store, eid } = setup('a.db');
  const committed: CommittedTransition[] = [];
  const w = await TransitionWriter.open(file, { onCommit: (rows) => committed.push(...rows) });
  try {
    const want = Array.from({ length: 100 }, (_, k) => makeTransition(eid, k));
    for (const t of want) {
      // Hand over a copy, then scribble over it: the log must hold what was appended, not what the buffer became.
      const mine = { ...t, obs: { ...t.obs, image: { ...t.obs.image, data: t.obs.image.data.slice() }, wrench: [...t.obs.wrench] as typeof t.obs.wrench } };
      assert.equal(w.append(mine), true);
      mine.obs.image.data.fill(0);
      mine.obs.wrench[0] = 12345;
    }
    assert.equal(store.countTransitions(), 0, 'nothing committed synchronously by append');
    await w.flush();
    assert.equal(committed.length, 100);
    assert.deepEqual(
      committed.map((c) => c.step),
      want.map((t) => t.step),
    );
    const got = store.getEpisode(eid, { transitions: true })!.transitions!;
    assert.equal(got.length, 100);
    got.forEach((g, k) => assertSameTransition(g, want[k]!));
    assert.deepEqual(
      committed.map((c) => c.id),
      got.map((g) => g.id),
    );

    // Images that live in a shared Buffer (Node's pool, sharp's output): logged exactly, caller's buffer left intact.
    const pooled = Buffer.alloc(64 * 64 * 3 * 2 + 10);
    const t200 = makeTransition(eid, 200);
    Buffer.from(t200.obs.image.data).copy(pooled, 5);
    const view = pooled.subarray(5, 5 + 64 * 64 * 3);
    assert.equal(w.append({ ...t200, obs: { ...t200.obs, image: { width: 64, height: 64, data: view } } }), true);
    await w.flush();
    assert.equal(pooled.byteLength, 64 * 64 * 3 * 2 + 10, 'caller buffer not detached');
    assert.ok(view.equals(Buffer.from(t200.obs.image.data)));
    const g200 = store.getEpisode(eid, { transitions: true })!.transitions!.find((x) => x.step === 200)!;
    assertSameTransition(g200, t200);

    // Rewards go through the same queue, ordered after the rows.
    w.append(makeTransition(eid, 100));
    w.setRewards(eid, [{ step: 100, rewardProb: 0.75, done: true }]);
    await w.flush();
    const last = store.getEpisode(eid, { transitions: true, images: false })!.transitions!.find((x) => x.step === 100)!;
    assert.deepEqual([last.step, last.rewardProb, last.done], [100, 0.75, true]);
    const st = w.stats();
    assert.deepEqual([st.appended, st.committed, st.failed, st.dropped, st.pending], [102, 102, 0, 0, 0]);
    assert.ok(st.lastCommitLagMs !== null && st.lastCommitLagMs >= 0);
    await w.close();
    assert.equal(w.append(makeTransition(eid, 101)), false, 'closed writer drops');
  } finally {
    await w.close(); // a failed assertion must not leave the worker thread holding the test process open
    store.close();
  }
});

test('a bad row fails alone; a full queue drops instead of blocking or throwing', async () => {
  const { file, store, eid } = setup('b.db');
  const errors: string[] = [];
  const w = await TransitionWriter.open(file, { maxPending: 50, onError: (m) => errors.push(m) });
  try {
    w.append(makeTransition(eid, 0));
    w.append(makeTransition(99999, 0)); // no such episode
    w.append(makeTransition(eid, 0)); // duplicate step
    w.append({ ...makeTransition(eid, 5), obs: { ...makeTransition(eid, 5).obs, goal: [1, 2] as never } });
    w.append(makeTransition(eid, 1));
    await w.flush();
    assert.deepEqual(
      store.getEpisode(eid, { transitions: true, images: false })!.transitions!.map((t) => t.step),
      [0, 1],
    );
    assert.equal(w.stats().failed, 3);
    assert.equal(errors.length, 3);
    assert.ok(
      errors.some((e) => /FOREIGN KEY/.test(e) && e.includes('episode 99999')),
      errors.join('\n'),
    );
    assert.ok(
      errors.some((e) => /obs\.goal: expected 3 numbers/.test(e)),
      errors.join('\n'),
    );
    // Unreadable input is dropped at append, without throwing into the caller.
    assert.equal(w.append({ episodeId: eid, step: 7 } as never), false);

    // 200 appends in one synchronous burst: nothing can be committed meanwhile, so exactly maxPending are kept.
    let accepted = 0;
    for (let k = 10; k < 210; k++) if (w.append(makeTransition(eid, k))) accepted++;
    assert.equal(accepted, 50);
    assert.equal(w.stats().dropped, 151);
    await w.flush();
    assert.equal(store.countTransitions(), 52);
    // Once drained, appends are accepted again.
    assert.equal(w.append(makeTransition(eid, 500)), true);
    await w.close();
    assert.equal(store.countTransitions(), 53);
  } finally {
    await w.close();
    store.close();
  }
});

test('a writer on a foreign file fails to open with the reason', async () => {
  const file = join(dir, 'garbage.db');
  (await import('node:fs')).writeFileSync(file, Buffer.alloc(4096, 7));
  await assert.rejects(TransitionWriter.open(file), (e: Error) => e.message.includes(file) && /not an SQLite database/.test(e.message));
});

test('a read-only Store in another worker thread sees rows as the writer commits them', { timeout: 30_000 }, async () => {
  const { file, store, eid } = setup('c.db');
  const w = await TransitionWriter.open(file);
  const reader = startWorker(new URL('./fixtures/reader-worker.ts', import.meta.url), { file });
  const ask = () =>
    new Promise<{ count: number; lastStep: number | null; lastImageBytes: number }>((resolve, reject) => {
      reader.once('message', resolve);
      reader.once('error', reject);
      reader.postMessage('ask');
    });
  try {
    assert.equal((await ask()).count, 0);
    for (let round = 1; round <= 3; round++) {
      for (let k = 0; k < 10; k++) w.append(makeTransition(eid, (round - 1) * 10 + k));
      await w.flush();
      assert.deepEqual(await ask(), { count: round * 10, lastStep: round * 10 - 1, lastImageBytes: 64 * 64 * 3 });
    }
  } finally {
    reader.postMessage('close');
    await w.close();
    store.close();
  }
});
