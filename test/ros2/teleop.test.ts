import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeTransport } from '../../src/ros2/fake-transport.ts';
import { TeleopInput, type TakeoverTransition } from '../../src/ros2/teleop.ts';
import { DEFAULT_TELEOP } from '../../src/ros2/config.ts';
import { QOS_SENSOR } from '../../src/ros2/transport.ts';

const flush = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};

test('spacenav Twist takes over while it streams, lapses after the timeout; transitions carry the source', async () => {
  const t = new FakeTransport();
  let now = 100;
  const tele = new TeleopInput(t, { ...DEFAULT_TELEOP, twist: '/spacenav/twist', twistScale: 0.05, timeout: 0.3 }, () => now);
  const seen: TakeoverTransition[] = [];
  tele.onTransition((x) => seen.push(x));
  assert.equal(tele.current(0.1), null);
  const pub = t.createPublisher('/spacenav/twist', 'geometry_msgs/msg/Twist', QOS_SENSOR);
  pub.publish({ linear: { x: 1, y: 0, z: -0.5 }, angular: { x: 0, y: 0, z: 0 } });
  await flush();
  const c = tele.current(0.1);
  assert.equal(c?.source, 'ros2:/spacenav/twist');
  assert.deepEqual(
    c?.delta.map((v) => Math.round(v * 1e6) / 1e6),
    [0.005, 0, -0.0025],
  );
  now += 0.31;
  assert.equal(tele.current(0.1), null, 'a quiet stream releases the takeover');
  assert.deepEqual(
    seen.map((s) => [s.active, s.source]),
    [
      [true, 'ros2:/spacenav/twist'],
      [false, 'ros2:/spacenav/twist'],
    ],
  );
  tele.close();
});

test('Joy with a dead-man: held -> mapped command; released -> takeover ends at once; bad messages counted, not obeyed', async () => {
  const t = new FakeTransport();
  const now = 5;
  const tele = new TeleopInput(
    t,
    { ...DEFAULT_TELEOP, joy: '/joy', joyMapping: { axes: [1, 0, 4], scale: [0.05, 0.05, 0.05], deadman: 4, deadband: 0.05 } },
    () => now,
  );
  const pub = t.createPublisher('/joy', 'sensor_msgs/msg/Joy', QOS_SENSOR);
  const header = { stamp: { sec: 0, nanosec: 0 }, frame_id: '' };
  pub.publish({ header, axes: [0, 1, 0, 0, 0], buttons: [0, 0, 0, 0, 1] });
  await flush();
  assert.ok(tele.current(0.1));
  pub.publish({ header, axes: [0, 1, 0, 0, 0], buttons: [0, 0, 0, 0, 0] });
  await flush();
  assert.equal(tele.current(0.1), null);
  pub.publish({ header, axes: [0], buttons: [0, 0, 0, 0, 1] });
  await flush();
  assert.equal(tele.current(0.1), null);
  assert.equal(tele.errors, 1);
  assert.match(tele.lastError ?? '', /axis 1 missing/);
  tele.close();
});
