/**
 * The daemon process when it cannot start serving: a port already taken or an address it cannot bind must end the
 * process with a non-zero exit code, after closing what it opened (the session row, the log, the backend), instead
 * of hanging with an open session.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../../src/store/index.ts';
import { daemonProcess, root, tempDir } from '../daemon/helpers.ts';
import { teardown } from '../teardown.ts';

// timeoutMs only tells a hang from a slow start (a start took 26 s at load 25 on the 2-core machine)
function runDaemon(args: string[], timeoutMs = 180_000): Promise<{ code: number | null; out: string; timedOut: boolean }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/daemon.ts'), ...args], {
    cwd: root,
    env: { ...process.env, DAEMON_TOKEN: 'listen-test-token-1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  return new Promise((res) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      res({ code, out, timedOut });
    });
  });
}

async function takenPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const addr = server.address();
  assert.ok(addr && typeof addr === 'object');
  return { port: addr.port, server };
}

function assertSessionClosed(db: string): void {
  const store = Store.openReadOnly(db);
  try {
    const sessions = store.listSessions();
    assert.equal(sessions.length, 1, 'one session was opened');
    assert.ok(sessions[0]?.endedAt, 'and closed');
  } finally {
    store.close();
  }
}

test('a port already in use ends the daemon with exit 1, the error, and its session closed', async (t) => {
  const defer = teardown(t);
  const tmp = tempDir('daemon-listen-');
  defer(tmp.cleanup);
  const { port, server } = await takenPort();
  defer(() => server.close());
  const db = join(tmp.dir, 'busy.db');
  const r = await runDaemon(['--port', String(port), '--db', db, '--models', join(tmp.dir, 'models'), '--priority', 'none']);
  assert.equal(r.timedOut, false, `the daemon hung instead of exiting:\n${r.out}`);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /cannot listen on 127\.0\.0\.1:\d+.*EADDRINUSE/);
  assertSessionClosed(db);
});

test('an address the machine does not have ends the daemon with exit 1 and its session closed', async (t) => {
  const tmp = tempDir('daemon-listen-');
  t.after(tmp.cleanup);
  const db = join(tmp.dir, 'badhost.db');
  // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never assigned to this machine, so bind() fails with EADDRNOTAVAIL.
  const r = await runDaemon(['--port', '0', '--host', '192.0.2.1', '--db', db, '--models', join(tmp.dir, 'models'), '--priority', 'none']);
  assert.equal(r.timedOut, false, `the daemon hung instead of exiting:\n${r.out}`);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /cannot listen on 192\.0\.2\.1:0/);
  assertSessionClosed(db);
});

test('a token made for the run goes to a mode-600 file, never to stdout, and the file goes at shutdown', async (t) => {
  const defer = teardown(t);
  const tmp = tempDir('daemon-token-');
  defer(tmp.cleanup);
  const db = join(tmp.dir, 'tok.db');
  const env = { ...process.env };
  delete env.DAEMON_TOKEN;
  const { child, url, out, exited } = await daemonProcess(t, ['--port', '0', '--db', db, '--models', join(tmp.dir, 'models'), '--priority', 'none'], env, (o) =>
    /try: curl/.test(o),
  );
  const file = `${db}.token`;
  assert.match(out(), new RegExp(`token for this run: in ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(mode 600`));
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const token = readFileSync(file, 'utf8').trim();
  assert.ok(token.length >= 20);
  assert.ok(!out().includes(token), 'the token is not printed');
  const res = await fetch(`${url}/practice/stop`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, 'the token in the file drives the daemon');
  child.kill('SIGTERM');
  assert.equal(await exited, 0, out());
  assert.ok(!out().includes(token), 'the token is not printed');
  assert.equal(existsSync(file), false, 'the token file is removed at shutdown');
});
