/**
 * The writer acknowledges a row (onCommit, stats, flush) only once its COMMIT has returned, and a dying writer thread
 * is counted, not hidden. Deterministic: the writer's test hook holds every transaction open for a while between its
 * statements and its COMMIT, so an acknowledgement sent early (even by a few ms, which random-moment SIGKILL tests
 * cannot see) is caught every time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store, TransitionWriter, type CommittedTransition } from '../../src/store/index.ts';
import { startChild } from './fixtures/child.ts';
import { makeTransition, openEpisodeLog } from './fixtures/data.ts';

const dir = mkdtempSync(join(tmpdir(), 'store-ack-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const setup = (name: string) => openEpisodeLog(join(dir, name));

test('every acknowledged row is visible to another connection at the moment of its acknowledgement', { timeout: 30_000 }, async () => {
  const { file, store, eid } = setup('ack.db');
  const ro = Store.openReadOnly(file);
  const checks: { acked: number; visible: number }[] = [];
  const onCommit = (rows: CommittedTransition[]) => {
    // Synchronously, inside the acknowledgement: what another process would find on disk right now.
    checks.push({
      acked: rows.length,
      visible: ro.getTransitions(
        rows.map((r) => r.id),
        { images: false },
      ).length,
    });
  };
  const w = await TransitionWriter.open(file, { onCommit, testHooks: { holdBeforeCommitMs: 80 } });
  try {
    for (let k = 0; k < 30; k++) {
      w.append(makeTransition(eid, k));
      if (k % 7 === 0) await new Promise((r) => setTimeout(r, 15)); // several batches, some arriving mid-transaction
    }
    await w.flush();
    // flush resolved: everything is on disk for everybody.
    assert.equal(ro.countTransitions(), 30);
  } finally {
    await w.close();
    ro.close();
    store.close();
  }
  assert.ok(checks.length >= 2, `several batches (${checks.length})`);
  for (const c of checks) assert.equal(c.visible, c.acked, 'a row was acknowledged before its COMMIT');
});

test('SIGKILL right at the first acknowledgement: the acknowledged rows are on disk', { timeout: 60_000 }, async () => {
  for (let round = 0; round < 2; round++) {
    const file = join(dir, `kill-${round}.db`);
    // Each commit is held 300 ms before COMMIT: an early acknowledgement would leave a 300 ms window for the kill.
    const child = startChild('writer-child.ts', [file, '0'], { ...process.env, WRITER_HOLD_MS: '300' });
    await child.ready;
    await child.atLeast(1);
    child.proc.kill('SIGKILL');
    await child.exited;
    assert.equal(child.proc.signalCode, 'SIGKILL', child.stderr());
    const acked = child.committed.slice();
    assert.ok(acked.length >= 1);
    const s = Store.openReadOnly(file, { integrityCheck: 'quick' });
    assert.equal(
      s.getTransitions(
        acked.map((c) => c.id),
        { images: false },
      ).length,
      acked.length,
      `round ${round}: ${acked.length} acknowledged rows on disk`,
    );
    s.close();
  }
});

test('the writer thread dies: flush rejects naming the file, rows in flight and later appends count as dropped', { timeout: 30_000 }, async () => {
  const { file, store, eid } = setup('dies.db');
  const errors: string[] = [];
  const w = await TransitionWriter.open(file, { onError: (m) => errors.push(m), testHooks: { exitAtStep: 5 } });
  try {
    for (let k = 0; k < 5; k++) w.append(makeTransition(eid, k));
    await w.flush();
    for (let k = 5; k < 9; k++) w.append(makeTransition(eid, k));
    await assert.rejects(w.flush(), (e: unknown) => (e as Error).message.includes(file) && /exited \(code 70\)/.test((e as Error).message));
    let s = w.stats();
    assert.deepEqual([s.alive, s.committed, s.dropped, s.pending], [false, 5, 4, 0]);
    assert.equal(w.append(makeTransition(eid, 9)), false, 'append refuses once the thread is gone');
    assert.equal(w.endEpisode(eid, { outcome: 'failure' }), false, 'so does an episode end: the caller must record it');
    s = w.stats();
    assert.equal(s.dropped, 5);
    assert.match(s.lastError ?? '', /log writer thread exited/);
    assert.ok(errors.length >= 1);
    assert.equal(store.countTransitions(), 5, 'exactly the acknowledged rows are in the log');
  } finally {
    await w.close().catch(() => undefined);
    store.close();
  }
});
