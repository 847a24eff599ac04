/**
 * Operator labels and the daemon's events travel to PostgreSQL like transitions (issue 17): exactly once in effect
 * across a crash between COMMIT and the local mark, labels added after shipping follow, and the fleet learner's
 * mirror brings the labels to the real online trainer, which applies them through the one label rule
 * (src/data/labels.ts): a failure label sets every reward of its episode to 0, a success label the last to 1, the
 * newest label of an episode counts. Real PostgreSQL, real SQLite files, a tiny real IQL checkpoint.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DEFAULT_ONLINE, OnlineTrainer } from '../../../src/online/trainer.ts';
import { Store } from '../../../src/store/index.ts';
import { FleetStore } from '../../../src/store/pg/fleet-store.ts';
import { FleetMirror } from '../../../src/store/pg/mirror.ts';
import { Shipper } from '../../../src/store/pg/shipper.ts';
import { makeTransition } from '../fixtures/data.ts';
import { tinyOffline } from '../../online/fixtures.ts';
import { pgSkip, usePgCluster } from './helpers.ts';
import { teardown } from '../../teardown.ts';

const pg = usePgCluster();
const fx = pgSkip ? null : await tinyOffline('fleet-labels-test');
const dir = mkdtempSync(join(tmpdir(), 'fleet-labels-'));
after(() => {
  fx?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function until(what: () => boolean, ms = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!what()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('labels and events ship once across a crash, and the learner trains with the shipped labels', { skip: pgSkip }, async (t) => {
  const defer = teardown(t);
  const arm = Store.open(join(dir, 'arm-1.db'));
  defer(() => arm.close());
  const session = arm.openSession({ robot: 'arm-1', backend: 'test', config: {}, calibration: {} });
  const eps: number[] = [];
  for (let i = 0; i < 4; i++) {
    const ep = arm.beginEpisode({ sessionId: session, kind: 'practice', domain: 'europlug' });
    arm.appendTransitions(Array.from({ length: 20 }, (_, k) => makeTransition(ep, k, 100 * i + k)));
    arm.endEpisode(ep, { outcome: 'success', learnedSuccessProb: 0.9 });
    arm.recordEvent({ kind: 'episode_end', message: `episode ${ep} ended`, data: { ep }, sessionId: session, episodeId: ep });
    eps.push(ep);
  }
  const [e1, e2, e3, e4] = eps as [number, number, number, number];
  arm.labelEpisode({ episodeId: e1, success: false, by: 'api', note: 'resting on the face' });
  arm.labelEpisode({ episodeId: e2, success: true, by: 'api' });

  const target = pg.target();
  // Batches of 16: the first carries both labels and all four events; then a crash before the mark is written.
  const first = new Shipper({ db: arm.file, robotId: 'arm-1', target, batch: 16, intervalMs: 20, testHooks: { crashAfterCommit: 1 } });
  first.start();
  defer(() => first.stop());
  await until(() => first.stats.lastError !== null);
  await first.stop();
  const fleet = await FleetStore.connect(target);
  defer(() => fleet.close());
  assert.equal((await fleet.labelsAfter('arm-1', 0, 100)).length, 2, 'the crashed batch committed both labels');

  // Labels added after that batch (a corrected one: the newest counts) ship with the rest; nothing twice.
  arm.labelEpisode({ episodeId: e3, success: true, by: 'api' });
  arm.labelEpisode({ episodeId: e3, success: false, by: 'api', note: 'corrected' });
  const second = new Shipper({ db: arm.file, robotId: 'arm-1', target, batch: 16, intervalMs: 20 });
  second.start();
  defer(() => second.stop()); // a failing assertion must not leave it shipping
  await second.drain();
  await until(() => second.stats.labels === 2);
  await second.stop();
  assert.equal(second.stats.labels, 2, 'the re-sent labels inserted nothing, the two new ones once');
  const local = arm.rawLabels(0, 100);
  const remote = await fleet.labelsAfter('arm-1', 0, 100);
  assert.deepEqual(
    remote.map((r) => [r.id, r.episode_id, r.success, r.note, r.by_whom, r.created_at]),
    local.map((r) => [r.id, r.episode_id, r.success, r.note, r.by_whom, r.created_at]),
    'every label once, as logged',
  );
  const ev = await fleet.eventsAfter('arm-1', 0, 100);
  assert.deepEqual(
    ev.map((r) => [r.id, r.kind, r.message, r.data_json, r.session_id, r.episode_id, r.time]),
    arm.rawEvents(0, 100).map((r) => [r.id, r.kind, r.message, r.data_json, r.session_id, r.episode_id, r.time]),
    'every event once, as logged',
  );

  // The learner's mirror maps them to its own episode ids; the trainer reads rewards through the one label rule.
  const mirrorDb = join(dir, 'mirror.db');
  const mirror = Store.open(mirrorDb);
  const m = new FleetMirror(mirror);
  await m.pull(fleet);
  assert.equal(m.stats.labels, 4);
  const byLocal = new Map(mirror.listEpisodes({ order: 'asc' }).map((e, i) => [eps[i]!, e.id]));
  assert.equal(mirror.episodeLabel(byLocal.get(e3)!)?.success, false, 'the newest label of e3 counts in the mirror');
  mirror.close();
  const tr = new OnlineTrainer({
    ...DEFAULT_ONLINE,
    db: mirrorDb,
    offlineDb: null,
    offlineDomains: [],
    startCheckpoint: fx!.checkpoint,
    workDir: join(dir, 'learner'),
    onlineFraction: 1,
    batchSize: 8,
    utd: 1,
  });
  defer(() => tr.close());
  await tr.init();
  assert.ok(tr.poll() > 0);
  const rewards = new Map<number, number[]>();
  for (const x of tr.onlineRewards()) rewards.set(x.episodeId, [...(rewards.get(x.episodeId) ?? []), x.reward]);
  const of = (local: number): number[] => rewards.get(byLocal.get(local)!) ?? [];
  assert.ok(of(e1).length > 0 && of(e1).every((r) => r === 0), 'labelled failure: every reward 0');
  assert.ok(of(e3).length > 0 && of(e3).every((r) => r === 0), 'corrected to failure: every reward 0');
  assert.equal(of(e2).at(-1), 1, 'labelled success: the last transition 1');
  assert.ok(of(e4).some((r) => r > 0) && of(e4).at(-1)! < 1, 'unlabelled: the learned reward');
  assert.deepEqual(of(e2).slice(0, -1), of(e4).slice(0, -1), 'a success label leaves the earlier rewards as learned');
  assert.equal(tr.progress().labels, 4);
});
