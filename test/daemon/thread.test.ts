/**
 * The control loop in its own thread (src/daemon/thread.ts, thread-host.ts) behind the real app: real simulated cell
 * (in the worker), real SQLite file, real fastify on port 0, real onnxruntime.
 *
 * DAEMON_THREAD_TEST_IN_PROCESS=1 runs the same tests on the in-process daemon (controlThread: false): the e-stop test
 * must then fail (no tick runs while the main thread is busy), which is what the thread is for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { DaemonApp } from '../../src/app/daemon-app.ts';
import type { ConfigOverrides } from '../../src/config/load.ts';
import type { DaemonConfig } from '../../src/config/schema.ts';
import { versionOf } from '../../src/daemon/models.ts';
import { DaemonThread } from '../../src/daemon/thread.ts';
import type { DaemonState, DaemonStatus, EpisodeSummary, RunningDaemon } from '../../src/daemon/types.ts';
import { cardPathFor, readCard, sha256Hex } from '../../src/policy/card.ts';
import { saveModelLike } from '../policy/fixtures.ts';
import { simApp, tempDir, TOKEN } from './helpers.ts';

const inProcess = process.env.DAEMON_THREAD_TEST_IN_PROCESS === '1';
await tf.setBackend('cpu');
const tmp = tempDir('daemon-thread-');
process.on('exit', tmp.cleanup);

async function threadedApp(name: string, overrides: ConfigOverrides, edit?: (c: DaemonConfig) => void): Promise<DaemonApp<RunningDaemon>> {
  const app = await simApp(tmp.dir, name, overrides, (c) => {
    c.controlThread = !inProcess;
    edit?.(c);
  });
  if (app.daemon instanceof DaemonThread !== !inProcess) {
    await app.close(); // (its control thread would keep the test process alive)
    assert.fail(`the loop ${inProcess ? 'is not' : 'is'} expected in a control thread`);
  }
  return app;
}

const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test reads JSON replies
async function call(app: DaemonApp<RunningDaemon>, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${app.url}${path}`, {
    method,
    headers: body === undefined ? { authorization: auth.authorization } : auth,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json() };
}

const newest = <E extends { id: number }>(eps: E[]): E | undefined => [...eps].sort((a, b) => b.id - a.id)[0];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Everything the daemon has logged so far is in the file (the control thread's log calls are messages). */
const flushed = (app: DaemonApp<RunningDaemon>): Promise<void> => (app.daemon instanceof DaemonThread ? app.daemon.flushLog() : app.log.flush());

test('the API practises episodes end to end through the threaded daemon; status, events and a policy swap flow back', { timeout: 60_000 }, async (t) => {
  const app = await threadedApp('e2e', { realtime: false, episodeSteps: 6 });
  t.after(() => app.close());
  const d = app.daemon;
  const states: DaemonState[] = [];
  const episodes: EpisodeSummary[] = [];
  const statuses: DaemonStatus[] = [];
  d.on('state', (s) => states.push(s));
  d.on('episode', (e) => episodes.push(e));
  d.on('status', (s) => statuses.push(s));
  // The server-sent stream, as a dashboard reads it.
  const sse = await fetch(`${app.url}/events`);
  const reader = (sse.body as ReadableStream<Uint8Array>).getReader();
  let sseText = '';
  const readSse = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      sseText += new TextDecoder().decode(value);
    }
  })();

  const start = await call(app, 'POST', '/practice/start', { count: 2, scenario: 'II', explorationNoise: 0 });
  assert.equal(start.status, 202, JSON.stringify(start.json));
  for (let i = 0; i < 400; i++) {
    const s = (await call(app, 'GET', '/status')).json as DaemonStatus;
    if (s.state === 'idle' && s.practice === null && s.lastEpisode?.index === 1) break;
    await sleep(50);
  }
  const s = (await call(app, 'GET', '/status')).json as DaemonStatus;
  assert.equal(s.state, 'idle');
  assert.equal(s.backend, 'sim');
  assert.equal(s.timing.controlTicks, 12, 'two episodes of 6 steps, ticked in the control thread');
  await flushed(app);
  const store = app.log.store;
  const eps = store.listEpisodes({ sessionId: app.log.sessionId });
  assert.equal(eps.length, 2);
  for (const e of eps) {
    assert.ok(e.outcome === 'success' || e.outcome === 'failure', `episode ${e.id} judged: ${e.outcome}`);
    assert.equal(store.countTransitions({ episodeIds: [e.id] }), 6, 'every step in SQLite');
  }
  const listed = await call(app, 'GET', '/episodes');
  assert.equal(listed.status, 200);
  assert.deepEqual(episodes.map((e) => e.id).sort(), eps.map((e) => e.id).sort(), "'episode' events for both");
  for (const st of ['resetting', 'running', 'scoring', 'idle'] as const) assert.ok(states.includes(st), `state ${st} seen: ${states.join(',')}`);
  assert.ok(statuses.length > 0, "'status' events arrive from the control thread");

  // Activation over REST: validated here, loaded and swapped in by the control thread.
  const path = saveModelLike(join(tmp.dir, 'policy-v1.onnx'), { version: 1, seed: 1, name: 'thread-policy' });
  const card = readCard(cardPathFor(path));
  const id = store.registerModel({ kind: 'policy', version: versionOf(card), path, card, sha256: sha256Hex(readFileSync(path)) });
  const act = await call(app, 'POST', `/models/${id}/activate`, { at: 'between-ticks' });
  assert.equal(act.status, 202, JSON.stringify(act.json));
  for (let i = 0; i < 100 && d.policyVersion !== 'thread-policy@1'; i++) await sleep(50);
  assert.equal(d.policyVersion, 'thread-policy@1');
  assert.equal(d.status().policy.version, 'thread-policy@1', 'the control thread drives it');
  // An operator takeover over REST reaches the control thread, drives the arm and is logged as an intervention. The
  // client streams its lease as a SpaceMouse bridge does, from before the episode starts (a free-running 6-step
  // episode can end before a single request sent after it started arrives, on a loaded machine).
  const teleop = await call(app, 'POST', '/teleop', { delta: [0, 0, -0.001], leaseS: 1, source: 'thread-test' });
  assert.equal(teleop.status, 202, JSON.stringify(teleop.json));
  let streaming = true;
  const stream = (async () => {
    while (streaming) {
      await call(app, 'POST', '/teleop', { delta: [0, 0, -0.001], leaseS: 1, source: 'thread-test' });
      await sleep(100);
    }
  })();
  const episodesBefore = episodes.length;
  const again = await call(app, 'POST', '/practice/start', { count: 1, scenario: 'II', explorationNoise: 0 });
  assert.equal(again.status, 202);
  for (let i = 0; i < 400 && episodes.length === episodesBefore; i++) await sleep(50);
  assert.equal(episodes.length, episodesBefore + 1, 'the practice episode ended');
  await d.whenState('idle', 20_000);
  streaming = false;
  await stream;
  await call(app, 'POST', '/teleop/release');
  await flushed(app);
  const last = newest(store.listEpisodes({ sessionId: app.log.sessionId }));
  assert.equal(last?.policyVersion, 'thread-policy@1');
  assert.ok(last);
  const driven = store.getEpisode(last.id, { transitions: true, images: false })?.transitions ?? [];
  assert.ok(
    driven.some((x) => x.intervention && x.interventionSource === 'rest:thread-test'),
    'intervention steps logged with their source',
  );
  assert.match(sseText, /event: status/, 'the SSE stream carried status');
  await reader.cancel();
  await readSse.catch(() => undefined);
});

test('e-stop latches within the tick while the main thread is blocked for 300 ms, and the loop keeps ticking', { timeout: 60_000 }, async (t) => {
  const app = await threadedApp('estop', { realtime: true, episodeSteps: 1000 });
  t.after(() => app.close());
  const d = app.daemon;
  assert.ok(d.startPractice({ count: 1, scenario: 'II' }).ok);
  await d.whenState('running', 20_000);
  await sleep(500);
  const before = d.status();
  assert.equal(before.state, 'running');
  const t0 = performance.now();
  d.estop('test: e-stop, then the main thread is busy');
  while (performance.now() - t0 < 300) {
    // Busy: no timer, no message, no I/O on this thread for 300 ms.
  }
  const after = d.status();
  assert.equal(after.state, 'estopped');
  assert.equal(after.safety.estop.engaged, true);
  // Latched within one tick of the request, whatever this thread was doing.
  const latency = d instanceof DaemonThread ? d.estopStats().latencyMs.at(-1) : 0;
  assert.ok(latency !== undefined && latency < 1000 / before.tickHz, `request -> latch ${latency} ms`);
  // The control thread kept its 10 Hz through the block: about 3 ticks, none missed.
  assert.ok(after.timing.ticks - before.timing.ticks >= 3, `ticks during the block: ${after.timing.ticks - before.timing.ticks}`);
  assert.equal(after.timing.missed, before.timing.missed, 'no tick missed while the main thread was blocked');
  // The episode was closed by the e-stop, and no step was logged after it.
  await flushed(app);
  const ep = newest(app.log.store.listEpisodes({ sessionId: app.log.sessionId }));
  assert.equal(ep?.outcome, 'tripped');
  assert.match(ep?.reason ?? '', /estop/);
  const reset = await call(app, 'POST', '/estop/reset', {});
  assert.equal(reset.status, 200, JSON.stringify(reset.json));
  assert.equal(d.currentState, 'idle');
});

test('shutdown is clean: the episode is closed, the log flushed, the control thread gone', { timeout: 60_000 }, async (t) => {
  const app = await threadedApp('shutdown', { realtime: true, episodeSteps: 1000 });
  t.after(() => app.close()); // (the same close the test awaits below: for a failure before it)
  const d = app.daemon;
  assert.ok(d.startPractice({ count: 5, scenario: 'II' }).ok);
  await d.whenState('running', 20_000);
  await sleep(400);
  const db = app.log.store.file;
  const t0 = performance.now();
  await app.close();
  assert.ok(performance.now() - t0 < 10_000, 'close did not hang');
  if (d instanceof DaemonThread) assert.equal(d.alive, false, 'the worker has ended');
  // The file as another process would see it.
  const { Store } = await import('../../src/store/index.ts');
  const store = Store.open(db);
  try {
    const session = store.listSessions({ limit: 1 })[0];
    assert.ok(session?.endedAt !== null, 'session closed');
    const ep = newest(store.listEpisodes({ limit: 10 }));
    assert.equal(ep?.outcome, 'aborted');
    assert.ok(store.countTransitions({ episodeIds: [ep.id] }) >= 2, 'its steps were flushed');
  } finally {
    store.close();
  }
});

test(
  'status sections set on this thread go to no control-thread message, and show in status and its events',
  { skip: inProcess, timeout: 60_000 },
  async (t) => {
    const app = await threadedApp('extras', { realtime: true, episodeSteps: 30 });
    t.after(() => app.close());
    const d = app.daemon as DaemonThread;
    // Every message to the control thread (receiving one can make it wait for this thread: see setStatusExtra).
    const worker = (d as unknown as { worker: { postMessage: (m: unknown, transfer?: unknown) => void } }).worker;
    const sent: unknown[] = [];
    const post = worker.postMessage.bind(worker);
    worker.postMessage = (m, transfer) => {
      sent.push(m);
      post(m, transfer);
    };
    const events: DaemonStatus[] = [];
    d.on('status', (s) => events.push(s));
    d.setStatusExtra('trainer', { updates: 7 });
    d.setStatusExtra('learning', { swaps: 1 });
    assert.deepEqual(sent, [], 'nothing sent to the control thread');
    assert.deepEqual(events.at(-1)?.extra.trainer, { updates: 7 }, 'a status event at once');
    assert.deepEqual(d.status().extra.learning, { swaps: 1 });
    // The statuses the control thread publishes (once a second while practising) carry them too.
    assert.ok(d.startPractice({ count: 1, scenario: 'II' }).ok);
    const n = events.length;
    const t0 = performance.now();
    while (events.length <= n + 1 && performance.now() - t0 < 20_000) await sleep(50);
    assert.deepEqual(events.at(-1)?.extra.trainer, { updates: 7 });
    d.setStatusExtra('trainer', undefined);
    assert.equal(d.status().extra.trainer, undefined, 'removed');
    assert.deepEqual(d.status().extra.learning, { swaps: 1 });
  },
);
