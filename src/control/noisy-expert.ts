/**
 * The scripted data collector of the research (thesis T:5343-5347): "moving downwards if within 1mm of the
 * center-line of the socket, and moving towards the center-line of the connector otherwise. Noisy actions are
 * executed with probability 0.2 to visit a diverse set of states and induce recovery behavior in the prior data."
 *
 * It reads the TRUE socket position (`ctx.privileged`), as the research's collector relied on a calibrated,
 * instrumented socket pose. It is for collecting prior data only, never a baseline.
 */
import type { Observation, Vec3 } from '../core/types.ts';
import { checkNumber, clipAction, limitXY, type ControlContext, type Controller } from './controller.ts';

export interface NoisyExpertConfig {
  /** Horizontal distance to the socket centre-line (m) within which the expert moves straight down. Research: 1 mm. */
  alignTolerance: number;
  /** Probability of replacing the scripted action by a random one at each step. Research: 0.2. */
  randomProb: number;
  /** Random actions are uniform per axis in [-randomScale, randomScale] (m), then clipped to the step bound. */
  randomScale: number;
  /** When descending, aim this far (m) below the seated tip position so the plug is pressed home. */
  pressDepth: number;
}

export const DEFAULT_NOISY_EXPERT_CONFIG: NoisyExpertConfig = {
  alignTolerance: 0.001,
  randomProb: 0.2,
  randomScale: 0.005,
  pressDepth: 0.002,
};

export class NoisyExpert implements Controller {
  readonly name: string;
  readonly config: NoisyExpertConfig;
  /** Number of random actions taken since construction (for checking the rate). */
  randomActions = 0;
  /** Number of actions taken since construction. */
  totalActions = 0;

  constructor(config: Partial<NoisyExpertConfig> = {}, name = 'expert') {
    this.config = { ...DEFAULT_NOISY_EXPERT_CONFIG, ...config };
    const c = this.config;
    checkNumber('NoisyExpert', 'alignTolerance', c.alignTolerance, 0, 0.1);
    checkNumber('NoisyExpert', 'randomProb', c.randomProb, 0, 1);
    checkNumber('NoisyExpert', 'randomScale', c.randomScale, 0, 1);
    checkNumber('NoisyExpert', 'pressDepth', c.pressDepth, 0, 0.05);
    this.name = name;
  }

  reset(ctx: ControlContext): void {
    if (!ctx.privileged) throw new Error('NoisyExpert: needs ctx.privileged.socketPos (the instrumented socket pose)');
  }

  act(obs: Observation, ctx: ControlContext): Vec3 {
    const socket = ctx.privileged?.socketPos;
    if (!socket) throw new Error('NoisyExpert: needs ctx.privileged.socketPos (the instrumented socket pose)');
    this.totalActions++;
    // Draw the coin first, always, so the random stream does not depend on the branch taken.
    const coin = ctx.rng.next();
    if (coin < this.config.randomProb) {
      this.randomActions++;
      const s = this.config.randomScale;
      return clipAction([ctx.rng.uniform(-s, s), ctx.rng.uniform(-s, s), ctx.rng.uniform(-s, s)], ctx.maxStep);
    }
    const x = obs.eePos;
    const ex = socket[0] - x[0];
    const ey = socket[1] - x[1];
    if (Math.hypot(ex, ey) <= this.config.alignTolerance) {
      const dz = Math.min(0, socket[2] - this.config.pressDepth - x[2]);
      return clipAction([0, 0, dz], ctx.maxStep);
    }
    // Toward the centre-line, at most one step bound in horizontal length (keeps the direction exact).
    const [dx, dy] = limitXY(ex, ey, ctx.maxStep);
    return clipAction([dx, dy, 0], ctx.maxStep);
  }
}
