/**
 * The hand-designed base controller of residual RL (thesis T:4060-4135): u_H = -kp (x - x*), where x is the
 * end-effector (connector tip) position and x* the commanded goal (the calibrated socket position).
 * With kp = [1, 1, 0.3] it aligns in (x, y) within a step or two and approaches the goal in z geometrically
 * (70% of the remaining height left after each step), so it reaches x* from 5 cm above in about 10 steps.
 * It has no notion of contact: a goal that is wrong by more than the clearance leaves it pressing on the rim.
 */
import type { Observation, Vec3 } from '../core/types.ts';
import { checkNumber, clipAction, type ControlContext, type Controller } from './controller.ts';

export interface PControllerConfig {
  /** Proportional gains per axis (x, y, z), unitless (m of motion per m of error per step). Research: [1, 1, 0.3]. */
  kp: Vec3;
}

export const DEFAULT_P_CONFIG: PControllerConfig = { kp: [1, 1, 0.3] };

/**
 * u = -kp (x - x*), unclipped. Pure: the daemon uses it as u_H and adds the residual before its own limits.
 */
export function pControl(eePos: Vec3, goal: Vec3, kp: Vec3 = DEFAULT_P_CONFIG.kp): Vec3 {
  return [-kp[0] * (eePos[0] - goal[0]), -kp[1] * (eePos[1] - goal[1]), -kp[2] * (eePos[2] - goal[2])];
}

export class PController implements Controller {
  readonly name: string;
  readonly config: PControllerConfig;

  constructor(config: Partial<PControllerConfig> = {}, name = 'p') {
    this.config = { ...DEFAULT_P_CONFIG, ...config };
    const kp = this.config.kp;
    if (!Array.isArray(kp) || kp.length !== 3) throw new RangeError('PController: kp must be [kx, ky, kz]');
    kp.forEach((k, i) => checkNumber('PController', `kp[${i}]`, k, 0, 10));
    this.name = name;
  }

  reset(_ctx: ControlContext): void {
    // Stateless.
  }

  act(obs: Observation, ctx: ControlContext): Vec3 {
    return clipAction(pControl(obs.eePos, obs.goal, this.config.kp), ctx.maxStep);
  }
}
