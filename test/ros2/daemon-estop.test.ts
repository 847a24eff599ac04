/**
 * The robot's e-stop through the ros2 backend into the real daemon's latch (FakeTransport stands in for the graph):
 * Intera's /robot/state latches the daemon; while the robot reports pressed or released-but-not-reset, the daemon
 * refuses to reset; once the robot itself is reset, the operator's reset succeeds. No motion command goes out meanwhile.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeTransport } from '../../src/ros2/fake-transport.ts';
import { Ros2Backend, DEFAULT_ROS2_CONFIG } from '../../src/ros2/backend.ts';
import { QOS_LATCHED } from '../../src/ros2/transport.ts';
import type { RobotAssemblyStateMsg } from '../../src/ros2/messages.ts';
import { backendRig } from '../daemon/helpers.ts';
import { ROBOT_STATE_OK } from './helpers.ts';

const flush = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};

test('an Intera /robot/state e-stop latches the daemon until the robot is reset and the operator resets', async () => {
  const transport = new FakeTransport();
  const cfg = structuredClone(DEFAULT_ROS2_CONFIG);
  cfg.topics.estop = null;
  cfg.topics.robotState = '/robot/state';
  cfg.goal = [0.5, 0, 0.1];
  const { app, backend, close } = await backendRig(() => new Ros2Backend(transport, cfg), { prefix: 'ros2-intera-' });
  try {
    const d = app.daemon;
    const state = transport.createPublisher('/robot/state', 'intera_core_msgs/msg/RobotAssemblyState', QOS_LATCHED);
    const ok: RobotAssemblyStateMsg = ROBOT_STATE_OK;
    state.publish(ok);
    await flush();
    assert.notEqual(d.currentState, 'estopped');
    state.publish({ ...ok, stopped: true, enabled: false, estop_button: 1, estop_source: 1 });
    await flush();
    assert.equal(d.currentState, 'estopped', 'latched by the robot state message');
    assert.match(d.status().safety.backendEstop.source ?? '', /robot\/state: user, button pressed/);
    assert.equal(d.resetEstop().ok, false, 'refused while pressed');
    state.publish({ ...ok, stopped: true, enabled: false, estop_button: 3, estop_source: 1 });
    await flush();
    const r = d.resetEstop();
    assert.ok(!r.ok && /engaged/.test(r.reason), `refused while released but the robot is not reset (${JSON.stringify(r)})`);
    const before = transport.published.get('/insertion/cmd_twist')?.length ?? 0;
    backend.command([0.001, 0, 0]);
    assert.equal(transport.published.get('/insertion/cmd_twist')?.length ?? 0, before, 'no motion command while the robot is stopped');
    state.publish(ok);
    await flush();
    assert.equal(d.currentState, 'estopped', "the robot's reset does not un-latch the daemon by itself");
    assert.deepEqual(d.resetEstop(), { ok: true });
  } finally {
    await close();
    await transport.close();
  }
});
