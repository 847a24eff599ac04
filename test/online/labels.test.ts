/**
 * An operator's label overrides the learned reward of its episode's transitions wherever rewards are read for learning
 * (issue 13): through the real online trainer's replay (a label read before the episode, and labels arriving after its
 * rows are in the replay, the newest label of an episode winning) and the replay loader (data/dataset.ts). The rows are
 * logged by a real daemon (mock robot, real SQLite) whose reward classifier said 0.6 on every observation.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadTransitions } from '../../src/data/dataset.ts';
import type { RewardScorer } from '../../src/daemon/interfaces.ts';
import { logged, mockRig, tickUntil } from '../daemon/helpers.ts';
import { practiceTrainer, tinyOffline } from './fixtures.ts';
import { teardown } from '../teardown.ts';

const fx = await tinyOffline('online-labels-test');
after(() => fx.cleanup());

const learned: RewardScorer = {
  version: 'fixed-0.6',
  input: { image: null, proprio: { layout: ['dx', 'dy', 'dz'], mean: [0, 0, 0], std: [1, 1, 1] } },
  probability: () => Promise.resolve(0.6),
};

test('a label overrides the learned reward of its episode in the trainer replay and the replay loader', async (t) => {
  const defer = teardown(t);
  const domain = fx.domains[0] as string;
  // The label's override is the subject: the height check (frames far above x* in 5 steps) is off.
  const r = await mockRig({ reward: learned, overrides: { episodeSteps: 5 }, config: (c) => void (c.practice.heightToleranceM = null) });
  defer(() => r.close());
  const d = r.app.daemon;
  assert.ok(d.startPractice({ count: 3, scenario: 'I', explorationNoise: 0.001, domain }).ok);
  await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null, 100);
  await logged(r);
  const store = r.app.log.store;
  const [e1, e2, e3] = store.listEpisodes({ order: 'asc' }).map((e) => e.id) as [number, number, number];
  store.labelEpisode({ episodeId: e1, success: false, by: 'test' }); // before the trainer has read the episode

  const tr = practiceTrainer(r.db, fx.checkpoint, join(fx.dir, 'labels-test'), { batchSize: 8, utd: 1 });
  defer(() => tr.close());
  await tr.init();
  assert.equal(tr.poll(), 15);
  const byEpisode = (): Map<number, number[]> => {
    const m = new Map<number, number[]>();
    for (const x of tr.onlineRewards()) m.set(x.episodeId, [...(m.get(x.episodeId) ?? []), Math.round(x.reward * 100) / 100]);
    return m;
  };
  let rw = byEpisode();
  assert.deepEqual(rw.get(e1), [0, 0, 0, 0, 0], 'labelled failure: every reward 0');
  assert.deepEqual(rw.get(e2), [0.6, 0.6, 0.6, 0.6, 0.6], 'unlabelled: the learned reward');

  // Labels after the rows are in the replay: re-applied at the next poll; the newest label of an episode counts.
  store.labelEpisode({ episodeId: e2, success: true, by: 'test' });
  store.labelEpisode({ episodeId: e3, success: false, by: 'test' });
  store.labelEpisode({ episodeId: e3, success: true, by: 'test' });
  assert.equal(tr.poll(), 0, 'no new transitions');
  rw = byEpisode();
  assert.deepEqual(rw.get(e2), [0.6, 0.6, 0.6, 0.6, 1], 'labelled success: the last transition 1, the rest as learned');
  assert.deepEqual(rw.get(e3), [0.6, 0.6, 0.6, 0.6, 1], 'the corrected label wins');
  assert.equal(tr.progress().labels, 4);
  tr.update(); // the replay with overridden rewards trains
  assert.ok(Number.isFinite(tr.progress().losses?.qLoss ?? NaN));

  // The replay loader reads rewards through the same rule.
  const ds = loadTransitions(store, { domains: [domain], kinds: ['practice'], imageSize: 0 });
  const loaded = new Map<number, number[]>();
  for (let i = 0; i < ds.count; i++) loaded.set(ds.episodeId[i]!, [...(loaded.get(ds.episodeId[i]!) ?? []), Math.round(ds.reward[i]! * 100) / 100]);
  assert.deepEqual(loaded.get(e1), [0, 0, 0, 0, 0]);
  assert.deepEqual(loaded.get(e2), [0.6, 0.6, 0.6, 0.6, 1]);
});
