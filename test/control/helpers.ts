import type { Observation, Vec3, Wrench } from '../../src/core/types.ts';
import type { ControlContext, Controller } from '../../src/control/controller.ts';
import { Rng } from '../../src/util/rng.ts';

/** A synthetic observation: only the fields controllers read are meaningful. */
export function obs(eePos: Vec3, goal: Vec3, fz = 0): Observation {
  const wrench: Wrench = [0, 0, fz, 0, 0, 0];
  return {
    image: { width: 1, height: 1, data: new Uint8Array(3) },
    wrench,
    eePos,
    eeQuat: [1, 0, 0, 0],
    goal,
    imageStamp: 0,
    wrenchStamp: 0,
  };
}

export function ctx(seed: number, socketPos?: Vec3, maxStep = 0.01): ControlContext {
  const c: ControlContext = { step: 0, episodeLength: 20, maxStep, rng: new Rng(seed) };
  if (socketPos) c.privileged = { socketPos };
  return c;
}

/**
 * A kinematic point plant with a round hole, for exercising the scripted state machines without physics:
 * the tip follows commands exactly, except that below the socket surface it is stopped unless it is within
 * `clearance` of the hole axis, and pressing on the surface shows as an upward force k * (commanded penetration).
 */
export class HolePlant {
  pos: Vec3;
  fz = 0;
  constructor(
    start: Vec3,
    readonly hole: Vec3 /* seated tip position */,
    readonly depth = 0.008,
    readonly clearance = 0.0005,
    readonly stiffness = 3000,
  ) {
    this.pos = [...start];
  }
  get surfaceZ(): number {
    return this.hole[2] + this.depth;
  }
  get seated(): boolean {
    return this.pos[2] < this.hole[2] + 0.001 && Math.hypot(this.pos[0] - this.hole[0], this.pos[1] - this.hole[1]) <= this.clearance;
  }
  step(u: Vec3): void {
    const inHole = Math.hypot(this.pos[0] - this.hole[0], this.pos[1] - this.hole[1]) <= this.clearance;
    let [x, y, z] = [this.pos[0] + u[0], this.pos[1] + u[1], this.pos[2] + u[2]];
    if (inHole && this.pos[2] < this.surfaceZ) {
      // Inside the bore: lateral motion limited by the walls.
      const dx = x - this.hole[0];
      const dy = y - this.hole[1];
      const r = Math.hypot(dx, dy);
      if (r > this.clearance) {
        x = this.hole[0] + (dx * this.clearance) / r;
        y = this.hole[1] + (dy * this.clearance) / r;
      }
    }
    const nowInHole = Math.hypot(x - this.hole[0], y - this.hole[1]) <= this.clearance;
    const floor = nowInHole ? this.hole[2] : this.surfaceZ;
    this.fz = z < floor ? this.stiffness * (floor - z) : 0;
    z = Math.max(z, floor);
    this.pos = [x, y, z];
  }
}

/** Runs one 20-step episode of `c` on a HolePlant (8 mm deep hole at `socket`); returns the plant and the actions. */
export function plantEpisode(c: Controller, start: Vec3, goal: Vec3, socket: Vec3, seed: number, clearance = 0.0005): { plant: HolePlant; actions: Vec3[] } {
  const plant = new HolePlant(start, socket, 0.008, clearance);
  const cx = ctx(seed, socket);
  c.reset(cx);
  const actions: Vec3[] = [];
  for (let k = 0; k < 20; k++) {
    cx.step = k;
    const u = c.act(obs(plant.pos, goal, plant.fz), cx);
    if (u instanceof Promise) throw new Error('scripted controllers are synchronous');
    actions.push(u);
    plant.step(u);
  }
  return { plant, actions };
}
