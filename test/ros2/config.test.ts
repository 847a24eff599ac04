import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { createRos2Backend, createTransport, parseRos2Section, DEFAULT_SECTION } from '../../src/ros2/config.ts';
import { FakeTransport } from '../../src/ros2/fake-transport.ts';
import { TransportUnavailableError } from '../../src/ros2/transport.ts';

const root = resolve(import.meta.dirname, '../..');

test('the example config parses; defaults fill what it leaves out', () => {
  const file = resolve(root, 'config/ros2.example.yaml');
  const raw = parse(readFileSync(file, 'utf8')) as { backend: { ros2: unknown } };
  const s = parseRos2Section(raw.backend.ros2, file);
  assert.equal(s.transport, 'dds');
  assert.equal(s.backend.topics.robotState, '/robot/state');
  assert.equal(s.backend.command.mode, 'twist');
  assert.deepEqual(parseRos2Section({}, 'x.yaml'), DEFAULT_SECTION);
});

test('bad fields are named with the file and path', () => {
  assert.throws(() => parseRos2Section({ transport: 'zenoh' }, 'daemon.yaml'), /daemon\.yaml: backend\.ros2\.transport: 'dds' \| 'rclnodejs'/);
  assert.throws(() => parseRos2Section({ topics: { image: 'camera' } }, 'd.yaml'), /d\.yaml: backend\.ros2\.topics\.image: .*must be absolute/);
  assert.throws(() => parseRos2Section({ topics: { imgae: '/x' } }, 'd.yaml'), /backend\.ros2\.topics\.imgae: unknown field/);
  assert.throws(
    () => parseRos2Section({ qos: { sensors: { reliability: 'sometimes', durability: 'volatile', depth: 1 } } }, 'd.yaml'),
    /backend\.ros2\.qos\.sensors\.reliability/,
  );
  assert.throws(() => parseRos2Section({ command: { mode: 'joint' } }, 'd.yaml'), /backend\.ros2\.command\.mode/);
  assert.throws(() => parseRos2Section({ teleop: { joyMapping: { axes: [0, 1] } } }, 'd.yaml'), /teleop\.joyMapping\.axes: three axis indices/);
  assert.throws(() => parseRos2Section({ domainId: 300 }, 'd.yaml'), /domainId/);
});

test('choosing rclnodejs without ROS 2 fails with what to do; the backend builds over a given transport', async () => {
  const saved = process.env.AMENT_PREFIX_PATH;
  delete process.env.AMENT_PREFIX_PATH;
  try {
    await assert.rejects(
      createTransport({ ...DEFAULT_SECTION, transport: 'rclnodejs' }),
      (e: Error) => e instanceof TransportUnavailableError && /no sourced ROS 2/.test(e.message),
    );
  } finally {
    if (saved !== undefined) process.env.AMENT_PREFIX_PATH = saved;
  }
  const { backend } = await createRos2Backend(DEFAULT_SECTION, { tickHz: 20, goal: [0.5, 0, 0.1], transport: new FakeTransport() });
  assert.equal(backend.config.controlPeriod, 0.05);
  backend.dispose();
});
