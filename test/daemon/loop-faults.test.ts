/**
 * The control loop under faults that are about the daemon, not physics, on the mock robot and a real SQLite log:
 * a workspace trip inside the loop, a reward model that returns garbage or throws, a failing moveToStart, an e-stop or
 * a shutdown while the arm is resetting, a pending swap superseded by another. Ticks are driven by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RewardScorer } from '../../src/daemon/interfaces.ts';
import { logged, mockRig, scriptedPolicy, tickUntil, type MockRig } from './helpers.ts';
import { teardown } from '../teardown.ts';

const idle = (r: MockRig) => (): boolean => r.app.daemon.currentState === 'idle' && r.app.daemon.status().practice === null;

/** Resolves with the promise's value, or rejects if it has not settled within `ms` (a hang is a failure, not a stall). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    t = setTimeout(() => rej(new Error(`${what}: not settled within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

function scriptedReward(version: string, out: (call: number) => number): RewardScorer & { calls: number } {
  const r = {
    version,
    input: { image: null, proprio: { layout: ['dx', 'dy', 'dz'], mean: [0, 0, 0], std: [1, 1, 1] } },
    calls: 0,
    async probability(): Promise<number> {
      return out(r.calls++);
    },
  };
  return r;
}

test('a workspace trip inside the loop ends the episode as tripped, commands nothing that tick, and does not latch', async (t) => {
  // x* calibrated 30 mm beside the socket: the P-controller pushes the arm sideways. The safety filter clamps every
  // target to the box edge, but this arm overshoots free-space moves by half, so the tip itself leaves the box.
  const r = await mockRig({
    overrides: { episodeSteps: 20 },
    mock: { overshoot: 0.5 },
    calibration: (c) => {
      c.socket.offset = [0.03, 0, 0];
      c.workspace.max = [0.62 + 0.015, c.workspace.max[1], c.workspace.max[2]];
    },
  });
  t.after(() => r.close());
  const d = r.app.daemon;
  const boxMaxX = r.calibration.workspace.max[0];
  assert.ok(d.startPractice({ count: 2, scenario: 'I', seed: 3 }).ok);
  await d.settle();
  assert.ok(r.mock.tipPos[0] < boxMaxX, 'starts inside the box');
  let tripped = false;
  for (let i = 0; i < 30 && !tripped; i++) {
    const outside = r.mock.tipPos[0] > boxMaxX;
    const before = r.mock.commandsExecuted;
    await d.tick();
    tripped = d.status().safety.lastTrip !== null;
    if (tripped) {
      assert.ok(outside, 'the trip came from the tip outside the box');
      assert.equal(r.mock.commandsExecuted, before, 'nothing commanded in the tick that tripped');
    }
  }
  assert.ok(tripped, 'the controller drove the tip out of the box');
  const s = d.status();
  assert.equal(s.safety.lastTrip?.reason, 'workspace');
  assert.equal(s.safety.estop.engaged, false, 'a workspace trip does not latch the e-stop');
  assert.notEqual(d.currentState, 'estopped');
  assert.equal(s.lastEpisode?.outcome, 'tripped');
  assert.match(s.lastEpisode?.reason ?? '', /^workspace: end effector \[.*\] outside the workspace box$/);
  // Practice goes on: the second episode is reset and run.
  await tickUntil(r.app, idle(r), 100);
  assert.equal(d.currentState, 'idle');
  assert.ok(d.startPractice({ count: 1, scenario: 'I' }).ok, 'nothing to reset: practice may start again');
  d.stopPractice();
  await tickUntil(r.app, idle(r), 20);
  await logged(r);
  const store = r.app.log.store;
  const eps = store.listEpisodes({ order: 'asc' });
  assert.ok(eps.length >= 2, 'the run continued after the trip');
  assert.equal(eps[0]?.outcome, 'tripped');
  assert.ok((eps[0]?.transitionCount ?? 99) < 20, 'ended before its last step');
  assert.equal(eps[0]?.transitionCount, eps[0] ? store.getEpisode(eps[0].id, { transitions: true })?.transitions?.length : -1);
  const trips = store.listEvents({ kind: 'trip' });
  assert.ok(trips.length >= 1);
  assert.deepEqual(trips.at(-1)?.data, { reason: 'workspace', latch: false });
  assert.equal(store.listEvents({ kind: 'estop' }).length, 0, 'no e-stop was recorded');
  assert.equal(r.mock.commandsRefused, 0);
});

test('a reward model that returns NaN, out-of-range values or throws: faults recorded, episodes still close, no crash', async (t) => {
  // Calls by index: episode 1 has 3 per-step calls + the scoring call, episode 2 the same.
  const script = ['nan', 'throw', 'range', 'throw', 'ok', 'inf', 'ok', 'ok'] as const;
  const reward = scriptedReward('flaky-reward@1', (c) => {
    const k = script[c] ?? 'ok';
    if (k === 'throw') throw new Error('reward onnx exploded');
    return k === 'nan' ? NaN : k === 'range' ? 1.7 : k === 'inf' ? Infinity : 0.9;
  });
  // The reward's faults are the subject: the height check (frames far above x* in 4 steps) is off.
  const r = await mockRig({ reward, overrides: { episodeSteps: 4 }, config: (c) => void (c.practice.heightToleranceM = null) });
  t.after(() => r.close());
  const d = r.app.daemon;
  const faults: string[] = [];
  d.on('fault', (m: string) => faults.push(m));
  assert.ok(d.startPractice({ count: 2, scenario: 'I', seed: 8 }).ok);
  await tickUntil(r.app, idle(r), 40);
  assert.equal(reward.calls, 8);
  assert.equal(d.status().safety.estop.engaged, false);
  await logged(r);
  const store = r.app.log.store;
  const eps = store.listEpisodes({ order: 'asc' });
  assert.equal(eps.length, 2, 'both episodes ran');
  for (const e of eps) assert.ok(e.endedAt !== null && (e.outcome === 'success' || e.outcome === 'failure'), `episode ${e.id} closed: ${e.outcome}`);
  // Episode 1's final verdict came from a throwing model: judged by ground truth instead, and said so.
  assert.equal(eps[0]?.learnedSuccessProb, null);
  assert.match(eps[0]?.reason ?? '', /ground truth/);
  assert.equal(eps[0]?.outcome === 'success', eps[0]?.gtSuccess);
  // Episode 2's final verdict is the model's (0.9).
  assert.equal(eps[1]?.learnedSuccessProb, 0.9);
  assert.equal(eps[1]?.outcome, 'success');
  const probs = eps.flatMap((e) => (store.getEpisode(e.id, { transitions: true })?.transitions ?? []).map((x) => x.rewardProb));
  assert.deepEqual(probs, [null, null, null, null, 0.9, null, 0.9, 0.9], 'garbage is logged as "no reward", never as a number');
  const messages = store.listEvents({ kind: 'fault' }).map((e) => e.message);
  assert.equal(messages.filter((m) => /^reward model flaky-reward@1 returned NaN$/.test(m)).length, 1);
  assert.equal(messages.filter((m) => /^reward model flaky-reward@1 failed: reward onnx exploded$/.test(m)).length, 2);
  assert.ok(messages.includes('reward model flaky-reward@1 returned 1.7'));
  assert.ok(messages.includes('reward model flaky-reward@1 returned Infinity'));
  assert.equal(faults.length, 5, 'each bad call is a fault event');
  assert.equal(r.mock.commandsExecuted, 8, 'every step still commanded');
});

test('moveToStart failing: fault recorded, arm stopped, back to idle, practice cancelled', async (t) => {
  const defer = teardown(t);
  const r = await mockRig({ overrides: { episodeSteps: 3 } });
  defer(() => r.close());
  const d = r.app.daemon;
  const store = r.app.log.store;
  // The very first reset fails.
  r.mock.failNextReset(new Error('trajectory controller rejected the goal'));
  const stops = r.mock.stopsRequested;
  assert.ok(d.startPractice({ count: 3, scenario: 'I' }).ok);
  await d.settle();
  assert.equal(d.currentState, 'idle');
  assert.equal(d.status().practice, null, 'practice cancelled');
  assert.equal(d.status().episode, null);
  assert.ok(r.mock.stopsRequested > stops, 'the arm was told to hold');
  for (let i = 0; i < 3; i++) await d.tick();
  assert.equal(r.mock.commandsExecuted, 0);
  await logged(r);
  assert.equal(store.listEpisodes().length, 0, 'no episode was opened');
  assert.ok(store.listEvents({ kind: 'fault' }).some((e) => e.message === 'moveToStart failed: trajectory controller rejected the goal'));

  // A later reset fails, after one good episode: that episode stays intact, the run ends there.
  assert.ok(d.startPractice({ count: 3, scenario: 'I' }).ok, 'idle really is idle: a new run starts');
  await tickUntil(r.app, () => d.status().episode?.step === 1, 10);
  r.mock.failNextReset(new Error('gripper lost the plug'));
  const stops2 = r.mock.stopsRequested;
  await tickUntil(r.app, idle(r), 20);
  assert.ok(r.mock.stopsRequested > stops2);
  assert.equal(d.status().lastEpisode?.outcome === 'success' || d.status().lastEpisode?.outcome === 'failure', true);
  await logged(r);
  const eps = store.listEpisodes();
  assert.equal(eps.length, 1);
  assert.equal(eps[0]?.transitionCount, 3);
  assert.ok(store.listEvents({ kind: 'fault' }).some((e) => e.message === 'moveToStart failed: gripper lost the plug'));
  assert.equal(r.mock.commandsExecuted, 3);
});

for (const mode of ['abort', 'ignore'] as const) {
  test(`an e-stop during a reset (${mode === 'abort' ? 'the reset aborts' : 'the reset finishes anyway'}): latched, no episode opened, nothing moves after`, async (t) => {
    const r = await mockRig({ overrides: { episodeSteps: 5 }, mock: { stopDuringReset: mode } });
    t.after(() => r.close());
    const d = r.app.daemon;
    const gate = r.mock.gateNextReset();
    assert.ok(d.startPractice({ count: 3, scenario: 'II' }).ok);
    await gate.entered;
    assert.equal(d.currentState, 'resetting');
    d.estop('operator, mid-reset');
    assert.equal(d.currentState, 'estopped');
    assert.equal(d.status().practice, null, 'practice cancelled');
    const motions = r.mock.motions;
    gate.release();
    await d.settle();
    if (mode === 'ignore') assert.equal(r.mock.resetsCompleted, 1, 'the backend finished its reset');
    else assert.equal(r.mock.resetsCompleted, 0, 'the backend halted the reset');
    for (let i = 0; i < 5; i++) await d.tick();
    assert.equal(d.currentState, 'estopped', 'still latched');
    assert.equal(d.status().safety.estop.engaged, true);
    assert.equal(d.status().episode, null, 'no episode opened after the e-stop');
    assert.equal(d.status().practice, null);
    assert.equal(r.mock.commandsExecuted, 0, 'nothing commanded');
    assert.equal(r.mock.retracts, 0);
    assert.equal(r.mock.motions, motions + (mode === 'ignore' ? 1 : 0), "only the backend's own reset motion, if it ignored stop()");
    await logged(r);
    assert.equal(r.app.log.store.listEpisodes().length, 0);
    assert.deepEqual(d.resetEstop(), { ok: true });
    assert.equal(d.currentState, 'idle');
  });
}

test("the robot's e-stop pressed during a reset: latched, reset refused while engaged, no episode", async (t) => {
  const defer = teardown(t);
  const r = await mockRig({ overrides: { episodeSteps: 5 } });
  defer(() => r.close());
  const d = r.app.daemon;
  const gate = r.mock.gateNextReset();
  assert.ok(d.startPractice({ count: 2, scenario: 'I' }).ok);
  await gate.entered;
  r.mock.pressEstop('mock-button');
  assert.equal(d.currentState, 'estopped');
  await d.settle();
  for (let i = 0; i < 3; i++) await d.tick();
  assert.equal(r.mock.commandsExecuted + r.mock.commandsRefused, 0);
  assert.equal(d.status().episode, null);
  const refused = d.resetEstop();
  assert.ok(!refused.ok && /still engaged/.test(refused.reason));
  r.mock.releaseEstop();
  assert.deepEqual(d.resetEstop(), { ok: true });
  await logged(r);
  assert.equal(r.app.log.store.listEpisodes().length, 0);
});

for (const mode of ['abort', 'ignore'] as const) {
  test(`shutdown during a reset (${mode}): returns, opens no episode, leaves the arm idle and unmoved`, async (t) => {
    const r = await mockRig({ overrides: { episodeSteps: 5 }, mock: { stopDuringReset: mode } });
    t.after(() => r.close());
    const d = r.app.daemon;
    const gate = r.mock.gateNextReset();
    assert.ok(d.startPractice({ count: 2, scenario: 'I' }).ok);
    await gate.entered;
    const done = d.shutdown('test shutdown');
    if (mode === 'ignore') {
      // The backend carries on with its motion; shutdown waits for it, then must not start the episode.
      await new Promise((res) => setTimeout(res, 20));
      gate.release();
    }
    await within(done, 5000, 'shutdown');
    assert.equal(d.currentState, 'idle');
    assert.equal(d.status().episode, null);
    assert.equal(d.status().practice, null);
    assert.ok(r.mock.stopsRequested >= 1);
    await d.tick();
    assert.equal(r.mock.commandsExecuted, 0);
    assert.equal(r.app.log.store.listEpisodes().length, 0, 'no episode opened (and so none left open)');
    assert.ok(!d.startPractice({ count: 1 }).ok, 'a shut-down daemon refuses practice');
  });
}

test('a pending swap superseded by another: the superseded policy never drives, and its promise resolves', async (t) => {
  const a = scriptedPolicy('v-a', () => [0.001, 0, 0]);
  const b = scriptedPolicy('v-b', () => [0, 0.001, 0]);
  const c = scriptedPolicy('v-c', () => [0, 0, 0.001]);
  const r = await mockRig({ policy: a, overrides: { episodeSteps: 4 } });
  t.after(() => r.close());
  const d = r.app.daemon;
  assert.ok(d.startPractice({ count: 2, scenario: 'I' }).ok);
  await tickUntil(r.app, () => d.status().episode?.step === 2, 10);
  const pb = d.setPolicy(b);
  assert.equal(d.status().policy.pendingSwap, 'v-b');
  const pc = d.setPolicy(c);
  assert.equal(await within(pb, 1000, "the superseded swap's promise"), b, 'resolves with the superseded policy itself (the caller disposes it)');
  assert.equal(d.status().policy.pendingSwap, 'v-c');
  assert.equal(d.policyVersion, 'v-a', 'still mid-episode');
  await tickUntil(r.app, () => d.status().lastEpisode !== null, 10);
  assert.equal(await within(pc, 1000, 'the newer swap'), a, 'lands at the boundary, handing back the old driver');
  assert.equal(d.policyVersion, 'v-c');
  await tickUntil(r.app, idle(r), 20);
  assert.equal(b.calls, 0, 'the superseded policy never ran');
  await logged(r);
  const store = r.app.log.store;
  const versions = store
    .listEpisodes({ order: 'asc' })
    .map((e) => (store.getEpisode(e.id, { transitions: true })?.transitions ?? []).map((x) => x.policyVersion));
  assert.deepEqual(versions, [
    ['v-a', 'v-a', 'v-a', 'v-a'],
    ['v-c', 'v-c', 'v-c', 'v-c'],
  ]);
  assert.ok(!store.listEvents({ kind: 'swap' }).some((e) => /v-b/.test(e.message)), 'no swap to v-b was ever recorded');
});

test('a pending swap superseded by p-only (null), then by a policy again: each promise resolves once, in order', async (t) => {
  const a = scriptedPolicy('v-a', () => [0, 0, 0]);
  const b = scriptedPolicy('v-b', () => [0, 0, 0]);
  const c = scriptedPolicy('v-c', () => [0, 0, 0]);
  const r = await mockRig({ policy: a, overrides: { episodeSteps: 3 } });
  t.after(() => r.close());
  const d = r.app.daemon;
  assert.ok(d.startPractice({ count: 1, scenario: 'I' }).ok);
  await tickUntil(r.app, () => d.status().episode?.step === 1, 10);
  const order: string[] = [];
  const pb = d.setPolicy(b).then((x) => order.push(`b->${x?.version ?? 'null'}`));
  const pn = d.setPolicy(null).then((x) => order.push(`null->${x?.version ?? 'null'}`));
  const pc = d.setPolicy(c).then((x) => order.push(`c->${x?.version ?? 'null'}`));
  await within(Promise.all([pb, pn]), 1000, 'superseded swaps');
  assert.deepEqual(order, ['b->v-b', 'null->null'], 'a superseded p-only swap resolves with null: nothing to dispose');
  await tickUntil(r.app, idle(r), 10);
  await within(pc, 1000, 'the last swap');
  assert.deepEqual(order, ['b->v-b', 'null->null', 'c->v-a']);
  assert.equal(b.calls, 0);
});
