/**
 * The calibration error of the goal x*, named one way everywhere: `--goal-error-mm M` is a magnitude of M mm along
 * GOAL_ERROR_DIRECTION (x and y equally, none in z), which is what a wrong extrinsic calibration looks like
 * (systematic, the same for every trial); `--goal-error-vec-mm X,Y[,Z]` gives the vector itself where a command
 * accepts any direction.
 */
import type { Vec3 } from './types.ts';

export const GOAL_ERROR_DIRECTION: Vec3 = [Math.SQRT1_2, Math.SQRT1_2, 0];

/** The x* error vector (m) of a magnitude in mm along GOAL_ERROR_DIRECTION (negative: the opposite way). */
export function goalErrorVec(mm: number): Vec3 {
  return [(GOAL_ERROR_DIRECTION[0] * mm) / 1000, (GOAL_ERROR_DIRECTION[1] * mm) / 1000, (GOAL_ERROR_DIRECTION[2] * mm) / 1000];
}
