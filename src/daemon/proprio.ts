/**
 * Builds a model's proprio vector from an observation, by the element names its card lists
 * (card.preprocessing.proprio.layout), normalised as (raw - mean) / std. The layout is compiled once (at model load),
 * so the tick only runs a loop of small closures into a reused buffer.
 *
 * Names: dx dy dz = end effector minus goal x* (m); x y z = end effector (m); gx gy gz = goal x* (m);
 * fx fy fz tx ty tz = bias-corrected wrench (N, N m).
 */
import type { Observation } from '../robot/types.ts';

type Getter = (o: Observation) => number;

const GETTERS: Record<string, Getter> = {
  dx: (o) => o.eePos[0] - o.goal[0],
  dy: (o) => o.eePos[1] - o.goal[1],
  dz: (o) => o.eePos[2] - o.goal[2],
  x: (o) => o.eePos[0],
  y: (o) => o.eePos[1],
  z: (o) => o.eePos[2],
  gx: (o) => o.goal[0],
  gy: (o) => o.goal[1],
  gz: (o) => o.goal[2],
  fx: (o) => o.wrench[0],
  fy: (o) => o.wrench[1],
  fz: (o) => o.wrench[2],
  tx: (o) => o.wrench[3],
  ty: (o) => o.wrench[4],
  tz: (o) => o.wrench[5],
};

export const PROPRIO_NAMES = Object.keys(GETTERS);

export class ProprioBuilder {
  private readonly getters: Getter[];
  private readonly buf: Float32Array;

  /** @param source names the model in errors */
  constructor(
    spec: { layout: string[]; mean: number[]; std: number[] },
    private readonly source: string,
  ) {
    this.getters = spec.layout.map((name, i) => {
      const g = GETTERS[name];
      if (!g) throw new Error(`${source}: proprio layout[${i}] '${name}' is not a known element (known: ${PROPRIO_NAMES.join(' ')})`);
      return g;
    });
    spec.std.forEach((s, i) => {
      if (!(s > 0)) throw new Error(`${source}: proprio std[${i}] must be > 0, got ${s}`);
    });
    this.mean = Float64Array.from(spec.mean);
    this.invStd = Float64Array.from(spec.std, (s) => 1 / s);
    this.buf = new Float32Array(spec.layout.length);
  }

  private readonly mean: Float64Array;
  private readonly invStd: Float64Array;

  /** Fills and returns the reused buffer. */
  build(o: Observation): Float32Array {
    for (let i = 0; i < this.getters.length; i++) {
      this.buf[i] = ((this.getters[i] as Getter)(o) - (this.mean[i] as number)) * (this.invStd[i] as number);
    }
    return this.buf;
  }
}
