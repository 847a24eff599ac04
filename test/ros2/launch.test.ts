/**
 * The launch files parse: the XML validates against launch/launch.xsd (xmllint), the Python file compiles and, with a
 * STUB `launch` package (test/ros2/launch_stub, named as such), builds its description; the parameters file and
 * remaps reach the ros2 settings the daemon uses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_SECTION, ros2SectionFromEnv } from '../../src/ros2/config.ts';

const root = resolve(import.meta.dirname, '../..');
const has = (cmd: string): boolean => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

test(
  'launch XML validates against the launch schema; a wrong tag or output value does not',
  { skip: !has('xmllint') && 'xmllint not installed (libxml2-utils)' },
  () => {
    const xsd = resolve(root, 'launch/launch.xsd');
    execFileSync('xmllint', ['--noout', '--schema', xsd, resolve(root, 'launch/insertion_daemon.launch.xml')], { stdio: 'pipe' });
    const bad = readFileSync(resolve(root, 'launch/insertion_daemon.launch.xml'), 'utf8').replace('output="screen"', 'output="loud"');
    assert.match(
      readFileSync(resolve(root, 'launch/insertion_daemon.launch.xml'), 'utf8'),
      /cmd="node --single-threaded-gc --import tsx \S*src\/cli\/ros2-daemon\.ts/,
    );
    assert.throws(() => execFileSync('xmllint', ['--noout', '--schema', xsd, '-'], { input: bad, stdio: 'pipe' }), /fails to validate|Command failed/);
  },
);

test('the Python launch file compiles and, with the STUB launch package, describes the daemon process', { skip: !has('python3') && 'no python3' }, () => {
  const file = resolve(root, 'launch/insertion_daemon.launch.py');
  const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };
  execFileSync('python3', ['-c', `import ast,sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])`, file], { env });
  const out = execFileSync('python3', [resolve(root, 'test/ros2/launch_stub/describe.py'), file], { env }).toString();
  const d = JSON.parse(out) as { type: string; args: unknown[]; kwargs: Record<string, unknown> }[];
  const names = d.filter((e) => e.type === 'DeclareLaunchArgument').map((e) => e.args[0]);
  assert.deepEqual(names, ['config', 'params', 'calibration', 'models', 'port', 'remaps', 'ros_domain_id']);
  const proc = d.find((e) => e.type === 'ExecuteProcess');
  assert.ok(proc);
  const cmd = proc.kwargs.cmd as string[];
  assert.ok(cmd.some((c) => c.endsWith('src/cli/ros2-daemon.ts')));
  // As npm start runs it: V8's collector without helper threads (src/daemon/gc-watch.ts says why).
  assert.deepEqual(cmd.slice(0, 4), ['node', '--single-threaded-gc', '--import', 'tsx']);
  assert.ok(cmd.includes('$(var config)') && cmd.includes('$(var calibration)') && cmd.includes('$(var models)'));
  assert.deepEqual(Object.keys(proc.kwargs.additional_env as object).sort(), ['INSERTION_ROS2_PARAMS', 'INSERTION_ROS2_REMAPS', 'ROS_DOMAIN_ID']);
});

test('launch/params.yaml and remaps from the launch arguments reach the ros2 settings; bad ones are named', () => {
  const params = resolve(root, 'launch/params.yaml');
  const s = ros2SectionFromEnv(
    DEFAULT_SECTION,
    { INSERTION_ROS2_PARAMS: params, INSERTION_ROS2_REMAPS: '/camera/image_raw:=/right_hand_camera/image; /ee_pose:=/robot/ee_pose' },
    (p) => readFileSync(p, 'utf8'),
  );
  assert.equal(s.teleop.twist, '/spacenav/twist');
  assert.equal(s.backend.topics.estop, '/estop');
  assert.equal(s.backend.qos.sensors.depth, 1, 'fields the file leaves out keep the base values');
  assert.deepEqual(s.backend.remaps, { '/camera/image_raw': '/right_hand_camera/image', '/ee_pose': '/robot/ee_pose' });
  assert.throws(() => ros2SectionFromEnv(DEFAULT_SECTION, { INSERTION_ROS2_REMAPS: '/a=/b' }, () => ''), /INSERTION_ROS2_REMAPS: '\/a=\/b' is not from:=to/);
  assert.throws(
    () => ros2SectionFromEnv(DEFAULT_SECTION, { INSERTION_ROS2_PARAMS: 'p.yaml' }, () => 'other_node:\n  ros__parameters: {}\n'),
    /p\.yaml: no 'insertion_daemon: ros__parameters:'/,
  );
  assert.throws(
    () => ros2SectionFromEnv(DEFAULT_SECTION, { INSERTION_ROS2_PARAMS: 'p.yaml' }, () => 'insertion_daemon:\n  ros__parameters:\n    transport: zenoh\n'),
    /p\.yaml: insertion_daemon\.ros__parameters\.transport: 'dds' \| 'rclnodejs'/,
  );
});
