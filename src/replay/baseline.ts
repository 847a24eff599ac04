/**
 * A scripted baseline (src/control/registry.ts: localize, spiral, straight, ...) in closed-loop replay. The daemon's
 * action rule is u_H + bounded residual, and a baseline is a whole controller, not a residual; it runs through the
 * daemon anyway as residual = baseline action - u_H with the residual bound lifted (as in open loop), so that its
 * moves pass the same step limit and safety filter as a policy's. The observation it acts on is the replayed one the
 * daemon sees (the replay's calibration adds no socket offset; the simulated wrench is tared at reset, so the daemon's
 * re-zero leaves it as it is).
 */
import type { ControlContext, Controller } from '../control/controller.ts';
import { DEFAULT_MAX_STEP } from '../control/controller.ts';
import { pControl } from '../control/p-controller.ts';
import { createController, CONTROLLER_NAMES, isCollectorOnly, needsPrivileged } from '../control/registry.ts';
import type { ResidualPolicy } from '../daemon/interfaces.ts';
import type { Vec3 } from '../core/types.ts';
import { deriveSeed, Rng } from '../util/rng.ts';
import type { ReplayBackend } from './backend.ts';

export const BASELINE_PREFIX = 'baseline:';

/** Throws, listing the known names, unless `name` is a scripted baseline (the prior-data collectors are not). */
export function checkBaseline(name: string): void {
  if (!CONTROLLER_NAMES.includes(name) || isCollectorOnly(name)) {
    throw new Error(
      `unknown baseline '${name}' (known: ${CONTROLLER_NAMES.filter((n) => !isCollectorOnly(n))
        .map((n) => BASELINE_PREFIX + n)
        .join(', ')})`,
    );
  }
}

export class BaselineResidual implements ResidualPolicy {
  readonly version: string;
  readonly input = { image: null, proprio: null };
  private readonly ctrl: Controller;
  private ctx: ControlContext | null = null;
  private episode = -1;

  constructor(
    readonly name: string,
    private readonly backend: ReplayBackend,
    private readonly kp: Vec3,
    private readonly episodeLength: number,
  ) {
    checkBaseline(name);
    this.ctrl = createController(name);
    this.version = `${BASELINE_PREFIX}${name}`;
  }

  async run(): Promise<Vec3> {
    if (this.backend.episodes !== this.episode) {
      // A new episode: the controller starts afresh with its own seeded generator.
      this.episode = this.backend.episodes;
      this.ctx = {
        step: 0,
        episodeLength: this.episodeLength,
        maxStep: DEFAULT_MAX_STEP,
        rng: new Rng(deriveSeed(this.backend.rebuilt?.seed ?? 0, 'baseline', this.name)),
        ...(needsPrivileged(this.name) ? { privileged: { socketPos: this.backend.sim.simCell.socketPos() } } : {}),
      };
      this.ctrl.reset(this.ctx);
    }
    const ctx = this.ctx!;
    ctx.step = this.backend.step;
    const o = this.backend.observe();
    const a = await this.ctrl.act(o, ctx);
    const uH = pControl(o.eePos, o.goal, this.kp);
    return [a[0] - uH[0], a[1] - uH[1], a[2] - uH[2]];
  }
}
