/**
 * Operator labels over REST (issue 13) on a real fastify server (port 0), a daemon on the mock robot and a real SQLite
 * log: bad ids and bodies get a 4xx naming the problem, a label is stored, shown in the episode's view, answers the
 * daemon's label request (GET /label-requests, /status, the event stream) and is logged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RewardScorer } from '../../src/daemon/interfaces.ts';
import { logged, mockRig, tickUntil } from '../daemon/helpers.ts';
import { AUTH as auth, call } from './helpers.ts';
import { teardown } from '../teardown.ts';

const unsure: RewardScorer = {
  version: 'unsure',
  input: { image: null, proprio: { layout: ['dx', 'dy', 'dz'], mean: [0, 0, 0], std: [1, 1, 1] } },
  probability: () => Promise.resolve(0.52),
};

test('POST /episodes/:id/label: validated, stored, shown, answers the label request, logged; GET /label-requests', async (t) => {
  const defer = teardown(t);
  const r = await mockRig({
    reward: unsure,
    listen: true,
    overrides: { episodeSteps: 12 },
    config: (c) => {
      c.labels.budget = 1;
    },
  });
  defer(() => r.close());
  const d = r.app.daemon;
  // The event stream carries the request.
  const ac = new AbortController();
  defer(() => ac.abort());
  const timer = setTimeout(() => ac.abort(), 20_000);
  defer(() => clearTimeout(timer));
  const res = await fetch(`${r.app.url}/events`, { signal: ac.signal });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const dec = new TextDecoder();
  let buf = '';
  const until = async (re: RegExp): Promise<RegExpExecArray> => {
    for (;;) {
      const m = re.exec(buf);
      if (m) return m;
      const { value, done } = await reader.read();
      if (done) throw new Error(`event stream ended without ${String(re)}`);
      buf += dec.decode(value, { stream: true });
    }
  };
  await until(/event: status\n/); // subscribed before anything happens
  const sse = until(/event: label_request\ndata: (.*)\n/).then((m) => JSON.parse(m[1]!) as { episodeId: number; reasons: string[] });
  assert.ok(d.startPractice({ count: 2, scenario: 'I', explorationNoise: 0 }).ok);
  await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null, 100);
  await logged(r);
  const [e1, e2] = r.app.log.store.listEpisodes({ order: 'asc' }).map((e) => e.id) as [number, number];
  const streamed = await sse;
  assert.equal(streamed?.episodeId, e1);
  assert.deepEqual(streamed?.reasons, ['uncertain']);

  // Bad requests: 4xx, naming the problem; nothing stored.
  const bad: Array<[string, unknown, number, RegExp]> = [
    [`/episodes/${e1}/label`, {}, 400, /must have required property 'success'/],
    [`/episodes/${e1}/label`, { success: 'true' }, 400, /body\/success must be boolean/],
    [`/episodes/${e1}/label`, { success: 1 }, 400, /body\/success must be boolean/],
    [`/episodes/${e1}/label`, { success: true, reward: 1 }, 400, /must NOT have additional properties/],
    [`/episodes/${e1}/label`, { success: true, note: 'x'.repeat(501) }, 400, /body\/note must NOT have more than 500 characters/],
    [`/episodes/${e1}/label`, 'not json', 400, /JSON|json/],
    [`/episodes/0/label`, { success: true }, 400, /params\/id must be >= 1/],
    [`/episodes/abc/label`, { success: true }, 400, /params\/id must be integer/],
    [`/episodes/999/label`, { success: true }, 404, /no episode 999/],
  ];
  for (const [path, body, status, msg] of bad) {
    const res = await call(r, 'POST', path, body);
    assert.equal(res.status, status, `${path} ${JSON.stringify(body)}: ${JSON.stringify(res.json)}`);
    assert.match(res.json.message as string, msg);
  }
  assert.equal((await call(r, 'POST', `/episodes/${e1}/label`, { success: true }, { 'content-type': 'application/json' })).status, 401, 'token required');
  assert.equal((await call(r, 'POST', `/episodes/${e1}/label`, { success: true }, { ...auth, authorization: 'Bearer wrong-token-000' })).status, 403);
  assert.equal(r.app.log.store.episodeLabel(e1), null, 'nothing stored by a refused request');

  // Both episodes asked; the list shows them open.
  let list = await call(r, 'GET', '/label-requests?open=true');
  assert.deepEqual(
    list.json.map((q: { episodeId: number }) => q.episodeId),
    [e2, e1],
  );
  assert.equal(d.status().labels.open.length, 2);

  const ok = await call(r, 'POST', `/episodes/${e1}/label`, { success: false, note: 'plug resting on the socket face' });
  assert.equal(ok.status, 201);
  assert.deepEqual([ok.json.label.episodeId, ok.json.label.success, ok.json.label.by, ok.json.answeredRequest], [e1, false, 'api', true]);
  const view = await call(r, 'GET', `/episodes/${e1}`);
  assert.deepEqual([view.json.label.success, view.json.label.note], [false, 'plug resting on the socket face']);
  assert.equal((await call(r, 'GET', `/episodes/${e2}`)).json.label, null);
  list = await call(r, 'GET', '/label-requests?open=true');
  assert.deepEqual(
    list.json.map((q: { episodeId: number }) => q.episodeId),
    [e2],
    'answered requests leave the open list',
  );
  const all = await call(r, 'GET', '/label-requests');
  assert.equal(all.json.find((q: { episodeId: number }) => q.episodeId === e1).label.success, false);
  assert.deepEqual(
    d.status().labels.open.map((q) => q.episodeId),
    [e2],
  );
  // A corrected label replaces it.
  assert.equal((await call(r, 'POST', `/episodes/${e1}/label`, { success: true })).status, 201);
  assert.equal(r.app.log.store.episodeLabel(e1)?.success, true);
  await logged(r);
  const ev = r.app.log.store.listEvents({ kind: 'label', order: 'asc' });
  assert.equal(ev.length, 2);
  assert.match(ev[0]!.message, /labelled failure by api \(answers the request: uncertain\): plug resting/);
  assert.equal(ev[0]!.episodeId, e1);
  assert.equal((await call(r, 'GET', '/label-requests?open=maybe')).status, 400);
});

test('POST /episodes/:id/label refuses an episode that is still running', async (t) => {
  const r = await mockRig({ listen: true, overrides: { episodeSteps: 50 } });
  t.after(() => r.close());
  const d = r.app.daemon;
  assert.ok(d.startPractice({ count: 1, scenario: 'I', explorationNoise: 0 }).ok);
  await tickUntil(r.app, () => d.currentState === 'running', 50);
  await d.tick();
  const id = d.status().episode?.id as number;
  const res = await call(r, 'POST', `/episodes/${id}/label`, { success: true });
  assert.equal(res.status, 409);
  assert.match(res.json.message as string, /has not ended yet/);
  d.stopPractice();
  await tickUntil(r.app, () => d.currentState === 'idle', 50);
});
