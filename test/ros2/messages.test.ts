import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { codecFor, ddsTopicName, ddsTypeName, decode, encode, MESSAGE_TYPES, type MessageTypeName, type MessageTypes } from '../../src/ros2/messages.ts';
import {
  compressedImageFromMsg,
  compressedImageToMsg,
  deltaFromTwistStamped,
  diagnosticArray,
  diagnosticStatus,
  estopFromRobotState,
  imageFromMsg,
  imageToMsg,
  poseFromMsg,
  poseToMsg,
  secToTime,
  targetPoseFromDelta,
  timeToSec,
  twistStampedFromDelta,
  velocityFromJoy,
  velocityFromTwist,
  wrenchFromMsg,
  wrenchToMsg,
} from '../../src/ros2/convert.ts';
import type { RgbImage, Wrench } from '../../src/core/types.ts';
import { rgb8Image, ROBOT_STATE_OK } from './helpers.ts';

/** An independent little-endian CDR writer for the known-layout tests (not the library under test). */
class Cdr {
  private readonly bytes: number[] = [0, 1, 0, 0];
  private align(n: number): void {
    while ((this.bytes.length - 4) % n !== 0) this.bytes.push(0);
  }
  u8(v: number): this {
    this.bytes.push(v & 0xff);
    return this;
  }
  /** An n-byte value, aligned to n, written by `write` into its little-endian bytes. */
  private put(n: number, write: (b: Buffer) => void): this {
    this.align(n);
    const b = Buffer.alloc(n);
    write(b);
    this.bytes.push(...b);
    return this;
  }
  u32(v: number): this {
    return this.put(4, (b) => b.writeUInt32LE(v));
  }
  i32(v: number): this {
    return this.put(4, (b) => b.writeInt32LE(v));
  }
  f64(v: number): this {
    return this.put(8, (b) => b.writeDoubleLE(v));
  }
  str(s: string): this {
    this.u32(Buffer.byteLength(s) + 1);
    this.bytes.push(...Buffer.from(s), 0);
    return this;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

const hdr = { stamp: { sec: 1700000000, nanosec: 250000000 }, frame_id: 'tool0_ft' };

test('WrenchStamped: byte layout as ROS 2 writes it (76 bytes, header 00 01 00 00), and back', () => {
  const msg: MessageTypes['geometry_msgs/msg/WrenchStamped'] = {
    header: hdr,
    wrench: { force: { x: 1.5, y: -2, z: 3.25 }, torque: { x: 0.1, y: 0.2, z: -0.3 } },
  };
  const expected = new Cdr().i32(1700000000).u32(250000000).str('tool0_ft').f64(1.5).f64(-2).f64(3.25).f64(0.1).f64(0.2).f64(-0.3).done();
  const bytes = encode('geometry_msgs/msg/WrenchStamped', msg);
  assert.equal(bytes.length, 76);
  assert.deepEqual([...bytes.subarray(0, 4)], [0, 1, 0, 0]);
  assert.deepEqual(bytes, expected);
  assert.deepEqual(decode('geometry_msgs/msg/WrenchStamped', expected), msg);
});

test('Image rgb8: byte layout (header, dims, encoding, step, uint8 sequence) and back', () => {
  const data = Uint8Array.from({ length: 2 * 3 * 3 }, (_, i) => i * 7);
  const msg = rgb8Image(data, 3, 2, hdr.stamp.sec, hdr.stamp.nanosec, hdr.frame_id);
  const c = new Cdr().i32(hdr.stamp.sec).u32(hdr.stamp.nanosec).str('tool0_ft').u32(2).u32(3).str('rgb8').u8(0).u32(9).u32(18);
  const expected = Uint8Array.from([...c.done(), ...data]);
  const bytes = encode('sensor_msgs/msg/Image', msg);
  assert.deepEqual(bytes, expected);
  const back = decode('sensor_msgs/msg/Image', bytes);
  assert.deepEqual({ ...back, data: [...back.data] }, { ...msg, data: [...data] });
});

test('Bool, Twist and Trigger response byte layouts', () => {
  assert.deepEqual(encode('std_msgs/msg/Bool', { data: true }), Uint8Array.from([0, 1, 0, 0, 1]));
  const tw = encode('geometry_msgs/msg/Twist', { linear: { x: 1, y: 2, z: 3 }, angular: { x: 4, y: 5, z: 6 } });
  assert.deepEqual(tw, new Cdr().f64(1).f64(2).f64(3).f64(4).f64(5).f64(6).done());
  assert.deepEqual(encode('std_srvs/srv/Trigger_Response', { success: true, message: 'ok' }), new Cdr().u8(1).str('ok').done());
  assert.deepEqual(encode('std_srvs/srv/Trigger_Request', { structure_needs_at_least_one_member: 0 }), Uint8Array.from([0, 1, 0, 0, 0]));
});

test('every message type round-trips through CDR', () => {
  const samples: { [K in MessageTypeName]: MessageTypes[K] } = {
    'sensor_msgs/msg/Image': { header: hdr, height: 1, width: 2, encoding: 'bgr8', is_bigendian: 0, step: 6, data: Uint8Array.from([1, 2, 3, 4, 5, 6]) },
    'sensor_msgs/msg/CompressedImage': { header: hdr, format: 'jpeg', data: Uint8Array.from([0xff, 0xd8, 0xff]) },
    'sensor_msgs/msg/Joy': { header: hdr, axes: Float32Array.from([0.5, -1, 0]), buttons: Int32Array.from([0, 1]) },
    'geometry_msgs/msg/WrenchStamped': wrenchToMsg([1, 2, 3, 4, 5, 6], 12.5, 'ft'),
    'geometry_msgs/msg/PoseStamped': poseToMsg({ pos: [0.1, 0.2, 0.3], quat: [1, 0, 0, 0] }, 3, 'base'),
    'geometry_msgs/msg/TwistStamped': twistStampedFromDelta([0.001, 0, -0.002], 0.1, 4, 'base'),
    'geometry_msgs/msg/Twist': { linear: { x: 0.1, y: 0, z: 0 }, angular: { x: 0, y: 0, z: 0.5 } },
    'std_msgs/msg/Bool': { data: false },
    'std_msgs/msg/Float64': { data: 0.875 },
    'std_msgs/msg/String': { data: '{"event":"episode"}' },
    'diagnostic_msgs/msg/DiagnosticArray': diagnosticArray(5, [diagnosticStatus(1, 'camera', 'slow', { rate_hz: 12.5, ok: false })]),
    'intera_core_msgs/msg/RobotAssemblyState': ROBOT_STATE_OK,
    'std_srvs/srv/Trigger_Request': { structure_needs_at_least_one_member: 0 },
    'std_srvs/srv/Trigger_Response': { success: false, message: 'refused: e-stop engaged' },
    'sensor_msgs/msg/JointState': {
      header: hdr,
      name: ['right_j0', 'right_j1'],
      position: Float64Array.from([0.5, -1.25]),
      velocity: Float64Array.from([]),
      effort: Float64Array.from([]),
    },
  };
  for (const type of MESSAGE_TYPES) {
    const msg = samples[type];
    const back = decode(type, encode(type, msg as never)) as unknown;
    // typed arrays compare by content once spread
    const norm = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x: unknown) => (ArrayBuffer.isView(x) ? [...(x as Uint8Array)] : x)));
    assert.deepEqual(norm(back), norm(msg), type);
  }
});

test('DDS names follow ROS 2 conventions; bad names are refused', () => {
  assert.equal(ddsTypeName('sensor_msgs/msg/Image'), 'sensor_msgs::msg::dds_::Image_');
  assert.equal(ddsTypeName('std_srvs/srv/Trigger_Request'), 'std_srvs::srv::dds_::Trigger_Request_');
  assert.equal(codecFor('geometry_msgs/msg/WrenchStamped').ddsType, 'geometry_msgs::msg::dds_::WrenchStamped_');
  assert.equal(ddsTopicName('/camera/image_raw'), 'rt/camera/image_raw');
  assert.equal(ddsTopicName('/insertion/start_practice', 'request'), 'rq/insertion/start_practiceRequest');
  assert.equal(ddsTopicName('/insertion/start_practice', 'reply'), 'rr/insertion/start_practiceReply');
  assert.throws(() => ddsTopicName('camera'), /must be absolute/);
  assert.throws(() => ddsTopicName('/camera/1bad name'), /not a valid ROS 2 name/);
  assert.throws(() => ddsTypeName('Image'), /pkg\/msg\/Type/);
});

test('truncated and foreign-encoded samples fail with the type named', () => {
  const bytes = encode('geometry_msgs/msg/WrenchStamped', wrenchToMsg([1, 2, 3, 4, 5, 6], 1, 'ft'));
  assert.throws(() => decode('geometry_msgs/msg/WrenchStamped', bytes.subarray(0, 40)), /geometry_msgs\/msg\/WrenchStamped: malformed sample/);
  assert.throws(() => decode('std_msgs/msg/Bool', Uint8Array.from([0, 7, 0, 0, 1])), /unsupported CDR encapsulation/);
  assert.throws(() => decode('std_msgs/msg/Bool', Uint8Array.from([0, 1])), /no CDR header/);
});

function pattern(w: number, h: number): RgbImage {
  return { width: w, height: h, data: Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 31 + (i >> 3)) & 0xff) };
}

test('images: rgb8 and bgr8 both ways; row padding, alpha and mono handled; unknown encodings refused by name', () => {
  const img = pattern(5, 4);
  for (const enc of ['rgb8', 'bgr8'] as const) {
    const msg = decode('sensor_msgs/msg/Image', encode('sensor_msgs/msg/Image', imageToMsg(img, 7.25, 'cam', enc)));
    assert.equal(msg.encoding, enc);
    assert.equal(timeToSec(msg.header.stamp), 7.25);
    assert.deepEqual(imageFromMsg(msg), img, enc);
  }
  // bgr8 really swaps: first pixel's red is the third byte on the wire
  const bgr = imageToMsg(img, 0, 'cam', 'bgr8');
  assert.deepEqual([...bgr.data.subarray(0, 3)], [img.data[2], img.data[1], img.data[0]]);
  // rgba8 with a padded row (step 24 > 5*4)
  const step = 24;
  const rgba = new Uint8Array(step * 4);
  for (let y = 0; y < 4; y++) for (let x = 0; x < 5; x++) for (let c = 0; c < 3; c++) rgba[y * step + x * 4 + c] = img.data[(y * 5 + x) * 3 + c] as number;
  assert.deepEqual(imageFromMsg({ ...imageToMsg(img, 0, 'cam'), encoding: 'rgba8', step, data: rgba }), img);
  const mono = imageFromMsg({ ...imageToMsg(img, 0, 'cam'), encoding: 'mono8', width: 2, height: 1, step: 2, data: Uint8Array.from([9, 200]) });
  assert.deepEqual([...mono.data], [9, 9, 9, 200, 200, 200]);
  assert.throws(
    () => imageFromMsg({ ...imageToMsg(img, 0, 'cam'), encoding: '16UC1' }, '/camera/image_raw'),
    /\/camera\/image_raw: image encoding '16UC1' is not supported/,
  );
  assert.throws(() => imageFromMsg({ ...imageToMsg(img, 0, 'cam'), data: img.data.subarray(0, 10) }), /10 data bytes/);
});

test('CompressedImage: png is lossless through sharp both ways; jpeg decodes to the right size; garbage is a clear error', async () => {
  const img = pattern(16, 8);
  const png = decode('sensor_msgs/msg/CompressedImage', encode('sensor_msgs/msg/CompressedImage', await compressedImageToMsg(img, 1, 'cam', 'png')));
  assert.equal(png.format, 'png');
  assert.deepEqual(await compressedImageFromMsg(png), img);
  const jpg = await sharp({ create: { width: 32, height: 24, channels: 3, background: { r: 200, g: 30, b: 10 } } })
    .jpeg()
    .toBuffer();
  const dec = await compressedImageFromMsg({ header: hdr, format: 'jpeg', data: new Uint8Array(jpg) });
  assert.equal(dec.width, 32);
  assert.equal(dec.height, 24);
  assert.ok(Math.abs((dec.data[0] as number) - 200) < 6 && Math.abs((dec.data[2] as number) - 10) < 6);
  await assert.rejects(
    compressedImageFromMsg({ header: hdr, format: 'jpeg', data: Uint8Array.from([1, 2, 3]) }, '/cam/compressed'),
    /\/cam\/compressed: cannot decode compressed image/,
  );
});

test('wrench, pose, twist and target pose conversions; stamps keep nanoseconds', () => {
  const w: Wrench = [1, -2, 3, 0.1, -0.2, 0.3];
  assert.deepEqual(wrenchFromMsg(decode('geometry_msgs/msg/WrenchStamped', encode('geometry_msgs/msg/WrenchStamped', wrenchToMsg(w, 2, 'ft')))), w);
  assert.throws(() => wrenchFromMsg(wrenchToMsg([NaN, 0, 0, 0, 0, 0], 0, 'ft'), '/wrench'), /\/wrench: non-finite/);
  const q = [Math.SQRT1_2, 0, 0, Math.SQRT1_2] as [number, number, number, number];
  const pm = poseToMsg({ pos: [0.4, 0.1, 0.2], quat: q }, 3, 'base');
  assert.deepEqual(pm.pose.orientation, { x: 0, y: 0, z: Math.SQRT1_2, w: Math.SQRT1_2 });
  assert.deepEqual(poseFromMsg(pm), { pos: [0.4, 0.1, 0.2], quat: q });
  assert.throws(() => poseFromMsg(poseToMsg({ pos: [0, 0, 0], quat: [2, 0, 0, 0] }, 0, 'b'), '/pose'), /not a unit quaternion/);
  const ts = twistStampedFromDelta([0.002, -0.001, 0.0005], 0.1, 1, 'base');
  assert.ok(Math.abs(ts.twist.linear.x - 0.02) < 1e-12);
  const d = deltaFromTwistStamped(ts, 0.1);
  d.forEach((v, i) => assert.ok(Math.abs(v - ([0.002, -0.001, 0.0005][i] as number)) < 1e-15));
  const tp = targetPoseFromDelta({ pos: [0.4, 0.1, 0.2], quat: q }, [0.01, 0, -0.02], 1, 'base');
  assert.ok(Math.abs(tp.pose.position.x - 0.41) < 1e-12 && Math.abs(tp.pose.position.z - 0.18) < 1e-12);
  assert.deepEqual(secToTime(12.000000001), { sec: 12, nanosec: 1 });
  assert.deepEqual(secToTime(1.9999999999), { sec: 2, nanosec: 0 });
  assert.throws(() => secToTime(-1), /non-negative/);
});

test('teleop: spacenav Twist scaled; Joy mapping with dead-man, deadband and missing axes named', () => {
  assert.deepEqual(velocityFromTwist({ linear: { x: 1, y: -0.5, z: 0 }, angular: { x: 0, y: 0, z: 0 } }, 0.02), [0.02, -0.01, 0]);
  const m = { axes: [1, 0, 4] as [number, number, number], scale: [0.05, -0.05, 0.05] as [number, number, number], deadman: 4, deadband: 0.1 };
  const joy = { header: hdr, axes: [0.2, 1, 0, 0, 0.05], buttons: [0, 0, 0, 0, 1] };
  const v = velocityFromJoy(joy, m) ?? [NaN, NaN, NaN];
  [0.05, -0.01, 0].forEach((e, i) => assert.ok(Math.abs((v[i] as number) - e) < 1e-12, `axis ${i}`));
  assert.equal(velocityFromJoy({ ...joy, buttons: [0, 0, 0, 0, 0] }, m), null);
  assert.throws(() => velocityFromJoy({ ...joy, axes: [0, 0] }, m), /axis 1|axis 4/);
  assert.throws(() => velocityFromJoy({ ...joy, buttons: [1] }, m), /dead-man button 4 missing/);
});

test('Intera /robot/state: pressed engages; released-but-not-reset stays engaged; reset clears', () => {
  const ok = { homed: true, ready: true, enabled: true, stopped: false, error: false, lowvoltage: false, estop_button: 0, estop_source: 0 };
  assert.deepEqual(estopFromRobotState(ok), { engaged: false, releasedNotReset: false, source: null });
  const pressed = estopFromRobotState({ ...ok, stopped: true, enabled: false, estop_button: 1, estop_source: 1 });
  assert.equal(pressed.engaged, true);
  assert.match(pressed.source ?? '', /user, button pressed/);
  const released = estopFromRobotState({ ...ok, stopped: true, enabled: false, estop_button: 3, estop_source: 1 });
  assert.equal(released.engaged, true);
  assert.equal(released.releasedNotReset, true);
  const fault = estopFromRobotState({ ...ok, stopped: true, estop_button: 2, estop_source: 3 });
  assert.equal(fault.engaged, true);
  assert.match(fault.source ?? '', /fault/);
});
