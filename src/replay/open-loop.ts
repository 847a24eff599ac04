/**
 * Open loop through the daemon's own tick. The daemon executes safety(composeAction(u_H, residual)); an open-loop
 * replay must execute the LOGGED command instead, through that same rule and safety filter. This residual makes the
 * sum u_H + residual equal the logged u_H + logged residual:
 *
 *   residual = logged residual + (logged u_H - replayed u_H),   replayed u_H = pControl(tip, x*) of the replayed frame
 *
 * While the replay is on the logged trajectory the correction is exactly 0, so the daemon composes the very same
 * numbers it logged (bit for bit); once it parts, the logged command is still what is executed (the correction is the
 * difference). The replay's calibration lifts the residual bound (the command is the log's, it was bounded when it was
 * made); the step limit and the safety filter (workspace box, force limit, stale sensors, finite checks) apply as in
 * the daemon. x* is read from the replayed observation, which carries the logged calibrated x* itself (the replay's
 * calibration adds no socket offset), so u_H here is computed from exactly the daemon's inputs.
 */
import { pControl } from '../control/p-controller.ts';
import type { ResidualPolicy } from '../daemon/interfaces.ts';
import type { Vec3 } from '../core/types.ts';
import type { TransitionRecord } from '../store/types.ts';
import type { ReplayBackend } from './backend.ts';

export const OPEN_LOOP_VERSION = 'replay:open-loop';

export class OpenLoopResidual implements ResidualPolicy {
  readonly version = OPEN_LOOP_VERSION;
  readonly input = { image: null, proprio: null };
  private steps: TransitionRecord[] = [];

  constructor(
    private readonly backend: ReplayBackend,
    private readonly kp: Vec3,
  ) {}

  /** The logged steps of the episode about to be replayed. */
  load(steps: TransitionRecord[]): void {
    this.steps = steps;
  }

  async run(): Promise<Vec3> {
    const t = this.steps[this.backend.step];
    const o = this.backend.observe();
    const uH = pControl(o.eePos, o.goal, this.kp);
    // Past the logged steps (the tick after a logged trip, see run.ts): the P-controller alone.
    if (!t || !t.actionExecuted) return [0, 0, 0];
    if (t.actionP && t.actionResidual) {
      const p = t.actionP,
        r = t.actionResidual;
      return [r[0] + (p[0] - uH[0]), r[1] + (p[1] - uH[1]), r[2] + (p[2] - uH[2])];
    }
    // A row with only the executed command (e.g. a scripted controller's prior data): the whole command as residual.
    const e = t.actionExecuted;
    return [e[0] - uH[0], e[1] - uH[1], e[2] - uH[2]];
  }
}
