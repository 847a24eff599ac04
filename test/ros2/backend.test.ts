import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ros2Backend, DEFAULT_ROS2_CONFIG, type Ros2BackendConfig } from '../../src/ros2/backend.ts';
import { FakeTransport } from '../../src/ros2/fake-transport.ts';
import { compressedImageToMsg, imageToMsg, poseToMsg, wrenchToMsg, deltaFromTwistStamped, timeToSec } from '../../src/ros2/convert.ts';
import { decode, type RobotAssemblyStateMsg } from '../../src/ros2/messages.ts';
import { QOS_DEFAULT, QOS_LATCHED, QOS_SENSOR } from '../../src/ros2/transport.ts';
import type { RgbImage, Vec3 } from '../../src/core/types.ts';
import { ROBOT_STATE_OK } from './helpers.ts';

const flush = async (n = 3): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

function frame(v: number, w = 8, h = 6): RgbImage {
  return { width: w, height: h, data: new Uint8Array(w * h * 3).fill(v) };
}

function cfg(edit: (c: Ros2BackendConfig) => void = () => undefined): Ros2BackendConfig {
  const c = structuredClone(DEFAULT_ROS2_CONFIG);
  c.goal = [0.5, 0, 0.1];
  c.topics.robotState = '/robot/state';
  edit(c);
  return c;
}

/** Publishers a robot would have, on the fake graph. */
function robot(t: FakeTransport) {
  return {
    image: t.createPublisher('/camera/image_raw', 'sensor_msgs/msg/Image', QOS_SENSOR),
    wrench: t.createPublisher('/wrist_ft/wrench', 'geometry_msgs/msg/WrenchStamped', QOS_SENSOR),
    pose: t.createPublisher('/ee_pose', 'geometry_msgs/msg/PoseStamped', QOS_SENSOR),
    estop: t.createPublisher('/estop', 'std_msgs/msg/Bool', QOS_LATCHED),
    state: t.createPublisher('/robot/state', 'intera_core_msgs/msg/RobotAssemblyState', QOS_LATCHED),
  };
}

const twists = (t: FakeTransport, topic = '/insertion/cmd_twist') => (t.published.get(topic) ?? []).map((b) => decode('geometry_msgs/msg/TwistStamped', b));

test('raw images: only the newest frame is kept and converted; stamps are receive times on the backend clock', async () => {
  const t = new FakeTransport();
  const b = new Ros2Backend(t, cfg());
  const r = robot(t);
  const o0 = b.observe();
  assert.ok(b.clock() - o0.imageStamp > 1e6, 'no frame yet: stamp very old, so the watchdog trips');
  for (let i = 1; i <= 10; i++) r.image.publish(imageToMsg(frame(i * 10), 100 + i, 'cam'));
  await flush();
  assert.equal(t.dropped, 9, 'depth-1 sensor QoS: a subscriber that falls behind sees only the newest');
  const o = b.observe();
  assert.equal(o.image.data[0], 100);
  assert.ok(Math.abs(b.clock() - o.imageStamp) < 0.5);
  assert.equal(b.headerStamps.image, 110);
  assert.equal(b.topicStats().find((s) => s.topic === '/camera/image_raw')?.count, 1);
  b.dispose();
});

test('compressed images: at most one decode in flight and one pending, the newest wins', async () => {
  const t = new FakeTransport();
  const b = new Ros2Backend(
    t,
    cfg((c) => {
      c.topics.image = '/camera/image_raw/compressed';
      c.topics.imageKind = 'compressed';
      c.qos.sensors = { ...QOS_SENSOR, depth: 100 }; // let every frame through, to load the decoder
    }),
  );
  const pub = t.createPublisher('/camera/image_raw/compressed', 'sensor_msgs/msg/CompressedImage', QOS_SENSOR);
  const msgs = await Promise.all([1, 2, 3, 4, 5, 6].map((v) => compressedImageToMsg(frame(v * 20, 32, 24), v, 'cam', 'png')));
  for (const m of msgs) pub.publish(m);
  await flush(1); // the fake delivers all six in one batch, before any decode can finish
  for (let i = 0; i < 200 && (b.decodeState.decoding || b.decodeState.pending); i++) await new Promise((r) => setTimeout(r, 5));
  const o = b.observe();
  assert.equal(o.image.width, 32);
  assert.equal(o.image.data[0], 120, 'the last frame published is the one observed');
  assert.equal(b.topicStats()[0]?.count, 6);
  assert.equal(b.decodesStarted, 2, 'the first frame, then only the newest of the five that arrived meanwhile');
  b.dispose();
});

test('bad image encoding: reported per topic, stamp not refreshed (watchdog trips), other topics unaffected', async () => {
  const t = new FakeTransport();
  const b = new Ros2Backend(t, cfg());
  const r = robot(t);
  r.image.publish({ ...imageToMsg(frame(1), 1, 'cam'), encoding: '16UC1' });
  r.wrench.publish(wrenchToMsg([1, 2, 3, 0, 0, 0], 1, 'ft'));
  await flush();
  const o = b.observe();
  assert.ok(o.imageStamp < -1e8);
  assert.ok(Math.abs(b.clock() - o.wrenchStamp) < 0.5);
  assert.match(b.topicStats()[0]?.error ?? '', /\/camera\/image_raw: image encoding '16UC1'/);
  const diag = b.diagnostics(0.5);
  assert.equal(diag[0]?.level, 2);
  b.dispose();
});

test('received rate per topic (about 100 Hz published -> about 100 Hz reported), decays when the stream stops', async () => {
  const t = new FakeTransport();
  const b = new Ros2Backend(
    t,
    cfg((c) => (c.rateWindow = 0.3)),
  );
  const r = robot(t);
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < 400) {
    r.wrench.publish(wrenchToMsg([0, 0, 0, 0, 0, 0], n++, 'ft'));
    await new Promise((res) => setTimeout(res, 10));
  }
  const s = b.topicStats().find((x) => x.topic === '/wrist_ft/wrench');
  const expected = n / ((performance.now() - t0) / 1000);
  assert.ok(s && Math.abs(s.rateHz - expected) / expected < 0.3, `rate ${s?.rateHz} vs published ${expected}`);
  await new Promise((res) => setTimeout(res, 350));
  assert.equal(b.topicStats().find((x) => x.topic === '/wrist_ft/wrench')?.rateHz, 0);
  b.dispose();
});

test('motion commands: TwistStamped velocity = delta / period; PoseStamped target = measured pose + delta', async () => {
  const t = new FakeTransport();
  const b = new Ros2Backend(t, cfg());
  b.command([0.001, -0.002, 0.0005]);
  const tw = twists(t);
  assert.equal(tw.length, 1);
  assert.deepEqual(
    deltaFromTwistStamped(tw[0]!, 0.1).map((v) => Math.round(v * 1e7) / 1e7),
    [0.001, -0.002, 0.0005],
  );
  assert.equal(tw[0]!.header.frame_id, 'base');
  b.dispose();

  const t2 = new FakeTransport();
  const b2 = new Ros2Backend(
    t2,
    cfg((c) => {
      c.command.mode = 'pose';
      c.topics.command = '/insertion/cmd_pose';
    }),
  );
  b2.command([0.01, 0, 0]);
  assert.equal(b2.commandsSuppressed, 1, 'no pose yet: nothing to add a delta to');
  robot(t2).pose.publish(poseToMsg({ pos: [0.4, 0.1, 0.2], quat: [1, 0, 0, 0] }, 1, 'base'));
  await flush();
  b2.command([0.01, 0, -0.02]);
  const p = decode('geometry_msgs/msg/PoseStamped', t2.published.get('/insertion/cmd_pose')!.at(-1)!);
  assert.ok(Math.abs(p.pose.position.x - 0.41) < 1e-12 && Math.abs(p.pose.position.z - 0.18) < 1e-12);
  b2.dispose();
});

test('remaps and QoS come from the config', async () => {
  const t = new FakeTransport();
  const seen: string[] = [];
  const orig = t.subscribe.bind(t);
  t.subscribe = (topic: string, type: never, qos: typeof QOS_SENSOR, cb: never) => {
    seen.push(`${topic} ${qos.reliability} ${qos.depth}`);
    return orig(topic, type, qos, cb);
  };
  const b = new Ros2Backend(
    t,
    cfg((c) => {
      c.remaps = { '/camera/image_raw': '/wrist_cam/color/image_raw', '/insertion/cmd_twist': '/robot/cmd' };
      c.qos.sensors = { ...QOS_DEFAULT, depth: 2 };
    }),
  );
  assert.ok(seen.includes('/wrist_cam/color/image_raw reliable 2'), seen.join('\n'));
  b.command([0, 0, 0.001]);
  assert.equal(t.published.get('/robot/cmd')?.length, 1);
  b.dispose();
});

test('e-stop over std_msgs/Bool: engages at once, publishes a stop and then no motion; release resumes', async () => {
  const t = new FakeTransport();
  const b = new Ros2Backend(t, cfg());
  const r = robot(t);
  const events: boolean[] = [];
  b.onEstop((s) => events.push(s.engaged));
  b.command([0.001, 0, 0]);
  r.estop.publish({ data: true });
  await flush();
  assert.deepEqual(b.estopEngaged(), { engaged: true, source: '/estop: engaged' });
  const before = twists(t).length;
  assert.deepEqual(twists(t).at(-1)!.twist.linear, { x: 0, y: 0, z: 0 }, 'a stop went out as the e-stop arrived');
  for (let i = 0; i < 5; i++) b.command([0.001, 0, 0]);
  assert.equal(twists(t).length, before, 'no motion command while engaged');
  assert.equal(b.commandsSuppressed, 5);
  await assert.rejects(b.moveToStart({ seed: 1, scenario: 'I' }), /e-stop engaged/);
  r.estop.publish({ data: false });
  await flush();
  assert.equal(b.estopEngaged().engaged, false);
  b.command([0.001, 0, 0]);
  assert.equal(twists(t).length, before + 2, 'moveToStart published one stop, then the command went out');
  assert.deepEqual(events, [true, false]);
  b.dispose();
});

test("Intera /robot/state: pressed and released-but-not-reset both hold the e-stop; only the robot's reset clears it", async () => {
  const t = new FakeTransport();
  const b = new Ros2Backend(
    t,
    cfg((c) => (c.topics.estop = null)),
  );
  const r = robot(t);
  const ok: RobotAssemblyStateMsg = ROBOT_STATE_OK;
  r.state.publish(ok);
  await flush();
  assert.equal(b.estopEngaged().engaged, false);
  r.state.publish({ ...ok, stopped: true, enabled: false, ready: false, estop_button: 1, estop_source: 1 });
  await flush();
  assert.match(b.estopEngaged().source ?? '', /user, button pressed/);
  r.state.publish({ ...ok, stopped: true, enabled: false, ready: false, estop_button: 3, estop_source: 1 });
  await flush();
  assert.equal(b.estopEngaged().engaged, true);
  assert.match(b.estopEngaged().source ?? '', /released, robot not reset/);
  const n = twists(t).length;
  b.command([0.001, 0, 0]);
  assert.equal(twists(t).length, n);
  r.state.publish(ok);
  await flush();
  assert.equal(b.estopEngaged().engaged, false);
  b.dispose();
});

test('zeroWrench tares the current reading; observation carries pose, goal and the bias-corrected wrench', async () => {
  const t = new FakeTransport();
  const b = new Ros2Backend(t, cfg());
  const r = robot(t);
  r.wrench.publish(wrenchToMsg([1, 2, 3, 0.1, 0.2, 0.3], 5, 'ft'));
  r.pose.publish(poseToMsg({ pos: [0.5, 0.01, 0.13], quat: [1, 0, 0, 0] }, 5, 'base'));
  await flush();
  b.zeroWrench();
  r.wrench.publish(wrenchToMsg([1, 2, 8, 0.1, 0.2, 0.3], 6, 'ft'));
  await flush();
  const o = b.observe();
  assert.deepEqual(
    o.wrench.map((v) => Math.round(v * 1e9) / 1e9),
    [0, 0, 5, 0, 0, 0],
  );
  assert.deepEqual(o.eePos, [0.5, 0.01, 0.13]);
  assert.deepEqual(o.goal, [0.5, 0, 0.1]);
  assert.equal(b.headerStamps.wrench, 6);
  b.dispose();
});

test('moveToStart drives a fake arm closed loop to the seeded start pose above x* (up first, then across)', async () => {
  const t = new FakeTransport();
  const b = new Ros2Backend(
    t,
    cfg((c) => {
      c.controlPeriod = 0.01;
      c.start = { height: 0.03, speed: 0.5, tolerance: 0.0005, timeout: 5 };
    }),
  );
  // The fake arm: integrates each twist over the period and publishes its pose.
  let pos: Vec3 = [0.5, 0, 0.1];
  const posePub = t.createPublisher('/ee_pose', 'geometry_msgs/msg/PoseStamped', QOS_SENSOR);
  const path: Vec3[] = [];
  t.subscribe('/insertion/cmd_twist', 'geometry_msgs/msg/TwistStamped', QOS_DEFAULT, (m) => {
    const d = deltaFromTwistStamped(m, 0.01);
    pos = [pos[0] + d[0], pos[1] + d[1], pos[2] + d[2]];
    path.push(pos);
    posePub.publish(poseToMsg({ pos, quat: [1, 0, 0, 0] }, timeToSec({ sec: 0, nanosec: 0 }), 'base'));
  });
  posePub.publish(poseToMsg({ pos, quat: [1, 0, 0, 0] }, 0, 'base'));
  await flush();
  const target = b.startPose({ seed: 7, scenario: 'II' });
  const lateral = Math.hypot(target[0] - 0.5, target[1]);
  assert.ok(lateral >= 0.01 && lateral <= 0.02, `scenario II: 10-20 mm away, got ${lateral}`);
  assert.deepEqual(b.startPose({ seed: 7, scenario: 'II' }), target, 'seeded');
  await b.moveToStart({ seed: 7, scenario: 'II' });
  await flush();
  assert.ok(Math.hypot(pos[0] - target[0], pos[1] - target[1], pos[2] - target[2]) <= 0.0006);
  const firstLateral = path.findIndex((p) => Math.hypot(p[0] - 0.5, p[1]) > 1e-4);
  assert.ok(firstLateral > 0 && (path[firstLateral - 1]?.[2] ?? 0) >= target[2] - 0.0006, 'rose to the start height before moving across');
  b.dispose();
});

test('moveToStart without a pose stream fails with the topic named', async () => {
  const t = new FakeTransport();
  const b = new Ros2Backend(t, cfg());
  await assert.rejects(b.moveToStart({ seed: 1, scenario: 'I' }), /no end-effector pose on \/ee_pose/);
  const nogoal = new Ros2Backend(
    new FakeTransport(),
    cfg((c) => (c.goal = null)),
  );
  await assert.rejects(nogoal.moveToStart({ seed: 1, scenario: 'I' }), /no socket pose x\*/);
  b.dispose();
  nogoal.dispose();
});
