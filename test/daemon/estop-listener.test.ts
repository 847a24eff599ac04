/**
 * The e-stop listener (src/daemon/estop-listener.ts): POST /estop on its own port, answered by its own thread, which
 * sets the control thread's shared flag without the main thread. Real app: the control thread with the simulated cell,
 * a real SQLite file, fastify and the listener on loopback ports; the operator's client is another thread.
 *
 * ESTOP_LISTENER_TEST_VIA_API=1 sends the same e-stop to the API's POST /estop (the main thread's HTTP handling)
 * instead: the first test must then fail (the request waits for the blocked main thread).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { estopListenerPort, type DaemonApp } from '../../src/app/daemon-app.ts';
import type { ConfigOverrides } from '../../src/config/load.ts';
import type { DaemonConfig } from '../../src/config/schema.ts';
import { DaemonThread } from '../../src/daemon/thread.ts';
import type { RunningDaemon } from '../../src/daemon/types.ts';
import { withProcessCpus } from '../../src/util/affinity.ts';
import { simApp, tempDir, TOKEN } from './helpers.ts';
import { teardown } from '../teardown.ts';

const viaApi = process.env.ESTOP_LISTENER_TEST_VIA_API === '1';
const tmp = tempDir('estop-listener-');
process.on('exit', tmp.cleanup);

function app(name: string, overrides: ConfigOverrides, edit?: (c: DaemonConfig) => void): Promise<DaemonApp<RunningDaemon>> {
  return simApp(tmp.dir, name, overrides, edit);
}

/** An operator's client in its own thread: a warm-up request, then on a message a timed POST (absolute ms). */
const CLIENT = `
const { parentPort } = require('node:worker_threads');
const now = () => performance.timeOrigin + performance.now();
parentPort.on('message', async (m) => {
  if (m.warm) {
    await fetch(m.warm).then((r) => r.text()).catch(() => undefined);
    parentPort.postMessage({ warm: true });
    return;
  }
  await new Promise((r) => setTimeout(r, m.delayMs));
  const sentAt = now();
  try {
    const res = await fetch(m.url, { method: 'POST' });
    const body = await res.text();
    parentPort.postMessage({ sentAt, repliedAt: now(), status: res.status, body });
  } catch (e) {
    parentPort.postMessage({ sentAt, repliedAt: now(), status: 0, body: String(e) });
  }
});`;

interface ClientReply {
  sentAt: number;
  repliedAt: number;
  status: number;
  body: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const absNow = (): number => performance.timeOrigin + performance.now();

test('an e-stop on the listener port latches within a tick while the main thread is blocked for 300 ms', { timeout: 60_000 }, async (t) => {
  const defer = teardown(t);
  const a = await app('blocked', { realtime: true, episodeSteps: 1000 });
  defer(() => a.close());
  const d = a.daemon;
  assert.ok(d instanceof DaemonThread);
  assert.ok(a.estopUrl, 'the listener runs beside the control thread');
  const url = viaApi ? `${a.url}/estop` : a.estopUrl;
  // The operator's client stands for another process: every CPU, not the pinned main thread's (config controlCpu), on
  // which this test busy-waits.
  const client = withProcessCpus(() => new Worker(CLIENT, { eval: true }));
  defer(() => client.terminate());
  const next = (): Promise<unknown> => new Promise((resolve) => client.once('message', resolve));
  // Warm the client's HTTP stack (undici loads lazily) on a route that does not stop anything.
  client.postMessage({ warm: `${new URL(url).origin}/warm-up` });
  await next();

  assert.ok(d.startPractice({ count: 1, scenario: 'II' }).ok);
  await d.whenState('running', 20_000);
  await sleep(400);
  const before = d.status();
  assert.equal(before.state, 'running');
  const tickMs = 1000 / before.tickHz;
  const answer = next() as Promise<ClientReply>;
  client.postMessage({ url, delayMs: 80 });
  const blockStart = absNow();
  while (absNow() - blockStart < 300) {
    // Busy: no timer, no message, no socket is served on this thread for 300 ms.
  }
  const blockEnd = absNow();
  const r = await answer;
  assert.ok(r.sentAt < blockEnd, 'the request was sent while the main thread was blocked');
  assert.ok(r.repliedAt < blockEnd, `answered while the main thread was still blocked (${(r.repliedAt - blockEnd).toFixed(0)} ms after it ended)`);
  assert.ok(r.repliedAt - r.sentAt < tickMs, `send -> latched reply ${(r.repliedAt - r.sentAt).toFixed(1)} ms, within one tick (${tickMs} ms)`);
  assert.equal(r.status, 200, r.body);
  assert.equal((JSON.parse(r.body) as { latched: boolean }).latched, true);
  const after = d.status();
  assert.equal(after.state, 'estopped');
  const stats = d.estopStats();
  assert.ok(stats.latched >= 1, 'the request latched in the control thread');
  assert.equal(stats.viaListener + stats.viaFlag, stats.latched, 'latched through the flag, not the main thread');
  if (!viaApi) {
    // The main thread hears of the press once it is free (the dashboard test reads this).
    const t0 = Date.now();
    while (d.estopListenerPresses().received < 1 && Date.now() - t0 < 5000) await sleep(20);
    const p = d.estopListenerPresses();
    assert.deepEqual([p.received, p.latched], [1, 1], 'the listener reports the press, confirmed latched');
    assert.ok(p.confirmMs[0] !== undefined && p.confirmMs[0] < tickMs);
  }
  assert.ok(after.timing.ticks - before.timing.ticks >= 3, 'the loop kept ticking through the block');
  await d.flushLog();
  // Closed by the e-stop (on a machine loaded enough to starve even this thread, the deadman may have held it first;
  // the reply above then still says the request latched).
  const ep = a.log.store.listEpisodes({ sessionId: a.log.sessionId })[0];
  assert.equal(ep?.outcome, 'tripped');
});

test('the listener takes only POST /estop; /status shows it; -1 turns it off; in process there is none', { timeout: 60_000 }, async (t) => {
  const defer = teardown(t);
  assert.equal(estopListenerPort(8750, null, 8750), 8751, 'default: the API port + 1');
  assert.equal(estopListenerPort(0, null, 41234), 0, 'API on a free port: the listener too');
  assert.equal(estopListenerPort(8750, 9000, 8750), 9000);
  assert.equal(estopListenerPort(8750, -1, 8750), null);

  const a = await app('routes', { realtime: true });
  defer(() => a.close());
  const u = a.estopUrl;
  assert.ok(u);
  assert.match(u, /^http:\/\/127\.0\.0\.1:\d+\/estop$/);
  const get = await fetch(u);
  assert.equal(get.status, 405);
  const other = await fetch(new URL('/practice/start', u), { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(other.status, 404, 'nothing but the e-stop on this port, token or not');
  assert.equal(a.daemon.status().state, 'idle', 'neither stopped anything');
  const st = (await (await fetch(`${a.url}/status`)).json()) as { extra: { api: { estopUrl: string } } };
  assert.equal(st.extra.api.estopUrl, u);
  // Any body, no token: engaged, and the reset is the API's, with the token.
  const post = await fetch(u, { method: 'POST', body: '{"not json', headers: { 'content-type': 'application/json' } });
  assert.equal(post.status, 200);
  assert.equal(a.daemon.currentState, 'estopped');
  const reset = await fetch(`${a.url}/estop/reset`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(reset.status, 200);

  const off = await app('off', { realtime: true }, (c) => (c.api.estopPort = -1));
  defer(() => off.close());
  assert.equal(off.estopUrl, null);
  const inProcess = await app('in-process', { realtime: true }, (c) => (c.controlThread = false));
  defer(() => inProcess.close());
  assert.equal(inProcess.estopUrl, null, 'in process the API shares the loop thread: no listener');
});
