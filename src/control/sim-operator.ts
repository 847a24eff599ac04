/**
 * A SIMULATED operator, standing in for the human who takes over with a SpaceMouse (HIL-SERL's interventions), for
 * tests and experiments in the simulated cell only: it looks at simulator ground truth, which no real operator or
 * policy has.
 *
 * It watches the final approach: once the connector tip is within `watchHeightM` above the socket face (or below it),
 * and the tip is farther than `thresholdM` from the TRUE socket axis, it takes over and drives the P-controller with
 * the exact x* (the seated tip position) for the rest of the episode, as an operator guiding the connector in would.
 * Above the watch height it leaves the policy alone: scenario II starts 10-20 mm off the axis by design.
 * By default it helps only practice episodes, never evaluation ones.
 */
import type { TakeoverCommand, TakeoverContext, TakeoverInput } from '../core/takeover.ts';
import type { Vec3 } from '../core/types.ts';
import { DEFAULT_P_CONFIG, pControl } from './p-controller.ts';

export interface SimOperatorConfig {
  /** Take over when the tip is farther than this from the true socket axis (m). */
  thresholdM: number;
  /** Judge the tip only within this height above the socket face (m). */
  watchHeightM: number;
  /** Gains of the operator's P-controller (the daemon's calibration kp). */
  kp: Vec3;
  /** Help practice episodes only (default): evaluation measures the policy alone. */
  practiceOnly: boolean;
}

export const DEFAULT_SIM_OPERATOR: SimOperatorConfig = { thresholdM: 0.001, watchHeightM: 0.01, kp: DEFAULT_P_CONFIG.kp, practiceOnly: true };

/** `sim:THRESH_MM` (the experiment's --operator flag) -> config; a clear error otherwise. */
export function parseSimOperator(spec: string, where = '--operator'): SimOperatorConfig {
  const m = /^sim:([0-9]*\.?[0-9]+)$/.exec(spec.trim());
  const mm = m ? Number(m[1]) : NaN;
  if (!(mm > 0 && mm <= 20)) throw new Error(`${where}: expected sim:THRESH_MM with 0 < THRESH_MM <= 20 (e.g. sim:1), got '${spec}'`);
  return { ...DEFAULT_SIM_OPERATOR, thresholdM: mm / 1000 };
}

export class SimOperator implements TakeoverInput {
  readonly name = 'sim-operator';
  readonly source: string;
  readonly config: SimOperatorConfig;
  private episodeId: number | null = null;
  private holding = false;
  /** Episodes it took over, and steps it drove. */
  takeovers = 0;
  steps = 0;

  constructor(config: Partial<SimOperatorConfig> = {}) {
    this.config = { ...DEFAULT_SIM_OPERATOR, ...config };
    if (!(this.config.thresholdM > 0)) throw new RangeError(`SimOperator: thresholdM must be > 0, got ${this.config.thresholdM}`);
    this.source = `sim-operator:${+(this.config.thresholdM * 1000).toFixed(3)}mm`;
  }

  poll(ctx: TakeoverContext): TakeoverCommand | null {
    if (ctx.episode.id !== this.episodeId) {
      this.episodeId = ctx.episode.id;
      this.holding = false;
    }
    if (this.config.practiceOnly && ctx.episode.kind !== 'practice') return null;
    if (!ctx.groundTruth) throw new Error('the simulated operator needs a backend with ground truth (the simulated cell)');
    const gt = ctx.groundTruth();
    if (!this.holding) {
      const height = -gt.depth; // depth is measured down from the socket face
      if (height > this.config.watchHeightM || gt.lateralError <= this.config.thresholdM) return null;
      this.holding = true;
      this.takeovers++;
    }
    this.steps++;
    return { delta: pControl(ctx.obs.eePos, gt.socketPos, this.config.kp), source: this.source };
  }
}
