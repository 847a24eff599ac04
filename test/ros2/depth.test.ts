// The depth topic (topics.depth): 16UC1 in mm or 32FC1 in m into metres on the observation; a frame of another size than
// the colour image, or another encoding, is refused with the reason on the topic, and the observation then has no depth
// (so a reward model that takes depth cells stops the arm rather than being fed stale or misregistered depth).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ros2Backend, DEFAULT_ROS2_CONFIG, type Ros2BackendConfig } from '../../src/ros2/backend.ts';
import { FakeTransport } from '../../src/ros2/fake-transport.ts';
import { imageToMsg } from '../../src/ros2/convert.ts';
import type { ImageMsg } from '../../src/ros2/messages.ts';
import { QOS_SENSOR } from '../../src/ros2/transport.ts';
import { PreprocessError, prepareDepth } from '../../src/robot/preprocess.ts';
import { ModelInputs, REWARD_CUES } from '../../src/policy/inputs.ts';

const flush = async (n = 3): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

function cfg(): Ros2BackendConfig {
  const c = structuredClone(DEFAULT_ROS2_CONFIG);
  c.goal = [0.5, 0, 0.1];
  c.topics.depth = '/camera/aligned_depth_to_color/image_raw';
  return c;
}

function depthMsg(w: number, h: number, encoding: '16UC1' | '32FC1' | 'rgb8', values: number[]): ImageMsg {
  const bytes = encoding === '32FC1' ? 4 : encoding === '16UC1' ? 2 : 3;
  const data = new Uint8Array(w * h * bytes);
  const v = new DataView(data.buffer);
  values.forEach((x, i) => (encoding === '32FC1' ? v.setFloat32(4 * i, x, true) : encoding === '16UC1' ? v.setUint16(2 * i, x, true) : undefined));
  return { header: { stamp: { sec: 1, nanosec: 0 }, frame_id: 'cam' }, height: h, width: w, encoding, is_bigendian: 0, step: w * bytes, data };
}

test('depth topic: 16UC1 mm and 32FC1 m become metres registered to the colour image; holes and NaN read 0', async () => {
  const t = new FakeTransport();
  const b = new Ros2Backend(t, cfg());
  const img = t.createPublisher('/camera/image_raw', 'sensor_msgs/msg/Image', QOS_SENSOR);
  const dep = t.createPublisher('/camera/aligned_depth_to_color/image_raw', 'sensor_msgs/msg/Image', QOS_SENSOR);
  img.publish(imageToMsg({ width: 2, height: 2, data: new Uint8Array(12).fill(9) }, 1, 'cam'));
  dep.publish(depthMsg(2, 2, '16UC1', [52, 0, 91, 60000]));
  await flush();
  assert.deepEqual(
    Array.from(b.observe().depth?.data ?? [], (x) => +x.toFixed(4)),
    [0.052, 0, 0.091, 60],
  );
  dep.publish(depthMsg(2, 2, '32FC1', [0.05, Number.NaN, Number.POSITIVE_INFINITY, 0.1]));
  await flush();
  assert.deepEqual(
    Array.from(b.observe().depth?.data ?? [], (x) => +x.toFixed(4)),
    [0.05, 0, 0, 0.1],
  );
  assert.equal(b.topicStats().find((s) => s.topic === '/camera/aligned_depth_to_color/image_raw')?.error, null);
  b.dispose();
});

test('depth topic: a frame of another size or encoding is refused with the reason, and the observation has no depth', async () => {
  const t = new FakeTransport();
  const b = new Ros2Backend(t, cfg());
  const img = t.createPublisher('/camera/image_raw', 'sensor_msgs/msg/Image', QOS_SENSOR);
  const dep = t.createPublisher('/camera/aligned_depth_to_color/image_raw', 'sensor_msgs/msg/Image', QOS_SENSOR);
  img.publish(imageToMsg({ width: 4, height: 2, data: new Uint8Array(24) }, 1, 'cam'));
  dep.publish(depthMsg(4, 2, '16UC1', [50, 50, 50, 50, 50, 50, 50, 50]));
  await flush();
  assert.ok(b.observe().depth, 'a good frame first');
  const err = () => b.topicStats().find((s) => s.topic === '/camera/aligned_depth_to_color/image_raw')?.error ?? '';
  dep.publish(depthMsg(2, 2, '16UC1', [50, 50, 50, 50]));
  await flush();
  assert.equal(b.observe().depth, undefined, 'the previous good frame is not kept');
  assert.match(err(), /depth 2x2 is not registered to the 4x2 camera image/);
  dep.publish(depthMsg(4, 2, 'rgb8', []));
  await flush();
  assert.equal(b.observe().depth, undefined);
  assert.match(err(), /depth encoding 'rgb8' is not supported \(16UC1 or mono16 in mm, 32FC1 in m\)/);
  b.dispose();
});

test('depth topic: the refusal reaches the e-stop text of a model taking depth cells; a good frame carries its arrival stamp', async () => {
  const t = new FakeTransport();
  const b = new Ros2Backend(t, cfg());
  const img = t.createPublisher('/camera/image_raw', 'sensor_msgs/msg/Image', QOS_SENSOR);
  const dep = t.createPublisher('/camera/aligned_depth_to_color/image_raw', 'sensor_msgs/msg/Image', QOS_SENSOR);
  const reward = new ModelInputs({ image: null, proprio: { ...REWARD_CUES.depth, layout: [...REWARD_CUES.depth.layout] } }, 'reward-depth@1');
  img.publish(imageToMsg({ width: 8, height: 8, data: new Uint8Array(192) }, 1, 'cam'));
  await flush();
  assert.match(b.observe().depthFault ?? '', /no depth frame received/);
  const sent = b.clock();
  dep.publish(depthMsg(8, 8, '16UC1', new Array<number>(64).fill(50)));
  await flush();
  const received = b.clock();
  await new Promise((r) => setTimeout(r, 60));
  const good = b.observe();
  const stamp = good.depthStamp ?? NaN;
  assert.ok(stamp >= sent && stamp <= received, `stamped at arrival on the backend clock (${stamp} in [${sent}, ${received}]), not when observed`);
  assert.equal(good.depthFault, undefined);
  reward.build(good);
  dep.publish(depthMsg(8, 8, 'rgb8', []));
  await flush();
  const bad = b.observe();
  assert.equal(bad.depth, undefined);
  // What the loop latches with: 'observation failed: ' + this message.
  assert.throws(
    () => reward.build(bad),
    /observation has no depth image \(ros2 \/camera\/aligned_depth_to_color\/image_raw: depth encoding 'rgb8' is not supported \(16UC1 or mono16 in mm, 32FC1 in m\)\), and the model takes depth cells/,
  );
  dep.publish(depthMsg(4, 4, '16UC1', new Array<number>(16).fill(50)));
  await flush();
  assert.throws(() => reward.build(b.observe()), /no depth image \(ros2 \S+: depth 4x4 is not registered to the 8x8 camera image/);
  b.dispose();
});

test("the daemon's depth preprocessing: the calibration crop, then valid-pixel means on the logged grid; unregistered refused", () => {
  // 4x4 frame, crop the right 2 columns x 4 rows, log at 1x2: each logged pixel averages a 2x2 block's valid pixels.
  const data = Float32Array.from([9, 9, 0.05, 0, 9, 9, 0.07, 0.06, 9, 9, 0.1, 0.1, 9, 9, 0, 0]);
  const d = prepareDepth({ width: 4, height: 4, data }, { width: 4, height: 4 }, { x: 2, y: 0, width: 2, height: 4 }, 1, 2);
  assert.deepEqual(
    Array.from(d.data, (x) => +x.toFixed(5)),
    [0.06, 0.1],
  );
  const same = { width: 4, height: 4, data };
  assert.equal(prepareDepth(same, { width: 4, height: 4 }, null, 4, 4), same, 'identity without a crop at the logged size');
  assert.throws(
    () => prepareDepth(same, { width: 8, height: 4 }, null, 4, 4),
    (e: Error) => e instanceof PreprocessError && /depth image 4x4 .* is not registered to the 8x4 colour frame/.test(e.message),
  );
});
