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
import { withRewardTune } from '../../src/app/learning.ts';
import { observationOf } from '../../src/data/dataset.ts';
import { loadStartupModels, rewardFromModel } from '../../src/daemon/models.ts';
import { initBackend } from '../../src/learn/backend.ts';
import type { DaibConfig } from '../../src/learn/daib.ts';
import { rewardClassifierFromOnnx } from '../../src/learn/reward-tune.ts';
import { readCard, cardPathFor } from '../../src/policy/card.ts';
import { modelImageBytes } from '../../src/policy/inputs.ts';
import { RewardModel } from '../../src/policy/onnx-model.ts';
import { DEFAULT_REWARD_TUNE, frameWeights, LABEL_TUNED_REWARD_VALIDATION, labelTuneRefusal, RewardTuner } from '../../src/online/reward-tuner.ts';
import { DEFAULT_ONLINE } from '../../src/online/trainer.ts';
import { offerReward } from '../../src/swap/reward.ts';
import { inputsFor } from '../../src/swap/validate.ts';
import { call } from '../api/helpers.ts';
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

test('frameWeights: each labelled outcome weighs as much as the other whatever its frame count; anchors weigh anchorWeight times the labelled frames', () => {
  // Two labelled successes (one frame each), two failures (three frames each), four anchors.
  const frames = [
    ...[1, 1].map((target) => ({ anchor: false, target })),
    ...Array.from({ length: 6 }, () => ({ anchor: false, target: 0 })),
    ...[0.2, 0.9, 0.5, 0].map((target) => ({ anchor: true, target })),
  ];
  const w = frameWeights(frames, 2);
  const sum = (pick: (f: { anchor: boolean; target: number }) => boolean): number => frames.reduce((s, f, i) => s + (pick(f) ? w[i]! : 0), 0);
  const [pos, neg, anchors] = [sum((f) => !f.anchor && f.target === 1), sum((f) => !f.anchor && f.target === 0), sum((f) => f.anchor)];
  assert.ok(Math.abs(pos - 4) < 1e-6 && Math.abs(neg - 4) < 1e-6, `successes ${pos}, failures ${neg}: 4 each (8 labelled frames)`);
  assert.ok(Math.abs(anchors - 16) < 1e-5, `anchors ${anchors}`);
  assert.ok(w[0]! > w[2]!, 'a success frame outweighs a failure frame when failures give more frames');
});

test('which rewards labels can fine-tune (labelTuneRefusal): both shipped rewards, the depth reward included; not a card the tuner cannot feed', () => {
  const image = readCard(join(root, 'models/reward.onnx.json'));
  const depth = readCard(join(root, 'models/reward-depth.onnx.json'));
  assert.equal(labelTuneRefusal(image, 'reward.onnx'), null);
  assert.equal(labelTuneRefusal(depth, 'reward-depth.onnx'), null);
  assert.match(labelTuneRefusal({ ...depth, hyperparameters: {} }, 'x') ?? '', /hyperparameters\.daib' is missing/);
  // A card whose proprio layout is not the classifier's width: it would be fed what it does not take.
  const short = { ...depth, preprocessing: { ...depth.preprocessing, proprio: { layout: ['dz'], mean: [0], std: [1] } } };
  assert.match(labelTuneRefusal(short, 'x') ?? '', /proprio input has 1 values, the classifier 124/);
});

/** onnxruntime's probabilities of a reward file on logged rows, each fed as the daemon's scoring feeds it. */
async function scored(path: string, rows: readonly TransitionRecord[]): Promise<number[]> {
  const m = rewardFromModel(await RewardModel.load(path));
  try {
    const out: number[] = [];
    for (const row of rows) {
      const x = inputsFor(m, observationOf(row));
      out.push(await m.probability(x.image, x.proprio));
    }
    return out;
  } finally {
    await m.dispose?.();
  }
}

test('the depth default through the daemon: operator labels over REST fine-tune the depth reward on what it scores, it is validated and swapped in; a bad label set is refused', async (t) => {
  const defer = teardown(t);
  const depthPath = join(root, 'models/reward-depth.onnx');
  // The shipped config's cell (depth camera on), P-controller with the exact x*: 16 steps seat a scenario-I start and
  // leave a scenario-II start (10-20 mm away) short of seated, so both outcomes are logged.
  const r = await rig({ connector: 'europlug', listen: true, overrides: { episodeSteps: 16 } });
  defer(() => r.close());
  const d = r.app.daemon;
  const store = r.app.log.store;
  assert.deepEqual(d.status().sensors, { depth: true });
  // The daemon's own start-up rule on this cell registers the shipped models and picks the depth reward.
  const start = await loadStartupModels(join(root, 'models'), store, { sensors: d.status().sensors, rewardPreference: r.config.rewardPreference });
  await start.policy?.dispose?.();
  assert.equal(start.rewardChoice.file, depthPath);
  assert.ok(start.reward);
  d.setReward(start.reward);
  const practise = async (scenario: 'I' | 'II', count: number): Promise<void> => {
    assert.ok(d.startPractice({ count, scenario, explorationNoise: 0.001 }).ok);
    await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null, 40 * count);
    await logged(r);
  };
  await practise('I', 3);
  await practise('II', 3);
  const eps = store.listEpisodes({ order: 'asc' });
  const rows = (id: number): TransitionRecord[] => store.getEpisode(id, { transitions: true, images: true })?.transitions ?? [];
  assert.ok(
    rows(eps[0]!.id).every((x) => x.depth !== null),
    'the log holds the depth images the reward was scored on',
  );
  const truth = eps.map((e) => ({ id: e.id, gt: e.gtSuccess === true }));
  t.diagnostic(`ground truth ${JSON.stringify(truth.map((x) => x.gt))}; learned ${JSON.stringify(eps.map((e) => e.learnedSuccessProb?.toFixed(3)))}`);
  assert.ok(truth.some((x) => x.gt) && truth.some((x) => !x.gt), 'both outcomes practised');

  // The trainer's reward fine-tune as learning configures it for this daemon: the depth reward, not skipped.
  const trainer = withRewardTune(r.app, {
    trainer: { ...DEFAULT_ONLINE, db: r.db, offlineDb: null, offlineDomains: [], startCheckpoint: 'unused', workDir: join(r.db, '..', 'trainer') },
  });
  assert.equal(trainer.rewardTune?.rewardPath, depthPath, 'labels fine-tune the depth reward the daemon scores with');
  const tuneCfg = { ...trainer.rewardTune, minNewLabels: 1 };

  // Operator labels over REST, the ground truth of two seated and two unseated episodes; the rest stay unlabelled.
  const toLabel = [...truth.filter((x) => x.gt).slice(0, 2), ...truth.filter((x) => !x.gt).slice(0, 2)];
  const unlabelled = truth.filter((x) => !toLabel.includes(x));
  assert.ok(unlabelled.length > 0);
  for (const x of toLabel) assert.equal((await call(r, 'POST', `/episodes/${x.id}/label`, { success: x.gt })).status, 201);
  const tuner = new RewardTuner(tuneCfg);
  defer(() => tuner.close());
  await tuner.init();
  assert.equal(tuner.poll(), toLabel.length);
  const info = tuner.tune();
  assert.ok(info, tuner.lastSkip ?? '');
  assert.ok(info.frames.anchors > 0, 'unlabelled episodes anchor the head');
  assert.equal(readCard(cardPathFor(info.path)).inputs.length, 2, 'the version takes the image and the depth steps, as the original');
  // Its probability on the labelled frames (fed as the daemon feeds them) moves toward the labels; unlabelled
  // episodes' frames move less.
  const labelled = toLabel.flatMap((x) => {
    const rs = rows(x.id);
    const last = rs.at(-1)!;
    return x.gt ? (last.eePos[2] - last.goal[2] <= 0.002 ? [{ row: last, target: 1 }] : []) : rs.slice(-3).map((row) => ({ row, target: 0 }));
  });
  assert.deepEqual(
    [labelled.filter((f) => f.target === 1).length, labelled.filter((f) => f.target === 0).length],
    [info.frames.positive, info.frames.negative],
  );
  const before = await scored(
    depthPath,
    labelled.map((f) => f.row),
  );
  const after = await scored(
    info.path,
    labelled.map((f) => f.row),
  );
  const gap = (p: number[]): number => p.reduce((s, v, i) => s + Math.abs(v - labelled[i]!.target), 0) / p.length;
  const others = unlabelled.flatMap((x) => rows(x.id));
  const [oldO, newO] = [await scored(depthPath, others), await scored(info.path, others)];
  const moved = newO.reduce((s, p, i) => s + Math.abs(p - oldO[i]!), 0) / others.length;
  const msg = `mean |p - label| on ${labelled.length} labelled frames ${gap(before).toFixed(4)} -> ${gap(after).toFixed(4)}; unlabelled frames mean |dp| ${moved.toFixed(4)}`;
  t.diagnostic(msg);
  assert.ok(gap(after) < gap(before) - 0.05, msg);
  assert.ok(moved < 0.1, msg);

  // Validated on logged observations against the depth reward and swapped in; the daemon scores with it.
  const candidate = rewardFromModel(await RewardModel.load(info.path));
  const v = await offerReward({
    daemon: d,
    store,
    event: (x) => r.app.log.event(x),
    candidate,
    modelId: info.modelId,
    by: 'trainer',
    cfg: LABEL_TUNED_REWARD_VALIDATION,
  });
  assert.ok(v.ok, v.reason);
  assert.equal(d.status().reward.version, info.version);
  await practise('I', 2);
  const scoredAfter = store.listEpisodes({ order: 'asc' }).slice(-2);
  assert.ok(
    scoredAfter.every((e) => e.learnedSuccessProb !== null && (e.outcome === 'success' || e.outcome === 'failure')),
    JSON.stringify(scoredAfter),
  );

  // A bad label set (every seated episode labelled failure, but one, so no unlabelled episode anchors the head): its
  // version changes too many outcomes on the logged observations and is refused; the daemon keeps the version it has.
  const seated = store
    .listEpisodes({ order: 'asc' })
    .filter((e) => e.gtSuccess === true)
    .map((e) => e.id);
  for (const id of seated.slice(1)) assert.equal((await call(r, 'POST', `/episodes/${id}/label`, { success: false })).status, 201);
  assert.ok(seated.length >= 4, `seated episodes: ${seated.length}`);
  // (Tuned harder than the default, so that its version does what bad labels would do over many of them.)
  const badTuner = new RewardTuner({ ...tuneCfg, exportName: 'reward-bad-labels', steps: 400, lr: 5e-3 });
  defer(() => badTuner.close());
  await badTuner.init();
  badTuner.poll();
  const bad = badTuner.tune();
  assert.ok(bad, badTuner.lastSkip ?? '');
  const badCandidate = rewardFromModel(await RewardModel.load(bad.path));
  const refused = await offerReward({
    daemon: d,
    store,
    event: (x) => r.app.log.event(x),
    candidate: badCandidate,
    modelId: bad.modelId,
    by: 'trainer',
    cfg: LABEL_TUNED_REWARD_VALIDATION,
  });
  t.diagnostic(`bad label set: ${JSON.stringify(bad.frames)}: ${refused.reason}`);
  await badCandidate.dispose?.();
  assert.equal(refused.ok, false, refused.reason);
  assert.match(refused.reason, /changes too many outcomes/);
  assert.equal(d.status().reward.version, info.version);
});
