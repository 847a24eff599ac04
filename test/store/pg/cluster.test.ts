/**
 * A throw-away cluster dies with its owner: a test or demo killed hard (SIGKILL, no cleanup runs) leaves no PostgreSQL
 * running and no /tmp/fleet-pg-* directory behind (src/store/pg/cluster.ts: the watchdog, and the cleanup of clusters
 * whose owner is gone at the next start). The owner is a real child process with a real server.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { cleanStaleClusters } from '../../../src/store/pg/cluster.ts';
import { pgSkip } from './helpers.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Starts an owner process, waits for its cluster, kills it with SIGKILL. */
async function killedOwner(mode: 'watchdog' | 'none', root: string): Promise<{ dir: string; port: number }> {
  const p = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'cluster-owner.ts'), mode, root], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const info = await new Promise<{ dir: string; port: number }>((resolve, reject) => {
    p.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0] as string) as { dir: string; port: number });
    });
    p.once('exit', (code) => reject(new Error(`owner exited (${code}) before its cluster was up: ${out}`)));
  });
  assert.ok(await listening(info.port), 'the server runs while its owner lives');
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await gone;
  return info;
}

async function waitFor(what: () => Promise<boolean>, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await what()) return true;
    await sleep(200);
  }
  return what();
}

/** A private root: another test file's start (which cleans stale clusters) must not do the watchdog's job here. */
function privateRoot(t: TestContext): string {
  const root = mkdtempSync(join(tmpdir(), 'pg-owner-'));
  chmodSync(root, 0o755); // as root the server runs as `postgres`, which must reach its directory
  t.after(() => {
    cleanStaleClusters(root);
    rmSync(root, { recursive: true, force: true });
  });
  return root;
}

test('the watchdog stops the server and removes its directory when the owner is SIGKILLed', { skip: pgSkip }, async (t) => {
  const root = privateRoot(t);
  const c = await killedOwner('watchdog', root);
  const down = await waitFor(async () => !(await listening(c.port)) && !existsSync(c.dir), 20_000);
  assert.ok(down, `after its owner was killed the server on port ${c.port} still runs or ${c.dir} is still there`);
});

test("the next start's cleanup removes a cluster whose owner is gone, and leaves others alone", { skip: pgSkip }, async (t) => {
  const root = privateRoot(t);
  const c = await killedOwner('none', root); // no watchdog: as if it had been killed too
  await sleep(1500);
  assert.ok(await listening(c.port), 'without a watchdog the server outlives its owner (what the cleanup is for)');
  const foreign = mkdtempSync(join(root, 'fleet-pg-')); // no owner file: not ours to judge
  const removed = cleanStaleClusters(root);
  assert.ok(removed.includes(c.dir), `cleanStaleClusters removed ${JSON.stringify(removed)}, not ${c.dir}`);
  assert.ok(!removed.includes(foreign) && existsSync(foreign), 'a directory without an owner file is left alone');
  assert.equal(await listening(c.port), false, 'the stale server was stopped');
  assert.equal(existsSync(c.dir), false);
});
