/**
 * One prior-data episode in the simulated cell, as the daemon would log it (pure simulation, no database), and the
 * plan of which episodes a collection consists of. Shared by the in-process collector and its worker threads.
 *
 * Residual convention (thesis T:4060-4135, and the daemon's loop): the command is u = u_H + residual with
 * u_H = -kp (x - x*) computed from the observation's x (tip) and x* (goal, with its calibration error), unclipped,
 * exactly as the daemon computes it. A scripted controller decides u directly; its residual is u - u_H (bounded per
 * axis when settings.residualBound is set), so prior data and daemon logs mean the same thing by `actionResidual`
 * and a learner can train on both. As in the daemon, the executed move is u after the safety filter's step limit
 * (Euclidean norm <= maxStep): executed = actionP + actionResidual exactly, unless that limit acted (never for the
 * free expert, whose moves are within it; counted by the collector when bounded).
 */
import { createHash } from 'node:crypto';
import { composeAction, DEFAULT_RESIDUAL_BOUND_M } from '../control/action.ts';
import { clipAction, type ControlContext, type Controller } from '../control/controller.ts';
import { pControl } from '../control/p-controller.ts';
import { createController, needsPrivileged } from '../control/registry.ts';
import { runEpisode } from '../eval/evaluate.ts';
import type { Observation, Vec3, Scenario } from '../core/types.ts';
import { SEATED_TOLERANCE, SimCell } from '../sim/cell.ts';
import { findConnector, loadConnectors, type ConnectorDef } from '../sim/connectors.ts';
import { deriveSeed } from '../util/rng.ts';

/** Everything about the cell and the episode that changes what gets logged (part of the resume key). */
export interface PriorSettings {
  /** Camera image side (px) as rendered and logged. */
  imageSize: number;
  camera: 'wrist' | 'fixed';
  /** Per-episode uniform +- error of x* in x and y (m): what the P-controller (and the proprio dx, dy) sees. */
  goalNoise: number;
  /** Fixed calibration error of x* (m). */
  goalBias: Vec3;
  /** Tip height above the socket face at the start (m). The daemon's config uses 0.03. */
  startHeight: number;
  /** Randomise table colour, lighting and camera pose per episode. */
  nuisance: boolean;
  /** Control steps per episode (research: 20). */
  episodeLength: number;
  /** Per-axis bound of an executed move (m). */
  maxStep: number;
  /** P-controller gains of u_H = -kp (x - x*), as in calibration/gains.yaml. */
  kp: Vec3;
  /**
   * null: the controller acts freely (the research's collector); its residual u - u_H is often beyond the daemon's
   * residual bound (the expert holds its height while aligning, u_H descends). A number b (m): the controller's action
   * is applied as the daemon would apply a policy's, u = u_H + clamp(u_ctrl - u_H, +-b), so every logged action is
   * one a bounded residual policy can take (calibration/limits.yaml residualBoundM = 0.005). Default 0.005: measured
   * on 5 connectors x 25 episodes, the bounded expert succeeds as often as the free one (46/50 vs 45/50).
   */
  residualBound: number | null;
  /** Render shadows (CellConfig.shadows). Data with and without shadows must not be mixed in one training set. */
  shadows: boolean;
  /** Also log the wrist camera's depth image (CellConfig.depth). The colour images are the same with or without it. */
  depth: boolean;
}

export const DEFAULT_PRIOR_SETTINGS: PriorSettings = {
  imageSize: 64,
  camera: 'wrist',
  goalNoise: 0.002,
  goalBias: [0, 0, 0],
  startHeight: 0.03,
  nuisance: true,
  episodeLength: 20,
  maxStep: 0.01,
  kp: [1, 1, 0.3],
  residualBound: DEFAULT_RESIDUAL_BOUND_M,
  shadows: false,
  depth: false,
};

export function validatePriorSettings(s: PriorSettings, where = 'prior settings'): void {
  const bad = (field: string, msg: string, got: unknown): never => {
    throw new RangeError(`${where}: ${field} ${msg}, got ${JSON.stringify(got)}`);
  };
  if (!Number.isInteger(s.imageSize) || s.imageSize < 8 || s.imageSize > 512) bad('imageSize', 'must be an integer in [8, 512] (prior data needs images)', s.imageSize);
  if (s.camera !== 'wrist' && s.camera !== 'fixed') bad('camera', 'must be "wrist" or "fixed"', s.camera);
  if (!(s.goalNoise >= 0 && s.goalNoise <= 0.05)) bad('goalNoise', 'must be in [0, 0.05] m', s.goalNoise);
  if (!Array.isArray(s.goalBias) || s.goalBias.length !== 3 || !s.goalBias.every((v) => Number.isFinite(v) && Math.abs(v) <= 0.05)) {
    bad('goalBias', 'must be 3 numbers within +-0.05 m', s.goalBias);
  }
  if (!(s.startHeight >= 0 && s.startHeight <= 0.15)) bad('startHeight', 'must be in [0, 0.15] m', s.startHeight);
  if (typeof s.nuisance !== 'boolean') bad('nuisance', 'must be a boolean', s.nuisance);
  if (!Number.isInteger(s.episodeLength) || s.episodeLength < 1 || s.episodeLength > 1000) bad('episodeLength', 'must be an integer in [1, 1000]', s.episodeLength);
  if (!(s.maxStep > 0 && s.maxStep <= 0.05)) bad('maxStep', 'must be in (0, 0.05] m', s.maxStep);
  if (!Array.isArray(s.kp) || s.kp.length !== 3 || !s.kp.every((v) => Number.isFinite(v) && v >= 0 && v <= 10)) bad('kp', 'must be 3 gains in [0, 10]', s.kp);
  if (s.residualBound !== null && !(s.residualBound > 0 && s.residualBound <= 0.05)) bad('residualBound', 'must be null or in (0, 0.05] m', s.residualBound);
  if (typeof s.shadows !== 'boolean') bad('shadows', 'must be a boolean', s.shadows);
  if (typeof s.depth !== 'boolean') bad('depth', 'must be a boolean', s.depth);
}

/**
 * Version of how episodes are generated from the settings (including how the camera renders); bump it when that
 * changes. Episodes carry it in their start state, and the collector refuses to add to a file of another version.
 * 3: checker textures no longer speckle on the socket face.
 */
export const COLLECT_FORMAT = 3;

/** Short hash of the settings (and the controller name), stored in every episode's start state: resume only skips
 *  an episode collected with the same settings. */
export function settingsKey(s: PriorSettings, controller: string): string {
  const canon = JSON.stringify([COLLECT_FORMAT, s.imageSize, s.camera, s.goalNoise, s.goalBias, s.startHeight, s.nuisance, s.episodeLength, s.maxStep, s.kp, controller, ...(s.residualBound === null ? [] : [s.residualBound]), ...(s.shadows ? ['shadows'] : []), ...(s.depth ? ['depth'] : [])]);
  return createHash('sha256').update(canon).digest('hex').slice(0, 16);
}

/** One episode to collect. */
export interface PriorTask {
  /** Position in the plan (writes happen in this order whatever the number of workers). */
  index: number;
  connector: string;
  controller: string;
  scenario: Scenario;
  /** Episode number within (connector, controller). */
  episode: number;
  /** Cell reset seed: the same for every controller (common random starts), stored as the episode's `seed`. */
  resetSeed: number;
  /** Seed of the controller's random stream (the expert's noise). */
  controlSeed: number;
}

/**
 * The plan: connectors outer, controllers, then episodes; episode i runs scenario scenarios[i % n], so a plan that
 * mixes I and II alternates them and any prefix is balanced. Seeds derive from (seed, connector, scenario, i) only.
 */
export function planTasks(o: { connectors: readonly string[]; controllers: readonly string[]; scenarios: readonly Scenario[]; episodesPerConnector: number; seed: number }): PriorTask[] {
  const tasks: PriorTask[] = [];
  for (const connector of o.connectors) {
    for (const controller of o.controllers) {
      for (let i = 0; i < o.episodesPerConnector; i++) {
        const scenario = o.scenarios[i % o.scenarios.length]!;
        tasks.push({
          index: tasks.length,
          connector,
          controller,
          scenario,
          episode: i,
          resetSeed: deriveSeed(o.seed, 'prior-reset', connector, scenario, i),
          controlSeed: deriveSeed(o.seed, 'prior-control', connector, controller, scenario, i),
        });
      }
    }
  }
  return tasks;
}

/** One logged control step: the observation, what was done from it, and the ground truth of the NEXT observation. */
export interface PriorStep {
  obs: Observation;
  actionP: Vec3;
  actionResidual: Vec3;
  actionExecuted: Vec3;
  /** The daemon's step limit (Euclidean norm) scaled the move: only then executed != actionP + actionResidual. */
  stepLimited: boolean;
  /** Ground-truth success of the observation after this step. */
  nextSuccess: boolean;
}

export interface PriorEpisode {
  task: PriorTask;
  settingsKey: string;
  startState: {
    eePos: Vec3;
    goal: Vec3;
    socketPos: Vec3;
    seed: number;
    controlSeed: number;
    scenario: Scenario;
    episode: number;
    controller: string;
    settingsKey: string;
    collectFormat: number;
    /** Ground truth of the first observation. */
    gtSuccess: boolean;
    /** The daemon records the wrench bias; the simulated cell re-zeroes it at the start (null: not exposed). */
    wrenchBias: null;
  };
  steps: PriorStep[];
  /** The observation after the last step (logged as its own row) and its ground truth. */
  final: Observation;
  success: boolean;
  depth: number;
  lateralError: number;
  /** Simulation time of the episode (ms, wall clock). */
  elapsedMs: number;
}

/** Runs one task in `cell` (which must be the task's connector) and returns what to log. */
export async function runPriorEpisode(cell: SimCell, task: PriorTask, s: PriorSettings): Promise<PriorEpisode> {
  const t0 = performance.now();
  const controller = new AsDaemonApplies(createController(task.controller), s);
  const steps: PriorStep[] = [];
  const start: { obs: Observation | null } = { obs: null };
  const ep = await runEpisode(
    cell,
    controller,
    {
      seed: task.resetSeed,
      scenario: task.scenario,
      controlSeed: task.controlSeed,
      episodeLength: s.episodeLength,
      maxStep: s.maxStep,
      privileged: needsPrivileged(task.controller),
    },
    (step, obs, action, _next) => {
      if (step === 0) start.obs = obs;
      // `action` is what the cell executed (AsDaemonApplies applied it as the daemon would).
      const last = controller.last!;
      steps.push({ obs, actionP: last.p, actionResidual: last.residual, actionExecuted: [action[0], action[1], action[2]], stepLimited: last.clamped, nextSuccess: cell.groundTruth().success });
    },
  );
  const gt = cell.groundTruth();
  const first: Observation = start.obs ?? ep.obs;
  // The start is above the socket; computed rather than assumed, in case a configuration starts seated.
  const startGt = gtOfStart(first, gt.socketPos, cell);
  const key = settingsKey(s, task.controller);
  return {
    task,
    settingsKey: key,
    startState: {
      eePos: [...first.eePos],
      goal: [...first.goal],
      socketPos: [...gt.socketPos],
      seed: task.resetSeed,
      controlSeed: task.controlSeed,
      scenario: task.scenario,
      episode: task.episode,
      controller: task.controller,
      settingsKey: key,
      collectFormat: COLLECT_FORMAT,
      gtSuccess: startGt,
      wrenchBias: null,
    },
    steps,
    final: ep.obs,
    success: gt.success,
    depth: gt.depth,
    lateralError: gt.lateralError,
    elapsedMs: performance.now() - t0,
  };
}

/**
 * Applies a scripted controller's action the way the daemon applies u_H + residual (control/action.ts composeAction):
 * its residual u - u_H, bounded per axis when settings.residualBound is set, then the step limit. What it returns is
 * exactly what the cell executes.
 */
class AsDaemonApplies implements Controller {
  readonly name: string;
  /** The last step's residual as commanded (before the step limit) and whether the step limit scaled the move. */
  last: { residual: Vec3; p: Vec3; clamped: boolean } | null = null;

  constructor(
    private readonly inner: Controller,
    private readonly s: PriorSettings,
  ) {
    this.name = inner.name;
  }

  reset(ctx: ControlContext): void {
    this.last = null;
    this.inner.reset(ctx);
  }

  async act(obs: Observation, ctx: ControlContext): Promise<Vec3> {
    const u = clipAction(await this.inner.act(obs, ctx), this.s.maxStep);
    const p = pControl(obs.eePos, obs.goal, this.s.kp);
    let r: Vec3 = [u[0] - p[0], u[1] - p[1], u[2] - p[2]];
    if (this.s.residualBound !== null) {
      // Where the controller's move equals u_H's after the same per-axis clip, it agrees with u_H: no residual on
      // that axis (the step limit then bounds u_H, as in the daemon). Else a saturated u_H would read as a correction,
      // and the P-controller itself would log non-zero residuals.
      const pc = clipAction(p, this.s.maxStep);
      r = [u[0] === pc[0] ? 0 : r[0], u[1] === pc[1] ? 0 : r[1], u[2] === pc[2] ? 0 : r[2]];
    }
    const a = composeAction(p, r, { residualBoundM: this.s.residualBound, maxStepM: this.s.maxStep });
    this.last = { residual: a.actionResidual, p, clamped: a.stepLimited };
    return a.executed;
  }
}

/** Ground truth of the start observation from its tip position (the cell's groundTruth() is of the current state). */
function gtOfStart(o: Observation, socketPos: Vec3, cell: SimCell): boolean {
  const c = cell.config.connector;
  const depth = cell.layout.socketTop - o.eePos[2];
  const lateral = Math.hypot(o.eePos[0] - socketPos[0], o.eePos[1] - socketPos[1]);
  return depth >= c.depth - SEATED_TOLERANCE && lateral < c.clearance + 0.001; // as SimCell.groundTruth()
}

/**
 * Keeps one SimCell for the connector being worked on (tasks come grouped by connector), so a worker builds each
 * connector's model once per run of its tasks.
 */
export class CellCache {
  private defs: ConnectorDef[] | null = null;
  private current: { name: string; cell: SimCell } | null = null;

  constructor(
    private readonly settings: PriorSettings,
    private readonly connectorDir: string | null,
  ) {}

  async get(name: string): Promise<SimCell> {
    if (this.current?.name === name) return this.current.cell;
    this.current?.cell.dispose();
    this.current = null;
    this.defs ??= this.connectorDir === null ? loadConnectors() : loadConnectors(this.connectorDir);
    const s = this.settings;
    const cell = await SimCell.create({
      connector: findConnector(this.defs, name),
      imageSize: s.imageSize,
      camera: s.camera,
      goalNoise: s.goalNoise,
      goalBias: s.goalBias,
      startHeight: s.startHeight,
      nuisance: s.nuisance,
      maxStep: s.maxStep,
      shadows: s.shadows,
      depth: s.depth,
    });
    this.current = { name, cell };
    return cell;
  }

  dispose(): void {
    this.current?.cell.dispose();
    this.current = null;
  }
}
