/**
 * A process lock (src/store/lock.ts) is let go only by release() or the holder's death: not by the garbage collector.
 * The holder is a child that takes the lock, drops every reference to it and collects; the lock must still refuse.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { LockHeldError, ProcessLock } from '../../src/store/index.ts';
import { tempDir } from '../daemon/helpers.ts';

const t = tempDir('lock-');
test.after(t.cleanup);
const lockModule = resolve(import.meta.dirname, '../../src/store/lock.ts');

test('a lock whose holder dropped every reference to it survives garbage collection', { timeout: 60_000 }, async () => {
  const file = join(t.dir, 'x.lock');
  const script = `
    const { ProcessLock } = await import(${JSON.stringify(lockModule)});
    (() => { ProcessLock.acquire(${JSON.stringify(file)}, 'test'); })();
    for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
    process.stdout.write('COLLECTED\\n');
    setInterval(() => {}, 1 << 30);`;
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    await new Promise<void>((res, rej) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('COLLECTED')) res();
      });
      child.once('exit', (c) => rej(new Error(`child exited ${c}: ${err}`)));
    });
    assert.throws(
      () => ProcessLock.acquire(file, 'test'),
      (e: unknown) => e instanceof LockHeldError && e.holder?.pid === child.pid,
    );
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
  }
  // The holder's death frees it.
  const mine = ProcessLock.acquire(file, 'test');
  assert.ok(mine.held);
  mine.release();
});
