/**
 * The seam between an episode runner (evaluation, prior-data collection, the daemon) and whatever chooses the
 * next action: scripted baselines, the noisy expert, the P-controller, later an ONNX policy.
 *
 * An action is a relative end-effector (connector tip) move (dx, dy, dz) in metres, base frame, z up, applied
 * over one control step (10 Hz). The runner, and the cell after it, bound each axis to `maxStep`; controllers
 * clip their own output too so that what they return is what will be executed.
 */
import type { Observation, Vec3 } from '../core/types.ts';
import type { Rng } from '../util/rng.ts';

/** Facts no real controller could know, available only to instrumented data collection. */
export interface PrivilegedInfo {
  /** True seated tip position of the plug in the socket (the physics' ground truth, without calibration error). */
  socketPos: Vec3;
}

/** What a controller may legitimately know about the episode it is in. */
export interface ControlContext {
  /** Index of the step about to be taken, 0-based. */
  step: number;
  /** Number of steps in the episode (the research uses 20). */
  episodeLength: number;
  /** Per-axis bound on |action| per step (m). */
  maxStep: number;
  /** Seeded generator owned by this episode: the only source of randomness a controller may use. */
  rng: Rng;
  /**
   * Ground truth for the noisy expert (the research's prior data was collected with an instrumented,
   * calibrated socket pose) and for the `localize` stand-in. Baselines and learned policies must not read it.
   */
  privileged?: PrivilegedInfo;
}

export interface Controller {
  /** Short identifier used in tables and logs, e.g. "spiral". */
  readonly name: string;
  /** Called once at the start of every episode, before the first `act`. Clears all per-episode state. */
  reset(ctx: ControlContext): void;
  /** The next relative move. May be async (e.g. an ONNX session); scripted controllers are synchronous. */
  act(obs: Observation, ctx: ControlContext): Vec3 | Promise<Vec3>;
}

/** Default per-axis step bound (m): 1 cm per 10 Hz step, the cell's default. */
export const DEFAULT_MAX_STEP = 0.01;
/** Default episode length (steps), as in the research. */
export const DEFAULT_EPISODE_LENGTH = 20;

/** Clip each axis to [-maxStep, maxStep]; non-finite components become 0 (fail safe: no motion on that axis). */
export function clipAction(u: Vec3, maxStep: number): Vec3 {
  const c = (v: number): number => (Number.isFinite(v) ? Math.max(-maxStep, Math.min(maxStep, v)) : 0);
  return [c(u[0]), c(u[1]), c(u[2])];
}

/** Horizontal distance between two points (m). */
export function lateralDistance(a: Vec3, b: Vec3): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}

/** Scale the (x, y) part of a vector so that its length is at most `maxLen`, keeping direction. */
export function limitXY(dx: number, dy: number, maxLen: number): [number, number] {
  const n = Math.hypot(dx, dy);
  if (n <= maxLen || n === 0) return [dx, dy];
  return [(dx * maxLen) / n, (dy * maxLen) / n];
}

/** Throw a clear error when a config number is not a finite number within [lo, hi]. */
export function checkNumber(where: string, field: string, v: number, lo = -Infinity, hi = Infinity): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) {
    throw new RangeError(`${where}: ${field} must be a finite number in [${lo}, ${hi}], got ${String(v)}`);
  }
}
