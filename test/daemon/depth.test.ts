/**
 * The depth cue through the daemon (issue 13): with a depth camera (backend.sim.depth) the daemon logs each
 * transition's depth image and scores the reward on the depth cells its card names. A model taking depth cells on a
 * backend without depth is refused before it may drive or score, with the reason, on every path that swaps one in:
 * the daemon's start (a model given, the shipped or active one), REST activation, the swap manager (trainer and fleet
 * versions). Only a model set without validation reaches a tick, and the tick still stops the arm and says why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveOnnxModel } from '../../src/learn/export.ts';
import { RewardModel } from '../../src/policy/onnx-model.ts';
import { REWARD_CUES } from '../../src/policy/inputs.ts';
import { cardPathFor, readCard, sha256Hex } from '../../src/policy/card.ts';
import { loadPolicyFile, loadStartupModels, rewardFromModel, versionOf } from '../../src/daemon/models.ts';
import { SimBackend } from '../../src/robot/sim-backend.ts';
import { SwapManager } from '../../src/swap/manager.ts';
import type { Store } from '../../src/store/index.ts';
import { buildPolicyLike, cardDraft } from '../policy/fixtures.ts';
import { call } from '../api/helpers.ts';
import { backendRig, logged, simApp, tempDir, tickUntil } from './helpers.ts';
import { teardown } from '../teardown.ts';

await tf.setBackend('cpu');
const tmp = tempDir('daemon-depth-');
process.on('exit', tmp.cleanup);

/**
 * A random-weight model in `dir`: a reward classifier or a residual policy taking the image and the 64 depth cells
 * (the card of `--cue depth`), or the image and one proprio element (no depth).
 */
function saveModel(o: { kind: 'reward' | 'policy'; depth: boolean; name: string; version: number; dir?: string; file?: string }): string {
  const dir = o.dir ?? tmp.dir;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, o.file ?? `${o.name}-${o.version}.onnx`);
  const cue = o.depth ? REWARD_CUES.depth : { layout: ['dz'], mean: [0], std: [1] };
  const m = buildPolicyLike({ size: 64, proprioDim: cue.layout.length, hidden: 16, head: o.kind === 'reward' ? 'probability' : 'action', seed: 5 });
  const draft = cardDraft(o.kind, { size: 64, proprioDim: cue.layout.length });
  draft.preprocessing.proprio = { layout: [...cue.layout], mean: [...cue.mean], std: [...cue.std] };
  saveOnnxModel(m, path, {
    inputRoles: ['image', 'proprio'],
    outputRoles: [o.kind === 'reward' ? 'probability' : 'action'],
    card: { ...draft, name: o.name, version: o.version },
  });
  m.dispose();
  return path;
}
const rewardPath = saveModel({ kind: 'reward', depth: true, name: 'reward-depth', version: 1 });
const depthPolicyPath = saveModel({ kind: 'policy', depth: true, name: 'policy-depth', version: 1 });

function register(store: Store, path: string): number {
  const card = readCard(cardPathFor(path));
  const kind = card.kind === 'reward' ? 'reward' : 'policy';
  return store.registerModel({ kind, version: versionOf(card), path, card, sha256: sha256Hex(readFileSync(path)) });
}

const simRig = async (depth: boolean, o: { withReward?: boolean; listen?: boolean; steps?: number } = {}) =>
  backendRig(
    (config) =>
      SimBackend.create({
        connector: config.backend.sim.connector,
        cell: { imageSize: 64, controlHz: config.tickHz, startHeight: config.backend.sim.startHeight, nuisance: false, depth },
      }),
    {
      reward: (o.withReward ?? true) ? rewardFromModel(await RewardModel.load(rewardPath)) : null,
      overrides: { episodeSteps: o.steps ?? 4 },
      listen: o.listen ?? false,
    },
  );

const DEPTH_REASON =
  /takes 64 depth cells \(depth8_0_0\.\.\.\) and the robot backend gives no depth image \(simulator: backend\.sim\.depth: true; ROS 2: backend\.ros2\.topics\.depth/;

test('with a depth camera: every transition is logged with its depth image and a reward from the depth cells', async (t) => {
  const r = await simRig(true);
  t.after(() => r.close());
  const d = r.app.daemon;
  assert.deepEqual(d.status().sensors, { depth: true });
  assert.ok(d.startPractice({ count: 1, scenario: 'I', explorationNoise: 0 }).ok);
  await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null);
  await logged(r);
  const ep = r.app.log.store.listEpisodes()[0];
  assert.ok(ep);
  const ts = r.app.log.store.getEpisode(ep.id, { transitions: true, images: true })?.transitions ?? [];
  assert.equal(ts.length, 4);
  for (const tr of ts) {
    assert.ok(tr.depth && tr.depth.width === 64 && tr.depth.height === 64, `step ${tr.step}: no depth logged`);
    const valid = Array.from(tr.depth.data).filter((v) => v > 0);
    assert.ok(valid.length > 3000 && valid.every((v) => v > 0.03 && v < 0.5), `step ${tr.step}: depth out of the camera's range`);
    assert.ok(tr.rewardProb !== null && tr.rewardProb >= 0 && tr.rewardProb <= 1, `step ${tr.step}: reward ${tr.rewardProb}`);
  }
  assert.equal(d.currentState, 'idle');
});

test('the daemon refuses to start with a depth reward given on a backend without depth, saying why', async () => {
  // A daemon that starts after all is closed again, so that the failure is the assertion, not a hang.
  const e = await simRig(false).then(
    async (started) => {
      await started.close();
      return null;
    },
    (err: unknown) => err as Error,
  );
  assert.ok(e, 'the daemon started with a reward its backend cannot feed');
  assert.match(e.message, /^reward model reward-depth@1 refused at start: /);
  assert.match(e.message, DEPTH_REASON);
});

test('last line: a depth reward set without validation on a backend without depth stops the arm in the first tick and says why', async (t) => {
  const r = await simRig(false, { withReward: false });
  t.after(() => r.close());
  const d = r.app.daemon;
  assert.deepEqual(d.status().sensors, { depth: false });
  d.setReward(rewardFromModel(await RewardModel.load(rewardPath)));
  assert.ok(d.startPractice({ count: 1, scenario: 'I', explorationNoise: 0 }).ok);
  await tickUntil(r.app, () => d.currentState === 'estopped' || d.status().practice === null, 20);
  assert.equal(d.currentState, 'estopped');
  assert.equal(d.status().safety.estop.source, 'internal:observation');
  assert.match(d.status().safety.estop.detail ?? '', /no depth image, and the model takes depth cells/);
  assert.equal(r.backend.commandsExecuted, 0, 'nothing was commanded');
  await d.models().reward?.dispose?.();
});

test('REST activation of a depth reward or policy on a backend without depth: 422 with the reason, nothing swapped; with depth: 202', async (t) => {
  const defer = teardown(t);
  const r = await simRig(false, { withReward: false, listen: true });
  defer(() => r.close());
  const d = r.app.daemon;
  const store = r.app.log.store;
  const rid = register(store, rewardPath);
  const pid = register(store, depthPolicyPath);
  const rew = await call(r, 'POST', `/models/${rid}/activate`, {});
  assert.equal(rew.status, 422, JSON.stringify(rew.json));
  assert.match(rew.json.message, /model reward-depth@1 refused by validation: reward-depth@1: it takes 64 depth cells/);
  assert.match(rew.json.message, DEPTH_REASON);
  assert.equal(d.status().reward.version, null);
  assert.equal(store.activeModel('reward'), null);
  const pol = await call(r, 'POST', `/models/${pid}/activate`, { at: 'between-ticks' });
  assert.equal(pol.status, 422, JSON.stringify(pol.json));
  assert.match(pol.json.message, DEPTH_REASON);
  assert.equal(d.policyVersion, null);
  assert.equal((store.getModel(pid)?.validation as { ok: boolean } | null)?.ok, false, 'the verdict is stored on the model');
  assert.equal(store.listEvents({ kind: 'swap_rejected' }).length, 2);
  // The same reward with a depth camera passes (fresh log: 0 probes) and scores.
  const withDepth = await simRig(true, { withReward: false, listen: true });
  defer(() => withDepth.close());
  const ok = await call(withDepth, 'POST', `/models/${register(withDepth.app.log.store, rewardPath)}/activate`, {});
  assert.equal(ok.status, 202, JSON.stringify(ok.json));
  assert.equal(withDepth.app.daemon.status().reward.version, 'reward-depth@1');
});

test('the swap manager (trainer and fleet versions) refuses a depth policy on a backend without depth, before its probes', async (t) => {
  const defer = teardown(t);
  const r = await simRig(false, { withReward: false });
  defer(() => r.close());
  const swaps = new SwapManager(r.app.daemon, r.app.log.store, r.app.log, {}, loadPolicyFile);
  defer(() => swaps.close());
  const out = await swaps.offer(depthPolicyPath, { by: 'fleet' });
  assert.equal(out.accepted, false);
  assert.match(out.reason, DEPTH_REASON);
  assert.equal(await out.live, null);
  assert.equal(r.app.daemon.policyVersion, null);
  assert.equal(swaps.stats.rejected, 1);
  await logged(r);
  assert.match(r.app.log.store.listEvents({ kind: 'swap_rejected' })[0]?.message ?? '', /policy-depth@1 rejected: .*no depth image/);
});

test('at start the shipped or active depth reward is skipped without depth (the newest it can feed instead), and taken with depth', async (t) => {
  const defer = teardown(t);
  const dir = join(tmp.dir, 'shipped');
  saveModel({ kind: 'reward', depth: false, name: 'reward-image', version: 1, dir });
  const depthV2 = saveModel({ kind: 'reward', depth: true, name: 'reward-depth', version: 2, dir });
  // The daemon as npm start assembles it (control thread, the sim from config): backend.sim.depth decides.
  for (const depth of [false, true]) {
    const app = await simApp(tmp.dir, `start-${depth}`, { modelsDir: dir }, (c) => {
      c.backend.sim.depth = depth;
      c.backend.sim.imageSize = 64;
    });
    defer(() => app.close());
    assert.deepEqual(app.daemon.status().sensors, { depth });
    assert.equal(app.daemon.status().reward.version, depth ? 'reward-depth@2' : 'reward-image@1', app.notes.join('\n'));
    if (!depth)
      assert.ok(
        app.notes.some((n) => /reward model reward-depth@2 .* skipped: it takes 64 depth cells/.test(n)),
        app.notes.join('\n'),
      );
  }
  // An operator's active depth reward, restarted without depth: refused with a warning, the image one instead.
  const r = await simRig(false, { withReward: false });
  defer(() => r.close());
  r.app.log.store.activateModel(register(r.app.log.store, depthV2), { by: 'test' });
  const loaded = await loadStartupModels(dir, r.app.log.store, { sensors: { depth: false } });
  defer(() => loaded.reward?.dispose?.());
  assert.equal(loaded.reward?.version, 'reward-image@1');
  assert.ok(
    loaded.notes.some((n) => /^WARNING: active reward model reward-depth@2 refused: it takes 64 depth cells/.test(n)),
    loaded.notes.join('\n'),
  );
  const withDepth = await loadStartupModels(dir, r.app.log.store, { sensors: { depth: true } });
  defer(() => withDepth.reward?.dispose?.());
  assert.equal(withDepth.reward?.version, 'reward-depth@2');
});

test('the shipped rewardPreference: the depth reward on a cell with depth, the image reward without (said), though its card version is higher', async (t) => {
  // As models/ ships them: the image reward has been retrained more often, so card versions alone would pick it.
  const dir = join(tmp.dir, 'preferred');
  saveModel({ kind: 'reward', depth: false, name: 'reward-daib', version: 3, dir, file: 'reward.onnx' });
  saveModel({ kind: 'reward', depth: true, name: 'reward-daib-depth', version: 1, dir, file: 'reward-depth.onnx' });
  for (const depth of [true, false]) {
    // The daemon as npm start assembles it, with the shipped config's rewardPreference.
    const app = await simApp(tmp.dir, `preferred-${depth}`, { modelsDir: dir }, (c) => {
      c.backend.sim.depth = depth;
      c.backend.sim.imageSize = 64;
    });
    t.after(() => app.close());
    const s = app.daemon.status();
    assert.equal(s.reward.version, depth ? 'reward-daib-depth@1' : 'reward-daib@3', app.notes.join('\n'));
    const choice = s.extra.rewardChoice as { file: string; rule: string; passedOver: string[] };
    assert.equal(choice.file, join(dir, depth ? 'reward-depth.onnx' : 'reward.onnx'));
    assert.equal(choice.rule, 'preference');
    const said = /reward model reward-depth\.onnx \(rewardPreference\) passed over: it takes 64 depth cells/;
    assert.equal(
      app.notes.some((n) => said.test(n)),
      !depth,
      app.notes.join('\n'),
    );
    assert.equal(choice.passedOver.length, depth ? 0 : 1);
    assert.ok(app.notes.some((n) => /first in rewardPreference the robot can feed/.test(n)));
  }
  // An operator's REST activation still wins over the preference on a cell that can feed it.
  const r = await simRig(true, { withReward: false });
  t.after(() => r.close());
  const image = r.app.log.store.registerModel({
    kind: 'reward',
    version: 'reward-daib@3',
    path: join(dir, 'reward.onnx'),
    card: readCard(cardPathFor(join(dir, 'reward.onnx'))),
    sha256: sha256Hex(readFileSync(join(dir, 'reward.onnx'))),
  });
  r.app.log.store.activateModel(image, { by: 'test' });
  const loaded = await loadStartupModels(dir, r.app.log.store, { sensors: { depth: true }, rewardPreference: ['reward-depth.onnx', 'reward.onnx'] });
  t.after(() => loaded.reward?.dispose?.());
  assert.equal(loaded.reward?.version, 'reward-daib@3');
  assert.equal(loaded.rewardChoice.rule, 'active');
});

test('a depth stream that stops while a depth reward scores: the watchdog stops the arm within the age and says "depth stale"', async (t) => {
  const r = await simRig(true, { steps: 40 });
  t.after(() => r.close());
  const d = r.app.daemon;
  assert.ok(d.startPractice({ count: 1, scenario: 'II', explorationNoise: 0 }).ok);
  await tickUntil(r.app, () => d.status().episode?.step === 2, 20);
  r.backend.injectFault({ freezeDepth: true });
  const before = r.backend.commandsExecuted;
  await tickUntil(r.app, () => d.currentState === 'estopped', 20);
  const moved = r.backend.commandsExecuted - before;
  const maxMoves = Math.ceil(r.calibration.limits.staleSensorMaxAgeS * r.config.tickHz);
  assert.ok(moved <= maxMoves, `${moved} commands on a stale depth image (limit ${maxMoves})`);
  assert.equal(d.status().safety.estop.source, 'internal:stale-depth');
  assert.match(d.status().safety.estop.detail ?? '', /^depth stale: depth image is \d+\.\d{3} s old \(limit 0\.5 s\)$/);
  const refused = d.resetEstop();
  assert.ok(!refused.ok && /depth stale/.test(refused.reason), `reset refused while the depth is stale: ${JSON.stringify(refused)}`);
  r.backend.clearFaults();
  assert.deepEqual(d.resetEstop(), { ok: true });
});

test('a depth stream that stops with no model using depth: practice goes on (the depth watchdog watches only what is used)', async (t) => {
  const r = await simRig(true, { withReward: false, steps: 12 });
  t.after(() => r.close());
  const d = r.app.daemon;
  assert.ok(d.startPractice({ count: 1, scenario: 'II', explorationNoise: 0 }).ok);
  await tickUntil(r.app, () => d.status().episode?.step === 1, 20);
  r.backend.injectFault({ freezeDepth: true });
  await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null, 40);
  assert.equal(d.status().safety.estop.engaged, false);
  assert.equal(d.currentState, 'idle');
});
