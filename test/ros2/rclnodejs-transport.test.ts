/**
 * The rclnodejs adapter cannot run here (no ROS 2). These tests check its clear errors and, with FakeRclnodejs (an
 * in-memory fake of the few rclnodejs calls the adapter makes, named as a fake), its mapping of names, types and QoS.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadRclnodejs, RclnodejsTransport, type RclnodejsLike, type RclNodeLike } from '../../src/ros2/rclnodejs-transport.ts';
import { TransportUnavailableError, QOS_SENSOR, QOS_LATCHED } from '../../src/ros2/transport.ts';
import { Ros2Backend, DEFAULT_ROS2_CONFIG } from '../../src/ros2/backend.ts';

test('without a sourced ROS 2: a clear error naming the backend and what to do', async () => {
  await assert.rejects(loadRclnodejs({}), (e: Error) => {
    assert.ok(e instanceof TransportUnavailableError);
    assert.match(e.message, /ros2 backend, transport 'rclnodejs': no sourced ROS 2 \(AMENT_PREFIX_PATH is not set\)/);
    assert.match(e.message, /source \/opt\/ros\/humble\/setup\.bash/);
    assert.match(e.message, /'dds', which needs no ROS installation/);
    return true;
  });
});

test('with ROS 2 sourced but rclnodejs missing (as here): the load error is reported with the remedy', async () => {
  // The real import: rclnodejs is an optional dependency that cannot build without ROS 2, so it is absent here.
  await assert.rejects(loadRclnodejs({ AMENT_PREFIX_PATH: '/opt/ros/humble' }), /rclnodejs cannot be loaded \(.*\): source your ROS 2 setup/);
  await assert.rejects(
    loadRclnodejs({ AMENT_PREFIX_PATH: '/opt/ros/jazzy' }, async () => ({ something: 'else' })),
    /does not look like rclnodejs/,
  );
});

/** FakeRclnodejs: records what the adapter asks of rclnodejs. Not rclnodejs. */
function fakeRclnodejs() {
  const log: string[] = [];
  const subs = new Map<string, (m: unknown) => void>();
  const services = new Map<string, (req: unknown, res: { send(r: unknown): void }) => void>();
  class FakeQoS {
    constructor(
      readonly history: number,
      readonly depth: number,
      readonly reliability: number,
      readonly durability: number,
    ) {}
  }
  class FakeNode implements RclNodeLike {
    constructor(name: string, ns?: string) {
      log.push(`node ${name} ns=${ns}`);
    }
    createPublisher(type: string, topic: string, o?: { qos?: unknown }) {
      const q = o?.qos as FakeQoS;
      log.push(`pub ${type} ${topic} ${q.history}/${q.depth}/${q.reliability}/${q.durability}`);
      return { publish: (m: unknown) => subs.get(topic)?.(m), subscriptionCount: 1 };
    }
    createSubscription(type: string, topic: string, o: { qos?: unknown }, cb: (m: unknown) => void) {
      const q = o.qos as FakeQoS;
      log.push(`sub ${type} ${topic} ${q.history}/${q.depth}/${q.reliability}/${q.durability}`);
      subs.set(topic, cb);
      return {};
    }
    createService(type: string, name: string, _o: object, cb: (req: unknown, res: { send(r: unknown): void }) => void) {
      log.push(`srv ${type} ${name}`);
      services.set(name, cb);
      return {};
    }
    createClient(type: string, name: string) {
      log.push(`cli ${type} ${name}`);
      return {
        waitForService: async () => services.has(name),
        sendRequest: (req: unknown, cb: (r: unknown) => void) => services.get(name)?.(req, { send: cb }),
      };
    }
    spin() {
      log.push('spin');
    }
    destroy() {
      log.push('destroy');
    }
  }
  const rcl: RclnodejsLike = { init: async () => void log.push('init'), shutdown: () => void log.push('shutdown'), Node: FakeNode, QoS: FakeQoS };
  return { rcl, log };
}

test('adapter over FakeRclnodejs: ROS type names, QoS enums, services, and the backend on top', async () => {
  const { rcl, log } = fakeRclnodejs();
  const t = await RclnodejsTransport.create({ rclnodejs: rcl, nodeName: 'insertion_daemon', namespace: '/cell1' });
  const cfg = structuredClone(DEFAULT_ROS2_CONFIG);
  cfg.goal = [0.5, 0, 0.1];
  const b = new Ros2Backend(t, cfg);
  assert.ok(log.includes(`sub sensor_msgs/msg/Image /camera/image_raw 1/${QOS_SENSOR.depth}/2/2`), log.join('\n'));
  assert.ok(log.includes(`sub std_msgs/msg/Bool /estop 1/${QOS_LATCHED.depth}/1/1`), log.join('\n'));
  assert.ok(log.includes('pub geometry_msgs/msg/TwistStamped /insertion/cmd_twist 1/10/1/2'), log.join('\n'));
  t.createService('/insertion/estop', 'std_srvs/srv/Trigger', () => ({ success: true, message: 'ok' }));
  const r = await t.createClient('/insertion/estop', 'std_srvs/srv/Trigger').call({ structure_needs_at_least_one_member: 0 });
  assert.deepEqual(r, { success: true, message: 'ok' });
  await assert.rejects(t.createClient('/none', 'std_srvs/srv/Trigger').call({ structure_needs_at_least_one_member: 0 }, 10), /no server found/);
  b.dispose();
  await t.close();
  assert.deepEqual(log.slice(0, 3), ['init', 'node insertion_daemon ns=/cell1', 'spin']);
  assert.deepEqual(log.slice(-2), ['destroy', 'shutdown']);
});
