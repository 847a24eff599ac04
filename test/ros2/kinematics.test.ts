/**
 * End-effector pose from joint states (issue 11): forward kinematics of a configured URDF-style chain, and the ros2
 * backend computing its pose from sensor_msgs/JointState through the FakeTransport (a stand-in for a ROS graph, CDR
 * round trip included) instead of reading a PoseStamped; and the simulated arm's chain against MuJoCo (the same path
 * over DDS: test/ros2/control-thread.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ros2Backend, DEFAULT_ROS2_CONFIG } from '../../src/ros2/backend.ts';
import { parseRos2Section } from '../../src/ros2/config.ts';
import { FakeTransport } from '../../src/ros2/fake-transport.ts';
import { forwardKinematics, parseKinematics } from '../../src/ros2/kinematics.ts';
import { QOS_SENSOR } from '../../src/ros2/transport.ts';
import { simArmChain } from '../../src/ros2/sim-robot.ts';
import { SimBackend } from '../../src/robot/sim-backend.ts';

const near = (a: readonly number[], b: readonly number[], tol = 1e-12): boolean => a.every((v, i) => Math.abs(v - (b[i] as number)) <= tol);

/** A planar two-link arm (links 0.4 m and 0.3 m about z), a 0.1 m tool straight down, mounted 0.5 m up. */
const planar = parseKinematics(
  {
    base: { xyz: [0, 0, 0.5] },
    joints: [
      { name: 'j1', axis: [0, 0, 1] },
      { name: 'j2', axis: [0, 0, 1], origin: { xyz: [0.4, 0, 0] } },
    ],
    tool: { xyz: [0.3, 0, -0.1] },
  },
  'k.yaml: backend.ros2.kinematics',
);

test('forward kinematics of a configured chain: positions and orientation as the geometry says', () => {
  const a = forwardKinematics(planar, ['j1', 'j2'], [0, 0]);
  assert.ok(near(a.pos, [0.7, 0, 0.4]));
  assert.ok(near(a.quat, [1, 0, 0, 0]));
  const b = forwardKinematics(planar, ['gripper', 'j2', 'j1'], [0.01, Math.PI / 2, Math.PI / 2]); // order by name; extra names ignored
  assert.ok(near(b.pos, [-0.3, 0.4, 0.4]), `${b.pos.join(', ')}`);
  // Total rotation pi about z: quaternion [0, 0, 0, +-1].
  assert.ok(Math.abs(Math.abs(b.quat[3]) - 1) < 1e-12 && Math.abs(b.quat[0]) < 1e-12);
  // A prismatic joint and an rpy origin: a lift of 0.2 m along the base z, then a tool frame pitched down 90 degrees.
  const lift = parseKinematics({ joints: [{ name: 'z', type: 'prismatic', axis: [0, 0, 1] }], tool: { xyz: [0.1, 0, 0], rpy: [0, Math.PI / 2, 0] } }, 'k');
  const c = forwardKinematics(lift, ['z'], [0.2]);
  assert.ok(near(c.pos, [0.1, 0, 0.2]));
  assert.ok(near(c.quat, [Math.SQRT1_2, 0, Math.SQRT1_2, 0]));
  assert.throws(() => forwardKinematics(planar, ['j1'], [0]), /joint 'j2' missing \(message names j1\)/);
  assert.throws(() => forwardKinematics(planar, ['j1', 'j2'], [0, NaN]), /joint 'j2' position is not finite/);
});

test('the kinematics section is validated with the file and field named', () => {
  const at = 'd.yaml: backend.ros2.kinematics';
  assert.throws(() => parseKinematics({ joints: [] }, at), /d\.yaml: backend\.ros2\.kinematics\.joints: a list of at least one joint/);
  assert.throws(() => parseKinematics({ joints: [{ name: 'a', axis: [0, 0, 2] }] }, at), /joints\[0\]\.axis: must be a unit vector/);
  assert.throws(() => parseKinematics({ joints: [{ name: 'a', typ: 'revolute' }] }, at), /joints\[0\]\.typ: unknown field/);
  assert.throws(() => parseKinematics({ joints: [{ name: 'a' }, { name: 'a' }] }, at), /joint 'a' appears twice/);
  assert.throws(
    () => parseRos2Section({ topics: { jointStates: '/joint_states' } }, 'd.yaml'),
    /d\.yaml: backend\.ros2\.kinematics: required when topics\.jointStates is set/,
  );
  const s = parseRos2Section({ topics: { jointStates: '/robot/joint_states' }, kinematics: { joints: [{ name: 'j1' }] } }, 'd.yaml');
  assert.equal(s.backend.topics.jointStates, '/robot/joint_states');
  assert.equal(s.backend.kinematics?.joints[0]?.name, 'j1');
});

test('the ros2 backend takes its end-effector pose from joint states through the configured chain', async () => {
  const bus = new FakeTransport();
  const b = new Ros2Backend(bus, { ...DEFAULT_ROS2_CONFIG, topics: { ...DEFAULT_ROS2_CONFIG.topics, jointStates: '/joint_states' }, kinematics: planar });
  try {
    assert.ok(b.observe().eePos.every(Number.isNaN), 'no pose before the first joint state');
    const pub = bus.createPublisher('/joint_states', 'sensor_msgs/msg/JointState', QOS_SENSOR);
    pub.publish({
      header: { stamp: { sec: 3, nanosec: 0 }, frame_id: 'base' },
      name: ['j1', 'j2'],
      position: [Math.PI / 2, -Math.PI / 2],
      velocity: [],
      effort: [],
    });
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    const o = b.observe();
    assert.ok(near(o.eePos, [0.3, 0.4, 0.4]), `${o.eePos.join(', ')}`);
    assert.ok(near(o.eeQuat, [1, 0, 0, 0]));
    assert.equal(b.headerStamps.pose, 3);
    assert.deepEqual(
      b
        .topicStats()
        .map((s) => s.topic)
        .slice(0, 3),
      ['/camera/image_raw', '/wrist_ft/wrench', '/joint_states'],
    );
    // A message without a chain joint is reported on its topic; the last good pose stays (and goes stale).
    pub.publish({ header: { stamp: { sec: 4, nanosec: 0 }, frame_id: 'base' }, name: ['j1'], position: [0], velocity: [], effort: [] });
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    assert.match(b.topicStats().find((s) => s.topic === '/joint_states')?.error ?? '', /joint 'j2' missing/);
    assert.ok(near(b.observe().eePos, [0.3, 0.4, 0.4]));
  } finally {
    b.dispose();
    await bus.close();
  }
});

test("the simulated arm's chain (simArmChain, as the simulated ROS robot hands it out) gives MuJoCo's tip pose from its joint angles", async () => {
  const sim = await SimBackend.create({ connector: 'square16', cell: { imageSize: 8, controlHz: 10, nuisance: false } });
  try {
    // The chain passes the config parser unchanged (it goes into backend.ros2.kinematics).
    const chain = parseKinematics(JSON.parse(JSON.stringify(simArmChain(sim))), 'ready line');
    const names = chain.joints.map((j) => j.name);
    for (const [seed, delta] of [
      [0, [0.002, -0.003, -0.004]],
      [1, [-0.004, 0.001, 0.002]],
    ] as const) {
      await sim.moveToStart({ seed, scenario: 'II' });
      sim.command([...delta]);
      const o = sim.observe();
      const p = forwardKinematics(chain, names, sim.simCell.jointPositions());
      // 10 um / 1e-5: the MJCF holds the arm's numbers to 6 decimals.
      assert.ok(near(p.pos, o.eePos, 1e-5), `FK ${p.pos.join(', ')} vs MuJoCo ${o.eePos.join(', ')}`);
      const dot = Math.abs(p.quat.reduce((s, v, i) => s + v * (o.eeQuat[i] as number), 0));
      assert.ok(dot > 1 - 1e-8, `orientation: |<q_fk, q_sim>| = ${dot}`);
    }
  } finally {
    sim.dispose();
  }
});
