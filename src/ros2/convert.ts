/**
 * Conversions between ROS 2 messages and the daemon's robot types (src/core/types.ts), both ways.
 * Conventions: stamps are seconds on the sender's clock; quaternions are [w, x, y, z] in the daemon and
 * {x, y, z, w} in ROS; images in the daemon are tightly packed RGB.
 */
import { decodeImage, encodeImage } from '../robot/image-codec.ts';
import type { DepthImage, RgbImage, Vec3, Wrench } from '../core/types.ts';
import {
  ESTOP_BUTTON,
  type CompressedImageMsg,
  type DiagnosticArrayMsg,
  type DiagnosticStatusMsg,
  type Header,
  type ImageMsg,
  type JoyMsg,
  type PoseStampedMsg,
  type RobotAssemblyStateMsg,
  type Time,
  type TwistMsg,
  type TwistStampedMsg,
  type WrenchStampedMsg,
} from './messages.ts';

export function secToTime(t: number): Time {
  if (!Number.isFinite(t) || t < 0) throw new Error(`ros2: stamp ${t} is not a finite non-negative time`);
  let sec = Math.floor(t);
  let nanosec = Math.round((t - sec) * 1e9);
  if (nanosec >= 1e9) {
    sec += 1;
    nanosec -= 1e9;
  }
  return { sec, nanosec };
}

export function timeToSec(t: Time): number {
  return t.sec + t.nanosec * 1e-9;
}

export function header(stamp: number, frameId: string): Header {
  return { stamp: secToTime(stamp), frame_id: frameId };
}

// ---- images ----

export type RawEncoding = 'rgb8' | 'bgr8' | 'rgba8' | 'bgra8' | 'mono8';
const CHANNELS: Record<RawEncoding, number> = { rgb8: 3, bgr8: 3, rgba8: 4, bgra8: 4, mono8: 1 };

/** sensor_msgs/Image -> packed RGB (a copy: the message buffer may be reused by the transport). */
export function imageFromMsg(msg: ImageMsg, topic = 'image'): RgbImage {
  const enc = msg.encoding as RawEncoding;
  const ch = CHANNELS[enc];
  if (ch === undefined) {
    throw new Error(`ros2 ${topic}: image encoding '${msg.encoding}' is not supported (rgb8, bgr8, rgba8, bgra8, mono8)`);
  }
  const { width, height, step } = msg;
  if (width <= 0 || height <= 0) throw new Error(`ros2 ${topic}: empty image ${width}x${height}`);
  if (step < width * ch) throw new Error(`ros2 ${topic}: step ${step} < width ${width} x ${ch} bytes`);
  if (msg.data.length < step * (height - 1) + width * ch) {
    throw new Error(`ros2 ${topic}: ${msg.data.length} data bytes for ${width}x${height} ${enc} with step ${step}`);
  }
  const out = new Uint8Array(width * height * 3);
  const src = msg.data;
  if (enc === 'rgb8' && step === width * 3) {
    out.set(src.subarray(0, out.length));
    return { width, height, data: out };
  }
  const [r, g, b] = enc === 'bgr8' || enc === 'bgra8' ? [2, 1, 0] : [0, 1, 2];
  for (let y = 0; y < height; y++) {
    let s = y * step;
    let d = y * width * 3;
    for (let x = 0; x < width; x++, s += ch, d += 3) {
      if (ch === 1) {
        const v = src[s] as number;
        out[d] = v;
        out[d + 1] = v;
        out[d + 2] = v;
      } else {
        out[d] = src[s + r] as number;
        out[d + 1] = src[s + g] as number;
        out[d + 2] = src[s + b] as number;
      }
    }
  }
  return { width, height, data: out };
}

/**
 * sensor_msgs/Image depth -> metres: 16UC1 (or mono16) in millimetres, as RealSense and most RGB-D drivers publish, or
 * 32FC1 in metres (REP 118). 0, NaN and +-Inf read as no depth (0). Either byte order. Throws naming the topic.
 */
export function depthFromMsg(msg: ImageMsg, topic = 'depth'): DepthImage {
  const enc = msg.encoding;
  const bytes = enc === '16UC1' || enc === 'mono16' ? 2 : enc === '32FC1' ? 4 : 0;
  if (bytes === 0) throw new Error(`ros2 ${topic}: depth encoding '${enc}' is not supported (16UC1 or mono16 in mm, 32FC1 in m)`);
  const { width, height, step } = msg;
  if (width <= 0 || height <= 0) throw new Error(`ros2 ${topic}: empty depth image ${width}x${height}`);
  if (step < width * bytes) throw new Error(`ros2 ${topic}: step ${step} < width ${width} x ${bytes} bytes`);
  if (msg.data.length < step * (height - 1) + width * bytes) {
    throw new Error(`ros2 ${topic}: ${msg.data.length} data bytes for ${width}x${height} ${enc} with step ${step}`);
  }
  const view = new DataView(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength);
  const little = msg.is_bigendian === 0;
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = y * step + x * bytes;
      const v = bytes === 2 ? view.getUint16(o, little) / 1000 : view.getFloat32(o, little);
      out[y * width + x] = Number.isFinite(v) && v > 0 ? v : 0;
    }
  }
  return { width, height, data: out };
}

/** Depth (m) -> sensor_msgs/Image 32FC1 in metres (REP 118; 0 = no depth), little-endian: what depthFromMsg reads. */
export function depthToMsg(depth: DepthImage, stamp: number, frameId: string): ImageMsg {
  const data = new Uint8Array(depth.width * depth.height * 4);
  const view = new DataView(data.buffer);
  for (let i = 0; i < depth.data.length; i++) view.setFloat32(4 * i, depth.data[i] as number, true);
  return { header: header(stamp, frameId), height: depth.height, width: depth.width, encoding: '32FC1', is_bigendian: 0, step: depth.width * 4, data };
}

/** Packed RGB -> sensor_msgs/Image in rgb8 (no copy) or bgr8. */
export function imageToMsg(img: RgbImage, stamp: number, frameId: string, encoding: 'rgb8' | 'bgr8' = 'rgb8'): ImageMsg {
  let data = img.data;
  if (encoding === 'bgr8') {
    data = new Uint8Array(img.data.length);
    for (let i = 0; i < data.length; i += 3) {
      data[i] = img.data[i + 2] as number;
      data[i + 1] = img.data[i + 1] as number;
      data[i + 2] = img.data[i] as number;
    }
  }
  return { header: header(stamp, frameId), height: img.height, width: img.width, encoding, is_bigendian: 0, step: img.width * 3, data };
}

/** sensor_msgs/CompressedImage (jpeg, png, ...) -> packed RGB, decoded by sharp off the main thread. */
export async function compressedImageFromMsg(msg: CompressedImageMsg, topic = 'image/compressed'): Promise<RgbImage> {
  try {
    return await decodeImage(msg.data);
  } catch (e) {
    throw new Error(`ros2 ${topic}: cannot decode compressed image (format '${msg.format}', ${msg.data.length} bytes): ${(e as Error).message}`);
  }
}

export async function compressedImageToMsg(img: RgbImage, stamp: number, frameId: string, format: 'jpeg' | 'png' = 'png'): Promise<CompressedImageMsg> {
  const buf = await encodeImage(img, format);
  return { header: header(stamp, frameId), format, data: new Uint8Array(buf.buffer, buf.byteOffset, buf.length) };
}

// ---- wrench, pose, twist ----

function finite(v: number[], what: string): void {
  if (!v.every(Number.isFinite)) throw new Error(`ros2 ${what}: non-finite value in [${v.join(', ')}]`);
}

export function wrenchFromMsg(msg: WrenchStampedMsg, topic = 'wrench'): Wrench {
  const { force: f, torque: t } = msg.wrench;
  const w: Wrench = [f.x, f.y, f.z, t.x, t.y, t.z];
  finite(w, topic);
  return w;
}

export function wrenchToMsg(w: Wrench, stamp: number, frameId: string): WrenchStampedMsg {
  return {
    header: header(stamp, frameId),
    wrench: { force: { x: w[0], y: w[1], z: w[2] }, torque: { x: w[3], y: w[4], z: w[5] } },
  };
}

export interface Pose {
  pos: Vec3;
  /** [w, x, y, z] */
  quat: [number, number, number, number];
}

export function poseFromMsg(msg: PoseStampedMsg, topic = 'pose'): Pose {
  const { position: p, orientation: q } = msg.pose;
  const pose: Pose = { pos: [p.x, p.y, p.z], quat: [q.w, q.x, q.y, q.z] };
  finite([...pose.pos, ...pose.quat], topic);
  const n = Math.hypot(...pose.quat);
  if (Math.abs(n - 1) > 1e-3) throw new Error(`ros2 ${topic}: orientation is not a unit quaternion (norm ${n.toFixed(4)})`);
  return pose;
}

export function poseToMsg(pose: Pose, stamp: number, frameId: string): PoseStampedMsg {
  const [w, x, y, z] = pose.quat;
  return {
    header: header(stamp, frameId),
    pose: { position: { x: pose.pos[0], y: pose.pos[1], z: pose.pos[2] }, orientation: { x, y, z, w } },
  };
}

/** A relative move over one control period as a velocity: linear = delta / period, no rotation. */
export function twistStampedFromDelta(delta: Vec3, period: number, stamp: number, frameId: string): TwistStampedMsg {
  if (!(period > 0)) throw new Error(`ros2: control period ${period} must be > 0`);
  return {
    header: header(stamp, frameId),
    twist: { linear: { x: delta[0] / period, y: delta[1] / period, z: delta[2] / period }, angular: { x: 0, y: 0, z: 0 } },
  };
}

export function deltaFromTwistStamped(msg: TwistStampedMsg, period: number): Vec3 {
  const l = msg.twist.linear;
  const d: Vec3 = [l.x * period, l.y * period, l.z * period];
  finite(d, 'twist');
  return d;
}

/** A relative move as an absolute target pose: current position + delta, orientation held. */
export function targetPoseFromDelta(current: Pose, delta: Vec3, stamp: number, frameId: string): PoseStampedMsg {
  return poseToMsg({ pos: [current.pos[0] + delta[0], current.pos[1] + delta[1], current.pos[2] + delta[2]], quat: current.quat }, stamp, frameId);
}

// ---- teleop ----

/** geometry_msgs/Twist as the `spacenav` driver publishes it: linear velocity scaled to m/s. */
export function velocityFromTwist(msg: TwistMsg, scale: number): Vec3 {
  const v: Vec3 = [msg.linear.x * scale, msg.linear.y * scale, msg.linear.z * scale];
  finite(v, 'teleop twist');
  return v;
}

export interface JoyMapping {
  /** Axis index for base-frame x, y, z. */
  axes: [number, number, number];
  /** m/s at full deflection per axis (sign flips an axis). */
  scale: [number, number, number];
  /** Button that must be held for the command to count (dead-man); null: none. */
  deadman: number | null;
  /** Deflections below this magnitude read as 0. */
  deadband: number;
}

/** sensor_msgs/Joy -> velocity (m/s), or null when the dead-man button is released. Errors name the missing index. */
export function velocityFromJoy(msg: JoyMsg, m: JoyMapping): Vec3 | null {
  if (m.deadman !== null) {
    const b = msg.buttons[m.deadman];
    if (b === undefined) throw new Error(`ros2 joy: dead-man button ${m.deadman} missing (message has ${msg.buttons.length} buttons)`);
    if (b === 0) return null;
  }
  const v = [0, 0, 0] as Vec3;
  for (let i = 0; i < 3; i++) {
    const idx = m.axes[i] as number;
    const a = msg.axes[idx];
    if (a === undefined) throw new Error(`ros2 joy: axis ${idx} missing (message has ${msg.axes.length} axes)`);
    v[i] = Math.abs(a) < m.deadband ? 0 : a * (m.scale[i] as number);
  }
  finite(v, 'joy');
  return v;
}

// ---- e-stop ----

export interface RobotEstop {
  engaged: boolean;
  /** Released but the robot is still stopped (Intera's ESTOP_BUTTON_RELEASED): engaged until the robot is reset. */
  releasedNotReset: boolean;
  source: string | null;
}

const SOURCE_NAMES = ['none', 'user', 'unknown', 'fault', 'engine'];
const BUTTON_NAMES = ['unpressed', 'pressed', 'unknown', 'released'];

/**
 * Intera's /robot/state: the robot is e-stopped while `stopped` is set or the button is pressed; a released button
 * with the robot still stopped stays engaged (the robot latches until it is reset), so the daemon refuses to reset.
 */
export function estopFromRobotState(msg: RobotAssemblyStateMsg): RobotEstop {
  const pressed = msg.estop_button === ESTOP_BUTTON.PRESSED;
  const released = msg.estop_button === ESTOP_BUTTON.RELEASED;
  const engaged = msg.stopped || pressed || released;
  if (!engaged) return { engaged: false, releasedNotReset: false, source: null };
  const src = SOURCE_NAMES[msg.estop_source] ?? `source ${msg.estop_source}`;
  const btn = BUTTON_NAMES[msg.estop_button] ?? `button ${msg.estop_button}`;
  return {
    engaged: true,
    releasedNotReset: released,
    source: `robot/state: ${src}, button ${btn}${released ? ' (released, robot not reset)' : ''}`,
  };
}

// ---- diagnostics ----

export function diagnosticArray(stamp: number, status: DiagnosticStatusMsg[]): DiagnosticArrayMsg {
  return { header: header(stamp, ''), status };
}

export function diagnosticStatus(
  level: number,
  name: string,
  message: string,
  values: Record<string, string | number | boolean>,
  hardwareId = '',
): DiagnosticStatusMsg {
  return {
    level,
    name,
    message,
    hardware_id: hardwareId,
    values: Object.entries(values).map(([key, value]) => ({ key, value: String(value) })),
  };
}
