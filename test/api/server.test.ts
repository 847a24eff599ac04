/** The REST API on a real fastify server (port 0) in front of a real daemon on the simulator and a real SQLite log. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { rig, TOKEN, type Rig } from '../daemon/helpers.ts';

const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

async function call(r: Rig, method: string, path: string, body?: unknown, headers: Record<string, string> = auth): Promise<{ status: number; json: any }> {
  // `any`: response bodies are whatever the route returns; each test asserts on the fields it needs.
  const res = await fetch(`${r.app.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, json };
}

/** Reads server-sent events until `until` returns true for one of them. */
async function readSse(url: string, until: (event: string, data: any) => boolean, timeoutMs = 20_000): Promise<Array<{ event: string; data: any }>> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const res = await fetch(url, { signal: ac.signal });
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const dec = new TextDecoder();
  const seen: Array<{ event: string; data: any }> = [];
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (!ev || data === undefined) continue;
        const parsed = JSON.parse(data);
        seen.push({ event: ev, data: parsed });
        if (until(ev, parsed)) return seen;
      }
    }
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return seen;
}

test('state-changing routes need the bearer token; reads and the e-stop do not', async (t) => {
  const r = await rig({ listen: true });
  t.after(() => r.close());
  assert.match(r.app.url ?? '', /^http:\/\/127\.0\.0\.1:\d+$/, 'binds 127.0.0.1');
  const routes: Array<[string, string, unknown]> = [
    ['POST', '/practice/start', { count: 1 }],
    ['POST', '/practice/stop', {}],
    ['POST', '/estop/reset', {}],
    ['POST', '/models/1/activate', {}],
    ['POST', '/models/rollback', { kind: 'policy' }],
  ];
  for (const [m, p, b] of routes) {
    const none = await call(r, m, p, b, { 'content-type': 'application/json' });
    assert.equal(none.status, 401, `${m} ${p} without token`);
    assert.match(none.json.message, /bearer token/);
    const wrong = await call(r, m, p, b, { 'content-type': 'application/json', authorization: 'Bearer nope' });
    assert.equal(wrong.status, 403, `${m} ${p} with a wrong token`);
    const scheme = await call(r, m, p, b, { 'content-type': 'application/json', authorization: `Basic ${TOKEN}` });
    assert.equal(scheme.status, 401);
  }
  assert.equal(r.app.daemon.currentState, 'idle', 'nothing moved');
  assert.equal((await call(r, 'GET', '/status', undefined, {})).status, 200);
  // The e-stop is open to anyone who can reach the port; resetting it is not.
  const es = await call(r, 'POST', '/estop', { detail: 'test' }, { 'content-type': 'application/json' });
  assert.equal(es.status, 200);
  assert.equal(r.app.daemon.currentState, 'estopped');
  assert.equal((await call(r, 'POST', '/estop/reset', {}, { 'content-type': 'application/json' })).status, 401);
  assert.equal(r.app.daemon.currentState, 'estopped');
  const reset = await call(r, 'POST', '/estop/reset', {});
  assert.equal(reset.status, 200);
  assert.equal(r.app.daemon.currentState, 'idle');
});

test('bodies, params and queries are validated with 4xx errors naming the field', async (t) => {
  const r = await rig({ listen: true });
  t.after(() => r.close());
  const bad: Array<[unknown, RegExp]> = [
    [{}, /count/],
    [{ count: 0 }, /count must be >= 1/],
    [{ count: '3' }, /count must be integer/],
    [{ count: 1.5 }, /count must be integer/],
    [{ count: 1, scenario: 'III' }, /scenario/],
    [{ count: 1, explorationNoise: 1 }, /explorationNoise/],
    [{ count: 1, colour: 'red' }, /additional properties/],
    [{ count: 1, domain: '' }, /domain/],
    [{ count: 1, domain: 'no-such-plug' }, /body\/domain: unknown domain 'no-such-plug'.*square16/],
    ['{"count": ', /JSON|Body/i],
  ];
  for (const [body, msg] of bad) {
    const res = await call(r, 'POST', '/practice/start', body);
    assert.equal(res.status, 400, `body ${JSON.stringify(body)}`);
    assert.match(res.json.message, msg);
  }
  assert.equal(r.app.daemon.currentState, 'idle', 'no bad request started anything');
  assert.equal((await call(r, 'GET', '/episodes/abc')).status, 400);
  assert.match((await call(r, 'GET', '/episodes/abc')).json.message, /params\/id/);
  assert.equal((await call(r, 'GET', '/episodes/999')).status, 404);
  assert.equal((await call(r, 'GET', '/episodes?limit=0')).status, 400);
  assert.equal((await call(r, 'GET', '/episodes?bogus=1')).status, 400);
  assert.equal((await call(r, 'POST', '/models/rollback', { kind: 'encoder' })).status, 400);
  // The e-stop is never refused for its body: malformed JSON, an empty JSON body, a wrong type all still engage it.
  for (const body of ['{"detail": ', '', JSON.stringify({ detail: 5 })]) {
    r.app.daemon.resetEstop();
    assert.equal(r.app.daemon.currentState, 'idle');
    const res = await call(r, 'POST', '/estop', body, { 'content-type': 'application/json' });
    assert.equal(res.status, 200, `e-stop with body ${JSON.stringify(body)}`);
    assert.equal(res.json.engaged, true);
    assert.equal(r.app.daemon.currentState, 'estopped');
  }
  // A valid request that conflicts with the state is a 409, not a 400.
  const conflict = await call(r, 'POST', '/practice/start', { count: 1 });
  assert.equal(conflict.status, 409);
  assert.match(conflict.json.message, /e-stop/);
});

test('the OpenAPI document is served and describes the routes and the bearer scheme', async (t) => {
  const r = await rig({ listen: true });
  t.after(() => r.close());
  const { status, json } = await call(r, 'GET', '/openapi.json', undefined, {});
  assert.equal(status, 200);
  assert.equal(json.openapi, '3.0.3');
  for (const p of ['/status', '/practice/start', '/practice/stop', '/estop', '/estop/reset', '/sessions', '/episodes', '/episodes/{id}', '/transitions/{id}/image.png', '/models', '/models/{id}/activate', '/models/rollback', '/events']) {
    assert.ok(json.paths[p], `OpenAPI lacks ${p}`);
  }
  assert.deepEqual(json.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer' });
  assert.deepEqual(json.paths['/practice/start'].post.security, [{ bearer: [] }]);
  assert.equal(json.paths['/estop'].post.security, undefined);
  assert.deepEqual(json.paths['/practice/start'].post.requestBody.content['application/json'].schema.required, ['count']);
});

test('practice over REST: SSE streams status, episodes and transitions are served with PNG images', async (t) => {
  const r = await rig({ listen: true, startLoop: true, overrides: { episodeSteps: 5 } });
  t.after(() => r.close());
  const events = readSse(`${r.app.url}/events`, (ev, d) => ev === 'status' && d.state === 'idle' && d.lastEpisode !== null);
  await new Promise((res) => setTimeout(res, 200));
  const start = await call(r, 'POST', '/practice/start', { count: 2, scenario: 'I', domain: 'square16', explorationNoise: 0 });
  assert.equal(start.status, 202);
  assert.equal(start.json.run.count, 2);
  const seen = await events;
  const states = seen.filter((e) => e.event === 'status').map((e) => e.data.state);
  assert.equal(states[0], 'idle', 'first event is the current status');
  assert.ok(states.includes('running'), `states seen: ${states.join(',')}`);
  assert.equal(states[states.length - 1], 'idle');
  assert.equal(seen.filter((e) => e.event === 'episode').length, 2);
  const last = seen[seen.length - 1]?.data;
  assert.equal(last.timing.computeMs.n, 10);

  await r.app.log.flush();
  await new Promise((res) => setTimeout(res, 20));
  const sessions = await call(r, 'GET', '/sessions');
  assert.equal(sessions.json.length, 1);
  assert.equal((await call(r, 'GET', `/sessions/${sessions.json[0].id}`)).json.backend, 'sim');
  const eps = await call(r, 'GET', `/episodes?sessionId=${sessions.json[0].id}&order=asc`);
  assert.equal(eps.status, 200);
  assert.equal(eps.json.length, 2);
  const ep = await call(r, 'GET', `/episodes/${eps.json[0].id}`);
  assert.equal(ep.json.transitions.length, 5);
  const tr = ep.json.transitions[2];
  assert.equal(tr.step, 2);
  assert.equal(tr.actionExecuted.length, 3);
  assert.equal(tr.image, null, 'images are served separately');
  const img = await fetch(`${r.app.url}${tr.imageUrl}`);
  assert.equal(img.status, 200);
  assert.equal(img.headers.get('content-type'), 'image/png');
  const png = Buffer.from(await img.arrayBuffer());
  assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  const meta = await sharp(png).metadata();
  assert.equal(meta.width, 64);
  assert.equal(meta.height, 64);
  // Lossless: the PNG decodes to the bytes in the log.
  const raw = await sharp(png).raw().toBuffer();
  const logged = r.app.log.store.getTransition(tr.id, { images: true });
  assert.deepEqual(new Uint8Array(raw), logged?.image?.data);
  assert.equal((await fetch(`${r.app.url}/transitions/999999/image.png`)).status, 404);
});

test('stop practice over REST ends the run; models list answers with none registered', async (t) => {
  const r = await rig({ listen: true, startLoop: true, overrides: { episodeSteps: 50 } });
  t.after(() => r.close());
  assert.equal((await call(r, 'POST', '/practice/start', { count: 10, scenario: 'II' })).status, 202);
  await r.app.daemon.whenState('running', 20_000);
  const stop = await call(r, 'POST', '/practice/stop', {});
  assert.equal(stop.status, 200);
  assert.equal(stop.json.wasRunning, true);
  await r.app.daemon.whenState('idle', 20_000);
  const st = (await call(r, 'GET', '/status')).json;
  assert.equal(st.lastEpisode.outcome, 'aborted');
  assert.equal(st.practice, null);
  const models = await call(r, 'GET', '/models');
  assert.deepEqual(models.json.models, []);
  assert.equal(models.json.driving.policy, null);
  assert.equal((await call(r, 'POST', '/models/5/activate', {})).status, 404);
  assert.equal((await call(r, 'POST', '/models/rollback', { kind: 'policy' })).status, 409);
});

test('closing the daemon ends open event streams instead of waiting for clients', { timeout: 20_000 }, async () => {
  const r = await rig({ listen: true });
  const res = await fetch(`${r.app.url}/events`);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  await reader.read(); // the first status event
  const t0 = performance.now();
  await r.close();
  assert.ok(performance.now() - t0 < 5000, 'close did not hang on the open stream');
  for (;;) {
    const { done } = await reader.read();
    if (done) break;
  }
});
