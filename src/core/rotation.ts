/** Rotation about a unit axis by an angle (Rodrigues), row-major 3x3: the simulator's camera and the ROS joint chain use it. */
import type { Vec3 } from './types.ts';

export function axisAngleMatrix([x, y, z]: Vec3, a: number): number[] {
  const c = Math.cos(a),
    s = Math.sin(a),
    k = 1 - c;
  return [
    c + x * x * k,
    x * y * k - z * s,
    x * z * k + y * s,
    y * x * k + z * s,
    c + y * y * k,
    y * z * k - x * s,
    z * x * k - y * s,
    z * y * k + x * s,
    c + z * z * k,
  ];
}
