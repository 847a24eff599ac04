/**
 * The action rule of residual RL, written once: what the robot executes, given the P-controller's u_H and a residual.
 *
 *   residual' = clamp_per_axis(residual, residualBound)      (exploration noise is added before, so it stays inside)
 *   executed  = limit_step(u_H + residual', maxStep)          (Euclidean norm <= maxStep, direction kept)
 *
 * The daemon's tick, the prior-data collector, the offline policy evaluation and replay all call `composeAction`, so a
 * policy is judged, trained and driven under the same rule.
 *
 * An operator's takeover (core/takeover.ts) replaces u_H + residual by the operator's command, under the same step
 * limit (`composeTakeover`); what learning sees as its action is the residual the policy should have output for that
 * move, executed - u_H, bounded like any residual (HIL-SERL learns from interventions as from its own actions). The daemon's safety filter applies the same `limitStep`
 * again to whatever it is handed (an operator's command, too) and then keeps the move inside the workspace box.
 */
import type { Vec3 } from '../core/types.ts';

/** calibration/limits.yaml's residualBoundM as shipped, for tools that run without a calibration (evaluation,
 *  collection); test/control/action.test.ts checks that the two agree. */
export const DEFAULT_RESIDUAL_BOUND_M = 0.005;

export interface ActionLimits {
  /** Per-axis bound of the residual (m); null leaves it free (a scripted controller's full correction). */
  residualBoundM: number | null;
  /** Euclidean bound of one executed move (m): the safety filter's step limit. */
  maxStepM: number;
}

export interface ComposedAction {
  /** u_H, as given. */
  actionP: Vec3;
  /** The residual as executed: bounded per axis. What learning sees as the action. */
  actionResidual: Vec3;
  /** What the robot is commanded (before the workspace clamp of the safety filter). */
  executed: Vec3;
  /** Whether the step limit scaled the move down (then executed != actionP + actionResidual). */
  stepLimited: boolean;
}

/** Clamps every component to [-b, b]; a NaN stays NaN (the finite checks catch it, never silently zeroed). */
export function clampPerAxis(a: Vec3, b: number): Vec3 {
  return [Math.max(-b, Math.min(b, a[0])), Math.max(-b, Math.min(b, a[1])), Math.max(-b, Math.min(b, a[2]))];
}

/** Scales `a` down so that its Euclidean norm is at most `max`, keeping its direction. */
export function limitStep(a: Vec3, max: number): { v: Vec3; clamped: boolean } {
  const n = Math.hypot(a[0], a[1], a[2]);
  if (n <= max) return { v: [a[0], a[1], a[2]], clamped: false };
  const s = max / n;
  return { v: [a[0] * s, a[1] * s, a[2] * s], clamped: true };
}

export function composeAction(actionP: Vec3, residual: Vec3, limits: ActionLimits): ComposedAction {
  const r = limits.residualBoundM === null ? ([residual[0], residual[1], residual[2]] as Vec3) : clampPerAxis(residual, limits.residualBoundM);
  const step = limitStep([actionP[0] + r[0], actionP[1] + r[1], actionP[2] + r[2]], limits.maxStepM);
  return { actionP: [actionP[0], actionP[1], actionP[2]], actionResidual: r, executed: step.v, stepLimited: step.clamped };
}

export interface ComposedTakeover extends ComposedAction {
  /** Whether executed - u_H exceeded the residual bound on some axis (the logged residual is then its clamp: the
   *  nearest action the policy can output). */
  residualClamped: boolean;
}

/**
 * The operator's move in place of u_H + residual: executed = limit_step(operator, maxStep); the logged residual is
 * executed - u_H (one preimage of `executed` under composeAction: limit_step(u_H + r) = executed), clamped per axis to
 * the residual bound.
 */
export function composeTakeover(actionP: Vec3, operator: Vec3, limits: ActionLimits): ComposedTakeover {
  const step = limitStep(operator, limits.maxStepM);
  const e = step.v;
  const raw: Vec3 = [e[0] - actionP[0], e[1] - actionP[1], e[2] - actionP[2]];
  const r = limits.residualBoundM === null ? raw : clampPerAxis(raw, limits.residualBoundM);
  return {
    actionP: [actionP[0], actionP[1], actionP[2]],
    actionResidual: r,
    executed: e,
    stepLimited: step.clamped,
    residualClamped: r[0] !== raw[0] || r[1] !== raw[1] || r[2] !== raw[2],
  };
}
