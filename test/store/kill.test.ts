/**
 * Process death and concurrent readers, with real processes: a child writes transitions through the TransitionWriter
 * and reports each commit on stdout; it is SIGKILLed at a random moment; every transition it reported must be in the
 * database, intact. And a reader in another process sees committed rows while the writer writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store } from '../../src/store/index.ts';
import { assertSameTransition } from './fixtures/assert.ts';
import { makeTransition } from './fixtures/data.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'store-kill-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

interface Child {
  proc: ChildProcess;
  committed: { id: number; episodeId: number; step: number }[];
  ready: Promise<void>;
  /** Resolves once at least n commits were reported. */
  atLeast: (n: number) => Promise<void>;
  exited: Promise<void>;
  stderr: () => string;
}

function startChild(file: string, intervalMs: number): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(here, 'fixtures', 'writer-child.ts'), file, String(intervalMs)], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const committed: Child['committed'] = [];
  let buf = '';
  let err = '';
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  const waiters: { n: number; resolve: () => void }[] = [];
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  proc.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!; // a line cut by the kill is not a report
    for (const line of lines) {
      if (line === 'READY') readyResolve();
      const m = /^C (\d+) (\d+) (\d+)$/.exec(line);
      if (m) committed.push({ id: Number(m[1]), episodeId: Number(m[2]), step: Number(m[3]) });
    }
    for (const w of waiters.splice(0)) (committed.length >= w.n ? w.resolve : () => waiters.push(w))();
  });
  const exited = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  void exited.then(() => readyResolve());
  return {
    proc,
    committed,
    ready,
    exited,
    stderr: () => err,
    atLeast: (n) => new Promise<void>((resolve) => (committed.length >= n ? resolve() : waiters.push({ n, resolve }))),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('SIGKILL at a random moment loses nothing that was reported committed', { timeout: 60_000 }, async () => {
  const file = join(dir, 'killed.db');
  let expected = 0;
  for (let round = 0; round < 3; round++) {
    const child = startChild(file, 0);
    await child.ready;
    const n = 50 + Math.floor(Math.random() * 400);
    const extraMs = Math.random() * 40;
    await Promise.race([child.atLeast(n), child.exited]);
    await sleep(extraMs);
    child.proc.kill('SIGKILL');
    await child.exited;
    const why = `round ${round}, killed after >= ${n} commits + ${extraMs.toFixed(1)} ms; child stderr: ${child.stderr()}`;
    assert.equal(child.proc.signalCode, 'SIGKILL', why);
    assert.ok(child.committed.length >= n, why);

    // Reopen as the daemon would after a crash: full quick_check, then every reported row, intact.
    const s = Store.open(file, { integrityCheck: 'quick' });
    assert.equal(s.quickCheck(), 'ok', why);
    const ids = child.committed.map((c) => c.id);
    const rows = s.getTransitions(ids);
    assert.equal(rows.length, ids.length, `all ${ids.length} reported rows present (${why})`);
    rows.forEach((r, i) => {
      const c = child.committed[i]!;
      assert.deepEqual([r.id, r.episodeId, r.step], [c.id, c.episodeId, c.step], why);
      const want = makeTransition(c.episodeId, c.step);
      assertSameTransition(r, { ...want, wallTime: r.wallTime });
    });
    expected += ids.length;
    assert.ok(s.countTransitions() >= expected, why);
    // The killed child left its session and last episode open; a restarting daemon closes them.
    assert.ok(s.closeDangling('killed in test').sessions >= 1);
    s.close();
  }
});

test('a reader in another process sees committed rows while the writer writes', { timeout: 60_000 }, async () => {
  const file = join(dir, 'shared.db');
  const child = startChild(file, 2);
  try {
    await child.ready;
    await child.atLeast(1);
    const reader = Store.openReadOnly(file);
    let last = -1;
    let grew = 0;
    for (let i = 0; i < 12; i++) {
      const reported = child.committed.slice(); // reported before we look
      const count = reader.countTransitions();
      assert.ok(count >= reported.length, `reader sees ${count} rows, child reported ${reported.length}`);
      assert.ok(count >= last, 'never goes back');
      if (last >= 0 && count > last) grew++;
      last = count;
      const lastReported = reported.at(-1)!;
      const row = reader.getTransition(lastReported.id);
      assert.ok(row, `row ${lastReported.id} visible to the reader`);
      assertSameTransition(row, { ...makeTransition(lastReported.episodeId, lastReported.step), wallTime: row.wallTime });
      await sleep(40);
    }
    assert.ok(grew >= 5, `the reader saw the table grow while the writer wrote (${grew} of 11 polls)`);
    reader.close();
  } finally {
    child.proc.kill('SIGKILL');
    await child.exited;
  }
});
