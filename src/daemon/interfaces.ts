/**
 * What the control loop needs from models and from the log, as small interfaces. The real implementations are
 * src/policy/onnx-model.ts (through models.ts) and src/store (through log.ts); tests may pass their own.
 */
import type { ModelInputSpec } from '../policy/inputs.ts';
import type { Observation, RgbImage, Vec3, Scenario } from '../core/types.ts';
import type { EpisodeOutcome } from '../store/types.ts';

export type { ModelInputSpec };

/** The learned residual u_theta. */
export interface ResidualPolicy {
  /** Version string recorded with every transition and episode. */
  readonly version: string;
  readonly input: ModelInputSpec;
  /** The ONNX file it was loaded from, when it was (the control thread loads its own session from it). */
  readonly path?: string;
  /** May throw or return non-finite numbers: the loop falls back to the P-controller alone for that tick. */
  run(image: Float32Array | undefined, proprio: Float32Array | undefined): Promise<Vec3>;
  dispose?(): Promise<void> | void;
}

/** The learned reward classifier: probability that the observation shows a seated connector. */
export interface RewardScorer {
  readonly version: string;
  readonly input: ModelInputSpec;
  /** The ONNX file it was loaded from, when it was. */
  readonly path?: string;
  probability(image: Float32Array | undefined, proprio: Float32Array | undefined): Promise<number>;
  dispose?(): Promise<void> | void;
}

/** One control step as the loop hands it to the log. */
export interface TickTransition {
  episodeId: number;
  step: number;
  /** The observation the action was computed from: policy-size RGB image, bias-corrected wrench. */
  obs: Observation;
  actionP: Vec3;
  /** Bounded residual + exploration noise: what learning uses. Zero when no policy is loaded or it failed. During an
   *  operator's takeover: executed - u_H, bounded (control/action.ts composeTakeover). */
  actionResidual: Vec3;
  /** What the robot was commanded after the safety filter. */
  actionExecuted: Vec3;
  /** Reward classifier's probability on the NEXT observation (null without a reward model). */
  rewardProb: number | null;
  /** Simulator ground truth of the next observation (evaluation only). */
  gtSuccess: boolean | null;
  done: boolean;
  /** Backend clock at the tick (s). */
  tickTime: number;
  policyVersion: string | null;
  /** The operator's takeover drove this step (human intervention), and its source; absent = false. */
  intervention?: boolean;
  interventionSource?: string | null;
}

export interface EpisodeBegin {
  kind: 'practice' | 'eval';
  domain: string;
  scenario: Scenario;
  seed: number;
  startState: unknown;
  policyVersion: string | null;
}

export interface EpisodeFinish {
  outcome: EpisodeOutcome;
  reason: string | null;
  learnedSuccessProb: number | null;
  gtSuccess: boolean | null;
}

export interface DaemonEvent {
  kind: string;
  message: string;
  data?: unknown;
  episodeId?: number | null;
}

/**
 * The loop's view of the log. `transition` must return at once (queue, never touch disk on the tick); the others are
 * called at episode boundaries or from the API and may be synchronous SQLite calls (microseconds in WAL mode).
 */
export interface DaemonLog {
  /** A number at once (SQLite on this thread), or a promise when the log lives on another thread (thread-host.ts). */
  beginEpisode(e: EpisodeBegin): number | Promise<number>;
  transition(t: TickTransition): void;
  endEpisode(id: number, end: EpisodeFinish): void;
  event(e: DaemonEvent): void;
  /** Resolves when every queued transition is committed. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Image the log keeps for a tick (the policy's view, losslessly compressed by the store). */
export type LoggedImage = RgbImage;
