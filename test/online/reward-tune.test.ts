/**
 * Fine-tuning the reward classifier on operator labels (issue 13), with the SHIPPED reward model on frames a real
 * daemon logged in the real simulator: the ONNX weights load back into tfjs exactly (same probabilities as
 * onnxruntime), a fine-tune on labelled frames moves the new version toward the labels while unlabelled frames barely
 * move, the version is exported and registered, passes the reward validation and is swapped into the daemon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rewardFromModel } from '../../src/daemon/models.ts';
import { initBackend } from '../../src/learn/backend.ts';
import type { DaibConfig } from '../../src/learn/daib.ts';
import { rewardClassifierFromOnnx } from '../../src/learn/reward-tune.ts';
import { readCard, cardPathFor } from '../../src/policy/card.ts';
import { modelImageBytes } from '../../src/policy/inputs.ts';
import { RewardModel } from '../../src/policy/onnx-model.ts';
import { DEFAULT_REWARD_TUNE, RewardTuner } from '../../src/online/reward-tuner.ts';
import { offerReward } from '../../src/swap/reward.ts';
import type { TransitionRecord } from '../../src/store/types.ts';
import { logged, rig, root, tickUntil } from '../daemon/helpers.ts';
import { teardown } from '../teardown.ts';

await initBackend();
const shipped = join(root, 'models/reward.onnx');

async function probs(path: string, rows: TransitionRecord[]): Promise<Float32Array> {
  const m = await RewardModel.load(path);
  try {
    const size = 64 * 64 * 3;
    const bytes = new Uint8Array(rows.length * size);
    rows.forEach((r, i) => modelImageBytes(r.image!, 64, 64, bytes, i * size));
    return await m.probabilities(
      rows.length,
      Float32Array.from(bytes, (b) => b / 255),
    );
  } finally {
    await m.dispose();
  }
}

test('the reward head fine-tuned on labels: exact ONNX import, moves toward the labels, exported, validated, swapped in', async (t) => {
  const defer = teardown(t);
  const r = await rig({ reward: rewardFromModel(await RewardModel.load(shipped)), connector: 'europlug', overrides: { episodeSteps: 14 } });
  defer(() => r.close());
  const d = r.app.daemon;
  assert.ok(d.startPractice({ count: 4, scenario: 'I', explorationNoise: 0.001 }).ok);
  await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null, 200);
  await logged(r);
  const store = r.app.log.store;
  const eps = store.listEpisodes({ order: 'asc' });
  const rows = (id: number): TransitionRecord[] => store.getEpisode(id, { transitions: true, images: true })?.transitions ?? [];
  const all = eps.flatMap((e) => rows(e.id));

  // 1. The ONNX weights load into the classifier the card describes: its probabilities are onnxruntime's.
  const card = readCard(cardPathFor(shipped));
  const clf = rewardClassifierFromOnnx(readFileSync(shipped), (card.hyperparameters as { daib: DaibConfig }).daib, shipped);
  const imgs = new Uint8Array(all.length * 64 * 64 * 3);
  all.forEach((x, i) => modelImageBytes(x.image!, 64, 64, imgs, i * 64 * 64 * 3));
  const tfjs = clf.predict(imgs, all.length);
  clf.dispose();
  const ort = await probs(shipped, all);
  const maxDiff = Math.max(...Array.from(tfjs, (p, i) => Math.abs(p - ort[i]!)));
  assert.ok(maxDiff < 1e-4, `tfjs vs onnxruntime: max |dp| ${maxDiff}`);

  // 2. Label two episodes as failures (whatever the classifier said): one outcome alone makes no version.
  const down = eps.filter((x) => {
    const l = rows(x.id).at(-1);
    return l !== undefined && l.eePos[2] - l.goal[2] <= 0.002;
  });
  assert.ok(down.length >= 1, 'an episode whose last logged frame is already down (seated in scenario I with an exact x*)');
  const c = down[0]!.id;
  const [a, b, e4] = eps.map((x) => x.id).filter((id) => id !== c) as [number, number, number];
  store.labelEpisode({ episodeId: a, success: false, by: 'test' });
  store.labelEpisode({ episodeId: b, success: false, by: 'test' });
  const tuner = new RewardTuner({
    ...DEFAULT_REWARD_TUNE,
    db: r.db,
    rewardPath: shipped,
    workDir: join(r.db, '..', 'trainer'),
    minNewLabels: 2,
    steps: 150,
    anchorFrames: 64,
  });
  defer(() => tuner.close());
  await tuner.init();
  assert.equal(tuner.poll(), 2);
  assert.ok(tuner.due);
  assert.equal(tuner.tune(), null);
  assert.match(tuner.lastSkip ?? '', /one outcome only \(0 seated, 6 not\)/);
  // With a labelled success whose last frame is down, a version is made.
  store.labelEpisode({ episodeId: c, success: true, by: 'test' });
  assert.equal(tuner.poll(), 1);
  const info = tuner.tune();
  assert.ok(info, tuner.lastSkip ?? '');
  assert.equal(tuner.due, false);
  assert.deepEqual([info.labels, info.frames.negative, info.frames.positive], [3, 6, 1]);
  assert.ok(info.frames.anchors > 0);
  assert.ok(info.lossAfter < info.lossBefore, `loss on the tuning frames ${info.lossBefore} -> ${info.lossAfter}`);
  const labelled = [...rows(a).slice(-3), ...rows(b).slice(-3)];
  const others = rows(e4);
  const [oldL, newL, oldO, newO] = [
    await probs(shipped, labelled),
    await probs(info.path, labelled),
    await probs(shipped, others),
    await probs(info.path, others),
  ];
  const mean = (x: Float32Array): number => x.reduce((s, v) => s + v, 0) / x.length;
  const moved = mean(Float32Array.from(newO, (p, i) => Math.abs(p - oldO[i]!)));
  const msg = `labelled frames: mean p ${mean(oldL).toFixed(3)} -> ${mean(newL).toFixed(3)}; unlabelled: mean |dp| ${moved.toFixed(3)}`;
  t.diagnostic(msg);
  assert.ok(mean(newL) < mean(oldL) - 0.05 || mean(newL) < 0.05, msg);
  assert.ok(
    newL.every((p, i) => p <= oldL[i]! + 1e-3),
    `no labelled frame moved up: ${msg}`,
  );
  assert.ok(moved < 0.2, `unlabelled frames stay close: ${msg}`);
  const m = store.getModel(info.modelId);
  assert.equal(m?.kind, 'reward');
  assert.equal(m?.version, info.version);
  assert.equal(readCard(cardPathFor(info.path)).kind, 'reward');

  // 3. Validated against the current reward on logged observations, then swapped in; recorded.
  const candidate = rewardFromModel(await RewardModel.load(info.path));
  const v = await offerReward({ daemon: d, store, event: (x) => r.app.log.event(x), candidate, modelId: info.modelId, by: 'trainer' });
  assert.ok(v.ok, v.reason);
  assert.equal(v.probes, 32);
  assert.equal(d.status().reward.version, info.version);
  assert.equal(store.activeModel('reward')?.version, info.version);
  assert.ok(store.getModel(info.modelId)?.validation !== null);

  // A broken candidate is refused and the daemon keeps its reward.
  const broken = { ...candidate, version: 'broken@1', probability: () => Promise.resolve(1.5) };
  const bad = await offerReward({ daemon: d, store, event: (x) => r.app.log.event(x), candidate: broken, modelId: info.modelId, by: 'test' });
  assert.equal(bad.ok, false);
  assert.match(bad.reason, /probability 1.5 is not in \[0, 1\]/);
  assert.equal(d.status().reward.version, info.version);
});
