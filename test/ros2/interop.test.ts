/**
 * Interop against a peer the project did not write: a typed Cyclone DDS C program (test/ros2/peer/peer.c) whose types
 * idlc generates from hand-written IDL with ROS 2's names (test/ros2/peer/ros2_peer.idl). sensor_msgs/Image (640x480
 * rgb8, 921,600 data bytes) and geometry_msgs/WrenchStamped go both ways; CDR bytes are compared exactly.
 * Built here with idlc and cc; skips with the reason when they or the shim are missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ddsAvailable, DdsTransport, LOOPBACK_CONFIG } from '../../src/ros2/dds-transport.ts';
import { decode, encode } from '../../src/ros2/messages.ts';
import { QOS_DEFAULT } from '../../src/ros2/transport.ts';
import { rgb8Image } from './helpers.ts';
import { endProcess, teardown } from '../teardown.ts';

function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const avail = ddsAvailable();
const skip = !avail.ok
  ? `DDS shim not available: ${avail.reason}`
  : !which('idlc')
    ? 'idlc not found (cyclonedds-tools)'
    : !which('cc')
      ? 'no C compiler'
      : false;
if (skip) console.log(`# skipped: ${skip}`);

const peerDir = resolve(import.meta.dirname, 'peer');

function buildPeer(dir: string): string {
  execFileSync('idlc', [join(peerDir, 'ros2_peer.idl')], { cwd: dir, stdio: 'pipe' });
  const exe = join(dir, 'peer');
  execFileSync('cc', ['-O1', '-o', exe, join(peerDir, 'peer.c'), join(dir, 'ros2_peer.c'), `-I${dir}`, '-lddsc'], { stdio: 'pipe' });
  return exe;
}

test('Image and WrenchStamped both ways with an idlc-generated typed peer: CDR bytes identical', { skip, timeout: 60_000 }, async (ctx) => {
  const defer = teardown(ctx);
  const tmp = mkdtempSync(join(tmpdir(), 'ros2-peer-'));
  defer(() => rmSync(tmp, { recursive: true, force: true }));
  const domain = 100 + Math.floor(Math.random() * 100);
  const t = new DdsTransport({ domainId: domain });
  defer(() => t.close());
  const peer = spawn(buildPeer(tmp), [String(domain)], {
    env: { ...process.env, CYCLONEDDS_URI: `file://${LOOPBACK_CONFIG}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  defer(() => endProcess(peer, 'SIGTERM'));
  let out = '';
  let err = '';
  peer.stdout.on('data', (d: Buffer) => (out += d.toString()));
  peer.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((res) => peer.on('exit', (code) => res(code)));
  const got: Record<string, Uint8Array> = {};
  const IMG = 'sensor_msgs::msg::dds_::Image_';
  const WR = 'geometry_msgs::msg::dds_::WrenchStamped_';
  for (const [topic, type] of [
    ['echo/image', IMG],
    ['echo/wrench', WR],
    ['from_peer/image', IMG],
    ['from_peer/wrench', WR],
  ] as const) {
    t.subscribeRaw(`rt/interop/${topic}`, type, QOS_DEFAULT, (b) => (got[topic] ??= b));
  }
  const data = Uint8Array.from({ length: 640 * 480 * 3 }, (_, i) => (i * 13 + (i >> 9)) & 0xff);
  const image = encode('sensor_msgs/msg/Image', rgb8Image(data, 640, 480, 1700000000, 999, 'node_cam'));
  const wrench = encode('geometry_msgs/msg/WrenchStamped', {
    header: { stamp: { sec: 7, nanosec: 8 }, frame_id: 'node_ft' },
    wrench: { force: { x: -3.5, y: 0.125, z: 1e-9 }, torque: { x: 1, y: -2, z: 3 } },
  });
  const ip = t.createRawPublisher('rt/interop/to_peer/image', IMG, QOS_DEFAULT);
  const wp = t.createRawPublisher('rt/interop/to_peer/wrench', WR, QOS_DEFAULT);
  const t0 = Date.now();
  while (!(got['echo/image'] && got['echo/wrench'] && got['from_peer/image'] && got['from_peer/wrench'])) {
    if (Date.now() - t0 > 20_000) throw new Error(`interop timed out; got ${Object.keys(got).join(', ')}; peer stdout: ${out} stderr: ${err}`);
    if (ip.matched() > 0 && wp.matched() > 0 && !(got['echo/image'] && got['echo/wrench'])) {
      ip.publish(image);
      wp.publish(wrench);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // Node -> typed peer -> Node: the peer's own serializer reproduces our bytes exactly.
  assert.equal(got['echo/image'].length, image.length);
  assert.ok(Buffer.from(got['echo/image']).equals(Buffer.from(image)), 'Image bytes differ after the typed round trip');
  assert.ok(Buffer.from(got['echo/wrench']).equals(Buffer.from(wrench)), 'WrenchStamped bytes differ after the typed round trip');
  // The peer decoded the fields as we meant them.
  let sum = 0n;
  for (const v of data) sum = (sum * 31n + BigInt(v)) % 1000000007n;
  assert.match(out, new RegExp(`^image 640 480 rgb8 0 1920 921600 node_cam 1700000000 999 ${sum}$`, 'm'));
  assert.match(out, /^wrench -3.5 0.125 1.0000000000000001e-09 1 -2 3 node_ft 7 8$/m);
  // typed peer -> Node: its samples are byte-identical to what our codec writes for the same values.
  const pd = Uint8Array.from({ length: 640 * 480 * 3 }, (_, i) => (i * 7) & 0xff);
  const expectImage = encode('sensor_msgs/msg/Image', rgb8Image(pd, 640, 480, 42, 123456789, 'peer_cam'));
  const expectWrench = encode('geometry_msgs/msg/WrenchStamped', {
    header: { stamp: { sec: 43, nanosec: 5 }, frame_id: 'peer_ft' },
    wrench: { force: { x: 0.5, y: -1.25, z: 9.81 }, torque: { x: 0.01, y: -0.02, z: 0.03 } },
  });
  assert.ok(Buffer.from(got['from_peer/image']).equals(Buffer.from(expectImage)), 'peer Image bytes differ from our encoding');
  assert.ok(Buffer.from(got['from_peer/wrench']).equals(Buffer.from(expectWrench)), 'peer WrenchStamped bytes differ from our encoding');
  assert.equal(decode('geometry_msgs/msg/WrenchStamped', got['from_peer/wrench']).wrench.force.z, 9.81);
  assert.equal(await exited, 0, `peer exit; stderr: ${err}`);
});
