// Loaders from a real SQLite log (prior data collected in the real MuJoCo cell, plus a daemon-style episode) into
// the learners' typed arrays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectPrior } from '../../src/data/collect.ts';
import { DEFAULT_PRIOR_SETTINGS } from '../../src/data/episode.ts';
import { DatasetError, TransitionSampler, loadLabelledImages, loadTransitions } from '../../src/data/dataset.ts';
import { DEFAULT_PROPRIO_SPEC, ProprioBuilder, resizeRgb } from '../../src/policy/inputs.ts';
import { Store } from '../../src/store/index.ts';
import type { EpisodeRecord, TransitionRecord } from '../../src/store/types.ts';
import type { Observation } from '../../src/core/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'dataset-test-'));
const db = join(dir, 'prior.db');
const DOMAINS = ['square16', 'round12'];
const L = 12;
let ro: Store | null = null;
const store = (): Store => (ro ??= Store.openReadOnly(db));
test.after(() => {
  ro?.close();
  rmSync(dir, { recursive: true, force: true });
});

type Ep = EpisodeRecord & { transitions: TransitionRecord[] };
let eps: Ep[] = [];
let practiceId = 0;

test.before(async () => {
  await collectPrior({
    db, connectors: DOMAINS, controllers: ['expert'], scenarios: ['I', 'II'], episodesPerConnector: 3, seed: 3, workers: 0,
    settings: { ...DEFAULT_PRIOR_SETTINGS, imageSize: 32, episodeLength: L },
  });
  // A daemon-style episode on the first domain: no final row, learned reward probabilities, no ground truth.
  const s = Store.open(db);
  const sid = s.openSession({ robot: 'sim', backend: 'sim', config: {}, calibration: {} });
  practiceId = s.beginEpisode({ sessionId: sid, kind: 'practice', domain: DOMAINS[0]!, seed: 1 });
  const img = { width: 32, height: 32, data: new Uint8Array(32 * 32 * 3).fill(7) };
  const o = (z: number): Observation => ({ image: img, wrench: [0, 0, z, 0, 0, 0], eePos: [0.5, 0, z], eeQuat: [1, 0, 0, 0], goal: [0.5, 0, 0], imageStamp: 0, wrenchStamp: 0 });
  s.appendTransitions([0, 1, 2].map((k) => ({
    episodeId: practiceId, step: k, obs: o(0.03 - 0.01 * k), actionP: [0, 0, -0.003], actionResidual: [0.001 * k, 0, 0], actionExecuted: [0.001 * k, 0, -0.003],
    rewardProb: [0.1, 0.4, 0.9][k]!, gtSuccess: null, done: k === 2,
  })));
  s.endEpisode(practiceId, { outcome: 'success', learnedSuccessProb: 0.9 });
  s.close();
  const r = Store.openReadOnly(db);
  eps = [...r.iterateEpisodes({ kind: 'prior' }, { images: true })];
  r.close();
});

test('resizeRgb: area average when shrinking (exact for integer factors), nearest when enlarging, copy at equal size', () => {
  const src = new Uint8Array(4 * 4 * 3);
  for (let i = 0; i < src.length; i++) src[i] = (i * 37) % 251;
  const out = new Uint8Array(2 * 2 * 3);
  resizeRgb(src, 4, 4, out, 2, 2);
  for (let y = 0; y < 2; y++) for (let x = 0; x < 2; x++) for (let c = 0; c < 3; c++) {
    const at = (yy: number, xx: number): number => src[(yy * 4 + xx) * 3 + c]!;
    const avg = (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4;
    assert.equal(out[(y * 2 + x) * 3 + c], Math.round(avg));
  }
  const big = new Uint8Array(8 * 8 * 3);
  resizeRgb(src, 4, 4, big, 8, 8);
  assert.equal(big[(5 * 8 + 3) * 3 + 1], src[(2 * 4 + 1) * 3 + 1]);
  const same = new Uint8Array(src.length);
  resizeRgb(src, 4, 4, same, 4, 4);
  assert.deepEqual(same, src);
});

test('labelled images: shapes, stable domain ids, each image labelled by ground truth of that very observation', () => {
  const ds = loadLabelledImages(store(), { domains: DOMAINS, imageSize: 32 });
  assert.deepEqual(ds.shape, [32, 32, 3]);
  assert.equal(ds.images.length, ds.count * 32 * 32 * 3);
  assert.deepEqual(ds.domainNames, DOMAINS);
  // Every prior observation (L+1 per episode, the start's label from startState) and nothing from the practice episode.
  assert.equal(ds.count, eps.length * (L + 1));
  const byId = new Map<number, { t: TransitionRecord; ep: Ep; k: number }>();
  for (const ep of eps) ep.transitions.forEach((t, k) => byId.set(t.id, { t, ep, k }));
  for (let i = 0; i < ds.count; i++) {
    const { t, ep, k } = byId.get(ds.transitionId[i]!)!;
    assert.equal(ds.domainNames[ds.domain[i]!], ep.domain);
    // The label of observation k is the next-observation label of row k-1 (and the final row's own label).
    const expect = k === 0 ? (ep.startState as { gtSuccess: boolean }).gtSuccess : ep.transitions[k - 1]!.gtSuccess;
    assert.equal(ds.success[i], expect ? 1 : 0, `episode ${ep.id} step ${k}`);
    assert.deepEqual(ds.images.subarray(i * 3072, (i + 1) * 3072), t.image!.data);
  }
  // Final observations carry the episode's outcome.
  const finals = eps.map((ep) => ds.success[[...ds.transitionId].indexOf(ep.transitions[L]!.id)]);
  assert.deepEqual(finals, eps.map((ep) => (ep.gtSuccess ? 1 : 0)));
  assert.ok(ds.success.includes(1) && ds.success.includes(0));
});

test('labelled images: balance per domain, cap per domain, resize to the model size, and errors', () => {
  const b = loadLabelledImages(store(), { domains: DOMAINS, imageSize: 16, balance: true, seed: 1 });
  assert.deepEqual(b.shape, [16, 16, 3]);
  for (const d of b.perDomain) {
    assert.equal(d.positives, d.negatives, d.name);
    assert.ok(d.positives > 0);
  }
  for (let dom = 0; dom < DOMAINS.length; dom++) {
    let p = 0, n = 0;
    for (let i = 0; i < b.count; i++) if (b.domain[i] === dom) { if (b.success[i]) p++; else n++; }
    assert.equal(p, n);
  }
  // The 16 px image is the 2x2 area average of the logged 32 px one.
  const s = Store.openReadOnly(db);
  const t = s.getTransition(b.transitionId[0]!)!;
  s.close();
  const want = new Uint8Array(16 * 16 * 3);
  resizeRgb(t.image!.data, 32, 32, want, 16, 16);
  assert.deepEqual(b.images.subarray(0, 768), want);
  const px = (y: number, x: number, c: number): number => t.image!.data[(y * 32 + x) * 3 + c]!;
  assert.equal(b.images[(3 * 16 + 5) * 3 + 2], Math.round((px(6, 10, 2) + px(6, 11, 2) + px(7, 10, 2) + px(7, 11, 2)) / 4));
  const capped = loadLabelledImages(store(), { domains: DOMAINS, imageSize: 32, maxPerDomain: 10, seed: 2 });
  assert.equal(capped.count, 20);
  const again = loadLabelledImages(store(), { domains: DOMAINS, imageSize: 32, maxPerDomain: 10, seed: 2 });
  assert.deepEqual(again.transitionId, capped.transitionId);
  // Domain order decides ids.
  const fwd = loadLabelledImages(store(), { domains: DOMAINS, imageSize: 32 });
  const rev = loadLabelledImages(store(), { domains: [...DOMAINS].reverse(), imageSize: 32 });
  assert.deepEqual(rev.transitionId, fwd.transitionId);
  assert.deepEqual([...rev.domain], [...fwd.domain].map((x) => 1 - x));
  assert.throws(() => loadLabelledImages(store(), { domains: ['nowhere'], imageSize: 32 }), (e: Error) => e instanceof DatasetError && /no labelled observations for nowhere/.test(e.message));
  assert.throws(() => loadLabelledImages(store(), { domains: DOMAINS, imageSize: 0 }), /imageSize must be an integer/);
  assert.throws(() => loadLabelledImages(store(), { domains: [DOMAINS[0]!, DOMAINS[0]!], imageSize: 32 }), /listed twice/);
});

test('transitions: next observation = the observation of step t+1 in the same episode, done at the end, residual and reward as logged', () => {
  const d = loadTransitions(store(), { domains: DOMAINS, imageSize: 32 });
  assert.equal(d.count, eps.length * L);
  assert.equal(d.obsCount, eps.length * (L + 1));
  assert.equal(d.proprioDim, 9);
  const builder = new ProprioBuilder(DEFAULT_PROPRIO_SPEC, 'test');
  const rec = new Map<number, { ep: Ep; k: number }>();
  for (const ep of eps) ep.transitions.forEach((_, k) => rec.set(ep.transitions[k]!.id, { ep, k }));
  const obsOf = (t: TransitionRecord): Observation => ({ image: t.image!, wrench: t.wrench, eePos: t.eePos, eeQuat: t.eeQuat, goal: t.goal, imageStamp: 0, wrenchStamp: 0 });
  for (let i = 0; i < d.count; i++) {
    const { ep, k } = rec.get(d.transitionId[i]!)!;
    const t = ep.transitions[k]!;
    const next = ep.transitions[k + 1]!;
    assert.equal(d.episodeId[i], ep.id);
    assert.equal(d.step[i], k);
    assert.equal(d.domainNames[d.domain[i]!], ep.domain);
    assert.deepEqual([...d.action.subarray(3 * i, 3 * i + 3)], t.actionResidual!.map((v) => Math.fround(v)));
    assert.equal(d.reward[i], t.gtSuccess ? 1 : 0);
    assert.equal(d.done[i], k === L - 1 ? 1 : 0);
    const s = d.obs[i]!, s2 = d.nextObs[i]!;
    assert.deepEqual(d.obsImages.subarray(s * 3072, (s + 1) * 3072), t.image!.data);
    assert.deepEqual(d.obsImages.subarray(s2 * 3072, (s2 + 1) * 3072), next.image!.data);
    assert.deepEqual(d.obsProprio.subarray(s2 * 9, s2 * 9 + 9), builder.build(obsOf(next)));
    assert.deepEqual(d.obsProprio.subarray(s * 9, s * 9 + 9), builder.build(obsOf(t)));
    // The success label of s is the previous step's next-observation label.
    if (k > 0) assert.equal(d.obsSuccess[s], ep.transitions[k - 1]!.gtSuccess ? 1 : 0);
  }
  // The proprio is tip minus goal and the wrench, raw.
  const t0 = eps[0]!.transitions[0]!;
  const i0 = [...d.transitionId].indexOf(t0.id);
  const p = d.obsProprio.subarray(d.obs[i0]! * 9, d.obs[i0]! * 9 + 9);
  assert.ok(Math.abs(p[2]! - (t0.eePos[2] - t0.goal[2])) < 1e-6 && Math.abs(p[5]! - t0.wrench[2]) < 1e-4);
});

test('transitions: daemon episodes (no final row, learned rewards) load beside prior data', () => {
  const d = loadTransitions(store(), { domains: [DOMAINS[0]!], imageSize: 16, kinds: ['practice'] });
  assert.equal(d.count, 3);
  assert.deepEqual([...d.reward].map((r) => +r.toFixed(6)), [0.1, 0.4, 0.9]);
  assert.deepEqual([...d.done], [0, 0, 1]);
  assert.deepEqual([...d.nextObs], [1, 2, 2]); // the last transition's next observation was not logged: itself (masked by done)
  assert.deepEqual([...d.obsLabelKnown], [0, 0, 0]); // gt labels unknown on the robot
  const thr = loadTransitions(store(), { domains: [DOMAINS[0]!], imageSize: 0, kinds: ['practice'], reward: 'rewardThreshold', labels: 'reward' });
  assert.deepEqual([...thr.reward], [0, 0, 1]);
  assert.deepEqual([...thr.obsSuccess], [0, 0, 0]); // the first observation has no label; the others: 0.1 and 0.4 < 0.5
  assert.equal(thr.obsImages.length, 0);
  const both = loadTransitions(store(), { domains: DOMAINS, imageSize: 16, kinds: ['prior', 'practice'] });
  assert.equal(both.count, eps.length * L + 3);
  // Filter by policy version: the practice episode ran the P-controller alone (null), the prior ones 'expert'.
  assert.equal(loadTransitions(store(), { domains: DOMAINS, imageSize: 0, kinds: ['prior', 'practice'], policyVersions: [null] }).count, 3);
  assert.equal(loadTransitions(store(), { domains: DOMAINS, imageSize: 0, kinds: ['prior', 'practice'], policyVersions: ['expert'] }).count, eps.length * L);
  assert.equal(loadLabelledImages(store(), { domains: DOMAINS, imageSize: 8, policyVersions: ['expert'] }).count, eps.length * (L + 1));
  assert.throws(() => loadTransitions(store(), { domains: DOMAINS, imageSize: 16, kinds: ['practice'], reward: 'gt' }), /none of the 3 transitions has a reward under reward source 'gt'/);
});

test('sampler: IqlBatch shapes, deterministic under the seed, rows consistent with the dataset', () => {
  const d = loadTransitions(store(), { domains: DOMAINS, imageSize: 32 });
  const a = new TransitionSampler(d, { seed: 9, batchSize: 16 });
  const b = new TransitionSampler(d, { seed: 9, batchSize: 16 });
  const c = new TransitionSampler(d, { seed: 10, batchSize: 16 });
  const ba = a.sample(), bb = b.sample(), bc = c.sample();
  assert.equal(ba.size, 16);
  assert.equal(ba.images!.length, 16 * 3072);
  assert.equal(ba.nextImages!.length, 16 * 3072);
  assert.equal(ba.proprio!.length, 16 * 9);
  assert.equal(ba.action.length, 48);
  assert.deepEqual(ba, bb);
  assert.notDeepEqual(ba.action, bc.action);
  assert.deepEqual(a.sample(), b.sample()); // streams stay in step
  const idx = Int32Array.from([0, 5, d.count - 1]);
  const x = a.batch(idx);
  for (const [j, i] of [...idx].entries()) {
    assert.equal(x.reward[j], d.reward[i]);
    assert.equal(x.done[j], d.done[i]);
    assert.deepEqual(x.nextImages!.subarray(j * 3072, (j + 1) * 3072), d.obsImages.subarray(d.nextObs[i]! * 3072, (d.nextObs[i]! + 1) * 3072));
  }
  assert.equal(x.augment, true);
  assert.throws(() => new TransitionSampler(d, { seed: 1, batchSize: 0 }), /batchSize/);
});
