/**
 * Operator takeover inside the control loop (issue 11, "Teleop takeover"): over REST (a leased command, real fastify on
 * port 0) and on the ROS teleop topic (the FakeTransport, a stand-in for a ROS graph), the operator's move replaces
 * the policy's, under the step limit and the safety filter, and every such step is logged (real SQLite file) as an
 * intervention with its source; a lapsed lease gives the arm back to the policy; the e-stop beats any takeover.
 * The daemon drives the mock robot (src/robot/mock-backend.ts), ticks by hand.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Vec3 } from '../../src/core/types.ts';
import { clampPerAxis } from '../../src/control/action.ts';
import { DEFAULT_TELEOP } from '../../src/ros2/config.ts';
import { FakeTransport } from '../../src/ros2/fake-transport.ts';
import { TeleopInput } from '../../src/ros2/teleop.ts';
import { QOS_SENSOR } from '../../src/ros2/transport.ts';
import type { TransitionRecord } from '../../src/store/types.ts';
import { logged, mockRig, scriptedPolicy, tickUntil, TOKEN, type MockRig } from './helpers.ts';
import { teardown } from '../teardown.ts';

const POLICY_RESIDUAL: Vec3 = [0.004, 0, 0];
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- reply bodies differ by route; tests assert field by field
async function post(r: MockRig, path: string, body: unknown, headers: Record<string, string> = auth): Promise<{ status: number; json: any }> {
  const res = await fetch(`${r.app.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

async function start(t: TestContext, o: { listen?: boolean } = {}): Promise<MockRig> {
  const r = await mockRig({ listen: o.listen ?? true, policy: scriptedPolicy('fixed-residual', () => POLICY_RESIDUAL), overrides: { episodeSteps: 8 } });
  teardown(t)(() => r.close());
  assert.ok(r.app.daemon.startPractice({ count: 1, scenario: 'II', explorationNoise: 0 }).ok);
  await r.app.daemon.settle(); // the reset: running, no step taken yet
  assert.equal(r.app.daemon.currentState, 'running');
  return r;
}

async function steps(r: MockRig): Promise<TransitionRecord[]> {
  await logged(r);
  const ep = r.app.log.store.listEpisodes({ limit: 1 })[0];
  return r.app.log.store.getEpisode(ep!.id, { transitions: true, images: false })?.transitions ?? [];
}

const close = (a: readonly number[], b: readonly number[], tol = 1e-12): boolean => a.every((v, i) => Math.abs(v - (b[i] as number)) <= tol);

test('a REST takeover replaces the policy, is logged as an intervention with its source, and shows in /status and /events', async (t) => {
  const r = await start(t);
  const d = r.app.daemon;
  await tickUntil(r.app, () => d.status().episode?.step === 2);
  // The event stream, read beside the ticks.
  const sse = fetch(`${r.app.url}/events`).then(async (res) => {
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!/event: takeover\ndata: \{"active":false/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await reader.cancel();
    return text;
  });
  const op: Vec3 = [0.001, -0.002, -0.003];
  // Renewed before each tick, as a spacemouse client sends: at load 30 one 1 s lease (the API's longest) lapsed over the
  // two ticks, and the lapse is the next test's subject.
  const hold = (): ReturnType<typeof post> => post(r, '/teleop', { delta: op, leaseS: 1, source: 'spacemouse' });
  const held = await hold();
  assert.equal(held.status, 202, JSON.stringify(held.json));
  assert.equal(held.json.inEpisode, true);
  await d.tick();
  assert.equal((await hold()).status, 202);
  await d.tick();
  const st = (await (await fetch(`${r.app.url}/status`)).json()) as { takeover: { active: boolean; source: string; episodeSteps: number } };
  assert.equal(st.takeover.active, true);
  assert.equal(st.takeover.source, 'rest:spacemouse');
  assert.equal(st.takeover.episodeSteps, 2);
  assert.equal((await post(r, '/teleop/release', {})).json.wasHolding, true);
  await tickUntil(r.app, () => d.currentState === 'idle');
  const ts = await steps(r);
  const iv = ts.filter((x) => x.intervention);
  assert.deepEqual(
    iv.map((x) => x.step),
    [2, 3],
    'exactly the two held ticks',
  );
  for (const x of iv) {
    assert.equal(x.interventionSource, 'rest:spacemouse');
    assert.ok(close(x.actionExecuted!, op), `the operator's move was executed (${String(x.actionExecuted)})`);
    // Learning sees the residual the policy should have output: executed - u_H, bounded like any residual.
    const want = clampPerAxis([op[0] - x.actionP![0], op[1] - x.actionP![1], op[2] - x.actionP![2]], r.calibration.limits.residualBoundM);
    assert.ok(close(x.actionResidual!, want), `residual ${String(x.actionResidual)} = executed - u_H ${String(want)}`);
  }
  for (const x of ts.filter((y) => !y.intervention && y.actionP)) {
    assert.equal(x.interventionSource, null);
    assert.ok(close(x.actionResidual!, POLICY_RESIDUAL), 'the policy drove the other steps');
  }
  const events = r.app.log.store.listEvents({ kind: 'takeover', order: 'asc' });
  assert.deepEqual(
    events.map((e) => [(e.data as { active: boolean }).active, (e.data as { source: string }).source]),
    [
      [true, 'rest:spacemouse'],
      [false, 'rest:spacemouse'],
    ],
  );
  const text = await sse;
  assert.match(text, /event: takeover\ndata: \{"active":true,"source":"rest:spacemouse"/);
  assert.match(text, /event: takeover\ndata: \{"active":false,"source":"rest:spacemouse"/);
  const last = d.status().lastEpisode;
  assert.equal(last?.interventionSteps, 2);
});

test('a lapsed lease stops overriding within a tick: the policy resumes, nothing stale moves the arm', async (t) => {
  const r = await start(t);
  const d = r.app.daemon;
  // 1 s (the API's longest): the first tick must come within the lease (at load 30 a 50 ms lease had lapsed before it);
  // then the client goes quiet and the test waits for the lapse itself, not for a guess at its time.
  assert.equal((await post(r, '/teleop', { delta: [0, 0, -0.001], leaseS: 1 })).status, 202);
  await d.tick(); // held
  const quiet = Date.now();
  while (d.status().takeover.rest.holding) {
    assert.ok(Date.now() - quiet < 60_000, 'the lease never lapsed');
    await new Promise((res) => setTimeout(res, 20));
  }
  await d.tick();
  await d.tick();
  await tickUntil(r.app, () => d.currentState === 'idle');
  const ts = await steps(r);
  assert.deepEqual(
    ts.filter((x) => x.intervention).map((x) => x.step),
    [0],
  );
  assert.ok(
    ts
      .slice(1)
      .filter((x) => x.actionP)
      .every((x) => close(x.actionResidual!, POLICY_RESIDUAL)),
  );
  // The default lease is two control periods.
  const def = await post(r, '/teleop', { delta: [0, 0, 0] });
  assert.equal(def.json.leaseS, 2 / r.config.tickHz);
});

test('a takeover command beyond the step limit is limited (direction kept); out-of-bounds requests are refused', async (t) => {
  const r = await start(t);
  const d = r.app.daemon;
  const big: Vec3 = [0.02, 0.02, -0.02];
  assert.equal((await post(r, '/teleop', { delta: big, leaseS: 1 })).status, 202);
  const before = r.mock.commandLog.length;
  await d.tick();
  const sent = r.mock.commandLog[before] as Vec3;
  const max = r.calibration.limits.maxStepM;
  assert.ok(Math.abs(Math.hypot(...sent) - max) < 1e-12, `|command| ${Math.hypot(...sent)} = maxStepM ${max}`);
  assert.ok(Math.abs(sent[0] - sent[1]) < 1e-15 && Math.abs(sent[0] + sent[2]) < 1e-15, 'direction kept');
  d.releaseTakeover();
  await tickUntil(r.app, () => d.currentState === 'idle');
  const iv = (await steps(r)).filter((x) => x.intervention);
  assert.equal(iv.length, 1);
  const x = iv[0]!;
  assert.ok(close(x.actionExecuted!, sent), 'logged what was sent');
  // The logged residual is that of the LIMITED move (what the policy should have output to make it), bounded.
  const want = clampPerAxis([sent[0] - x.actionP![0], sent[1] - x.actionP![1], sent[2] - x.actionP![2]], r.calibration.limits.residualBoundM);
  assert.ok(close(x.actionResidual!, want), `residual ${String(x.actionResidual)} vs ${String(want)}`);
  // Bounded at the door: per axis +-0.05 m, lease (0, 1] s, token required.
  assert.equal((await post(r, '/teleop', { delta: [0.06, 0, 0] })).status, 400);
  assert.equal((await post(r, '/teleop', { delta: [0, 0, 0], leaseS: 5 })).status, 400);
  assert.equal((await post(r, '/teleop', { delta: [0, 0] })).status, 400);
  assert.equal((await post(r, '/teleop', { delta: [0, 0, 0] }, { 'content-type': 'application/json' })).status, 401);
});

test('a takeover on the ROS teleop topic (spacenav Twist through the FakeTransport) overrides the policy and is logged', async (t) => {
  const defer = teardown(t);
  const r = await start(t, { listen: false });
  const d = r.app.daemon;
  const bus = new FakeTransport();
  let now = 0;
  const teleop = new TeleopInput(bus, { ...DEFAULT_TELEOP, twist: '/spacenav/twist', twistScale: 0.05, timeout: 0.3 }, () => now);
  defer(() => teleop.close());
  d.addTakeoverInput(teleop);
  assert.deepEqual(d.status().takeover.inputs, ['rest', 'ros2-teleop']);
  const pub = bus.createPublisher('/spacenav/twist', 'geometry_msgs/msg/Twist', QOS_SENSOR);
  pub.publish({ linear: { x: 0.2, y: 0, z: -0.4 }, angular: { x: 0, y: 0, z: 0 } });
  for (let i = 0; i < 3; i++) await new Promise((res) => setImmediate(res));
  await d.tick();
  assert.equal(d.status().takeover.source, 'ros2:/spacenav/twist');
  now += 0.5; // the teleop node went quiet
  await d.tick();
  assert.equal(d.status().takeover.active, false);
  await tickUntil(r.app, () => d.currentState === 'idle');
  const ts = await steps(r);
  const iv = ts.filter((x) => x.intervention);
  assert.deepEqual(
    iv.map((x) => [x.step, x.interventionSource]),
    [[0, 'ros2:/spacenav/twist']],
  );
  // 0.2 * 0.05 m/s and -0.4 * 0.05 m/s for one 0.1 s period.
  assert.ok(close(iv[0]!.actionExecuted!, [0.001, 0, -0.002], 1e-12), String(iv[0]!.actionExecuted));
  assert.ok(
    ts
      .slice(1)
      .filter((x) => x.actionP)
      .every((x) => !x.intervention && close(x.actionResidual!, POLICY_RESIDUAL)),
  );
});

test('e-stop beats a takeover: nothing is commanded after it, the lease is dropped, a new takeover is refused', async (t) => {
  const r = await start(t);
  const d = r.app.daemon;
  assert.equal((await post(r, '/teleop', { delta: [0, 0, -0.002], leaseS: 1 })).status, 202);
  await d.tick();
  const executed = r.mock.commandsExecuted;
  const logLen = r.mock.commandLog.length;
  assert.equal((await post(r, '/estop', {}, { 'content-type': 'application/json' })).status, 200);
  for (let i = 0; i < 3; i++) await d.tick();
  assert.equal(d.currentState, 'estopped');
  assert.equal(r.mock.commandsExecuted, executed, 'no command after the e-stop');
  assert.equal(r.mock.commandLog.length, logLen);
  assert.equal(d.status().takeover.rest.holding, false, 'the lease did not survive the e-stop');
  assert.equal(d.status().takeover.active, false);
  const refused = await post(r, '/teleop', { delta: [0, 0, -0.002], leaseS: 1 });
  assert.equal(refused.status, 409);
  assert.match(refused.json.message, /e-stop/);
  // After a reset the old lease is gone: a new episode is driven by the policy.
  assert.equal(d.resetEstop().ok, true);
  assert.ok(d.startPractice({ count: 1, scenario: 'II', explorationNoise: 0 }).ok);
  await tickUntil(r.app, () => d.currentState === 'idle' && d.status().practice === null);
  await logged(r);
  const eps = r.app.log.store.listEpisodes({ limit: 1 });
  const ts = r.app.log.store.getEpisode(eps[0]!.id, { transitions: true, images: false })?.transitions ?? [];
  assert.ok(ts.length > 0 && ts.every((x) => !x.intervention));
});
