/**
 * Evaluation: run controllers x connectors in one scenario, N trials per (connector, controller) cell, and
 * count ground-truth successes, like the research's tables 5 and 6 (20 trials per cell, 20-step episodes).
 *
 * Comparability: trial i of a connector starts from the same reset seed for every controller (common random
 * numbers), and each controller's own randomness comes from a per-trial seeded stream, so a run is reproducible
 * from (seed, connectors, controllers, scenario, cell settings) alone, in any order and in any process.
 *
 * The cell is injected (`createCell`), so the loop runs against the MuJoCo cell, and later against anything
 * else that can reset, step and report ground truth.
 */
import { limitStep } from '../control/action.ts';
import type { Controller, ControlContext } from '../control/controller.ts';
import { DEFAULT_EPISODE_LENGTH, DEFAULT_MAX_STEP } from '../control/controller.ts';
import type { Observation, Vec3 } from '../core/types.ts';
import { Rng, deriveSeed } from '../util/rng.ts';

import type { Scenario } from '../core/types.ts';

/** What the evaluation needs from a simulated cell (SimCell satisfies it). */
export interface EvalCell {
  reset(o: { seed: number; scenario: Scenario }): Observation;
  step(action: Vec3): Observation;
  groundTruth(): { success: boolean; depth: number; socketPos: Vec3; lateralError: number };
  /** Re-zero the wrist F/T bias (the research does it before every rollout). Optional. */
  zeroWrench?(): void;
  /** The current observation without stepping (used after zeroing the wrench). Optional. */
  observe?(): Observation;
  dispose(): void;
}

export interface ControllerSpec {
  /** Column label. */
  name: string;
  /** A fresh controller (called once per connector; `reset` is called before every episode). */
  make: () => Controller;
  /** Give the controller ctx.privileged (true socket pose). Only the noisy expert and the localize stand-in. */
  privileged?: boolean;
}

export interface EvalProgress {
  done: number;
  total: number;
  connector: string;
  controller: string;
  trial: number;
  success: boolean;
}

export interface EvalOptions {
  controllers: ControllerSpec[];
  /** Connector names, in table row order. */
  connectors: string[];
  scenario: Scenario;
  /** Builds (once per connector) the cell the episodes run in. */
  createCell: (connector: string) => Promise<EvalCell>;
  /** Trials per (connector, controller). Research: 20. */
  trials?: number;
  /** Steps per episode. Research: 20. */
  episodeLength?: number;
  /** Per-axis action bound (m) the controllers are told; the cell enforces its own too. */
  maxStep?: number;
  /** Base seed of the run. */
  seed?: number;
  /** Called after every episode. */
  onProgress?: (p: EvalProgress) => void;
  /**
   * Start every episode centred over the goal x* instead of at the scenario's offset: after the reset the tip is
   * servoed (unrecorded) over x* at the start height until it settles. With an exact goal this is the research's
   * "centred start"; with a calibration error it is where a real cell would start (over the wrong x*).
   */
  centredStart?: boolean;
  /** Free-form settings recorded in the result (cell config, goal error...). */
  settings?: Record<string, unknown>;
}

export interface TrialRecord {
  connector: string;
  controller: string;
  trial: number;
  /** Seed passed to the cell's reset (identical across controllers for the same connector and trial). */
  resetSeed: number;
  success: boolean;
  /** Insertion depth reached at the end (m), from the physics. */
  depth: number;
  /** Horizontal distance of the plug from the socket axis at the end (m). */
  lateralError: number;
  /** Largest |Fz| seen by the wrist sensor during the episode (N). */
  maxAbsFz: number;
  /** Connector tip position at the start and the end of the episode (m). */
  startPos: Vec3;
  finalPos: Vec3;
  /** Goal x* of the episode (includes calibration error) and the true seated tip position. */
  goal: Vec3;
  socketPos: Vec3;
}

export interface CellResult {
  connector: string;
  controller: string;
  successes: number;
  trials: number;
}

export interface EvalResult {
  scenario: Scenario;
  /** Episodes started centred over x* (see EvalOptions.centredStart). */
  centredStart: boolean;
  seed: number;
  trials: number;
  episodeLength: number;
  controllers: string[];
  connectors: string[];
  /** One per (connector, controller), connectors outer, controllers inner. */
  cells: CellResult[];
  records: TrialRecord[];
  settings: Record<string, unknown>;
  /** Wall-clock time of the run (s). */
  elapsedS: number;
}

/** Seed of the cell reset for a trial: independent of the controller, so every column sees the same starts. */
export function resetSeed(seed: number, connector: string, scenario: Scenario, trial: number): number {
  return deriveSeed(seed, 'reset', connector, scenario, trial);
}

/** Seed of the controller's random stream for a trial (the same for every controller: common random numbers). */
export function controlSeed(seed: number, connector: string, scenario: Scenario, trial: number): number {
  return deriveSeed(seed, 'control', connector, scenario, trial);
}

function checkPositiveInt(field: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) throw new RangeError(`evaluate: ${field} must be a positive integer, got ${String(v)}`);
}

/** Settling criteria of the centred start: within this of x* (horizontally, m) and moving less than this per step. */
const CENTRE_TOLERANCE = 0.0002;
const CENTRE_MAX_STEPS = 40;

/**
 * Servo the tip over the goal's (x, y) at constant height until it is within CENTRE_TOLERANCE and still.
 * A gain below 1 because the arm lags its commands (a unit gain on a lagging plant overshoots).
 */
function centreOverGoal(cell: EvalCell, obs: Observation, maxStep: number): Observation {
  let last = obs.eePos;
  for (let k = 0; k < CENTRE_MAX_STEPS; k++) {
    const ex = obs.goal[0] - obs.eePos[0];
    const ey = obs.goal[1] - obs.eePos[1];
    const moved = Math.hypot(obs.eePos[0] - last[0], obs.eePos[1] - last[1]);
    if (k > 0 && Math.hypot(ex, ey) < CENTRE_TOLERANCE && moved < CENTRE_TOLERANCE) return obs;
    last = obs.eePos;
    const c = (v: number): number => Math.max(-maxStep, Math.min(maxStep, v));
    obs = cell.step([c(0.6 * ex), c(0.6 * ey), 0]);
  }
  throw new Error(`centred start: the tip did not settle over x* within ${CENTRE_MAX_STEPS} steps`);
}

/** Run one episode; exported for prior-data collection and tests. */
export async function runEpisode(
  cell: EvalCell,
  controller: Controller,
  o: {
    seed: number;
    scenario: Scenario;
    controlSeed: number;
    episodeLength: number;
    maxStep: number;
    privileged: boolean;
    centredStart?: boolean;
  },
  onStep?: (step: number, obs: Observation, action: Vec3, next: Observation) => void,
): Promise<{ obs: Observation; maxAbsFz: number; startPos: Vec3 }> {
  let obs = cell.reset({ seed: o.seed, scenario: o.scenario });
  if (o.centredStart) obs = centreOverGoal(cell, obs, o.maxStep);
  if (cell.zeroWrench) {
    cell.zeroWrench();
    if (cell.observe) obs = cell.observe();
  }
  const ctx: ControlContext = { step: 0, episodeLength: o.episodeLength, maxStep: o.maxStep, rng: new Rng(o.controlSeed) };
  if (o.privileged) ctx.privileged = { socketPos: [...cell.groundTruth().socketPos] };
  controller.reset(ctx);
  const startPos: Vec3 = [...obs.eePos];
  let maxAbsFz = Math.abs(obs.wrench[2]);
  for (let k = 0; k < o.episodeLength; k++) {
    ctx.step = k;
    // The daemon's step limit applies to every controller, scripted or learned (control/action.ts).
    const proposed = limitStep(await controller.act(obs, ctx), o.maxStep).v;
    const action: Vec3 = proposed.every(Number.isFinite) ? proposed : [0, 0, 0];
    const next = cell.step(action);
    onStep?.(k, obs, action, next);
    obs = next;
    maxAbsFz = Math.max(maxAbsFz, Math.abs(obs.wrench[2]));
  }
  return { obs, maxAbsFz, startPos };
}

export async function evaluate(opts: EvalOptions): Promise<EvalResult> {
  const trials = opts.trials ?? 20;
  const episodeLength = opts.episodeLength ?? DEFAULT_EPISODE_LENGTH;
  const maxStep = opts.maxStep ?? DEFAULT_MAX_STEP;
  const seed = opts.seed ?? 0;
  checkPositiveInt('trials', trials);
  checkPositiveInt('episodeLength', episodeLength);
  if (!Number.isInteger(seed)) throw new RangeError(`evaluate: seed must be an integer, got ${String(seed)}`);
  if (!(maxStep > 0 && Number.isFinite(maxStep))) throw new RangeError(`evaluate: maxStep must be > 0, got ${String(maxStep)}`);
  if (opts.scenario !== 'I' && opts.scenario !== 'II') throw new RangeError(`evaluate: scenario must be I or II, got ${String(opts.scenario)}`);
  if (opts.controllers.length === 0) throw new RangeError('evaluate: no controllers');
  if (opts.connectors.length === 0) throw new RangeError('evaluate: no connectors');
  const dupe = (xs: string[]): string | undefined => xs.find((x, i) => xs.indexOf(x) !== i);
  const ctrlNames = opts.controllers.map((c) => c.name);
  const d1 = dupe(ctrlNames);
  if (d1 !== undefined) throw new RangeError(`evaluate: controller "${d1}" listed twice`);
  const d2 = dupe(opts.connectors);
  if (d2 !== undefined) throw new RangeError(`evaluate: connector "${d2}" listed twice`);

  const t0 = performance.now();
  const total = opts.connectors.length * opts.controllers.length * trials;
  let done = 0;
  const cells: CellResult[] = [];
  const records: TrialRecord[] = [];
  for (const connector of opts.connectors) {
    const cell = await opts.createCell(connector);
    try {
      const ctrls = opts.controllers.map((spec) => ({ spec, ctrl: spec.make() }));
      const counts = new Map<string, number>(ctrlNames.map((n) => [n, 0]));
      for (let trial = 0; trial < trials; trial++) {
        const rs = resetSeed(seed, connector, opts.scenario, trial);
        const cs = controlSeed(seed, connector, opts.scenario, trial);
        for (const { spec, ctrl } of ctrls) {
          const ep = await runEpisode(cell, ctrl, {
            seed: rs,
            scenario: opts.scenario,
            controlSeed: cs,
            episodeLength,
            maxStep,
            privileged: spec.privileged ?? false,
            centredStart: opts.centredStart ?? false,
          });
          const gt = cell.groundTruth();
          records.push({
            connector,
            controller: spec.name,
            trial,
            resetSeed: rs,
            success: gt.success,
            depth: gt.depth,
            lateralError: gt.lateralError,
            maxAbsFz: ep.maxAbsFz,
            startPos: ep.startPos,
            finalPos: [...ep.obs.eePos],
            goal: [...ep.obs.goal],
            socketPos: [...gt.socketPos],
          });
          if (gt.success) counts.set(spec.name, (counts.get(spec.name) ?? 0) + 1);
          done++;
          opts.onProgress?.({ done, total, connector, controller: spec.name, trial, success: gt.success });
        }
      }
      for (const name of ctrlNames) cells.push({ connector, controller: name, successes: counts.get(name) ?? 0, trials });
    } finally {
      cell.dispose();
    }
  }
  return {
    scenario: opts.scenario,
    centredStart: opts.centredStart ?? false,
    seed,
    trials,
    episodeLength,
    controllers: ctrlNames,
    connectors: [...opts.connectors],
    cells,
    records,
    settings: opts.settings ?? {},
    elapsedS: (performance.now() - t0) / 1000,
  };
}

/** Successes of one cell, or undefined when the pair was not evaluated. */
export function cellOf(r: EvalResult, connector: string, controller: string): CellResult | undefined {
  return r.cells.find((c) => c.connector === connector && c.controller === controller);
}

const SCENARIO_TEXT: Record<Scenario, string> = {
  I: 'scenario I: start within +-10 mm of the socket',
  II: 'scenario II: start 10-20 mm from the socket',
};

/**
 * A text table like the research's tables 5 and 6: rows connectors, columns controllers, cells "k/N",
 * plus a total row (successes over all connectors).
 */
/** Wilson score interval (95 %) of a success rate k/n: honest at the small n and the 0/n or n/n ends tables have. */
export function wilsonInterval(k: number, n: number, z = 1.96): [number, number] {
  if (n <= 0) return [0, 1];
  const p = k / n;
  const d = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / d;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** `k/n [lo-hi]`: the count with its 95 % interval in percent. */
export function formatRate(k: number, n: number): string {
  const [lo, hi] = wilsonInterval(k, n);
  return `${k}/${n} [${Math.round(100 * lo)}-${Math.round(100 * hi)}]`;
}

export function formatTable(r: EvalResult, title?: string): string {
  const head = ['connector', ...r.controllers];
  const rows: string[][] = r.connectors.map((conn) => [
    conn,
    ...r.controllers.map((ctrl) => {
      const c = cellOf(r, conn, ctrl);
      return c ? formatRate(c.successes, c.trials) : '-';
    }),
  ]);
  if (r.connectors.length > 1) {
    rows.push([
      'total',
      ...r.controllers.map((ctrl) => {
        const cs = r.cells.filter((c) => c.controller === ctrl);
        const k = cs.reduce((a, c) => a + c.successes, 0);
        const n = cs.reduce((a, c) => a + c.trials, 0);
        return `${formatRate(k, n)} (${n ? Math.round((100 * k) / n) : 0}%)`;
      }),
    ]);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  const start = r.centredStart ? 'start centred over the goal x*' : SCENARIO_TEXT[r.scenario];
  const caption =
    title ??
    `${start}; ${r.trials} trials per cell, ${r.episodeLength}-step episodes; start poses from seed ${r.seed} (the same for every controller); k/n [95 % interval, %]`;
  return [caption, line(head), sep, ...rows.map(line)].join('\n');
}
