/**
 * Another process opening the live log must never cost the daemon data (issue 12). A child writes through the
 * daemon's path (a main-thread Store, then the TransitionWriter's worker thread); meanwhile the Debian `sqlite3`
 * CLI and a second better-sqlite3 process open the file, run integrity_check and close. Each closer must see the
 * daemon's lock (so it is not "the last connection"): the -wal and -shm must stay the very same files. Then the
 * child keeps writing, is SIGKILLed, and every row it reported committed must be on disk.
 *
 * Before the fix, the writer thread's hand-made header read (openSync/closeSync on the database) dropped every
 * POSIX lock of the process; the first outside closer checkpointed and deleted -wal/-shm, and the kill lost rows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../src/store/index.ts';
import { root, startChild } from './fixtures/child.ts';

const dir = mkdtempSync(join(tmpdir(), 'store-live-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const inode = (f: string): number | null => {
  try {
    return statSync(f).ino;
  } catch {
    return null;
  }
};

/** The outside openers: each opens, checks, closes. */
const outsiders: { name: string; run: (file: string) => string }[] = [
  {
    name: 'sqlite3 CLI integrity_check',
    run: (file) => {
      const r = spawnSync('sqlite3', [file, 'PRAGMA integrity_check'], { encoding: 'utf8', timeout: 20_000 });
      if (r.error) throw new Error(`sqlite3 CLI (scripts/install-system-deps.sh installs it): ${r.error.message}`);
      return `${r.stdout}${r.stderr}`.trim();
    },
  },
  {
    name: 'a writable better-sqlite3 connection in another process',
    run: (file) => {
      const code = `const D = require('better-sqlite3'); const d = new D(process.argv[1]); const r = d.pragma('integrity_check', { simple: true }); d.close(); console.log(r);`;
      const r = spawnSync(process.execPath, ['-e', code, file], { cwd: root, encoding: 'utf8', timeout: 20_000 });
      return `${r.stdout}${r.stderr}`.trim();
    },
  },
  {
    name: 'a read-only Store in another process',
    run: (file) => {
      const code = `import { Store } from './src/store/index.ts'; const s = Store.openReadOnly(process.argv[1]); console.log(s.quickCheck()); s.close();`;
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, file], { cwd: root, encoding: 'utf8', timeout: 30_000 });
      return `${r.stdout}${r.stderr}`.trim();
    },
  },
];

test('outside processes opening the live log leave its -wal/-shm alone; a SIGKILL afterwards loses no committed row', { timeout: 120_000 }, async () => {
  const file = join(dir, 'live.db');
  const child = startChild('writer-child.ts', [file, '2']);
  try {
    await child.ready;
    await child.atLeast(30);
    const wal = inode(`${file}-wal`);
    const shm = inode(`${file}-shm`);
    assert.ok(wal !== null && shm !== null, 'the live log has its -wal and -shm');
    for (const o of outsiders) {
      const before = child.committed.length;
      assert.equal(o.run(file), 'ok', o.name);
      assert.equal(inode(`${file}-wal`), wal, `${o.name}: the live -wal is the same file (not deleted or replaced)`);
      assert.equal(inode(`${file}-shm`), shm, `${o.name}: the live -shm is the same file`);
      await child.atLeast(before + 30); // the daemon goes on writing after each visitor
    }
    // The daemon's lock is there to be seen: leaving WAL mode needs every other connection gone, so it must fail.
    const jm = spawnSync('sqlite3', ['-cmd', '.timeout 200', file, 'PRAGMA journal_mode=DELETE'], { encoding: 'utf8', timeout: 20_000 });
    assert.match(`${jm.stdout}${jm.stderr}`, /wal|locked/i, 'an outside process cannot take the database from the live daemon');
    assert.doesNotMatch(jm.stdout, /delete/i);
    // A reader that opens now still sees everything reported so far (it would not, writing into a deleted -wal).
    const reported = child.committed.slice();
    const ro = Store.openReadOnly(file);
    assert.equal(
      ro.getTransitions(
        reported.map((c) => c.id),
        { images: false },
      ).length,
      reported.length,
      'a new reader sees every reported row',
    );
    ro.close();
  } finally {
    child.proc.kill('SIGKILL');
    await child.exited;
  }
  assert.equal(child.proc.signalCode, 'SIGKILL', child.stderr());
  const s = Store.open(file);
  assert.equal(s.quickCheck(), 'ok');
  const ids = child.committed.map((c) => c.id);
  const rows = s.getTransitions(ids, { images: false });
  assert.equal(rows.length, ids.length, `every one of the ${ids.length} rows reported committed survived the kill`);
  s.close();
});
