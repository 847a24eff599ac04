/** Records the Store reads and writes. Times: `*At`/`wallTime` are ms since the Unix epoch; stamps are robot-clock seconds. */
import type { DepthImage, Observation, RgbImage, Vec3, Wrench } from '../core/types.ts';

export type EpisodeKind = 'practice' | 'eval' | 'prior';
/** success/failure: judged by the learned reward (or ground truth for prior data); aborted: stopped on request;
 *  tripped: ended by the safety filter (reason says which); error: a fault. */
export type EpisodeOutcome = 'success' | 'failure' | 'aborted' | 'tripped' | 'error';
/** Free text in the database; these are the kinds the project uses. */
export type ModelKind = 'policy' | 'reward' | 'encoder' | (string & {});
export type EventKind = 'estop' | 'estop_reset' | 'fault' | 'swap' | 'swap_rejected' | 'trip' | 'rollback' | 'trainer' | 'log_dropped' | (string & {});

export interface SessionStart {
  robot: string;
  backend: string;
  /** Snapshot of the effective configuration (any JSON value). */
  config: unknown;
  /** Snapshot of the calibration files (any JSON value). */
  calibration: unknown;
  note?: string | null;
  startedAt?: number;
}

export interface SessionRecord {
  id: number;
  robot: string;
  backend: string;
  config: unknown;
  calibration: unknown;
  note: string | null;
  startedAt: number;
  endedAt: number | null;
  episodeCount: number;
}

export interface EpisodeStart {
  sessionId: number;
  kind: EpisodeKind;
  /** Connector / domain label. */
  domain: string;
  /** 'I', 'II' or a free label. */
  scenario?: string | null;
  seed?: number | null;
  /** Start state (any JSON value), e.g. start pose, offsets, nuisance parameters. */
  startState?: unknown;
  /** Policy version driving at the start (null: P-controller alone or a scripted controller). */
  policyVersion?: string | null;
  startedAt?: number;
}

export interface EpisodeEnd {
  outcome: EpisodeOutcome;
  reason?: string | null;
  /** The learned reward of the final observation: the classifier's probability, 0 when the daemon's lift check
   *  refused it (the reason then says so and gives the classifier's probability). */
  learnedSuccessProb?: number | null;
  /** Ground truth (simulation only; for evaluation, never learning). */
  gtSuccess?: boolean | null;
  endedAt?: number;
}

export interface EpisodeRecord {
  id: number;
  sessionId: number;
  kind: EpisodeKind;
  domain: string;
  scenario: string | null;
  seed: number | null;
  startState: unknown;
  policyVersion: string | null;
  outcome: EpisodeOutcome | null;
  reason: string | null;
  learnedSuccessProb: number | null;
  gtSuccess: boolean | null;
  startedAt: number;
  endedAt: number | null;
  transitionCount: number;
}

/** What the control tick hands the log: the observation at `step` and what was done from it. */
export interface TransitionInput {
  episodeId: number;
  step: number;
  obs: Observation;
  /** u_H, the P-controller's action. */
  actionP?: Vec3 | null;
  /** u_theta (+ exploration noise): what learning uses. */
  actionResidual?: Vec3 | null;
  /** What the robot was commanded after the safety filter. */
  actionExecuted?: Vec3 | null;
  /** Reward classifier's probability on the next observation (through the daemon's lift check, daemon/scoring.ts),
   *  if already known (else setRewards later). */
  rewardProb?: number | null;
  gtSuccess?: boolean | null;
  done?: boolean;
  /** Robot-clock time of the tick (s). */
  tickTime?: number | null;
  policyVersion?: string | null;
  /** An operator's takeover drove this step (default false); its source ('rest', 'ros2:/spacenav/twist', ...). */
  intervention?: boolean;
  interventionSource?: string | null;
  /** Default Date.now() at append. */
  wallTime?: number;
}

export interface TransitionRecord {
  id: number;
  episodeId: number;
  step: number;
  /** Decoded RGB (byte-equal to what was logged), or null when not requested / not logged. */
  image: RgbImage | null;
  /** Decoded depth image (m, 0 = none; 0.1 mm steps), or null when not requested / not logged. */
  depth: DepthImage | null;
  imageWidth: number | null;
  imageHeight: number | null;
  wrench: Wrench;
  eePos: Vec3;
  eeQuat: [number, number, number, number];
  goal: Vec3;
  actionP: Vec3 | null;
  actionResidual: Vec3 | null;
  actionExecuted: Vec3 | null;
  rewardProb: number | null;
  gtSuccess: boolean | null;
  done: boolean;
  tickTime: number | null;
  imageStamp: number | null;
  wrenchStamp: number | null;
  policyVersion: string | null;
  /** An operator's takeover drove this step; actionResidual is then executed - u_H (what the policy should have output). */
  intervention: boolean;
  interventionSource: string | null;
  wallTime: number;
}

/** Later reward scoring of already-logged transitions, addressed by (episode, step). */
export interface RewardUpdate {
  step: number;
  rewardProb: number | null;
  gtSuccess?: boolean | null;
  done?: boolean;
}

/** Selects transitions for training or export. All fields optional and ANDed. */
export interface TransitionFilter {
  domain?: string | readonly string[];
  kind?: EpisodeKind | readonly EpisodeKind[];
  sessionId?: number;
  episodeIds?: readonly number[];
  /** Only transitions with id > afterId (incremental reads by the trainer). */
  afterId?: number;
  /** Only episodes that have ended. */
  endedOnly?: boolean;
}

export interface ModelRegistration {
  kind: ModelKind;
  version: string;
  path: string;
  card: unknown;
  sha256: string;
  validation?: unknown;
  createdAt?: number;
}

export interface ModelRecord {
  id: number;
  kind: ModelKind;
  version: string;
  path: string;
  card: unknown;
  sha256: string;
  validation: unknown;
  createdAt: number;
}

export type ActivationAction = 'activate' | 'rollback' | 'deactivate';

export interface ActivationRecord {
  id: number;
  kind: ModelKind;
  modelId: number | null;
  version: string | null;
  action: ActivationAction;
  reason: string | null;
  by: string;
  activatedAt: number;
}

export interface EventInput {
  kind: EventKind;
  message: string;
  data?: unknown;
  sessionId?: number | null;
  episodeId?: number | null;
  time?: number;
}

export interface EventRecord {
  id: number;
  time: number;
  kind: EventKind;
  message: string;
  data: unknown;
  sessionId: number | null;
  episodeId: number | null;
}

export interface DatasetDigest {
  episodes: number;
  transitions: number;
  /** sha256 over the selected episodes' and transitions' stored columns, in id order (hex). */
  sha256: string;
}

/** An operator's label of an episode's outcome (issue 13). The newest label of an episode counts. */
export interface EpisodeLabelInput {
  episodeId: number;
  success: boolean;
  note?: string | null;
  /** Who labelled: 'api' (REST), 'simulated-operator' (experiments), ... */
  by: string;
  createdAt?: number;
}

export interface EpisodeLabelRecord {
  id: number;
  episodeId: number;
  success: boolean;
  note: string | null;
  by: string;
  createdAt: number;
}

/** The fleet learner's mirror state (src/store/pg/mirror.ts): how far each arm's rows are copied. */
export interface MirrorArmMarks {
  robot: string;
  lastTransition: number;
  lastEpisode: number;
  lastLabel: number;
}

/** One of an arm's sessions or episodes (by its id in the arm's log) and its id in the mirror (null: filtered out). */
export interface MirrorId {
  robot: string;
  kind: 'session' | 'episode';
  remoteId: number;
  localId: number | null;
  /** An episode not yet ended in the mirror. */
  open: boolean;
}

export interface MirrorState {
  /** Which fleet (JSON) and with which filter (JSON) this mirror copies; null: a new mirror. */
  source: { fleet: string; filter: string; createdAt: number } | null;
  arms: MirrorArmMarks[];
  ids: MirrorId[];
}
