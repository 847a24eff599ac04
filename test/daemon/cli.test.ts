/**
 * The main job as a real process: it starts on the simulator, prints its API address, practises on request, and on
 * SIGTERM stops the arm, closes the open episode and flushes the log before exiting 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Store } from '../../src/store/index.ts';
import { daemonProcess, root, tempDir } from './helpers.ts';
import { teardown } from '../teardown.ts';

test('the daemon process shuts down gracefully on SIGTERM mid-episode', async (t) => {
  const defer = teardown(t);
  const tmp = tempDir('daemon-cli-');
  defer(tmp.cleanup);
  const db = join(tmp.dir, 'cli.db');
  const token = 'cli-test-token-42';
  const { child, url, out, exited } = await daemonProcess(
    t,
    ['--port', '0', '--db', db, '--models', join(tmp.dir, 'models'), '--episode-steps', '40', '--priority', 'none'],
    { ...process.env, DAEMON_TOKEN: token },
  );
  assert.match(out(), /P-controller alone/, 'says it runs without a policy');
  assert.doesNotMatch(out(), /token for this run/, 'uses the token from the environment');
  const start = await fetch(`${url}/practice/start`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ count: 3, scenario: 'II' }),
  });
  assert.equal(start.status, 202);
  // Until step 3 of an episode (a loaded machine is slow to get there; 180 s only turns a stuck daemon into a failure).
  const t0 = Date.now();
  for (;;) {
    const s = (await (await fetch(`${url}/status`)).json()) as { episode: { step: number } | null };
    if ((s.episode?.step ?? 0) >= 3) break;
    assert.ok(Date.now() - t0 < 180_000, `no episode reached step 3 in 180 s:\n${out()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGTERM');
  const code = await exited;
  assert.equal(code, 0, out());
  assert.match(out(), /daemon stopped cleanly/);

  const store = Store.openReadOnly(db);
  defer(() => store.close());
  const [session] = store.listSessions();
  assert.ok(session?.endedAt, 'session closed');
  const [ep] = store.listEpisodes();
  assert.ok(ep);
  assert.equal(ep.outcome, 'aborted');
  assert.equal(ep.reason, 'shutdown');
  assert.ok(ep.transitionCount >= 3, `${ep.transitionCount} transitions flushed`);
  const ts = store.getEpisode(ep.id, { transitions: true, images: false })?.transitions ?? [];
  assert.equal(ts[ts.length - 1]?.done, true, 'the last logged transition is marked done');
});

test('a bad config file stops the daemon with exit code 2 and names the file and field', async () => {
  const tmp = tempDir('daemon-cli-bad-');
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/daemon.ts'), '--tick-hz', 'fast'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    assert.equal(code, 2);
    assert.match(err, /command line: field '--tick-hz': must be a number/);
  } finally {
    tmp.cleanup();
  }
});
