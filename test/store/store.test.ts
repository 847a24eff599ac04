import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { APPLICATION_ID, SCHEMA_VERSION, Store } from '../../src/store/index.ts';
import { assertSameTransition } from './fixtures/assert.ts';
import { makeTransition, openEpisodeLog } from './fixtures/data.ts';

function tmp(): { dir: string; file: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'store-test-'));
  return { dir, file: join(dir, 'log.db'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('a new file gets our application_id, the current schema, WAL; reopening migrates nothing', () => {
  const t = tmp();
  try {
    const s = Store.open(t.file);
    s.close();
    const raw = new Database(t.file, { readonly: true });
    assert.equal(raw.pragma('application_id', { simple: true }), APPLICATION_ID);
    assert.equal(raw.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    raw.close();
    // An empty (0-byte) file is a new database too.
    const empty = join(t.dir, 'empty.db');
    writeFileSync(empty, '');
    const s2 = Store.open(empty);
    assert.deepEqual(s2.counts(), { sessions: 0, episodes: 0, transitions: 0, models: 0, events: 0, features: 0 });
    s2.close();
    const s3 = Store.open(t.file);
    assert.equal(s3.quickCheck(), 'ok');
    s3.close();
  } finally {
    t.done();
  }
});

test('the digest leaves out wall-clock times, so a repeated collection matches, and hashes the depth image', () => {
  const t = tmp();
  try {
    const depth = (z: number) => ({ width: 2, height: 2, data: new Float32Array([z, 0.05, 0.06, 0]) });
    // One log as a collection writes it, with a depth frame on the first row.
    const log = (name: string, z: number) => {
      const l = openEpisodeLog(join(t.dir, name));
      const first = makeTransition(l.eid, 0);
      l.store.appendTransitions([{ ...first, obs: { ...first.obs, depth: depth(z) } }, makeTransition(l.eid, 1)]);
      return l;
    };
    const a = log('a.db', 0.0523);
    const b = log('b.db', 0.0523);
    // The second run of the collection: same rows, written later.
    const raw = new Database(b.file);
    raw.prepare('UPDATE transitions SET wall_time = wall_time + 3600000').run();
    raw.close();
    const da = a.store.datasetDigest();
    assert.equal(da.transitions, 2);
    assert.deepEqual(b.store.datasetDigest(), da);
    // A depth frame 0.1 mm deeper is other data; so is the same log without its depth.
    const c = log('c.db', 0.0524);
    assert.notEqual(c.store.datasetDigest().sha256, da.sha256);
    const raw2 = new Database(a.file);
    raw2.prepare('UPDATE transitions SET depth = NULL, depth_width = NULL, depth_height = NULL, depth_codec = NULL').run();
    raw2.close();
    assert.notEqual(a.store.datasetDigest().sha256, da.sha256);
    for (const l of [a, b, c]) l.store.close();
  } finally {
    t.done();
  }
});

test('sessions, episodes and transitions round-trip every field, images byte-equal', () => {
  const t = tmp();
  try {
    const s = Store.open(t.file);
    const config = { tickHz: 10, kp: [1, 1, 0.3], nested: { a: null, b: 'x' } };
    const calibration = { crop: [0, 0, 64, 64], bias: [0.1, -0.2, 0.3, 0, 0, 0] };
    const sid = s.openSession({ robot: 'sawyer-sim', backend: 'mujoco', config, calibration, note: 'n1', startedAt: 111 });
    const eid = s.beginEpisode({
      sessionId: sid,
      kind: 'practice',
      domain: 'usb-a',
      scenario: 'II',
      seed: 42,
      startState: { xy: [0.01, -0.015] },
      policyVersion: 'policy-7',
      startedAt: 222,
    });
    const ins = Array.from({ length: 20 }, (_, k) => makeTransition(eid, k));
    const ids = [...s.appendTransitions(ins.slice(0, 10)), ...ins.slice(10).map((x) => s.appendTransition(x))];
    assert.equal(new Set(ids).size, 20);
    s.endEpisode(eid, { outcome: 'tripped', reason: 'force limit 30 N', learnedSuccessProb: 0.125, gtSuccess: false, endedAt: 333 });
    s.closeSession(sid, 444);

    const sess = s.getSession(sid)!;
    assert.deepEqual(sess, { id: sid, robot: 'sawyer-sim', backend: 'mujoco', config, calibration, note: 'n1', startedAt: 111, endedAt: 444, episodeCount: 1 });
    const ep = s.getEpisode(eid, { transitions: true })!;
    assert.equal(ep.transitions!.length, 20);
    const { transitions, ...epOnly } = ep;
    assert.deepEqual(epOnly, {
      id: eid,
      sessionId: sid,
      kind: 'practice',
      domain: 'usb-a',
      scenario: 'II',
      seed: 42,
      startState: { xy: [0.01, -0.015] },
      policyVersion: 'policy-7',
      outcome: 'tripped',
      reason: 'force limit 30 N',
      learnedSuccessProb: 0.125,
      gtSuccess: false,
      startedAt: 222,
      endedAt: 333,
      transitionCount: 20,
    });
    transitions!.forEach((got, k) => assertSameTransition(got, ins[k]!));
    // Without images: the rest is still there, pixels are not decoded.
    const noImg = s.getEpisode(eid, { transitions: true, images: false })!.transitions!;
    assert.equal(noImg[3]!.image, null);
    assert.equal(noImg[3]!.imageWidth, 64);
    assertSameTransition(s.getTransition(ids[5]!)!, ins[5]!);
    assert.deepEqual(
      s.getTransitions([ids[7]!, ids[2]!, 999999]).map((x) => x.step),
      [7, 2],
    );

    // Rewards scored later, by step.
    assert.equal(
      s.setRewards(eid, [
        { step: 0, rewardProb: 0.9, gtSuccess: true, done: true },
        { step: 1, rewardProb: null },
      ]),
      2,
    );
    const [t0, t1] = s.getTransitions([ids[0]!, ids[1]!], { images: false });
    assert.deepEqual([t0!.rewardProb, t0!.gtSuccess, t0!.done], [0.9, true, true]);
    assert.deepEqual([t1!.rewardProb, t1!.gtSuccess, t1!.done], [null, ins[1]!.gtSuccess, false]);

    assert.throws(() => s.endEpisode(eid, { outcome: 'success' }), /already ended/);
    assert.throws(() => s.beginEpisode({ sessionId: 12345, kind: 'eval', domain: 'x' }), /12345: no such session/);
    assert.throws(() => s.beginEpisode({ sessionId: sid, kind: 'bogus' as 'eval', domain: 'x' }), /episode\.kind/);
    assert.throws(
      () => s.appendTransition({ ...makeTransition(eid, 50), obs: { ...makeTransition(eid, 50).obs, wrench: [1, 2, 3] as never } }),
      /transitions\[0\]\.obs\.wrench: expected 6 numbers/,
    );
    assert.throws(() => s.appendTransition(makeTransition(eid, 3)), /UNIQUE/);
    s.close();
  } finally {
    t.done();
  }
});

test('listing, filtering, iteration, features, digest', () => {
  const t = tmp();
  try {
    const s = Store.open(t.file);
    const sid = s.openSession({ robot: 'r', backend: 'sim', config: {}, calibration: {} });
    const layout: [string, 'practice' | 'eval' | 'prior'][] = [
      ['usb', 'prior'],
      ['round', 'prior'],
      ['usb', 'practice'],
      ['dsub', 'eval'],
      ['usb', 'prior'],
    ];
    const eps = layout.map(([domain, kind], i) => {
      const e = s.beginEpisode({ sessionId: sid, kind, domain, scenario: 'I', seed: i });
      s.appendTransitions(Array.from({ length: 5 }, (_, k) => makeTransition(e, k)));
      if (i !== 4) s.endEpisode(e, { outcome: i % 2 ? 'success' : 'failure' });
      return e;
    });
    assert.deepEqual(
      s.listEpisodes({ order: 'asc' }).map((e) => e.id),
      eps,
    );
    assert.deepEqual(
      s.listEpisodes({ domain: 'usb' }).map((e) => e.id),
      [eps[4], eps[2], eps[0]],
    );
    assert.deepEqual(
      s.listEpisodes({ kind: 'prior', limit: 2, order: 'asc' }).map((e) => e.id),
      [eps[0], eps[1]],
    );
    assert.equal(s.listSessions()[0]!.episodeCount, 5);

    const priorUsb = [...s.iterateTransitions({ domain: 'usb', kind: 'prior' }, { chunk: 3 })];
    assert.deepEqual(
      priorUsb.map((x) => `${x.episodeId}:${x.step}`),
      [eps[0], eps[4]].flatMap((e) => [0, 1, 2, 3, 4].map((k) => `${e}:${k}`)),
    );
    priorUsb.forEach((x) => assertSameTransition(x, makeTransition(x.episodeId, x.step)));
    const byEpisode = [...s.iterateEpisodes({ domain: 'usb', endedOnly: true }, { images: false })];
    assert.deepEqual(
      byEpisode.map((e) => [e.id, e.transitions.map((x) => x.step)]),
      [eps[0], eps[2]].map((e) => [e, [0, 1, 2, 3, 4]]),
    );
    assert.equal(byEpisode[0]!.transitions[0]!.image, null);
    assert.equal(s.countTransitions({ domain: ['usb', 'round'], kind: 'prior' }), 15);
    assert.equal(s.countTransitions({ kind: ['practice', 'eval'] }), 10);
    assert.equal(s.countTransitions({ domain: 'usb', endedOnly: true }), 10);
    const all = s.transitionIds();
    assert.equal(all.length, 25);
    assert.deepEqual(s.transitionIds({ afterId: all[20]! }), all.slice(21));
    assert.throws(() => s.countTransitions({ kind: 'nope' as 'eval' }), /filter\.kind/);

    // Features: cache, fetch, and what is still missing.
    const v = new Float32Array([0.5, -1.25, 3e-8, 7]);
    s.putFeatures('enc-1', [
      { transitionId: all[0]!, vector: v },
      { transitionId: all[1]!, vector: v.map((x) => x * 2) },
    ]);
    const got = s.getFeatures('enc-1', [all[0]!, all[1]!, all[2]!]);
    assert.deepEqual([...got.keys()].sort(), [all[0], all[1]]);
    assert.deepEqual([...got.get(all[1]!)!], [1, -2.5, 6e-8, 14].map(Math.fround));
    assert.deepEqual(s.transitionsMissingFeatures('enc-1', {}, 3), all.slice(2, 5));
    assert.equal(s.transitionsMissingFeatures('enc-2').length, 25);

    // The digest identifies the selected data: stable, insensitive to other domains, sensitive to any change.
    const d1 = s.datasetDigest({ domain: 'usb', kind: 'prior' });
    assert.equal(d1.episodes, 2);
    assert.equal(d1.transitions, 10);
    assert.deepEqual(s.datasetDigest({ domain: 'usb', kind: 'prior' }), d1);
    s.appendTransition(makeTransition(eps[1]!, 9));
    assert.deepEqual(s.datasetDigest({ domain: 'usb', kind: 'prior' }), d1);
    s.setRewards(eps[0]!, [{ step: 2, rewardProb: 0.5 }]);
    const d2 = s.datasetDigest({ domain: 'usb', kind: 'prior' });
    assert.notEqual(d2.sha256, d1.sha256);
    assert.match(d2.sha256, /^[0-9a-f]{64}$/);

    // Dangling episodes (a killed daemon) are closed explicitly at start-up.
    assert.deepEqual(s.closeDangling('killed', 999), { sessions: 1, episodes: 1 });
    assert.equal(s.getEpisode(eps[4]!)!.outcome, 'error');
    assert.equal(s.getEpisode(eps[4]!)!.reason, 'killed');
    s.close();
  } finally {
    t.done();
  }
});

test('models, activation history, rollback; events', () => {
  const t = tmp();
  try {
    const s = Store.open(t.file);
    const sha = (c: string) => c.repeat(64);
    const card = { inputs: [{ name: 'obs', shape: [1, 3, 64, 64] }], metrics: { acc: 0.91 } };
    const p1 = s.registerModel({ kind: 'policy', version: 'p1', path: 'models/p1.onnx', card, sha256: sha('a'), createdAt: 10 });
    const p2 = s.registerModel({ kind: 'policy', version: 'p2', path: 'models/p2.onnx', card: {}, sha256: sha('b') });
    const r1 = s.registerModel({ kind: 'reward', version: 'r1', path: 'models/r1.onnx', card: {}, sha256: sha('c'), validation: { ok: true } });
    assert.throws(() => s.registerModel({ kind: 'policy', version: 'p1', path: 'x', card: {}, sha256: sha('d') }), /policy version 'p1' is already registered/);
    assert.throws(() => s.registerModel({ kind: 'policy', version: 'p9', path: 'x', card: {}, sha256: 'xyz' }), /model\.sha256/);
    assert.equal(s.activeModel('policy'), null);
    s.activateModel(p1, { by: 'startup', reason: 'shipped' });
    s.activateModel(r1, { by: 'startup' });
    s.setModelValidation(p2, { finite: true, maxDiff: 0.002 });
    s.activateModel(p2, { by: 'trainer', reason: 'validated' });
    assert.equal(s.activeModel('policy')!.version, 'p2');
    assert.deepEqual(s.activeModel('policy')!.validation, { finite: true, maxDiff: 0.002 });
    s.activateModel(p1, { by: 'rest', action: 'rollback', reason: 'operator' });
    assert.equal(s.activeModel('policy')!.id, p1);
    assert.deepEqual(s.getModel(p1), {
      id: p1,
      kind: 'policy',
      version: 'p1',
      path: 'models/p1.onnx',
      card,
      sha256: sha('a'),
      validation: null,
      createdAt: 10,
    });
    assert.equal(s.activeModel('reward')!.id, r1);
    const hist = s.listActivations('policy');
    assert.deepEqual(
      hist.map((h) => [h.version, h.action, h.by]),
      [
        ['p1', 'rollback', 'rest'],
        ['p2', 'activate', 'trainer'],
        ['p1', 'activate', 'startup'],
      ],
    );
    s.deactivateModel('policy', { by: 'rest', reason: 'P only' });
    assert.equal(s.activeModel('policy'), null);
    assert.deepEqual(
      s.listModels('policy').map((m) => m.version),
      ['p2', 'p1'],
    );
    assert.equal(s.findModel('reward', 'r1')!.id, r1);
    assert.throws(() => s.activateModel(4242, { by: 'x' }), /no model 4242/);

    const sid = s.openSession({ robot: 'r', backend: 'sim', config: null, calibration: null });
    const eid = s.beginEpisode({ sessionId: sid, kind: 'practice', domain: 'usb' });
    const e1 = s.recordEvent({ kind: 'estop', message: 'REST e-stop', sessionId: sid, episodeId: eid, time: 5 });
    s.recordEvent({ kind: 'swap_rejected', message: 'non-finite output', data: { version: 'p3', probe: [1, null] } });
    const evs = s.listEvents({ order: 'asc' });
    assert.deepEqual(evs[0], { id: e1, time: 5, kind: 'estop', message: 'REST e-stop', data: null, sessionId: sid, episodeId: eid });
    assert.deepEqual(evs[1]!.data, { version: 'p3', probe: [1, null] });
    assert.deepEqual(s.listEvents({ kind: 'swap_rejected' }).length, 1);
    assert.deepEqual(
      s.listEvents({ afterId: e1 }).map((e) => e.kind),
      ['swap_rejected'],
    );
    s.close();
  } finally {
    t.done();
  }
});

test('a read-only store sees what the writer committed, and cannot write', () => {
  const t = tmp();
  try {
    const w = Store.open(t.file);
    const sid = w.openSession({ robot: 'r', backend: 'sim', config: {}, calibration: {} });
    const eid = w.beginEpisode({ sessionId: sid, kind: 'practice', domain: 'usb' });
    const r = Store.openReadOnly(t.file);
    assert.equal(r.countTransitions(), 0);
    w.appendTransitions([makeTransition(eid, 0), makeTransition(eid, 1)]);
    assert.equal(r.countTransitions(), 2);
    assertSameTransition(r.getEpisode(eid, { transitions: true })!.transitions![1]!, makeTransition(eid, 1));
    assert.throws(() => r.recordEvent({ kind: 'x', message: 'y' }), /readonly/i);
    r.close();
    w.close();
  } finally {
    t.done();
  }
});
