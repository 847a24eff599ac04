/**
 * End-effector pose from joint states: forward kinematics of a serial chain configured as URDF writes it (each joint:
 * a fixed origin transform from its parent, xyz + rpy, then a rotation about / translation along its axis by the joint
 * value), then a fixed tool transform from the last link to the connector tip. For arms that publish
 * sensor_msgs/JointState but no Cartesian pose (backend topics.jointStates + kinematics, src/ros2/config.ts).
 */
import type { Vec3 } from '../core/types.ts';
import { axisAngleMatrix } from '../core/rotation.ts';
import type { Pose } from './convert.ts';

export interface FixedTransform {
  xyz: Vec3;
  /** Roll, pitch, yaw (rad), URDF's fixed-axis convention: R = Rz(yaw) Ry(pitch) Rx(roll). */
  rpy: Vec3;
}

export interface ChainJoint {
  /** The name in sensor_msgs/JointState.name. */
  name: string;
  type: 'revolute' | 'prismatic';
  origin: FixedTransform;
  /** Unit axis in the joint frame. */
  axis: Vec3;
}

export interface KinematicChain {
  /** From the pose's reference frame (the robot base) to the first joint's parent link. */
  base: FixedTransform;
  joints: ChainJoint[];
  /** From the last link to the connector tip (the point the daemon controls). */
  tool: FixedTransform;
}

/** Row-major 3x3 rotation and a translation. */
interface Tf {
  r: number[];
  t: Vec3;
}

function rpyMatrix([roll, pitch, yaw]: Vec3): number[] {
  const [cr, sr, cp, sp, cy, sy] = [Math.cos(roll), Math.sin(roll), Math.cos(pitch), Math.sin(pitch), Math.cos(yaw), Math.sin(yaw)];
  return [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr, sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr, -sp, cp * sr, cp * cr];
}

function mul(a: Tf, b: Tf): Tf {
  const r = new Array<number>(9);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) r[i * 3 + j] = a.r[i * 3]! * b.r[j]! + a.r[i * 3 + 1]! * b.r[3 + j]! + a.r[i * 3 + 2]! * b.r[6 + j]!;
  const t: Vec3 = [0, 0, 0];
  for (let i = 0; i < 3; i++) t[i] = a.r[i * 3]! * b.t[0] + a.r[i * 3 + 1]! * b.t[1] + a.r[i * 3 + 2]! * b.t[2] + a.t[i]!;
  return { r, t };
}

const fixed = (f: FixedTransform): Tf => ({ r: rpyMatrix(f.rpy), t: [...f.xyz] });

/** Rotation matrix -> unit quaternion [w, x, y, z]. */
function quatOf(m: number[]): [number, number, number, number] {
  const [a, b, c, d, e, f, g, h, i] = m as [number, number, number, number, number, number, number, number, number];
  const tr = a + e + i;
  let q: [number, number, number, number];
  if (tr > 0) {
    const s = Math.sqrt(tr + 1) * 2;
    q = [0.25 * s, (h - f) / s, (c - g) / s, (d - b) / s];
  } else if (a > e && a > i) {
    const s = Math.sqrt(1 + a - e - i) * 2;
    q = [(h - f) / s, 0.25 * s, (b + d) / s, (c + g) / s];
  } else if (e > i) {
    const s = Math.sqrt(1 + e - a - i) * 2;
    q = [(c - g) / s, (b + d) / s, 0.25 * s, (f + h) / s];
  } else {
    const s = Math.sqrt(1 + i - a - e) * 2;
    q = [(d - b) / s, (c + g) / s, (f + h) / s, 0.25 * s];
  }
  const n = Math.hypot(...q);
  return [q[0] / n, q[1] / n, q[2] / n, q[3] / n];
}

/**
 * The tip pose for the named joint values. Every chain joint must be present and finite (extra names are ignored:
 * grippers, other arms); a missing or non-finite one is an error naming it.
 */
export function forwardKinematics(chain: KinematicChain, names: readonly string[], positions: ArrayLike<number>, where = 'joint states'): Pose {
  let T = fixed(chain.base);
  for (const j of chain.joints) {
    const k = names.indexOf(j.name);
    const q = k >= 0 && k < positions.length ? positions[k] : undefined;
    if (q === undefined) throw new Error(`ros2 ${where}: joint '${j.name}' missing (message names ${names.length ? names.join(', ') : 'none'})`);
    if (!Number.isFinite(q)) throw new Error(`ros2 ${where}: joint '${j.name}' position is not finite`);
    T = mul(T, fixed(j.origin));
    T = mul(
      T,
      j.type === 'revolute'
        ? { r: axisAngleMatrix(j.axis, q), t: [0, 0, 0] }
        : { r: [1, 0, 0, 0, 1, 0, 0, 0, 1], t: [j.axis[0] * q, j.axis[1] * q, j.axis[2] * q] },
    );
  }
  T = mul(T, fixed(chain.tool));
  return { pos: T.t, quat: quatOf(T.r) };
}

/** Parses the `kinematics` section of backend.ros2; every error names the file and the field. */
export function parseKinematics(v: unknown, at: string): KinematicChain {
  const obj = (x: unknown, w: string): Record<string, unknown> => {
    if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new Error(`${w}: expected a mapping`);
    return x as Record<string, unknown>;
  };
  const known = (o: Record<string, unknown>, keys: string[], w: string): void => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) throw new Error(`${w}.${k}: unknown field (known: ${keys.join(', ')})`);
  };
  const vec = (x: unknown, w: string): Vec3 => {
    if (!Array.isArray(x) || x.length !== 3 || !x.every((n) => typeof n === 'number' && Number.isFinite(n))) throw new Error(`${w}: three finite numbers`);
    return [x[0] as number, x[1] as number, x[2] as number];
  };
  const tf = (x: unknown, w: string): FixedTransform => {
    if (x === undefined) return { xyz: [0, 0, 0], rpy: [0, 0, 0] };
    const o = obj(x, w);
    known(o, ['xyz', 'rpy'], w);
    return { xyz: o.xyz === undefined ? [0, 0, 0] : vec(o.xyz, `${w}.xyz`), rpy: o.rpy === undefined ? [0, 0, 0] : vec(o.rpy, `${w}.rpy`) };
  };
  const o = obj(v, at);
  known(o, ['base', 'joints', 'tool'], at);
  if (!Array.isArray(o.joints) || o.joints.length === 0) throw new Error(`${at}.joints: a list of at least one joint`);
  const joints = o.joints.map((x, i): ChainJoint => {
    const w = `${at}.joints[${i}]`;
    const j = obj(x, w);
    known(j, ['name', 'type', 'origin', 'axis'], w);
    if (typeof j.name !== 'string' || j.name.length === 0) throw new Error(`${w}.name: the joint's name in sensor_msgs/JointState`);
    const type = j.type ?? 'revolute';
    if (type !== 'revolute' && type !== 'prismatic') throw new Error(`${w}.type: 'revolute' | 'prismatic'`);
    const axis = j.axis === undefined ? ([0, 0, 1] as Vec3) : vec(j.axis, `${w}.axis`);
    const n = Math.hypot(...axis);
    if (Math.abs(n - 1) > 1e-6) throw new Error(`${w}.axis: must be a unit vector (norm ${n.toFixed(6)})`);
    return { name: j.name, type, origin: tf(j.origin, `${w}.origin`), axis };
  });
  const names = new Set<string>();
  for (const j of joints) {
    if (names.has(j.name)) throw new Error(`${at}.joints: joint '${j.name}' appears twice`);
    names.add(j.name);
  }
  return { base: tf(o.base, `${at}.base`), joints, tool: tf(o.tool, `${at}.tool`) };
}
