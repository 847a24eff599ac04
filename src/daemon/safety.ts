/**
 * The safety filter: pure functions and a small latch, no I/O. The control loop calls `decideSafety` LAST in every
 * tick, on the action it would send, and sends only what comes out. Order of checks (first failure wins):
 *   1. e-stop latched (REST, backend or internal) or engaged at the backend
 *   2. non-finite observation (pose, wrench, stamps)
 *   3. stale sensors: camera frame or wrench sample older than the configured age (backend clock); the depth image too
 *      while a model uses depth (needsDepth)
 *   4. force limit: |F| above the limit -> stop and retract
 *   5. end effector outside the workspace box
 *   6. non-finite proposed action
 *   7. clamps (not trips): per-step displacement norm (control/action.ts limitStep), then the target is kept inside
 *      the workspace box
 * Trips that mean "something is broken" (stale sensor, non-finite numbers) latch the e-stop internally, so a human must
 * look before the arm moves again; a force-limit or workspace trip ends the episode and practice goes on.
 */
import { limitStep } from '../control/action.ts';
import type { EstopSignal } from '../robot/backend.ts';
import type { Observation, Vec3 } from '../core/types.ts';

export type TripReason = 'estop' | 'non-finite' | 'stale-camera' | 'stale-wrench' | 'stale-depth' | 'stale-clock' | 'force-limit' | 'workspace';

export interface SafetyLimits {
  forceLimitN: number;
  maxStepM: number;
  staleSensorMaxAgeS: number;
  workspace: { min: Vec3; max: Vec3 };
}

export type SafetyDecision =
  | {
      kind: 'move';
      /** The action to send: finite, within the step limit, keeping the end effector inside the box. */
      action: Vec3;
      stepClamped: boolean;
      workspaceClamped: boolean;
    }
  | {
      kind: 'trip';
      reason: TripReason;
      detail: string;
      /** Enter (or stay in) the e-stop latch. */
      latch: boolean;
      /** Retract upward after stopping (force limit). */
      retract: boolean;
    };

export interface SafetyInput {
  /** Backend clock now (s). */
  now: number;
  obs: Observation;
  /** The action the controller wants: u_H + bounded residual (+ noise). */
  proposed: Vec3;
  latch: LatchState;
  backendEstop: EstopSignal;
  /** A driving policy or the reward model takes depth cells: the depth image's age is watched like the camera's. */
  needsDepth?: boolean;
}

export function allFinite(xs: ArrayLike<number>): boolean {
  for (let i = 0; i < xs.length; i++) if (!Number.isFinite(xs[i])) return false;
  return true;
}

export function forceMagnitude(obs: Observation): number {
  const [fx, fy, fz] = obs.wrench;
  return Math.hypot(fx, fy, fz);
}

function inBox(p: Vec3, min: Vec3, max: Vec3): boolean {
  for (let i = 0; i < 3; i++) if (!((p[i] as number) >= (min[i] as number) && (p[i] as number) <= (max[i] as number))) return false;
  return true;
}

export function decideSafety(input: SafetyInput, limits: SafetyLimits): SafetyDecision {
  const { obs, proposed, now } = input;
  if (input.latch.engaged) {
    return { kind: 'trip', reason: 'estop', detail: `e-stop latched (${input.latch.source ?? 'unknown'})`, latch: true, retract: false };
  }
  if (input.backendEstop.engaged) {
    return { kind: 'trip', reason: 'estop', detail: `robot e-stop engaged (${input.backendEstop.source ?? 'unknown'})`, latch: true, retract: false };
  }
  if (
    !allFinite(obs.eePos) ||
    !allFinite(obs.wrench) ||
    !allFinite(obs.goal) ||
    !Number.isFinite(obs.imageStamp) ||
    !Number.isFinite(obs.wrenchStamp) ||
    !Number.isFinite(now)
  ) {
    return { kind: 'trip', reason: 'non-finite', detail: 'observation holds a non-finite number', latch: true, retract: false };
  }
  // A camera frame, wrench sample or (while a model uses it) depth image older than the limit (backend clock) trips the
  // watchdog. A depth stream that stops keeps its last frame on the observation: its own stamp tells (colour's if none).
  const sensors: Array<readonly [TripReason, string, number, string]> = [
    ['stale-camera', 'camera frame', obs.imageStamp, ''],
    ['stale-wrench', 'wrench sample', obs.wrenchStamp, ''],
  ];
  if (input.needsDepth && obs.depth) sensors.push(['stale-depth', 'depth image', obs.depthStamp ?? obs.imageStamp, 'depth stale: ']);
  for (const [reason, what, stamp, prefix] of sensors) {
    if (!Number.isFinite(stamp)) return { kind: 'trip', reason: 'non-finite', detail: `${what} stamp is not a finite number`, latch: true, retract: false };
    const age = now - stamp;
    if (age > limits.staleSensorMaxAgeS)
      return {
        kind: 'trip',
        reason,
        detail: `${prefix}${what} is ${age.toFixed(3)} s old (limit ${limits.staleSensorMaxAgeS} s)`,
        latch: true,
        retract: false,
      };
  }
  const f = forceMagnitude(obs);
  if (f > limits.forceLimitN) {
    return { kind: 'trip', reason: 'force-limit', detail: `force ${f.toFixed(1)} N above limit ${limits.forceLimitN} N`, latch: false, retract: true };
  }
  const { min, max } = limits.workspace;
  if (!inBox(obs.eePos, min, max)) {
    return {
      kind: 'trip',
      reason: 'workspace',
      detail: `end effector [${obs.eePos.map((v) => v.toFixed(4)).join(', ')}] outside the workspace box`,
      latch: false,
      retract: false,
    };
  }
  if (!allFinite(proposed)) {
    return { kind: 'trip', reason: 'non-finite', detail: 'controller proposed a non-finite action', latch: true, retract: false };
  }
  // The action rule (control/action.ts) already limits the step; applying it here too keeps the guarantee for
  // whatever else reaches the filter (an operator's command).
  const step = limitStep(proposed, limits.maxStepM);
  const a = step.v;
  let workspaceClamped = false;
  for (let i = 0; i < 3; i++) {
    const p = obs.eePos[i] as number;
    const lo = min[i] as number;
    const hi = max[i] as number;
    const target = p + (a[i] as number);
    // Only touch the component when it would leave the box (keeps unclamped actions bit-exact).
    if (target > hi || target < lo) {
      a[i] = Math.max(lo, Math.min(hi, target)) - p;
      workspaceClamped = true;
    }
  }
  // Belt and braces: nothing non-finite leaves this function as a move.
  if (!allFinite(a)) return { kind: 'trip', reason: 'non-finite', detail: 'clamped action is non-finite', latch: true, retract: false };
  return { kind: 'move', action: a, stepClamped: step.clamped, workspaceClamped };
}

export type EstopOrigin = 'rest' | 'backend' | 'internal' | 'shutdown';

export interface LatchState {
  engaged: boolean;
  /** e.g. 'rest', 'backend:sim-button', 'internal:stale-camera'. */
  source: string | null;
  origin: EstopOrigin | null;
  /** Backend clock or wall time (ms) when engaged; for status only. */
  since: number | null;
  detail: string | null;
}

export type ResetResult = { ok: true } | { ok: false; reason: string };

/**
 * The e-stop latch. Entering is always allowed; leaving needs an explicit reset, refused while the robot's own e-stop
 * is still engaged or, for an internal trip, while its condition still holds.
 */
export class EstopLatch {
  private s: LatchState = { engaged: false, source: null, origin: null, since: null, detail: null };

  get state(): LatchState {
    return { ...this.s };
  }

  get engaged(): boolean {
    return this.s.engaged;
  }

  /** Engages the latch; a second engage keeps the first source (the cause a human should see first). */
  engage(origin: EstopOrigin, source: string, detail: string, at = Date.now()): boolean {
    if (this.s.engaged) return false;
    this.s = { engaged: true, source, origin, since: at, detail };
    return true;
  }

  /**
   * @param backend the robot's e-stop now
   * @param conditionStillHolds for internal trips: a description of the fault if it persists, else null
   */
  reset(backend: EstopSignal, conditionStillHolds: string | null = null): ResetResult {
    if (!this.s.engaged) return { ok: true };
    if (backend.engaged) return { ok: false, reason: `robot e-stop still engaged (${backend.source ?? 'unknown source'}); release it first` };
    if (this.s.origin === 'internal' && conditionStillHolds) return { ok: false, reason: `fault still present: ${conditionStillHolds}` };
    this.s = { engaged: false, source: null, origin: null, since: null, detail: null };
    return { ok: true };
  }
}
