/** The REST API on a real fastify server (port 0) in front of a real daemon on the simulator and a real SQLite log. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { buildApi } from '../../src/api/server.ts';
import { loadPolicyFile, policyFromModel, versionOf } from '../../src/daemon/models.ts';
import { cardPathFor, readCard, sha256Hex } from '../../src/policy/card.ts';
import { PolicyModel } from '../../src/policy/onnx-model.ts';
import type { Store } from '../../src/store/index.ts';
import { DEFAULT_SWAP_VALIDATION } from '../../src/swap/validate.ts';
import { saveModelLike } from '../policy/fixtures.ts';
import { rig, tempDir, tickUntil, TOKEN, type Rig } from '../daemon/helpers.ts';
import { AUTH as auth, call, readSse } from './helpers.ts';

await tf.setBackend('cpu');
const tmp = tempDir('api-models-');
process.on('exit', tmp.cleanup);

function register(store: Store, path: string): number {
  const card = readCard(cardPathFor(path));
  return store.registerModel({ kind: 'policy', version: versionOf(card), path, card, sha256: sha256Hex(readFileSync(path)) });
}

// Small random-weight ONNX policies whose outputs are tanh * bound per axis (their cards allow +-bound).
const savePolicy = (version: number, seed: number, bound: number): string => saveModelLike(join(tmp.dir, `policy-v${version}.onnx`), { version, seed, bound });
const good1 = savePolicy(1, 1, 0.002);
const good2 = savePolicy(2, 2, 0.002);
// Its card allows +-5 cm, so it loads; the daemon's residual bound (calibration) is 5 mm.
const wild = savePolicy(3, 3, 0.05);

/** One practice episode with the daemon's ticks driven by hand, so the log holds probe observations. */
async function practiceOnce(r: Rig): Promise<void> {
  const d = r.app.daemon;
  assert.ok(d.startPractice({ count: 1, scenario: 'I', explorationNoise: 0 }).ok);
  await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null, 400);
  await r.app.log.flush();
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
    [{ count: 1, noiseCorrelation: 1.5 }, /noiseCorrelation/],
    [{ count: 1, noiseCorrelation: -0.1 }, /noiseCorrelation/],
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
  for (const p of [
    '/status',
    '/practice/start',
    '/practice/stop',
    '/estop',
    '/estop/reset',
    '/sessions',
    '/episodes',
    '/episodes/{id}',
    '/transitions/{id}/image.png',
    '/models',
    '/models/{id}/activate',
    '/models/rollback',
    '/events',
  ]) {
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

test('closing the daemon ends open event streams instead of waiting for clients', { timeout: 20_000 }, async (t) => {
  const r = await rig({ listen: true });
  t.after(() => r.close()); // (the same close: a no-op once the test has closed it)
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

test('policy activation and rollback over REST run the hot-swap probe validation; a failing version is refused with 422', async (t) => {
  const r = await rig({ listen: true, overrides: { episodeSteps: 4 } });
  t.after(() => r.close());
  const d = r.app.daemon;
  const store = r.app.log.store;
  const id1 = register(store, good1);
  const id2 = register(store, good2);
  const idWild = register(store, wild);
  const settle = () => new Promise((res) => setImmediate(res));

  // Empty log: nothing to probe with; activation still works and says so.
  const first = await call(r, 'POST', `/models/${id1}/activate`, {});
  assert.equal(first.status, 202, JSON.stringify(first.json));
  assert.equal(first.json.validation.probes, 0);
  assert.match(first.json.validation.reason, /0 probes/);
  await settle();
  assert.equal(d.policyVersion, 'test-policy@1');

  await practiceOnce(r);
  const withImage = store.getTransitions(store.transitionIds({}), { images: true }).filter((x) => x.image !== null).length;
  assert.ok(withImage > 0, 'the episode logged observations');
  const expectedProbes = Math.min(withImage, r.app.swapValidation.probeCount);
  assert.equal(r.app.swapValidation.residualBoundM, r.calibration.limits.residualBoundM);

  // Outputs beyond the residual bound: refused, recorded, and v1 keeps driving.
  const bad = await call(r, 'POST', `/models/${idWild}/activate`, { at: 'between-ticks' });
  assert.equal(bad.status, 422, JSON.stringify(bad.json));
  assert.match(bad.json.message, /test-policy@3 refused by validation: probe \d+: residual .* beyond the bound 0\.005 m/);
  assert.equal(bad.json.validation.ok, false);
  assert.ok(bad.json.validation.maxAbsActionM > r.calibration.limits.residualBoundM);
  await settle();
  assert.equal(d.policyVersion, 'test-policy@1');
  assert.equal(d.status().policy.pendingSwap, null);
  assert.equal(store.activeModel('policy')?.version, 'test-policy@1');
  const rejected = store.listEvents({ kind: 'swap_rejected' });
  assert.equal(rejected.length, 1);
  assert.match(rejected[0]?.message ?? '', /test-policy@3 rejected: .*beyond the bound/);
  assert.equal((store.getModel(idWild)?.validation as { ok: boolean }).ok, false, 'the verdict is stored on the model');
  // A rollback to it is refused the same way.
  const badRollback = await call(r, 'POST', '/models/rollback', { kind: 'policy', toId: idWild });
  assert.equal(badRollback.status, 422);
  assert.equal(d.policyVersion, 'test-policy@1');
  assert.equal(store.listEvents({ kind: 'swap_rejected' }).length, 2);

  // A good version: accepted with its validation against the policy driving now.
  const ok = await call(r, 'POST', `/models/${id2}/activate`, {});
  assert.equal(ok.status, 202, JSON.stringify(ok.json));
  const v = ok.json.validation;
  assert.equal(v.ok, true);
  assert.equal(v.probes, expectedProbes);
  assert.ok(v.meanDiffM > 0 && v.maxDiffM >= v.meanDiffM, `compared with v1: ${JSON.stringify(v)}`);
  assert.equal(typeof v.flagged, 'boolean');
  assert.match(v.reason, new RegExp(`^${expectedProbes} probes finite and within \\+-5 mm; mean`));
  assert.deepEqual(store.getModel(id2)?.validation, v);
  assert.equal(store.listEvents({ kind: 'swap_flagged' }).length, v.flagged ? 1 : 0);
  await settle();
  assert.equal(d.policyVersion, 'test-policy@2');

  // Rollback (to the version active before) is validated too.
  const rb = await call(r, 'POST', '/models/rollback', { kind: 'policy' });
  assert.equal(rb.status, 202, JSON.stringify(rb.json));
  assert.equal(rb.json.activated, 'test-policy@1');
  assert.equal(rb.json.validation.probes, expectedProbes);
  assert.ok(rb.json.validation.meanDiffM > 0);
  await settle();
  assert.equal(d.policyVersion, 'test-policy@1');
  assert.equal(store.listActivations('policy', 1)[0]?.action, 'rollback');
});

test('REST activation: a flagged policy follows onFlag; the residual bound comes from the calibration', async (t) => {
  const r = await rig({
    listen: true,
    policy: policyFromModel(await PolicyModel.load(good1)),
    overrides: { episodeSteps: 4 },
    calibration: (c) => {
      c.limits.residualBoundM = 0.0001;
    },
  });
  t.after(() => r.close());
  const d = r.app.daemon;
  const store = r.app.log.store;
  register(store, good1);
  const id2 = register(store, good2);
  await practiceOnce(r);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are asserted field by field
  const withApi = async (onFlag: 'accept' | 'reject', body: unknown): Promise<{ status: number; json: any }> => {
    // Any difference flags; the bound is loose so that only the flag decides.
    const api = await buildApi({
      daemon: d,
      store,
      token: TOKEN,
      loadPolicy: loadPolicyFile,
      swapValidation: { ...DEFAULT_SWAP_VALIDATION, residualBoundM: 0.005, maxDiffM: 1e-9, maxMeanDiffM: 1e-9, onFlag },
    });
    try {
      const url = await api.listen({ host: '127.0.0.1', port: 0 });
      const res = await fetch(`${url}/models/${id2}/activate`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
      return { status: res.status, json: await res.json() };
    } finally {
      await api.close();
    }
  };
  // The app's own API: 0.1 mm from the calibration, which a +-2 mm policy exceeds.
  const tight = await call(r, 'POST', `/models/${id2}/activate`, {});
  assert.equal(tight.status, 422, JSON.stringify(tight.json));
  assert.match(tight.json.message, /beyond the bound 0\.0001 m/);
  assert.equal(d.policyVersion, 'test-policy@1');

  const refused = await withApi('reject', {});
  assert.equal(refused.status, 422, JSON.stringify(refused.json));
  assert.match(refused.json.message, /differs from the current policy beyond the limit/);
  assert.equal(refused.json.validation.flagged, true);
  assert.equal(d.policyVersion, 'test-policy@1');
  assert.equal(store.listEvents({ kind: 'swap_rejected' }).length, 2);
  assert.equal(store.listEvents({ kind: 'swap_flagged' }).length, 0);

  const accepted = await withApi('accept', { at: 'between-ticks' });
  assert.equal(accepted.status, 202, JSON.stringify(accepted.json));
  assert.equal(accepted.json.validation.flagged, true);
  assert.match(accepted.json.validation.reason, /FLAGGED/);
  await new Promise((res) => setImmediate(res));
  assert.equal(d.policyVersion, 'test-policy@2');
  const flagged = store.listEvents({ kind: 'swap_flagged' });
  assert.equal(flagged.length, 1);
  assert.match(flagged[0]?.message ?? '', /test-policy@2 flagged/);
});
