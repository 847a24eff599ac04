/**
 * The REST API against hostile or careless callers (issue 12): huge list offsets are a 400, not a 500; the token is
 * checked before anything else about a request; a server without a token refuses every state-changing route; tokens
 * never reach logs or /status; an API bound beyond loopback says so. Real fastify on port 0, real daemon and SQLite.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { buildApi, exposureWarning, isLoopbackHost, OPEN_STATE_CHANGING_ROUTES } from '../../src/api/server.ts';
import { loadPolicyFile } from '../../src/daemon/models.ts';
import { rig, TOKEN, type Rig } from '../daemon/helpers.ts';
import { AUTH as auth, call } from './helpers.ts';
import { teardown } from '../teardown.ts';

const json = { 'content-type': 'application/json' };
const url = (r: Rig): string => r.app.url ?? assert.fail('not listening');

test('list offsets and ids beyond what SQLite and JavaScript can hold are a 400 naming the field, not a 500', async (t) => {
  const r = await rig({ listen: true });
  t.after(() => r.close());
  const cases: Array<[string, RegExp]> = [
    ['/sessions?offset=1e19', /querystring\/offset must be <= 9007199254740991/],
    ['/episodes?offset=1e20', /querystring\/offset must be <= /],
    ['/episodes?sessionId=1e19', /querystring\/sessionId must be <= /],
    ['/sessions/1e19', /params\/id must be <= /],
    ['/episodes/100000000000000000000', /params\/id must be <= /],
    ['/sessions?offset=-1', /querystring\/offset must be >= 0/],
  ];
  for (const [path, msg] of cases) {
    const res = await call(url(r), 'GET', path, undefined, {});
    assert.equal(res.status, 400, `${path}: ${res.text}`);
    assert.match(res.json.message, msg, path);
  }
  // The largest accepted offset is answered (empty), not a 500.
  const edge = await call(url(r), 'GET', `/episodes?offset=${Number.MAX_SAFE_INTEGER}`, undefined, {});
  assert.equal(edge.status, 200, edge.text);
  assert.deepEqual(edge.json, []);
});

test('the token is checked before the body or params are parsed or validated', async (t) => {
  const r = await rig({ listen: true });
  t.after(() => r.close());
  const probes: Array<[string, string, unknown]> = [
    ['POST', '/practice/start', { count: 'lots', colour: 'red' }],
    ['POST', '/practice/start', '{"count": '],
    ['POST', '/models/abc/activate', { at: 'never' }],
    ['POST', '/models/rollback', { kind: 'encoder', toId: -1 }],
  ];
  for (const [m, p, b] of probes) {
    for (const headers of [json, { ...json, authorization: 'Bearer wrong-token' }]) {
      const res = await call(url(r), m, p, b, headers);
      assert.ok(res.status === 401 || res.status === 403, `${m} ${p} ${JSON.stringify(b)}: ${res.status} ${res.text}`);
      // Nothing about the schema leaks: no field names, no validation wording.
      assert.doesNotMatch(res.text, /count|colour|kind|toId|params|body|must be|JSON/i, `${m} ${p}: ${res.text}`);
    }
  }
  // With the token the same requests are validated as before.
  assert.equal((await call(url(r), 'POST', '/practice/start', { count: 'lots' })).status, 400);
  assert.equal(r.app.daemon.currentState, 'idle', 'nothing moved');
});

test('a server started without a token refuses every state-changing route, whatever the request carries', async (t) => {
  const defer = teardown(t);
  const r = await rig({ listen: false });
  defer(() => r.close());
  const api = await buildApi({ daemon: r.app.daemon, store: r.app.log.store, token: null, tokenEnv: 'MY_TOKEN_VAR', loadPolicy: loadPolicyFile });
  defer(() => api.close());
  await api.listen({ host: '127.0.0.1', port: 0 });
  const addr = api.server.address();
  assert.ok(addr && typeof addr === 'object');
  const base = `http://127.0.0.1:${addr.port}`;
  // Every route the server has, from its own OpenAPI document: a route added later is covered by this test too.
  const doc = (await call(base, 'GET', '/openapi.json', undefined, {})).json as { paths: Record<string, Record<string, unknown>> };
  const stateChanging: Array<[string, string]> = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const method of Object.keys(ops)) {
      if (method !== 'get' && method !== 'head') stateChanging.push([method.toUpperCase(), path.replace(/\{id\}/g, '1')]);
    }
  }
  assert.ok(stateChanging.length >= 6, `found ${stateChanging.length} state-changing routes`);
  let refused = 0;
  for (const [m, p] of stateChanging) {
    if (OPEN_STATE_CHANGING_ROUTES.has(p)) continue;
    for (const headers of [json, auth, { ...json, authorization: 'Bearer ' }]) {
      const res = await call(base, m, p, { count: 1, kind: 'policy' }, headers);
      assert.equal(res.status, 401, `${m} ${p}: ${res.text}`);
      assert.match(res.json.message, /no API token configured: set MY_TOKEN_VAR/);
      refused++;
    }
  }
  assert.ok(refused >= 15);
  assert.equal(r.app.daemon.currentState, 'idle', 'nothing moved');
  // The e-stop still works without any token.
  assert.equal((await call(base, 'POST', '/estop', {}, json)).status, 200);
  assert.equal(r.app.daemon.currentState, 'estopped');
  assert.equal((await call(base, 'POST', '/estop/reset', {}, auth)).status, 401, 'and its reset is refused');
});

test('tokens never appear in the request log, in /status or in the session record', async (t) => {
  const defer = teardown(t);
  const r = await rig({ listen: false, config: (c) => (c.api.token = 'file-token-that-must-not-leak') });
  defer(() => r.close());
  let logged = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      logged += chunk.toString();
      done();
    },
  });
  const api = await buildApi({ daemon: r.app.daemon, store: r.app.log.store, token: TOKEN, loadPolicy: loadPolicyFile, logger: { level: 'trace', stream } });
  defer(() => api.close());
  await api.listen({ host: '127.0.0.1', port: 0 });
  const addr = api.server.address();
  assert.ok(addr && typeof addr === 'object');
  const base = `http://127.0.0.1:${addr.port}`;
  const wrong = 'wrong-token-that-must-not-leak';
  await call(base, 'POST', '/practice/stop', {}, auth);
  await call(base, 'POST', '/practice/stop', {}, { ...json, authorization: `Bearer ${wrong}` });
  await call(base, 'POST', '/practice/start', { count: 'x' }, auth);
  await call(base, 'POST', '/models/999/activate', {}, auth);
  const status = await call(base, 'GET', '/status', undefined, {});
  assert.equal(status.status, 200);
  assert.ok(logged.length > 0, 'the logger wrote something');
  for (const secret of [TOKEN, wrong, 'file-token-that-must-not-leak']) {
    assert.ok(!logged.includes(secret), `a token is in the log: ${secret}`);
    assert.ok(!status.text.includes(secret), `a token is in /status: ${secret}`);
  }
  const [session] = r.app.log.store.listSessions();
  assert.ok(session);
  assert.ok(!JSON.stringify(session).includes('file-token-that-must-not-leak'), 'the session record masks the literal token');
});

test('an API bound beyond loopback is reported in /status; loopback is not', async (t) => {
  const defer = teardown(t);
  assert.equal(isLoopbackHost('127.0.0.1'), true);
  assert.equal(isLoopbackHost('127.3.4.5'), true);
  assert.equal(isLoopbackHost('::1'), true);
  assert.equal(isLoopbackHost('[::1]'), true);
  assert.equal(isLoopbackHost('localhost'), true);
  for (const h of ['0.0.0.0', '::', '192.168.1.10', 'robot.local', '::ffff:10.0.0.1']) {
    assert.equal(isLoopbackHost(h), false, h);
    assert.match(exposureWarning(h) ?? '', /WARNING: the API listens on .* not on loopback/);
  }
  assert.match(exposureWarning('0.0.0.0') ?? '', /every network interface/);

  const open = await rig({ listen: true, overrides: { host: '0.0.0.0' } });
  defer(() => open.close());
  assert.ok(
    open.app.notes.some((n) => /WARNING: the API listens on 0\.0\.0\.0/.test(n)),
    open.app.notes.join('\n'),
  );
  const s = await call(url(open), 'GET', '/status', undefined, {});
  assert.equal(s.json.extra.api.loopbackOnly, false);
  assert.match(s.json.extra.api.warnings[0], /not on loopback/);

  const local = await rig({ listen: true });
  defer(() => local.close());
  const ls = await call(url(local), 'GET', '/status', undefined, {});
  assert.deepEqual(ls.json.extra.api, { host: '127.0.0.1', loopbackOnly: true, warnings: [], estopUrl: null }); // in process: no e-stop listener
  assert.ok(!local.app.notes.some((n) => n.startsWith('WARNING')));
});
