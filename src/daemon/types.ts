/**
 * The daemon's vocabulary, seen from outside the loop: its states, practice runs, episode summaries, status, typed
 * events, and `DaemonControl`, the narrow interface the API, the swap manager and the learning wiring drive it through.
 */
import type { BackendSensors, Scenario, Vec3 } from '../core/types.ts';
import type { EpisodeOutcome } from '../store/types.ts';
import type { ResidualPolicy, RewardScorer } from './interfaces.ts';
import type { EstopOrigin, LatchState, ResetResult, TripReason } from './safety.ts';
import type { Summary } from './stats.ts';
import type { TakeoverChange, TakeoverRequest, TakeoverStatus } from './takeover.ts';

export type { TakeoverChange, TakeoverRequest, TakeoverStatus };
import type { LabelRequest } from './labels.ts';

export type { LabelRequest };

export type { EstopOrigin, ResetResult };

export type DaemonState = 'idle' | 'resetting' | 'running' | 'scoring' | 'estopped';

export interface PracticeRequest {
  /** Episodes to run. */
  count: number;
  /** Connector / domain label (sim: the connector to load). */
  domain?: string;
  scenario?: Scenario;
  /** Std dev (m) of Gaussian noise added to the residual; 0 for evaluation. */
  explorationNoise?: number;
  /** Correlation in [0, 1] of the noise from one step to the next within an episode (control/exploration.ts). */
  noiseCorrelation?: number;
  /** Base seed of this run's start poses and noise (default: config seed + run number). */
  seed?: number;
  /** Recorded episode kind: practice (default) or eval. */
  kind?: 'practice' | 'eval';
}

export interface PracticeRun {
  id: number;
  count: number;
  done: number;
  domain: string;
  scenario: Scenario;
  explorationNoise: number;
  noiseCorrelation: number;
  seed: number;
  kind: 'practice' | 'eval';
  stopRequested: boolean;
}

export interface EpisodeSummary {
  id: number;
  index: number;
  domain: string;
  outcome: EpisodeOutcome;
  reason: string | null;
  learnedSuccessProb: number | null;
  gtSuccess: boolean | null;
  steps: number;
  policyVersion: string | null;
  /** Steps of this episode an operator's takeover drove (human interventions). */
  interventionSteps?: number;
  /** A practice episode run without exploration noise (practice.examEvery). */
  exam?: boolean;
}

export interface TripRecord {
  reason: TripReason;
  detail: string;
  at: number;
  episodeId: number | null;
}

export interface TimingStatus {
  ticks: number;
  /** Ticks that commanded the robot. */
  controlTicks: number;
  /** Every late (> half a period) or skipped tick, in any state. */
  missed: number;
  /** Missed ticks during episodes (between two control ticks): the figure that must be 0. */
  missedControl: number;
  /** Of missedControl, those right after a tick whose backend.command alone took over half a period (in simulation:
   *  the physics step, i.e. the robot's time, starved of CPU), not the daemon's own compute. */
  missedControlBackend: number;
  /** The daemon's own compute per control tick (ms), excluding the robot's command time (sim physics). */
  computeMs: Summary & { last: number };
  /** CPU time of the same work (ms, every thread of the process): immune to waiting for a core on a loaded machine,
   *  though it also counts whatever other threads (log writer) ran meanwhile. */
  computeCpuMs: Summary & { last: number };
  /** Tick start minus deadline (ms). */
  jitterMs: Summary & { last: number };
  /** Time inside backend.command (ms): the sim's physics step, or a ROS publish. */
  backendMs: Summary & { last: number };
  /** Model inference (policy and reward in parallel) per control tick (ms). */
  inferMs: Summary & { last: number };
  /** Ticks where sharp had to crop/resize. */
  sharpTicks: number;
}

/** Something the operator should act on that is not a fault: raised once, logged as an event, kept in /status. */
export interface DaemonWarning {
  kind: string;
  message: string;
  /** The episode whose judgement raised it, if any. */
  episodeId: number | null;
  /** Wall clock (ms since the Unix epoch). */
  at: number;
}

export interface DaemonStatus {
  state: DaemonState;
  backend: string;
  /** What the backend observes beyond colour, wrench and pose: models are checked against it before they drive. */
  sensors: BackendSensors;
  tickHz: number;
  realtime: boolean;
  practice: PracticeRun | null;
  episode: { id: number; index: number; step: number; steps: number; domain: string; scenario: string } | null;
  lastEpisode: EpisodeSummary | null;
  /** Recent episodes (newest last), for learned / ground-truth success rates. */
  recent: { n: number; learnedSuccessRate: number | null; gtSuccessRate: number | null; meanRewardProb: number | null };
  /** The recent exams (practice episodes without noise, every `every`th of a connector: practice.examEvery), or null
   *  when there are none: the policy's own success rate, which noisy practice can overstate. */
  exams: ({ every: number } & DaemonStatus['recent']) | null;
  /** x* touched up from seated practice endings (practice.refineGoalEpisodes; control/goal-refine.ts): each connector's
   *  lateral correction (m) to its calibrated x* and the seated endings it stands on; {} when off or none yet. */
  goalRefinement: Record<string, { dxM: number; dyM: number; episodes: number }>;
  safety: { estop: LatchState; backendEstop: { engaged: boolean; source: string | null }; lastTrip: TripRecord | null };
  timing: TimingStatus;
  policy: { version: string | null; mode: 'residual' | 'p-only'; pendingSwap: string | null; faults: number };
  reward: { version: string | null };
  /** Label requests of this run (src/daemon/labels.ts): the budget, how many episodes were judged and asked, the open ones. */
  labels: { budget: number; judged: number; requested: number; skipped: number; open: LabelRequest[] };
  lastPose: Vec3 | null;
  /** Operator takeover: who holds the arm now, intervention counts, the sources polled, the REST lease. */
  takeover: TakeoverStatus;
  /** Warnings for the operator (e.g. height refusals clustering at one height: x* calibrated too low, scoring.ts). */
  warnings: DaemonWarning[];
  /** Sections other components attach (e.g. the background trainer's progress), see setStatusExtra. */
  extra: Record<string, unknown>;
}

export interface SwapOptions {
  at?: 'episode-boundary' | 'between-ticks';
}

/** The events a daemon emits (typed: a listener of the wrong shape does not compile). */
export interface DaemonEvents {
  /** Every state change. */
  state: [DaemonState];
  /** Coalesced status snapshots (after ticks, on changes); only built while someone listens. */
  status: [DaemonStatus];
  /** An episode was closed (any outcome). */
  episode: [EpisodeSummary];
  /** A fault the operator should see (also logged as an event). */
  fault: [string];
  /** An operator's takeover began or ended (also logged as a 'takeover' event). */
  takeover: [TakeoverChange];
  /** The daemon asks the operator to label an episode's outcome (also logged as a 'label_request' event). */
  labelRequest: [LabelRequest];
}

/** What the API, the swap manager and the learning wiring may do with a daemon: commands, status, models, events. */
export interface DaemonControl {
  readonly currentState: DaemonState;
  readonly policyVersion: string | null;
  status(): DaemonStatus;
  startPractice(req: PracticeRequest): { ok: true; run: PracticeRun } | { ok: false; reason: string };
  stopPractice(): { ok: true; wasRunning: boolean };
  estop(detail?: string, origin?: 'rest' | 'internal'): void;
  resetEstop(): ResetResult;
  setPolicy(policy: ResidualPolicy | null, opts?: SwapOptions): Promise<ResidualPolicy | null>;
  setReward(reward: RewardScorer | null): RewardScorer | null;
  models(): { policy: ResidualPolicy | null; reward: RewardScorer | null };
  setStatusExtra(name: string, value: unknown): void;
  /** Operator takeover over REST (a leased command) and its release. */
  takeover(req: TakeoverRequest): { ok: true; leaseS: number; active: boolean } | { ok: false; reason: string };
  releaseTakeover(): { ok: true; wasHolding: boolean };
  /** An operator's label has been stored: log it, answer the episode's open label request. */
  noteLabel(episodeId: number, success: boolean, by: string, note?: string | null): { answeredRequest: boolean };
  /** Forget x*'s refinement (control/goal-refine.ts) of one connector, or of every one (null). */
  resetGoalRefinement(domain: string | null, by: string): { reset: string[] };
  on<K extends keyof DaemonEvents>(event: K, listener: (...args: DaemonEvents[K]) => void): unknown;
  off<K extends keyof DaemonEvents>(event: K, listener: (...args: DaemonEvents[K]) => void): unknown;
}

/** A running daemon as the app hands it out: in process (Daemon, loop.ts) or in its own thread (DaemonThread, thread.ts). */
export interface RunningDaemon extends DaemonControl {
  whenState(state: DaemonState, timeoutMs?: number): Promise<void>;
  shutdown(reason?: string): Promise<void>;
  timingSamples(): { compute: Float64Array; computeCpu: Float64Array; backend: Float64Array; jitter: Float64Array; infer: Float64Array };
}
