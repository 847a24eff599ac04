/**
 * Sawyer (Rethink Robotics) arm kinematics and limits, from the public URDF (sawyer_description,
 * sawyer_base.urdf.xacro): joint origins (xyz, rpy), all joint axes z, position/velocity/effort limits,
 * link masses. Used to build a capsule-geometry MuJoCo arm with the same kinematic chain.
 */
import type { Vec3 } from '../core/types.ts';

export interface SawyerJoint {
  name: string;
  /** Origin of the joint frame in the parent link frame (URDF <origin xyz>). */
  xyz: Vec3;
  /** URDF <origin rpy> (fixed-axis roll, pitch, yaw). */
  rpy: Vec3;
  range: [number, number];
  /** Effort limit (N m): the real robot's force-limited joint control saturates here. */
  effort: number;
  /** Mass of the child link (kg). */
  mass: number;
  /** Principal inertia (kg m^2), diagonal of the URDF inertia (good enough for a simulated arm). */
  inertia: Vec3;
  /** Child link centre of mass in its own frame. */
  com: Vec3;
}

export const SAWYER_JOINTS: readonly SawyerJoint[] = [
  {
    name: 'right_j0',
    xyz: [0, 0, 0.08],
    rpy: [0, 0, 0],
    range: [-3.0503, 3.0503],
    effort: 80,
    mass: 5.3213,
    inertia: [0.053314, 0.057902, 0.023659],
    com: [0.024366, 0.010969, 0.14363],
  },
  {
    name: 'right_j1',
    xyz: [0.081, 0.05, 0.237],
    rpy: [-Math.PI / 2, Math.PI / 2, 0],
    range: [-3.8095, 2.2736],
    effort: 80,
    mass: 4.505,
    inertia: [0.022398, 0.014613, 0.017295],
    com: [-0.0030849, -0.026811, 0.092521],
  },
  {
    name: 'right_j2',
    xyz: [0, -0.14, 0.1425],
    rpy: [Math.PI / 2, 0, 0],
    range: [-3.0426, 3.0426],
    effort: 40,
    mass: 1.745,
    inertia: [0.025506, 0.0253, 0.0034179],
    com: [-0.00016044, -0.014967, 0.13582],
  },
  {
    name: 'right_j3',
    xyz: [0, -0.042, 0.26],
    rpy: [-Math.PI / 2, 0, 0],
    range: [-3.0439, 3.0439],
    effort: 40,
    mass: 2.5097,
    inertia: [0.01016, 0.0065685, 0.0069078],
    com: [-0.0048135, -0.0281, -0.084154],
  },
  {
    name: 'right_j4',
    xyz: [0, -0.125, -0.1265],
    rpy: [Math.PI / 2, 0, 0],
    range: [-2.9761, 2.9761],
    effort: 9,
    mass: 1.1136,
    inertia: [0.013557, 0.013555, 0.0013658],
    com: [-0.0018844, 0.0069001, 0.1341],
  },
  {
    name: 'right_j5',
    xyz: [0, 0.031, 0.275],
    rpy: [-Math.PI / 2, 0, 0],
    range: [-2.9761, 2.9761],
    effort: 9,
    mass: 1.5625,
    inertia: [0.0047328, 0.0029676, 0.0031762],
    com: [0.0061133, -0.023697, 0.076416],
  },
  {
    name: 'right_j6',
    xyz: [0, -0.11, 0.1053],
    rpy: [-Math.PI / 2, -0.17453, Math.PI],
    range: [-4.7124, 4.7124],
    effort: 9,
    mass: 0.3292,
    inertia: [0.00031105, 0.00021549, 0.00035976],
    com: [-8.0726e-6, 0.0085838, -0.0049566],
  },
];

/** right_l6 -> right_hand (fixed): xyz and rpy. */
export const SAWYER_HAND = { xyz: [0, 0, 0.0245] as Vec3, rpy: [0, 0, Math.PI / 2] as Vec3 };

/** Rethink's "neutral" posture: a good seed and null-space target with the hand pointing down in front. */
export const SAWYER_NEUTRAL: readonly number[] = [0, -1.18, 0, 2.18, 0, 0.57, 3.3161];

/**
 * Seed and null-space posture for the insertion cell: the neutral posture with the last joint turned so that
 * the tool's required yaw sits mid-range (the neutral 3.32 rad leaves too little margin before the 4.71 limit).
 */
export const CELL_HOME: readonly number[] = [0.07, -0.46, -0.1, 1.6, 0.22, 0.44, -1.57];

/** URDF rpy (R = Rz(yaw) Ry(pitch) Rx(roll)) as a MuJoCo quaternion [w, x, y, z]. */
export function rpyToQuat(rpy: Vec3): [number, number, number, number] {
  const [r, p, y] = rpy;
  const cr = Math.cos(r / 2),
    sr = Math.sin(r / 2);
  const cp = Math.cos(p / 2),
    sp = Math.sin(p / 2);
  const cy = Math.cos(y / 2),
    sy = Math.sin(y / 2);
  return [cr * cp * cy + sr * sp * sy, sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy, cr * cp * sy - sr * sp * cy];
}
