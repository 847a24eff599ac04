/**
 * The takeover seam: an operator's command that replaces the policy's for one control tick (human interventions, as
 * HIL-SERL learns from them). Every source implements `TakeoverInput` and the daemon polls all of them once per control
 * tick (src/daemon/loop.ts): the REST lease (src/daemon/takeover.ts), the ROS teleop topics (src/ros2/teleop.ts) and
 * the simulated operator (src/control/sim-operator.ts) feed the same path. What a poll returns still goes through the
 * action rule's step limit (control/action.ts composeTakeover) and the safety filter; e-stop beats any takeover.
 *
 * A source must answer from fresh input only: a command that is not renewed within its lease/timeout reads as null
 * (the policy resumes), so a crashed or silent operator can never keep the arm moving.
 */
import type { GroundTruth, Observation, Vec3 } from './types.ts';

export interface TakeoverCommand {
  /** The operator's relative end-effector move for this tick (m, base frame), before the step limit. */
  delta: Vec3;
  /** Who: 'rest', 'ros2:/spacenav/twist', 'sim-operator', ... Logged with every intervention transition. */
  source: string;
}

export interface TakeoverContext {
  /** The observation the tick acts on (goal = the calibrated x*, as the P-controller sees it). */
  obs: Observation;
  /** Control period (s): a velocity source turns m/s into this tick's move. */
  period: number;
  episode: { id: number; step: number; kind: 'practice' | 'eval' };
  /** Simulator ground truth, where the backend has one (only a simulated operator may look at it). */
  groundTruth: (() => GroundTruth) | null;
}

export interface TakeoverInput {
  /** Short name for status (e.g. 'rest', 'ros2-teleop', 'sim-operator'). */
  readonly name: string;
  /** Called once per control tick; the command to execute instead of the policy's, or null (no takeover held now). */
  poll(ctx: TakeoverContext): TakeoverCommand | null;
}
