import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { splitArgs } from '../../src/cli/ros2-daemon.ts';

const root = resolve(import.meta.dirname, '../..');

test('--ros-args remaps and params file are taken from the command line; daemon flags pass through', () => {
  const r = splitArgs(
    ['--port', '0', '--ros2', 'r.yaml', '--ros-args', '-r', '/a:=/b', '--params-file', 'p.yaml', '-p', 'x:=1', '-r', '/c:=/d', '--', '--db', 'x.db'],
    {},
  );
  assert.deepEqual(r.rest, ['--port', '0', '--db', 'x.db']);
  assert.equal(r.ros2File, 'r.yaml');
  assert.equal(r.env.INSERTION_ROS2_PARAMS, 'p.yaml');
  assert.equal(r.env.INSERTION_ROS2_REMAPS, '/a:=/b;/c:=/d');
});

test('the ROS node chosen with rclnodejs and no sourced ROS 2: exits 2 saying which backend needs what', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ros2-main-'));
  try {
    const f = join(dir, 'r.yaml');
    writeFileSync(f, 'backend:\n  ros2:\n    transport: rclnodejs\n');
    const env = { ...process.env };
    delete env.AMENT_PREFIX_PATH;
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/ros2-daemon.ts'), '--ros2', f, '--port', '0', '--db', join(dir, 'x.db')], {
      cwd: root,
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /daemon: ros2 backend, transport 'rclnodejs': no sourced ROS 2 \(AMENT_PREFIX_PATH is not set\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("backend.kind: ros2 in the daemon config selects the ROS node from npm start, with the config's backend.ros2 section", () => {
  const dir = mkdtempSync(join(tmpdir(), 'ros2-kind-'));
  try {
    const env = { ...process.env };
    delete env.AMENT_PREFIX_PATH;
    const start = (ros2: string): ReturnType<typeof spawnSync> => {
      const f = join(dir, 'daemon.yaml');
      writeFileSync(
        f,
        `db: ${join(dir, 'x.db')}\nmodelsDir: ${join(dir, 'models')}\ncalibrationDir: ${join(root, 'calibration')}\npriority: null\n` +
          `api: {port: 0}\nbackend:\n  kind: ros2\n  ros2:\n${ros2}`,
      );
      return spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/daemon.ts'), '--config', f], {
        cwd: root,
        env,
        encoding: 'utf8',
        timeout: 60_000,
      });
    };
    const r = start('    transport: rclnodejs\n');
    assert.equal(r.status, 2, String(r.stderr));
    assert.match(String(r.stderr), /daemon: ros2 backend, transport 'rclnodejs': no sourced ROS 2 \(AMENT_PREFIX_PATH is not set\)/);
    const bad = start('    transport: dds\n    topics: {imagee: /cam}\n');
    assert.equal(bad.status, 2, String(bad.stderr));
    assert.match(String(bad.stderr), /daemon\.yaml: backend\.ros2\.topics\.imagee: unknown field/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
