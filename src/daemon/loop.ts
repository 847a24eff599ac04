/**
 * The control daemon: the 10 Hz tick and the practice-episode state machine.
 *
 * One tick (state 'running', `controlTick`):
 *   observe (backend; calibration crop/resize, wrench bias) -> model inputs (policy/inputs.ts) -> [policy u_theta |
 *   reward of this observation for the previous transition] in parallel -> the action rule u = u_H + bounded residual
 *   (+ noise), step-limited (control/action.ts) -> safety filter, which decides last (safety.ts) -> command -> queue
 *   the transition for the log (never waits for disk).
 *   While an operator holds a takeover (any TakeoverInput polled each control tick: REST lease, ROS teleop, simulated
 *   operator; takeover.ts), the operator's move replaces u_H + residual under the same step limit (composeTakeover)
 *   and the same safety filter, and the transition is logged as an intervention with its source.
 * Beside it: tick timing and missed-tick accounting (timing.ts), episode scoring (scoring.ts), the status snapshot
 * (status.ts), the vocabulary and the typed events seen from outside (types.ts).
 * A transition is completed one tick later, when the next observation (and so its reward) is known; the last one of
 * an episode in the 'scoring' tick.
 *
 * States: idle -> resetting -> running (episodeSteps ticks) -> scoring -> (resetting ... | idle); 'estopped' is its own
 * state, left only by resetEstop(). A practice run is `count` episodes; stopPractice() ends it at the next tick (the
 * arm is held, the episode closed as 'aborted').
 *
 * Everything that can wait (model loading, session warm-up, log commits) happens off the tick: the tick awaits only the
 * inference of already-warm models and sharp, when a crop/resize is needed.
 */
import { waitForState } from './wait.ts';
import { EventEmitter } from 'node:events';
import { composeAction, composeTakeover, type ActionLimits } from '../control/action.ts';
import { pControl } from '../control/p-controller.ts';
import { ExamSchedule, ExplorationNoise, NoiseAnneal, practiceNoise } from '../control/exploration.ts';
import { GoalRefiner, type GoalRefineNews, type SeatedEnding } from '../control/goal-refine.ts';
import { connectorClearances } from '../sim/connectors.ts';
import type { Calibration, DaemonConfig } from '../config/schema.ts';
import { sensorsOf, type EpisodeSpec, type RobotBackend } from '../robot/backend.ts';
import { ImagePreprocessor, WrenchCorrector, prepareDepth } from '../robot/preprocess.ts';
import type { BackendSensors, GroundTruth, Observation, Scenario, Vec3 } from '../core/types.ts';
import { deriveSeed, Rng } from '../util/rng.ts';
import type { EpisodeOutcome } from '../store/types.ts';
import { ModelInputs, depthCellsOf, type ModelInput } from '../policy/inputs.ts';
import type { DaemonLog, ModelInputSpec, ResidualPolicy, RewardScorer, TickTransition } from './interfaces.ts';
import { decideSafety, EstopLatch, type EstopOrigin, type ResetResult, type SafetyDecision, type SafetyLimits } from './safety.ts';
import { TickScheduler } from './scheduler.ts';
import {
  checkedReward,
  HEIGHT_WATCH,
  heightAboveGoalM,
  HeightRefusalWatch,
  judgeEpisode,
  LowestTip,
  RecentEpisodes,
  SeatedEnd,
  type CheckedReward,
  type JudgedFinal,
} from './scoring.ts';
import { LabelBudget, labelNeed, type LabelRequest, type StepEvidence } from './labels.ts';
import { TickTiming, type LateTick } from './timing.ts';
import { buildStatus, takeoverStatus } from './status.ts';
import type { ThreadSample } from './thread-stats.ts';
import {
  LeasedTakeover,
  MAX_LEASE_S,
  MAX_TELEOP_DELTA_M,
  TakeoverTracker,
  type TakeoverCommand,
  type TakeoverInput,
  type TakeoverRequest,
  type TakeoverStatus,
} from './takeover.ts';
import type { DaemonControl, DaemonEvents, DaemonState, DaemonStatus, EpisodeSummary, PracticeRequest, PracticeRun, SwapOptions, TripRecord } from './types.ts';

export type * from './types.ts';

export interface DaemonOptions {
  backend: RobotBackend;
  config: DaemonConfig;
  calibration: Calibration;
  log: DaemonLog;
  policy?: ResidualPolicy | null;
  reward?: RewardScorer | null;
  /** Wall clock in ms for timing; default performance.now. */
  now?: () => number;
  /** Samples kept for the timing percentiles (newest N ticks). Default 4096. */
  timingWindow?: number;
  /**
   * An e-stop requested from another thread (the control thread's shared flag, src/daemon/thread-host.ts): polled at
   * every tick and right before every motion command, so it cannot wait behind messages; returns the request's detail
   * once (null: none pending).
   */
  estopRequest?: () => string | null;
  /** The ticking thread's own counters, read at each tick's start for the record of a missed tick (thread-stats.ts). */
  threadProbe?: (() => ThreadSample) | null;
  /**
   * Called at the top of each scheduled tick, before anything of the tick: the control thread reads the main thread's
   * commands there (thread-host.ts), so a command is seen by the next tick whatever its timers do.
   */
  beforeTick?: () => void;
  /** Connector clearances (m) by domain, for practice.noiseFromClearance; default: data/connectors' definitions, read
   *  once here when that setting is on. */
  clearances?: ReadonlyMap<string, number>;
  /** Seated practice endings read back from the log by connector (oldest first), to restore x*'s refinement after a
   *  restart (app/goal-refinement.ts); ignored when practice.refineGoalEpisodes is 0. */
  goalEndings?: Readonly<Record<string, readonly SeatedEnding[]>>;
}

/** A model with its input builder, made off the tick when the model is set. */
interface ModelSlot<M> {
  model: M;
  inputs: ModelInputs;
  /** It takes depth cells: the depth image is watched for staleness while it drives or scores. */
  depth: boolean;
}

interface Pending {
  t: Omit<TickTransition, 'rewardProb' | 'gtSuccess' | 'done'>;
}

interface OpenEpisode {
  id: number;
  index: number;
  step: number;
  steps: number;
  domain: string;
  scenario: Scenario;
  noise: ExplorationNoise;
  pending: Pending | null;
  policyVersion: string | null;
  /** Backend clock at the last commanded tick: the next control tick must see it advance. */
  lastClock: number;
  kind: 'practice' | 'eval';
  /** A practice episode run without noise (practice.examEvery): its outcome is the policy's own action's. */
  exam: boolean;
  /** The last few scored observations (reward probability, tip pose, x*, wrench): a label request's evidence. */
  evidence: StepEvidence[];
  /** The lowest tip so far, for the lift check on the learned reward (scoring.ts). */
  lowest: LowestTip;
  /** Consecutive observations the checked reward called seated: the seated end (scoring.ts SeatedEnd). */
  seated: SeatedEnd;
}

interface Prepared {
  obs: Observation;
  /** x* as calibrated, before goal refinement (obs.goal is the refined one). */
  calibratedGoal: Vec3;
  policy: ModelInput;
  reward: ModelInput;
}

const RECENT = 20;
/** How long shutdown waits for a reset or retract in flight (ms). */
const SHUTDOWN_WAIT_MS = 5000;

/** Height refusals kept waiting for room in the label budget at most (five of the watch's windows). */
const HEIGHT_REQUESTS_WAITING = 5 * HEIGHT_WATCH.window;

export class Daemon extends EventEmitter<DaemonEvents> implements DaemonControl {
  private state: DaemonState = 'idle';
  private readonly latch = new EstopLatch();
  private readonly backend: RobotBackend;
  private readonly sensors: BackendSensors;
  private readonly cfg: DaemonConfig;
  private readonly cal: Calibration;
  private readonly log: DaemonLog;
  private readonly limits: SafetyLimits;
  private readonly actionLimits: ActionLimits;
  private readonly wrench: WrenchCorrector;
  private readonly logImage: ImagePreprocessor;
  private policySlot: ModelSlot<ResidualPolicy> | null = null;
  private rewardSlot: ModelSlot<RewardScorer> | null = null;
  private pendingSwap: { slot: ModelSlot<ResidualPolicy> | null; resolve: (old: ResidualPolicy | null) => void } | null = null;
  private run: PracticeRun | null = null;
  private runCounter = 0;
  private episode: OpenEpisode | null = null;
  private lastEpisode: EpisodeSummary | null = null;
  private readonly recent = new RecentEpisodes(RECENT);
  /** Practice noise that shrinks as this daemon's practice of a connector succeeds (off unless practice.noiseAnnealWindow). */
  private readonly anneal: NoiseAnneal;
  /** Which practice episodes are exams, and the recent exams' outcomes (status.exams). */
  private readonly examSchedule: ExamSchedule;
  private readonly clearances: ReadonlyMap<string, number>;
  /** x* touched up from seated practice endings, per connector (off unless practice.refineGoalEpisodes). */
  private readonly goalRefiner: GoalRefiner;
  private readonly exams = new RecentEpisodes(RECENT);
  private lastTrip: TripRecord | null = null;
  private lastPose: Vec3 | null = null;
  private policyFaults = 0;
  private readonly scheduler: TickScheduler;
  private readonly now: () => number;
  private readonly timing: TickTiming;
  private statusQueued = false;
  private readonly extras: Record<string, unknown> = {};
  private busy: Promise<void> | null = null;
  private tickInFlight = false;
  private unsubscribeEstop: () => void;
  private closed = false;
  /** The REST takeover lease, polled first; then the inputs added with addTakeoverInput, in order. */
  private readonly restTakeover: LeasedTakeover;
  private readonly takeoverInputs: TakeoverInput[] = [];
  private readonly takeovers = new TakeoverTracker();
  private takeoverFaults = 0;
  /** The backend's ground truth for a simulated operator (null on a real robot). */
  private readonly groundTruthFn: (() => GroundTruth) | null;
  private readonly estopRequest: (() => string | null) | null;
  private readonly beforeTick: (() => void) | null;
  private tickWaiters: Array<() => void> = [];
  private readonly labelBudget: LabelBudget;
  /** This run's label requests not answered yet, by episode id (oldest first). */
  private readonly openLabelRequests = new Map<number, LabelRequest>();
  /** Height refusals clustering at one height: the sign of x* calibrated too low (scoring.ts). */
  private readonly heightWatch: HeightRefusalWatch;
  /** The label requests of the watch's recent height refusals (by episode id), ready for when it warns. */
  private readonly heightRefusals = new Map<number, LabelRequest>();
  /** Height refusals at the warned height waiting for room in the label budget (oldest first). */
  private readonly heightRequestQueue: LabelRequest[] = [];

  constructor(opts: DaemonOptions) {
    super();
    this.backend = opts.backend;
    this.sensors = sensorsOf(opts.backend);
    this.cfg = opts.config;
    this.anneal = new NoiseAnneal(this.cfg.practice.noiseAnnealWindow, this.cfg.practice.noiseAnnealFloor);
    this.examSchedule = new ExamSchedule(this.cfg.practice.examEvery);
    const pr = this.cfg.practice;
    this.goalRefiner = new GoalRefiner({
      episodes: pr.refineGoalEpisodes,
      window: Math.max(pr.refineGoalWindow, pr.refineGoalEpisodes),
      maxM: pr.refineGoalMaxM,
    });
    this.clearances = opts.clearances ?? (this.cfg.practice.noiseFromClearance > 0 ? connectorClearances() : new Map());
    this.cal = opts.calibration;
    this.log = opts.log;
    for (const [domain, endings] of Object.entries(opts.goalEndings ?? {}))
      this.noteGoal(this.goalRefiner.restore(domain, endings), null, 'restored from the log');
    this.now = opts.now ?? (() => performance.now());
    this.estopRequest = opts.estopRequest ?? null;
    this.beforeTick = opts.beforeTick ?? null;
    const win = opts.timingWindow ?? 4096;
    this.timing = new TickTiming(win, 1000 / this.cfg.tickHz, opts.threadProbe ?? null);
    const lim = this.cal.limits;
    this.limits = { forceLimitN: lim.forceLimitN, maxStepM: lim.maxStepM, staleSensorMaxAgeS: lim.staleSensorMaxAgeS, workspace: this.cal.workspace };
    this.actionLimits = { residualBoundM: lim.residualBoundM, maxStepM: lim.maxStepM };
    this.wrench = new WrenchCorrector(this.cal.wrench.bias);
    this.labelBudget = new LabelBudget(this.cfg.labels.budget);
    this.heightWatch = new HeightRefusalWatch(this.cfg.practice.heightToleranceM);
    const [w, h] = this.cal.camera.inputSize;
    this.logImage = new ImagePreprocessor({ crop: this.cal.camera.crop, width: w, height: h, channelOrder: this.cal.camera.channelOrder, lockFrameSize: true });
    if (opts.policy) this.policySlot = this.slot(opts.policy, 'policy');
    if (opts.reward) this.rewardSlot = this.slot(opts.reward, 'reward model');
    this.restTakeover = new LeasedTakeover(this.now);
    this.groundTruthFn = this.backend.groundTruth ? this.backend.groundTruth.bind(this.backend) : null;
    this.scheduler = new TickScheduler({
      periodMs: 1000 / this.cfg.tickHz,
      realtime: this.cfg.realtime,
      now: this.now,
      jitterWindow: win,
      idle: () => !this.isControlling(),
    });
    this.unsubscribeEstop = this.backend.onEstop((sig) => {
      if (sig.engaged) this.enterEstop('backend', `backend:${sig.source ?? 'unknown'}`, 'robot e-stop engaged');
      else this.emitStatus();
    });
  }

  // ---------------------------------------------------------------- lifecycle

  /** Starts the tick schedule (monitoring while idle, control while running). */
  start(): void {
    this.scheduler.start(
      (info) => {
        if (this.beforeTick) {
          try {
            this.beforeTick();
          } catch (e) {
            this.fault(`before the tick: ${(e as Error).stack ?? String(e)}`);
          }
        }
        this.timing.tickStarted(info, this.isControlling());
        // A missed tick is a safety event; past the limit in a row, the loop cannot be trusted to hold 10 Hz: stop.
        const inARow = this.timing.missedInARow;
        if (inARow >= this.cal.limits.maxMissedTicks && this.isControlling() && !this.latch.engaged) {
          this.enterEstop(
            'internal',
            'internal:missed-ticks',
            `${inARow} control ticks missed in a row (limit ${this.cal.limits.maxMissedTicks}): the control loop is starved`,
          );
        }
        return this.tick().finally(() => {
          this.timing.tickEnded(this.isControlling(), this.now());
          this.releaseTickWaiters();
        });
      },
      (e) => this.fault(`tick failed: ${(e as Error).stack ?? String(e)}`),
    );
  }

  /**
   * Graceful shutdown: hold the arm, close the open episode, stop ticking, flush the log. The caller closes the log's
   * database afterwards.
   */
  async shutdown(reason = 'shutdown'): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.run) this.run.stopRequested = true;
    this.backend.stop();
    await this.scheduler.stop();
    this.releaseTickWaiters();
    // A reset that ignores stop() must not hold shutdown forever: the arm is already told to hold.
    if (this.busy) await Promise.race([this.busy.catch(() => undefined), new Promise((r) => setTimeout(r, SHUTDOWN_WAIT_MS).unref())]);
    if (this.episode) this.closeEpisode(this.episode, 'aborted', reason, null, null);
    this.run = null;
    if (this.state !== 'estopped') this.setState('idle');
    this.unsubscribeEstop();
    await this.log.flush();
  }

  // ---------------------------------------------------------------- commands (REST, CLI, tests)

  startPractice(req: PracticeRequest): { ok: true; run: PracticeRun } | { ok: false; reason: string } {
    if (this.closed) return { ok: false, reason: 'daemon is shutting down' };
    if (this.state === 'estopped' || this.latch.engaged) return { ok: false, reason: 'e-stop is latched; reset it first' };
    if (this.run || this.state !== 'idle') return { ok: false, reason: `busy (state ${this.state}); stop the current practice first` };
    if (!Number.isInteger(req.count) || req.count < 1) return { ok: false, reason: 'count must be a positive integer' };
    const known = this.backend.domains?.();
    if (req.domain !== undefined && known && !known.includes(req.domain)) {
      return { ok: false, reason: `unknown domain '${req.domain}' for this ${this.backend.kind} backend (known: ${known.join(', ')})` };
    }
    const domain = req.domain ?? this.cfg.backend.sim.connector;
    const noise = req.explorationNoise ?? (req.kind === 'eval' ? 0 : practiceNoise(this.cfg.practice, this.clearances.get(domain)));
    if (!(noise >= 0 && Number.isFinite(noise))) return { ok: false, reason: 'explorationNoise must be a finite number >= 0' };
    const noiseCorrelation = req.noiseCorrelation ?? this.cfg.practice.noiseCorrelation;
    if (!(noiseCorrelation >= 0 && noiseCorrelation <= 1)) return { ok: false, reason: 'noiseCorrelation must be a number in [0, 1]' };
    const id = ++this.runCounter;
    this.run = {
      id,
      count: req.count,
      done: 0,
      domain,
      scenario: req.scenario ?? this.cfg.practice.scenario,
      explorationNoise: noise,
      noiseCorrelation,
      seed: req.seed ?? deriveSeed(this.cfg.practice.seed, 'run', id),
      kind: req.kind ?? 'practice',
      stopRequested: false,
    };
    this.log.event({
      kind: 'practice',
      message: `practice started: ${req.count} episodes of ${this.run.domain}, scenario ${this.run.scenario}`,
      data: this.run,
    });
    this.track(this.beginEpisode());
    return { ok: true, run: { ...this.run } };
  }

  /** Ends the practice run at the next safe point (next tick: arm held, episode closed as aborted). */
  stopPractice(): { ok: true; wasRunning: boolean } {
    const wasRunning = this.run !== null;
    if (this.run) this.run.stopRequested = true;
    if (this.state === 'idle' || this.state === 'estopped') this.run = null;
    return { ok: true, wasRunning };
  }

  /** E-stop from outside the loop (REST, CLI): holds the arm now, latches, closes the episode. */
  estop(detail = 'operator request', origin: 'rest' | 'internal' = 'rest'): void {
    this.enterEstop(origin, origin, detail);
  }

  /** Leaves the e-stop state; refused while the robot's own e-stop or the internal fault persists. */
  resetEstop(): ResetResult {
    if (!this.latch.engaged) return { ok: true };
    const res = this.latch.reset(this.backend.estopEngaged(), this.latch.state.origin === 'internal' ? this.persistingFault() : null);
    if (res.ok) {
      this.log.event({ kind: 'estop_reset', message: 'e-stop reset' });
      this.setState('idle');
    } else {
      this.log.event({ kind: 'estop_reset_refused', message: res.reason });
    }
    return res;
  }

  /**
   * Hot-swap the residual policy (null: P-controller alone). The model must already be loaded and warm; its input
   * builders are made here, off the tick. Resolves with the previous policy (the caller disposes it) once swapped:
   * at the next episode boundary (default from config) or before the next tick.
   */
  setPolicy(policy: ResidualPolicy | null, opts: SwapOptions = {}): Promise<ResidualPolicy | null> {
    const slot = policy ? this.slot(policy, 'policy') : null;
    const at = opts.at ?? this.cfg.swapAt;
    if (this.pendingSwap) {
      // A newer swap supersedes a pending one; the superseded policy never drove the arm.
      this.pendingSwap.resolve(this.pendingSwap.slot?.model ?? null);
      this.pendingSwap = null;
    }
    const noEpisode = this.episode === null && this.state !== 'resetting';
    if (at === 'between-ticks' || noEpisode) {
      // JS is single-threaded and a tick captures its policy at its start: this lands between ticks.
      return Promise.resolve(this.applySwap(slot, at));
    }
    return new Promise((resolve) => {
      this.pendingSwap = { slot, resolve };
      this.emitStatus();
    });
  }

  setReward(reward: RewardScorer | null): RewardScorer | null {
    const old = this.rewardSlot?.model ?? null;
    this.rewardSlot = reward ? this.slot(reward, 'reward model') : null;
    this.log.event({ kind: 'swap', message: `reward model ${old?.version ?? 'none'} -> ${reward?.version ?? 'none'}` });
    return old;
  }

  /** The models driving now (e.g. to dispose them after shutdown). */
  models(): { policy: ResidualPolicy | null; reward: RewardScorer | null } {
    return { policy: this.policySlot?.model ?? null, reward: this.rewardSlot?.model ?? null };
  }

  get policyVersion(): string | null {
    return this.policySlot?.model.version ?? null;
  }

  get currentState(): DaemonState {
    return this.state;
  }

  /** Resolves when the daemon reaches `state` (immediately if it is there). */
  whenState(state: DaemonState, timeoutMs = 60_000): Promise<void> {
    return waitForState(this, state, timeoutMs);
  }

  /**
   * Resolves right after the next scheduled tick has finished (at once when the schedule is not running): the start of
   * the longest stretch without a tick due, where work that must share the control thread (creating a model's
   * session, which is synchronous in onnxruntime) delays no tick.
   */
  afterNextTick(): Promise<void> {
    if (!this.scheduler.isRunning) return Promise.resolve();
    return new Promise((resolve) => this.tickWaiters.push(resolve));
  }

  /** Resolves when any async work in flight (a reset, a retract) has finished. For tests and shutdown. */
  async settle(): Promise<void> {
    while (this.busy) await this.busy.catch(() => undefined);
  }

  status(): DaemonStatus {
    return buildStatus({
      state: this.state,
      backendKind: this.backend.kind,
      sensors: this.sensors,
      config: this.cfg,
      run: this.run,
      episode: this.episode,
      lastEpisode: this.lastEpisode,
      recent: this.recent.rates(this.cfg.practice.successThreshold),
      goalRefinement: this.goalRefiner.summary(),
      exams: this.cfg.practice.examEvery > 0 ? { every: this.cfg.practice.examEvery, ...this.exams.rates(this.cfg.practice.successThreshold) } : null,
      estop: this.latch.state,
      backendEstop: this.backend.estopEngaged(),
      lastTrip: this.lastTrip,
      timing: this.timing.status(this.scheduler),
      policy: this.policySlot?.model ?? null,
      pendingSwap: this.pendingSwap,
      policyFaults: this.policyFaults,
      reward: this.rewardSlot?.model ?? null,
      labelBudget: this.labelBudget,
      openLabelRequests: this.openLabelRequests.values(),
      lastPose: this.lastPose,
      takeover: this.takeoverStatus(),
      warnings: this.heightWatch.warning ? [this.heightWatch.warning] : [],
      extras: this.extras,
    });
  }

  /** Attaches (or with undefined removes) a named section to status and the SSE stream, e.g. trainer progress. */
  setStatusExtra(name: string, value: unknown): void {
    if (value === undefined) delete this.extras[name];
    else this.extras[name] = value;
    this.emitStatus();
  }

  // ---------------------------------------------------------------- operator takeover (human interventions)

  /**
   * Holds an operator's command (REST): for the next control ticks it replaces the policy's action (still step-limited
   * and through the safety filter) until the lease runs out (default two control periods) or releaseTakeover(). A
   * client that stops renewing loses the arm within a tick or two. Refused while the e-stop is latched.
   */
  takeover(req: TakeoverRequest): { ok: true; leaseS: number; active: boolean } | { ok: false; reason: string } {
    if (this.closed) return { ok: false, reason: 'daemon is shutting down' };
    if (this.state === 'estopped' || this.latch.engaged) return { ok: false, reason: 'e-stop is latched; reset it first' };
    const d = req.delta;
    if (!Array.isArray(d) || d.length !== 3 || !d.every((v) => Number.isFinite(v) && Math.abs(v) <= MAX_TELEOP_DELTA_M)) {
      return { ok: false, reason: `delta must be three finite numbers within +-${MAX_TELEOP_DELTA_M} m` };
    }
    const leaseS = req.leaseS ?? 2 / this.cfg.tickHz;
    if (!(leaseS > 0 && leaseS <= MAX_LEASE_S)) return { ok: false, reason: `leaseS must be in (0, ${MAX_LEASE_S}] s` };
    this.restTakeover.hold(d, leaseS, req.source ?? 'rest');
    return { ok: true, leaseS, active: this.state === 'running' };
  }

  /** Ends the REST takeover now; the policy drives from the next tick. */
  releaseTakeover(): { ok: true; wasHolding: boolean } {
    return { ok: true, wasHolding: this.restTakeover.release() };
  }

  /** Adds a takeover source polled every control tick (ROS teleop, the simulated operator); returns its removal. */
  addTakeoverInput(input: TakeoverInput): () => void {
    this.takeoverInputs.push(input);
    this.emitStatus();
    return () => {
      const i = this.takeoverInputs.indexOf(input);
      if (i >= 0) this.takeoverInputs.splice(i, 1);
      this.emitStatus();
    };
  }

  takeoverStatus(): TakeoverStatus {
    return takeoverStatus(this.takeovers, this.takeoverInputs, this.restTakeover);
  }

  /** The newest missed control ticks and what they were doing (timing.ts LateTick). */
  lateTicks(): LateTick[] {
    return this.timing.lateTicks.map((t) => ({ ...t }));
  }

  /** Raw per-tick timing samples (ms) for benchmarks. */
  timingSamples(): ReturnType<TickTiming['samples']> {
    return this.timing.samples(this.scheduler);
  }

  // ---------------------------------------------------------------- the tick

  /**
   * One tick. Public so that tests and benchmarks can drive the loop tick by tick without the scheduler; never call it
   * while the scheduler runs.
   */
  async tick(): Promise<void> {
    if (this.tickInFlight) return; // defensive: the scheduler never overlaps ticks
    this.tickInFlight = true;
    try {
      if (this.pendingSwap && this.episode === null) this.applySwap(this.pendingSwap.slot, 'episode-boundary');
      const be = this.backend.estopEngaged();
      if (be.engaged && !this.latch.engaged) this.enterEstop('backend', `backend:${be.source ?? 'unknown'}`, 'robot e-stop engaged');
      this.pollEstopRequest();
      if (this.state === 'running') await this.controlTick();
      else if (this.state === 'scoring') await this.scoringTick();
    } finally {
      this.tickInFlight = false;
    }
  }

  private async controlTick(): Promise<void> {
    const ep = this.episode;
    if (!ep) return;
    const clock = this.timing.controlTick(this.now);
    if (this.run?.stopRequested) return this.stopTick(ep);
    const policySlot = this.policySlot;
    // Observe, and build every model's input.
    const p = await this.observeOrLatch();
    if (!p || this.episode !== ep) return;
    // Infer: the policy's residual, and the reward of this observation for the previous transition.
    const [residualRaw, reward] = await clock.infer(() =>
      Promise.all([this.runPolicy(policySlot, p), ep.pending ? this.scoreReward(p) : Promise.resolve({ prob: null, gt: null })]),
    );
    // Anything may have happened while we awaited (REST e-stop, stop request, shutdown): re-check before moving.
    if (this.episode !== ep || this.state !== 'running') return;
    const checked = this.checkReward(ep, p, reward.prob);
    // Seated for long enough (scoring.ts SeatedEnd): this observation is the episode's final one; hold the arm there.
    if (ep.seated.observe(checked) && ep.pending) {
      this.backend.stop();
      clock.abandoned();
      this.lastPose = p.obs.eePos;
      const why = `seated end: checked reward seated on ${ep.seated.frames} consecutive observations, ended after ${ep.step} of ${ep.steps} steps`;
      this.finishEpisode(ep, p, reward, checked, why);
      return;
    }
    if (ep.pending) this.completePending(ep, checked.prob, reward.gt, false);
    this.noteEvidence(ep, p, checked);

    // Compose the action: u_H + bounded residual, or the operator's move, step-limited.
    const uH = pControl(p.obs.eePos, p.obs.goal, this.cal.gains.kp);
    // Noise goes inside the bound: what is executed as residual never exceeds it, and learning sees that same action.
    const noisy = ep.noise.apply(residualRaw, p.obs.eePos[2] - p.obs.goal[2]);
    // Polled now, after the awaits, so a lapsed lease is seen as lapsed; the operator's move replaces u_H + residual.
    const operator = this.pollTakeover(p, ep);
    const action = operator ? composeTakeover(uH, operator.delta, this.actionLimits) : composeAction(uH, noisy, this.actionLimits);
    // Decide safety, last.
    const now = this.backend.clock();
    // A robot clock that stands still would blind the stale-sensor watchdog (it measures ages on that clock).
    const decision: SafetyDecision =
      ep.step > 0 && Number.isFinite(now) && !(now > ep.lastClock)
        ? { kind: 'trip', reason: 'stale-clock', detail: `robot clock did not advance since the last tick (${now} s)`, latch: true, retract: false }
        : decideSafety(
            { now, obs: p.obs, proposed: action.executed, latch: this.latch.state, backendEstop: this.backend.estopEngaged(), needsDepth: this.needsDepth() },
            this.limits,
          );
    if (decision.kind === 'trip') {
      this.handleTrip(decision, ep);
      clock.abandoned();
      return;
    }
    // The last moment before the arm moves: an e-stop requested meanwhile from another thread wins.
    if (this.pollEstopRequest()) {
      clock.abandoned();
      return;
    }
    // Command.
    clock.command(() => {
      this.backend.command(decision.action);
      ep.lastClock = now;
    });
    // Log: the transition waits for the next observation's reward (completePending).
    this.lastPose = p.obs.eePos;
    ep.pending = {
      t: {
        episodeId: ep.id,
        step: ep.step,
        obs: p.obs,
        actionP: action.actionP,
        actionResidual: action.actionResidual,
        actionExecuted: decision.action,
        tickTime: this.backend.clock(),
        policyVersion: policySlot?.model.version ?? null,
        ...(operator ? { intervention: true, interventionSource: operator.source } : {}),
      },
    };
    this.noteTakeover(operator, ep);
    ep.step++;
    if (ep.step >= ep.steps) this.setState('scoring');
    if (clock.ended() % Math.max(1, Math.round(this.cfg.tickHz)) === 0) this.emitStatus();
  }

  /** A control tick after stopPractice(): hold the arm, score where it stands, close the episode as aborted. */
  private async stopTick(ep: OpenEpisode): Promise<void> {
    this.backend.stop();
    const p = await this.observeOrLatch();
    if (!p || this.episode !== ep) return;
    const r = await this.scoreReward(p);
    if (this.episode !== ep) return;
    const checked = this.checkReward(ep, p, r.prob);
    this.completePending(ep, checked.prob, r.gt, true);
    this.closeEpisode(ep, 'aborted', 'stop requested', checked.prob, r.gt);
    this.afterEpisode();
  }

  /** The tick after the last step: score the final observation, close the episode. */
  private async scoringTick(): Promise<void> {
    const ep = this.episode;
    if (!ep) return;
    const p = await this.observeOrLatch();
    if (!p || this.episode !== ep) return;
    const r = await this.scoreReward(p);
    if (this.episode !== ep || this.state !== 'scoring') return;
    this.lastPose = p.obs.eePos;
    this.finishEpisode(ep, p, r, this.checkReward(ep, p, r.prob), null);
  }

  /**
   * The episode's final observation is scored: its transition logged done, the episode judged and closed, then the next
   * episode or idle. At the step limit (the scoring tick) or at the seated end (`ended`: why, written in the reason).
   */
  private finishEpisode(ep: OpenEpisode, p: Prepared, r: { prob: number | null; gt: boolean | null }, checked: CheckedReward, ended: string | null): void {
    this.completePending(ep, checked.prob, r.gt, true);
    this.noteEvidence(ep, p, checked);
    const judged = judgeEpisode(checked.prob, r.gt, this.cfg.practice, checked.refused);
    const { outcome } = judged;
    const reason = ended === null ? judged.reason : judged.reason === null ? ended : `${ended}; ${judged.reason}`;
    this.closeEpisode(ep, outcome, reason, checked.prob, r.gt);
    if (ep.kind === 'practice' && (outcome === 'success' || outcome === 'failure')) {
      this.anneal.add(ep.domain, outcome === 'success');
      this.noteGoal(this.goalRefiner.addEnding(ep.domain, ep.id, p.obs.eePos, p.calibratedGoal, outcome === 'success'), ep.id, 'judged seated');
    }
    // Only outcomes the learned reward judged can ask for a label (ground-truth judging needs none), or tell of x* too low.
    if (r.prob !== null && !this.cfg.practice.useGroundTruthReward && (outcome === 'success' || outcome === 'failure')) {
      this.considerLabelRequest(ep);
      this.watchHeight(ep, checked);
    }
    this.afterEpisode();
  }

  /** What the x* refinement changed (control/goal-refine.ts), to the event log: its full state, so a restart restores it. */
  private noteGoal(news: GoalRefineNews | null, episodeId: number | null, why: string): void {
    if (!news) return;
    const mm = (v: number): string => (1000 * v).toFixed(2);
    const at = episodeId === null ? {} : { episodeId };
    if (news.kind === 'moved') {
      const c = news.correction;
      this.log.event({
        kind: 'goal_refined',
        message: `${news.domain}: x* ${mm(c.dx)}, ${mm(c.dy)} mm from its calibration, the median ending of ${c.endings.length} seated practice episodes (${why})`,
        data: { domain: news.domain, dxM: c.dx, dyM: c.dy, endings: c.endings, previous: news.previous },
        ...at,
      });
    } else if (news.kind === 'withdrawn') {
      this.log.event({
        kind: 'goal_refined',
        message: `${news.domain}: x* back to its calibration, fewer than ${this.goalRefiner.cfg.episodes} seated practice episodes (${why})`,
        data: { domain: news.domain, dxM: 0, dyM: 0, endings: this.goalRefiner.endingsOf(news.domain), previous: news.previous },
        ...at,
      });
    } else {
      this.log.event({
        kind: 'goal_refine_refused',
        message: `${news.domain}: seated practice episodes end ${mm(news.dx)}, ${mm(news.dy)} mm from the calibrated x*, beyond the ${mm(news.maxM)} mm the refinement applies: x* stays as calibrated; recalibrate the socket`,
        data: { domain: news.domain, dxM: news.dx, dyM: news.dy, maxM: news.maxM },
        ...at,
      });
    }
  }

  // ---------------------------------------------------------------- episode lifecycle

  private async beginEpisode(): Promise<void> {
    const run = this.run;
    if (!run) return;
    this.setState('resetting');
    if (this.pendingSwap) this.applySwap(this.pendingSwap.slot, 'episode-boundary');
    const index = run.done;
    const seed = deriveSeed(run.seed, 'episode', index);
    const spec: EpisodeSpec = { seed, scenario: run.scenario, domain: run.domain };
    if (this.pollEstopRequest()) return;
    try {
      await this.backend.moveToStart(spec);
    } catch (e) {
      this.fault(`moveToStart failed: ${(e as Error).message}`);
      this.backend.stop();
      this.run = null;
      if (this.state === 'resetting') this.setState('idle');
      return;
    }
    this.pollEstopRequest();
    if (this.state !== 'resetting' || this.run !== run) return; // e-stopped or shut down meanwhile
    if (run.stopRequested) {
      this.run = null;
      this.setState('idle');
      return;
    }
    const exam = run.kind === 'practice' && this.examSchedule.next(run.domain);
    const sigma = exam ? 0 : run.explorationNoise * (run.kind === 'practice' ? this.anneal.scale(run.domain) : 1);
    const raw = this.backend.observe();
    if (this.cal.wrench.rezeroAtEpisodeStart && !this.wrench.rezero(raw.wrench)) {
      this.fault('wrench re-zero refused: non-finite reading');
    }
    const startState = { eePos: raw.eePos, goal: raw.goal, seed, wrenchBias: this.wrench.currentBias, explorationNoise: sigma, ...(exam ? { exam } : {}) };
    const policyVersion = this.policyVersion;
    let id: number;
    try {
      // A log in another thread (the control thread's) answers with a promise: no tick is due while resetting.
      const begun = this.log.beginEpisode({ kind: run.kind, domain: run.domain, scenario: run.scenario, seed, startState, policyVersion });
      id = typeof begun === 'number' ? begun : await begun;
    } catch (e) {
      this.fault(`log refused the episode: ${(e as Error).message}`);
      if (this.state === 'resetting' && this.run === run) {
        this.run = null;
        this.setState('idle');
      }
      return;
    }
    if (this.state !== 'resetting' || this.run !== run) {
      // E-stopped or shut down while the log answered: the episode row must not stay open.
      this.log.endEpisode(id, { outcome: 'aborted', reason: 'stopped before its first step', learnedSuccessProb: null, gtSuccess: null });
      return;
    }
    this.episode = {
      id,
      index,
      step: 0,
      steps: this.cfg.practice.episodeSteps,
      domain: run.domain,
      scenario: run.scenario,
      noise: new ExplorationNoise(sigma, run.noiseCorrelation, new Rng(deriveSeed(seed, 'exploration')), this.cfg.practice.noiseTaperM),
      pending: null,
      policyVersion,
      lastClock: Number.NEGATIVE_INFINITY,
      kind: run.kind,
      exam,
      evidence: [],
      lowest: new LowestTip(),
      seated: new SeatedEnd(this.cfg.practice),
    };
    this.takeovers.newEpisode();
    this.setState('running');
  }

  /** Decides what follows a closed episode: the next one, or idle. */
  private afterEpisode(): void {
    const run = this.run;
    if (this.state === 'estopped') return;
    if (!run || run.stopRequested || run.done >= run.count) {
      if (run) this.log.event({ kind: 'practice', message: `practice ended after ${run.done} of ${run.count} episodes`, data: { runId: run.id } });
      this.run = null;
      this.setState('idle');
      return;
    }
    this.track(this.beginEpisode());
  }

  private completePending(ep: OpenEpisode, rewardProb: number | null, gt: boolean | null, done: boolean): void {
    if (!ep.pending) return;
    this.log.transition({ ...ep.pending.t, rewardProb, gtSuccess: gt, done });
    ep.pending = null;
  }

  private closeEpisode(ep: OpenEpisode, outcome: EpisodeOutcome, reason: string | null, prob: number | null, gt: boolean | null): void {
    if (this.episode !== ep) return;
    this.completePending(ep, null, null, true);
    this.episode = null;
    try {
      this.log.endEpisode(ep.id, { outcome, reason, learnedSuccessProb: prob, gtSuccess: gt });
    } catch (e) {
      this.fault(`log refused to close episode ${ep.id}: ${(e as Error).message}`);
    }
    if (this.run) this.run.done++;
    if (this.takeovers.active) this.noteTakeover(null, ep);
    const summary: EpisodeSummary = {
      id: ep.id,
      index: ep.index,
      domain: ep.domain,
      outcome,
      reason,
      learnedSuccessProb: prob,
      gtSuccess: gt,
      steps: ep.step,
      policyVersion: ep.policyVersion,
      interventionSteps: this.takeovers.episodeSteps,
      ...(ep.exam ? { exam: true } : {}),
    };
    this.lastEpisode = summary;
    this.recent.add(summary);
    if (ep.exam) this.exams.add(summary);
    this.emit('episode', summary);
    if (this.pendingSwap) this.applySwap(this.pendingSwap.slot, 'episode-boundary');
  }

  // ---------------------------------------------------------------- operator labels (src/daemon/labels.ts)

  /** Every observation's learned reward passes the lift and height checks (scoring.ts checkedReward) before anything uses it. */
  private checkReward(ep: OpenEpisode, p: Prepared, rawProb: number | null): CheckedReward {
    return checkedReward(rawProb, ep.lowest.observe(p.obs.eePos), heightAboveGoalM(p.obs.eePos, p.obs.goal), this.cfg.practice);
  }

  /**
   * A judged episode's final reward to the height-refusal watch; its warning (once) to the event log and /status. The
   * refusals it warns about, and later ones at the same height, become label requests as the label budget allows.
   */
  private watchHeight(ep: OpenEpisode, r: CheckedReward): void {
    const judged: JudgedFinal = {
      episodeId: ep.id,
      classifierSuccess: r.rawProb !== null && r.rawProb >= this.cfg.practice.successThreshold,
      heightRefused: r.high === true && !r.lifted,
      heightM: r.heightM,
    };
    const request = (): LabelRequest | null => {
      const need = labelNeed(ep.evidence, this.cfg.practice.successThreshold, this.cfg.labels, ['height-refusal']);
      return need && { ...need, episodeId: ep.id, domain: ep.domain, requestedAt: Date.now() };
    };
    if (this.heightWatch.warning) {
      const q = this.heightWatch.atWarnedHeight(judged) ? request() : null;
      if (q && !this.openLabelRequests.has(ep.id)) this.heightRequestQueue.push(q);
    } else {
      const q = judged.classifierSuccess && judged.heightRefused ? request() : null;
      if (q) this.heightRefusals.set(ep.id, q);
      for (const id of this.heightRefusals.keys()) if (this.heightRefusals.size > HEIGHT_WATCH.window) this.heightRefusals.delete(id);
      const raised = this.heightWatch.add(judged);
      if (raised) {
        this.log.event({ kind: 'height_warning', message: raised.message, data: raised, episodeId: ep.id });
        for (const id of raised.cluster.episodeIds) {
          const c = this.heightRefusals.get(id);
          if (c && !this.openLabelRequests.has(id)) this.heightRequestQueue.push(c);
        }
        this.heightRefusals.clear();
        this.emitStatus();
      }
    }
    this.askQueuedHeightRequests();
  }

  /** The warned height refusals' label requests, oldest first, as far as the label budget has room now. */
  private askQueuedHeightRequests(): void {
    if (!this.cfg.labels.requests) {
      this.heightRequestQueue.length = 0;
      return;
    }
    while (this.heightRequestQueue.length > 0 && this.labelBudget.spend()) this.askLabel(this.heightRequestQueue.shift()!);
    // A long run at the wrong x* outgrows any budget: the oldest waiting ones give way (counted as skipped).
    const over = this.heightRequestQueue.length - HEIGHT_REQUESTS_WAITING;
    if (over > 0) {
      this.heightRequestQueue.splice(0, over);
      this.labelBudget.skipped += over;
    }
  }

  private noteEvidence(ep: OpenEpisode, p: Prepared, r: CheckedReward): void {
    if (r.prob === null) return;
    ep.evidence.push({ prob: r.prob, eePos: p.obs.eePos, goal: p.obs.goal, wrench: p.obs.wrench, liftM: r.liftM, lifted: r.lifted });
    const keep = Math.max(2, this.cfg.labels.flipSteps);
    if (ep.evidence.length > keep) ep.evidence.splice(0, ep.evidence.length - keep);
  }

  /** After an episode the learned reward judged: ask for a label if it needs one and the budget allows. Off the tick. */
  private considerLabelRequest(ep: OpenEpisode): void {
    const s = this.cfg.labels;
    if (!s.requests) return;
    const need = labelNeed(ep.evidence, this.cfg.practice.successThreshold, s);
    if (!this.labelBudget.judge(need !== null) || !need) return;
    this.askLabel({ ...need, episodeId: ep.id, domain: ep.domain, requestedAt: Date.now() });
  }

  /** A label request: kept open until answered, logged, streamed. */
  private askLabel(req: LabelRequest): void {
    this.openLabelRequests.set(req.episodeId, req);
    const h = req.heightAboveGoalM === null ? '' : `, tip ${(1000 * req.heightAboveGoalM).toFixed(1)} mm above x*`;
    this.log.event({
      kind: 'label_request',
      message: `label requested for episode ${req.episodeId} (${req.reasons.join(', ')}): reward ${req.finalProb.toFixed(2)}${h}`,
      data: req,
      episodeId: req.episodeId,
    });
    this.emit('labelRequest', req);
    this.emitStatus();
  }

  /**
   * An operator's label of an episode's outcome has been stored (the API stores it): recorded as a 'label' event, and
   * the episode's open label request, if any, is answered. Returns whether it answered a request.
   */
  noteLabel(episodeId: number, success: boolean, by: string, note: string | null = null): { answeredRequest: boolean } {
    const req = this.openLabelRequests.get(episodeId);
    this.openLabelRequests.delete(episodeId);
    this.log.event({
      kind: 'label',
      episodeId,
      message: `episode ${episodeId} labelled ${success ? 'success' : 'failure'} by ${by}${req ? ` (answers the request: ${req.reasons.join(', ')})` : ''}${note ? `: ${note}` : ''}`,
      data: { episodeId, success, by, note, answeredRequest: req !== undefined, learnedSuccess: req?.learnedSuccess ?? null },
    });
    this.noteGoal(this.goalRefiner.label(episodeId, success), episodeId, `labelled ${success ? 'success' : 'failure'} by ${by}`);
    this.emitStatus();
    return { answeredRequest: req !== undefined };
  }

  /** Forget x*'s refinement of one connector, or of all (the socket was moved or recalibrated): the calibrated x* again. */
  resetGoalRefinement(domain: string | null, by: string): { reset: string[] } {
    const reset = this.goalRefiner.reset(domain ?? undefined);
    this.log.event({
      kind: 'goal_refine_reset',
      message: `x* refinement reset by ${by} for ${domain ?? 'every connector'}${reset.length ? ` (was on for ${reset.join(', ')})` : ''}: the calibrated x* until new seated practice episodes`,
      data: { domain, reset, by },
    });
    this.emitStatus();
    return { reset };
  }

  // ---------------------------------------------------------------- safety

  private handleTrip(d: Extract<SafetyDecision, { kind: 'trip' }>, ep: OpenEpisode): void {
    this.backend.stop(); // same tick: nothing else is commanded
    this.lastTrip = { reason: d.reason, detail: d.detail, at: Date.now(), episodeId: ep.id };
    this.log.event({ kind: 'trip', message: `${d.reason}: ${d.detail}`, data: { reason: d.reason, latch: d.latch }, episodeId: ep.id });
    if (d.latch) {
      const origin = d.reason === 'estop' ? (this.backend.estopEngaged().engaged ? 'backend' : (this.latch.state.origin ?? 'internal')) : 'internal';
      this.enterEstop(origin, d.reason === 'estop' ? (this.latch.state.source ?? 'backend') : `internal:${d.reason}`, d.detail);
      return;
    }
    this.closeEpisode(ep, 'tripped', `${d.reason}: ${d.detail}`, null, null);
    if (d.retract) {
      this.setState('resetting');
      this.track(this.retractThenContinue());
    } else {
      this.afterEpisode();
    }
  }

  private async retractThenContinue(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r)); // after the tick, not inside it
    const pose = this.backend.observe().eePos;
    // The retract must itself respect the workspace box and be finite.
    const dz = Math.min(this.cal.limits.retractM, this.cal.workspace.max[2] - pose[2]);
    this.pollEstopRequest();
    if (Number.isFinite(dz) && dz > 0 && !this.latch.engaged) {
      try {
        await this.backend.retract(dz);
      } catch (e) {
        this.fault(`retract failed: ${(e as Error).message}`);
      }
    }
    if (this.state === 'resetting') this.afterEpisode();
  }

  private enterEstop(origin: EstopOrigin, source: string, detail: string): void {
    this.backend.stop(); // hold first, bookkeeping after
    this.restTakeover.release(); // an operator's lease does not outlive an e-stop
    const fresh = this.latch.engage(origin, source, detail);
    if (fresh) {
      this.lastTrip = { reason: 'estop', detail: `${source}: ${detail}`, at: Date.now(), episodeId: this.episode?.id ?? null };
      this.log.event({ kind: 'estop', message: `e-stop (${source}): ${detail}`, data: { origin, source }, episodeId: this.episode?.id ?? null });
    }
    if (this.episode) this.closeEpisode(this.episode, 'tripped', `estop (${source}): ${detail}`, null, null);
    if (this.run) {
      this.log.event({ kind: 'practice', message: `practice cancelled by e-stop after ${this.run.done} of ${this.run.count} episodes` });
      this.run = null;
    }
    this.setState('estopped');
  }

  /** Latches an e-stop requested from another thread (DaemonOptions.estopRequest); true when one was pending. */
  private pollEstopRequest(): boolean {
    const detail = this.estopRequest?.() ?? null;
    if (detail === null) return false;
    this.enterEstop('rest', 'rest', detail);
    return true;
  }

  private releaseTickWaiters(): void {
    if (this.tickWaiters.length === 0) return;
    const w = this.tickWaiters;
    this.tickWaiters = [];
    for (const resolve of w) resolve();
  }

  /** For an internal latch: is its cause still present? (Checked on reset.) */
  private persistingFault(): string | null {
    let obs: Observation;
    try {
      obs = this.backend.observe();
    } catch (e) {
      return `cannot observe: ${(e as Error).message}`;
    }
    const needsDepth = this.needsDepth();
    const d = decideSafety(
      { now: this.backend.clock(), obs, proposed: [0, 0, 0], latch: new EstopLatch().state, backendEstop: { engaged: false, source: null }, needsDepth },
      this.limits,
    );
    if (d.kind === 'trip' && d.latch) return d.detail;
    if (needsDepth && !obs.depth) return `no depth image${obs.depthFault ? ` (${obs.depthFault})` : ''}, and a model takes depth cells`;
    return this.logImage.frameProblem(obs.image); // a malformed frame latched the observation fault
  }

  // ---------------------------------------------------------------- takeover

  /** The first source that holds a takeover this tick (REST lease first), or null. A source that throws or hands a
   *  non-finite move is skipped for this tick and reported (rate-limited): the policy drives, nothing stale moves. */
  private pollTakeover(p: Prepared, ep: OpenEpisode): TakeoverCommand | null {
    const ctx = {
      obs: p.obs,
      period: 1 / this.cfg.tickHz,
      episode: { id: ep.id, step: ep.step, kind: ep.kind },
      groundTruth: this.groundTruthFn,
    };
    for (const input of [this.restTakeover, ...this.takeoverInputs]) {
      let c: TakeoverCommand | null;
      try {
        c = input.poll(ctx);
      } catch (e) {
        this.takeoverFault(`takeover input ${input.name} failed: ${(e as Error).message}`);
        continue;
      }
      if (!c) continue;
      if (!(c.delta.length === 3 && c.delta.every(Number.isFinite))) {
        this.takeoverFault(`takeover input ${input.name} gave a non-finite move; ignored`);
        continue;
      }
      return c;
    }
    return null;
  }

  private takeoverFault(msg: string): void {
    this.takeoverFaults++;
    if (this.takeoverFaults === 1 || this.takeoverFaults % 100 === 0) this.fault(`${msg} (${this.takeoverFaults} so far)`);
  }

  /** Counts the tick's intervention; a takeover's start and end are logged (kind 'takeover') and streamed once each. */
  private noteTakeover(cmd: TakeoverCommand | null, ep: OpenEpisode): void {
    const change = this.takeovers.step(cmd, ep.id, ep.step);
    if (!change) return;
    this.log.event({
      kind: 'takeover',
      episodeId: ep.id,
      data: change,
      message: change.active
        ? `operator takeover by ${change.source} at step ${change.step}`
        : `operator takeover by ${change.source} ended at step ${change.step}`,
    });
    this.emit('takeover', change);
    this.emitStatus();
  }

  // ---------------------------------------------------------------- models

  /** A model driving or scoring now takes depth cells. */
  private needsDepth(): boolean {
    return (this.policySlot?.depth ?? false) || (this.rewardSlot?.depth ?? false);
  }

  private slot<M extends { input: ModelInputSpec; version: string }>(model: M, what: string): ModelSlot<M> {
    return { model, inputs: new ModelInputs(model.input, `${what} ${model.version}`), depth: depthCellsOf(model.input).length > 0 };
  }

  private applySwap(slot: ModelSlot<ResidualPolicy> | null, at: string): ResidualPolicy | null {
    const old = this.policySlot?.model ?? null;
    this.policySlot = slot;
    const pending = this.pendingSwap;
    this.pendingSwap = null;
    this.log.event({
      kind: 'swap',
      message: `policy ${old?.version ?? 'p-only'} -> ${slot?.model.version ?? 'p-only'} (${at})`,
      data: { from: old?.version ?? null, to: slot?.model.version ?? null, at },
    });
    pending?.resolve(old);
    this.emitStatus();
    return old;
  }

  private async runPolicy(slot: ModelSlot<ResidualPolicy> | null, p: Prepared): Promise<Vec3> {
    if (!slot) return [0, 0, 0];
    try {
      const r = await slot.model.run(p.policy.image, p.policy.proprio);
      if (r.length === 3 && r.every(Number.isFinite)) return [r[0], r[1], r[2]];
      this.policyFault(`policy ${slot.model.version} returned a non-finite residual`);
    } catch (e) {
      this.policyFault(`policy ${slot.model.version} failed: ${(e as Error).message}`);
    }
    return [0, 0, 0]; // P-controller alone for this tick
  }

  private policyFault(msg: string): void {
    this.policyFaults++;
    // Rate-limited: the first and then every 100th, so a broken model cannot flood the log.
    if (this.policyFaults === 1 || this.policyFaults % 100 === 0) {
      this.log.event({
        kind: 'fault',
        message: `${msg} (P-controller alone this tick; ${this.policyFaults} faults so far)`,
        episodeId: this.episode?.id ?? null,
      });
    }
  }

  private async scoreReward(p: Prepared): Promise<{ prob: number | null; gt: boolean | null }> {
    let gt: boolean | null = null;
    if (this.backend.groundTruth) {
      const g: GroundTruth = this.backend.groundTruth();
      gt = g.success;
    }
    const slot = this.rewardSlot;
    if (!slot) return { prob: null, gt };
    try {
      const prob = await slot.model.probability(p.reward.image, p.reward.proprio);
      if (Number.isFinite(prob) && prob >= 0 && prob <= 1) return { prob, gt };
      this.fault(`reward model ${slot.model.version} returned ${prob}`);
    } catch (e) {
      this.fault(`reward model ${slot.model.version} failed: ${(e as Error).message}`);
    }
    return { prob: null, gt };
  }

  /** `prepare`, failing safe: an observation that cannot be made (a corrupt frame, a backend error) stops the arm and
   *  latches the e-stop with the reason, as a non-finite one does; null then. */
  private async observeOrLatch(): Promise<Prepared | null> {
    try {
      return await this.prepare();
    } catch (e) {
      this.enterEstop('internal', 'internal:observation', `observation failed: ${(e as Error).message}`);
      return null;
    }
  }

  /**
   * Observe and build every model input. The camera frame becomes the logged image (calibration crop/resize; the
   * identity when the camera delivers that size, as the simulator does); each model's input is made from it by the
   * one input pipeline (policy/inputs.ts), exactly as its training data was.
   */
  private async prepare(): Promise<Prepared> {
    const raw = this.backend.observe();
    const wrench = this.wrench.correct(raw.wrench);
    const s = this.cal.socket;
    const base = s.goal ?? raw.goal;
    const calibratedGoal: Vec3 = [base[0] + s.offset[0], base[1] + s.offset[1], base[2] + s.offset[2]];
    const goal = this.goalRefiner.refine(this.run?.domain, calibratedGoal);
    const logged = await this.logImage.prepare(raw.image);
    if (logged.usedSharp) this.timing.sharpTicks++;
    // The depth image (an RGB-D backend's) on the logged image's grid, as the reward's depth cells were trained on.
    const depth = raw.depth ? prepareDepth(raw.depth, raw.image, this.cal.camera.crop, logged.rgb.width, logged.rgb.height) : undefined;
    const obs: Observation = { ...raw, image: logged.rgb, ...(depth ? { depth } : {}), wrench, goal };
    const none: ModelInput = { image: undefined, proprio: undefined };
    const pol = this.policySlot?.inputs;
    const rew = this.rewardSlot?.inputs;
    const policy = pol ? pol.build(obs) : none;
    const reward = rew ? rew.build(obs) : none;
    return { obs, policy, reward, calibratedGoal };
  }

  // ---------------------------------------------------------------- plumbing

  private isControlling(): boolean {
    return this.state === 'running' || this.state === 'scoring';
  }

  private setState(s: DaemonState): void {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
    this.emitStatus();
  }

  /** Status goes out after the current tick (coalesced): building it sorts timing samples, not tick work. */
  private emitStatus(): void {
    if (this.statusQueued || this.listenerCount('status') === 0) return;
    this.statusQueued = true;
    setImmediate(() => {
      this.statusQueued = false;
      this.emit('status', this.status());
    });
  }

  private fault(message: string): void {
    this.log.event({ kind: 'fault', message, episodeId: this.episode?.id ?? null });
    this.emit('fault', message);
  }

  private track(p: Promise<void>): void {
    const wrapped = p
      .catch((e: unknown) => this.fault(`internal: ${(e as Error).stack ?? String(e)}`))
      .finally(() => {
        if (this.busy === wrapped) this.busy = null;
      });
    this.busy = wrapped;
  }
}
