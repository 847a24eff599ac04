/**
 * Replay through REST: the real daemon app (real fastify on port 0, real simulator, real SQLite file) logs a session,
 * then a replay of it runs as a job (a worker thread) with progress and a result document.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rig, scriptedPolicy, tickUntil, logged, TOKEN, type Rig } from '../daemon/helpers.ts';
import { Store } from '../../src/store/index.ts';
import { sourceFingerprint } from './helpers.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- replies are free-form JSON documents the tests pick apart
type Json = any;

async function call(r: Rig, method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${r.app.url}${path}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: (await res.json()) as Json };
}

describe('replay over REST', () => {
  let r: Rig;
  let sessionId: number;
  before(async () => {
    r = await rig({ listen: true, overrides: { episodeSteps: 8 }, policy: scriptedPolicy('scripted@1', (c) => [0.001 * Math.sin(c), 0, 0]) });
    const started = r.app.daemon.startPractice({ count: 2, scenario: 'II', explorationNoise: 0.001, seed: 3 });
    assert.ok(started.ok);
    await tickUntil(r.app, () => r.app.daemon.currentState === 'idle' && r.app.daemon.status().practice === null, 300);
    await logged(r);
    sessionId = r.app.log.sessionId;
  });
  after(async () => r?.close());

  it('runs an open-loop replay as a job with progress and a result document; the source rows stay as they were', async () => {
    const before = sourceFingerprint(r.db, sessionId);
    assert.equal((await call(r, 'POST', '/replays', { sessionId, mode: 'open-loop' }, null)).status, 401);
    const post = await call(r, 'POST', '/replays', { sessionId, mode: 'open-loop', divergenceMm: 0.5 });
    assert.equal(post.status, 202, JSON.stringify(post.json));
    assert.equal(post.json.state === 'queued' || post.json.state === 'running', true);
    const id = post.json.id as number;
    let job: Json;
    for (let i = 0; i < 600; i++) {
      job = (await call(r, 'GET', `/replays/${id}`)).json;
      if (job.state !== 'queued' && job.state !== 'running') break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(job.state, 'done', job.error ?? '');
    assert.deepEqual(job.progress, { done: 2, total: 2 });
    const res = job.result;
    assert.equal(res.mode, 'open-loop');
    assert.equal(res.thresholds.divergenceMm, 0.5);
    assert.equal(res.overall.sameOutcome, 2);
    assert.equal(res.overall.maxPoseMm, 0);
    assert.equal(res.source.sessionId, sessionId);
    const list = (await call(r, 'GET', '/replays')).json;
    assert.equal(list[0].id, id);
    assert.equal(list[0].result, undefined);
    // Written into the daemon's own log while it runs, as a session of its own.
    const s = Store.openReadOnly(r.db);
    try {
      assert.equal(s.getSession(res.out.sessionId)?.backend, 'replay');
    } finally {
      s.close();
    }
    assert.deepEqual(sourceFingerprint(r.db, sessionId), before);
    const spec = (await call(r, 'GET', '/openapi.json')).json;
    assert.deepEqual(spec.paths['/replays'].post.security, [{ bearer: [] }]);
  });

  it('runs one job at a time; a queued job can be cancelled before it starts', async () => {
    const first = await call(r, 'POST', '/replays', { sessionId, mode: 'closed-loop', policy: 'p-only' });
    const second = await call(r, 'POST', '/replays', { sessionId, mode: 'closed-loop', policy: 'baseline:straight' });
    assert.equal(first.status, 202);
    assert.equal(second.json.state, 'queued', 'waits for the running one');
    const cancelled = await call(r, 'POST', `/replays/${second.json.id}/cancel`);
    assert.equal(cancelled.json.state, 'cancelled');
    assert.equal((await call(r, 'POST', `/replays/${second.json.id}/cancel`, undefined, null)).status, 401);
    assert.equal((await call(r, 'GET', '/replays/9999')).status, 404);
    let job: Json;
    for (let i = 0; i < 600; i++) {
      job = (await call(r, 'GET', `/replays/${first.json.id}`)).json;
      if (job.state !== 'queued' && job.state !== 'running') break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(job.state, 'done', job.error ?? '');
    assert.equal(job.result.policy, 'p-only');
    assert.equal(job.result.episodes.length, 2);
  });

  it('refuses at once, with what is missing, a session that cannot be replayed', async () => {
    const closed = await call(r, 'POST', '/replays', { sessionId, mode: 'closed-loop' });
    assert.equal(closed.status, 400);
    assert.match(closed.json.message, /closed loop needs 'policy'/);
    const none = await call(r, 'POST', '/replays', { sessionId: 999, mode: 'open-loop' });
    assert.equal(none.status, 422);
    assert.match(none.json.message, /no session 999/);
    const badMap = await call(r, 'POST', '/replays', { sessionId, mode: 'open-loop', mapConnector: { x: 'nope' } });
    assert.equal(badMap.status, 422);
    assert.match(badMap.json.message, /'nope' is not a connector the simulator defines/);
    const badPolicy = await call(r, 'POST', '/replays', { sessionId, mode: 'closed-loop', policy: 'no-such@9' });
    assert.equal(badPolicy.status, 422);
    assert.match(badPolicy.json.message, /policy 'no-such@9'/);
  });
});
