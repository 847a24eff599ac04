/**
 * Scripted baselines of the research (thesis T:5350-5420, tables 5 and 6):
 *   - straight down:  descend along the current (x, y), pressing;
 *   - random search:  descend until contact, then visit 5 random positions around the contact point while pressing;
 *   - spiral search:  descend until contact, then follow an Archimedean spiral around the contact point while pressing;
 *   - localize:       move to an estimate of the socket position until within 1 mm of it, then down.
 * In scenario II the research runs localization first and then the strategy ("localize first" variants,
 * `LocalizeFirst` below: loc-straight, loc-random, loc-spiral).
 *
 * The research's localization is a regression model on images. Here the estimate is the TRUE socket position
 * plus a configurable error (a fixed bias and a per-episode Gaussian), a stand-in with a known, tunable
 * accuracy; it is the only baseline that reads `ctx.privileged`, and only to build that estimate.
 *
 * Contact is judged from what a real cell measures: the vertical force |Fz| and stalled descent (the tip moved
 * less than a fraction of the commanded descent). "Found the hole" is the tip dropping below the contact height.
 */
import type { Observation, Vec3 } from '../core/types.ts';
import { checkNumber, clipAction, lateralDistance, limitXY, type ControlContext, type Controller } from './controller.ts';

// ---------------------------------------------------------------------------------------------------------------
// Shared descend / contact / press logic

export interface PressConfig {
  /** Descent aims this far (m) below the goal height x*_z, and pressing aims this far below the contact height. */
  pressDepth: number;
  /** |Fz| (N, bias-corrected) above which the tip is in contact. */
  contactForce: number;
  /** Descent counts as blocked when the tip moved down less than this fraction of the commanded descent. */
  stallFraction: number;
  /** The hole is found when the tip is this far (m) below the height where contact was first made. */
  dropThreshold: number;
  /** Contact within this height (m) above x*_z means the plug went straight in: press, do not search. */
  seatedMargin: number;
}

export const DEFAULT_PRESS_CONFIG: PressConfig = {
  pressDepth: 0.002,
  contactForce: 5,
  stallFraction: 0.3,
  dropThreshold: 0.0015,
  seatedMargin: 0.002,
};

function checkPress(where: string, c: PressConfig): void {
  checkNumber(where, 'pressDepth', c.pressDepth, 0, 0.05);
  checkNumber(where, 'contactForce', c.contactForce, 0, 1000);
  checkNumber(where, 'stallFraction', c.stallFraction, 0, 1);
  checkNumber(where, 'dropThreshold', c.dropThreshold, 0, 0.05);
  checkNumber(where, 'seatedMargin', c.seatedMargin, 0, 0.05);
}

type Phase = 'descend' | 'search' | 'insert';

/**
 * Per-episode state machine shared by the search baselines: descend until contact, then `search` (delegated),
 * then, when the tip drops into the hole (or contact happened at seated height), press straight down.
 */
class PressTracker {
  phase: Phase = 'descend';
  /** Where contact was first made. */
  contact: Vec3 | null = null;
  /** Steps spent in the search phase so far. */
  searchStep = 0;
  private lastZ: number | null = null;
  private lastCmdZ = 0;

  constructor(private readonly cfg: PressConfig) {}

  /** Update the phase from the new observation (before choosing the action). */
  update(obs: Observation): void {
    const z = obs.eePos[2];
    const fz = Math.abs(obs.wrench[2]);
    if (this.phase === 'descend') {
      const descended = this.lastZ === null ? 0 : this.lastZ - z;
      const stalled = this.lastCmdZ < -1e-4 && descended < this.cfg.stallFraction * -this.lastCmdZ;
      if (fz > this.cfg.contactForce || stalled) {
        this.contact = [...obs.eePos];
        this.phase = z - obs.goal[2] < this.cfg.seatedMargin ? 'insert' : 'search';
      }
    } else if (this.phase === 'search' && this.contact && z < this.contact[2] - this.cfg.dropThreshold) {
      this.phase = 'insert';
    }
    this.lastZ = z;
  }

  /** Descend (or press) along the current (x, y): aim below the goal height. */
  downAction(obs: Observation, ctx: ControlContext, xy: [number, number] = [0, 0]): Vec3 {
    const dz = Math.min(0, obs.goal[2] - this.cfg.pressDepth - obs.eePos[2]);
    return this.record(clipAction([xy[0], xy[1], dz], ctx.maxStep));
  }

  /** Lateral move toward (tx, ty) while pressing to a fixed depth below the contact height. */
  pressToward(obs: Observation, ctx: ControlContext, tx: number, ty: number): Vec3 {
    const zc = this.contact ? this.contact[2] : obs.eePos[2];
    const dz = Math.min(0, zc - this.cfg.pressDepth - obs.eePos[2]);
    const [dx, dy] = limitXY(tx - obs.eePos[0], ty - obs.eePos[1], ctx.maxStep);
    return this.record(clipAction([dx, dy, dz], ctx.maxStep));
  }

  private record(u: Vec3): Vec3 {
    this.lastCmdZ = u[2];
    return u;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Straight down

export interface StraightDownConfig {
  /** Descent aims this far (m) below the goal height x*_z, so the plug is pressed home when it goes in. */
  pressDepth: number;
}

export const DEFAULT_STRAIGHT_DOWN_CONFIG: StraightDownConfig = { pressDepth: DEFAULT_PRESS_CONFIG.pressDepth };

/** Move straight down from wherever the episode starts; no lateral correction at all. */
export class StraightDown implements Controller {
  readonly name: string;
  readonly config: StraightDownConfig;

  constructor(config: Partial<StraightDownConfig> = {}, name = 'straight') {
    this.config = { ...DEFAULT_STRAIGHT_DOWN_CONFIG, ...config };
    checkNumber('StraightDown', 'pressDepth', this.config.pressDepth, 0, 0.05);
    this.name = name;
  }

  reset(_ctx: ControlContext): void {}

  act(obs: Observation, ctx: ControlContext): Vec3 {
    const dz = Math.min(0, obs.goal[2] - this.config.pressDepth - obs.eePos[2]);
    return clipAction([0, 0, dz], ctx.maxStep);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Random search

export interface RandomSearchConfig extends PressConfig {
  /** Number of random positions visited after contact. Research: 5. */
  positions: number;
  /** Positions are uniform in a disc of this radius (m) around the contact point. */
  radius: number;
  /** Control steps spent at (moving to, then pressing at) each position. */
  dwellSteps: number;
}

export const DEFAULT_RANDOM_SEARCH_CONFIG: RandomSearchConfig = {
  ...DEFAULT_PRESS_CONFIG,
  positions: 5,
  radius: 0.003,
  dwellSteps: 2,
};

export class RandomSearch implements Controller {
  readonly name: string;
  readonly config: RandomSearchConfig;
  private tracker: PressTracker;
  /** Offsets (dx, dy) from the contact point, drawn at reset so the stream does not depend on timing. */
  private targets: Array<[number, number]> = [];

  constructor(config: Partial<RandomSearchConfig> = {}, name = 'random') {
    this.config = { ...DEFAULT_RANDOM_SEARCH_CONFIG, ...config };
    const c = this.config;
    checkPress('RandomSearch', c);
    checkNumber('RandomSearch', 'positions', c.positions, 1, 1000);
    checkNumber('RandomSearch', 'radius', c.radius, 0, 0.1);
    checkNumber('RandomSearch', 'dwellSteps', c.dwellSteps, 1, 1000);
    if (!Number.isInteger(c.positions) || !Number.isInteger(c.dwellSteps)) {
      throw new RangeError('RandomSearch: positions and dwellSteps must be integers');
    }
    this.name = name;
    this.tracker = new PressTracker(c);
  }

  /** The search offsets of the current episode (for tests and logs). */
  get searchOffsets(): ReadonlyArray<[number, number]> {
    return this.targets;
  }

  reset(ctx: ControlContext): void {
    this.tracker = new PressTracker(this.config);
    this.targets = [];
    for (let i = 0; i < this.config.positions; i++) {
      // Uniform over the disc area: radius ~ sqrt(U).
      const r = this.config.radius * Math.sqrt(ctx.rng.next());
      const a = 2 * Math.PI * ctx.rng.next();
      this.targets.push([r * Math.cos(a), r * Math.sin(a)]);
    }
  }

  act(obs: Observation, ctx: ControlContext): Vec3 {
    const t = this.tracker;
    t.update(obs);
    if (t.phase === 'search' && t.contact) {
      const k = Math.floor(t.searchStep / this.config.dwellSteps);
      t.searchStep++;
      const off = this.targets[Math.min(k, this.targets.length - 1)] ?? [0, 0];
      return t.pressToward(obs, ctx, t.contact[0] + off[0], t.contact[1] + off[1]);
    }
    return t.downAction(obs, ctx);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Spiral search

export interface SpiralSearchConfig extends PressConfig {
  /** Radial distance (m) between successive turns of the Archimedean spiral r = pitch * theta / (2 pi). */
  pitch: number;
  /** Arc length (m) travelled along the spiral per control step. */
  arcStep: number;
  /** The spiral restarts from the contact point once its radius exceeds this (m). */
  maxRadius: number;
}

export const DEFAULT_SPIRAL_SEARCH_CONFIG: SpiralSearchConfig = {
  ...DEFAULT_PRESS_CONFIG,
  pitch: 0.001,
  arcStep: 0.0015,
  maxRadius: 0.006,
};

/** Offset (dx, dy) of the Archimedean spiral after travelling arc length s (m); exact for s >> pitch. */
export function spiralOffset(s: number, pitch: number): [number, number] {
  const b = pitch / (2 * Math.PI);
  // Arc length of r = b*theta is ~ b*theta^2/2 once theta >> 1; invert it.
  const theta = Math.sqrt((2 * s) / b);
  const r = b * theta;
  return [r * Math.cos(theta), r * Math.sin(theta)];
}

export class SpiralSearch implements Controller {
  readonly name: string;
  readonly config: SpiralSearchConfig;
  private tracker: PressTracker;
  /** Random start angle per episode so that the spiral has no preferred direction. */
  private phase0 = 0;

  constructor(config: Partial<SpiralSearchConfig> = {}, name = 'spiral') {
    this.config = { ...DEFAULT_SPIRAL_SEARCH_CONFIG, ...config };
    const c = this.config;
    checkPress('SpiralSearch', c);
    checkNumber('SpiralSearch', 'pitch', c.pitch, 1e-5, 0.05);
    checkNumber('SpiralSearch', 'arcStep', c.arcStep, 1e-5, 0.05);
    checkNumber('SpiralSearch', 'maxRadius', c.maxRadius, 1e-4, 0.1);
    this.name = name;
    this.tracker = new PressTracker(c);
  }

  reset(ctx: ControlContext): void {
    this.tracker = new PressTracker(this.config);
    this.phase0 = 2 * Math.PI * ctx.rng.next();
  }

  /** The spiral point (offset from the contact point) visited at search step k. */
  searchOffset(k: number): [number, number] {
    const { pitch, arcStep, maxRadius } = this.config;
    // Steps per full spiral out to maxRadius; then start again from the centre.
    const sMax = (Math.PI * maxRadius * maxRadius) / pitch;
    const s = ((k + 1) * arcStep) % sMax;
    const [x, y] = spiralOffset(s, pitch);
    const c = Math.cos(this.phase0);
    const si = Math.sin(this.phase0);
    return [c * x - si * y, si * x + c * y];
  }

  act(obs: Observation, ctx: ControlContext): Vec3 {
    const t = this.tracker;
    t.update(obs);
    if (t.phase === 'search' && t.contact) {
      const [dx, dy] = this.searchOffset(t.searchStep++);
      return t.pressToward(obs, ctx, t.contact[0] + dx, t.contact[1] + dy);
    }
    return t.downAction(obs, ctx);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Localize

export interface LocalizeConfig {
  /** Fixed error (m) of the socket estimate in (x, y, z): the localizer's bias. */
  errorBias: Vec3;
  /** Per-episode Gaussian error (m, standard deviation per horizontal axis) of the socket estimate. */
  errorStd: number;
  /** Move laterally until within this distance (m) of the estimate, then go down. Research: 1 mm. */
  alignTolerance: number;
  /**
   * ...and until the tip has settled: it moved less than this (m, horizontally) during the last step.
   * A real (and the simulated) arm lags its commands; descending while it still swings lands off target.
   */
  settleTolerance: number;
  /** Descent aims this far (m) below the estimated seated height. */
  pressDepth: number;
}

export const DEFAULT_LOCALIZE_CONFIG: LocalizeConfig = {
  errorBias: [0, 0, 0],
  errorStd: 0.001,
  alignTolerance: 0.001,
  settleTolerance: 0.0003,
  pressDepth: DEFAULT_PRESS_CONFIG.pressDepth,
};

function checkLocalize(where: string, c: LocalizeConfig): void {
  if (!Array.isArray(c.errorBias) || c.errorBias.length !== 3) throw new RangeError(`${where}: errorBias must be [x, y, z]`);
  c.errorBias.forEach((v, i) => checkNumber(where, `errorBias[${i}]`, v, -0.1, 0.1));
  checkNumber(where, 'errorStd', c.errorStd, 0, 0.1);
  checkNumber(where, 'alignTolerance', c.alignTolerance, 0, 0.1);
  checkNumber(where, 'settleTolerance', c.settleTolerance, 0, 0.1);
  checkNumber(where, 'pressDepth', c.pressDepth, 0, 0.05);
}

/**
 * The socket estimate for one episode: true socket + bias + N(0, errorStd^2) in x and y.
 * Stand-in for the research's image regression model (which we do not train); draws two normals from ctx.rng.
 */
export function estimateSocket(ctx: ControlContext, cfg: LocalizeConfig, where: string): Vec3 {
  const s = ctx.privileged?.socketPos;
  if (!s) throw new Error(`${where}: the localize stand-in needs ctx.privileged.socketPos to build its estimate`);
  return [s[0] + cfg.errorBias[0] + ctx.rng.normal(0, cfg.errorStd), s[1] + cfg.errorBias[1] + ctx.rng.normal(0, cfg.errorStd), s[2] + cfg.errorBias[2]];
}

/** Tracks whether the tip has reached the estimate and stopped there (latches once true). */
class AlignGate {
  private last: Vec3 | null = null;
  aligned = false;
  constructor(private readonly cfg: LocalizeConfig) {}
  update(x: Vec3, e: Vec3): boolean {
    const moved = this.last ? lateralDistance(x, this.last) : Infinity;
    this.last = [...x];
    if (!this.aligned && lateralDistance(x, e) <= this.cfg.alignTolerance && moved <= this.cfg.settleTolerance) this.aligned = true;
    return this.aligned;
  }
}

export class Localize implements Controller {
  readonly name: string;
  readonly config: LocalizeConfig;
  private estimate: Vec3 | null = null;
  private gate: AlignGate;

  constructor(config: Partial<LocalizeConfig> = {}, name = 'localize') {
    this.config = { ...DEFAULT_LOCALIZE_CONFIG, ...config };
    checkLocalize('Localize', this.config);
    this.name = name;
    this.gate = new AlignGate(this.config);
  }

  /** This episode's socket estimate (for tests and logs). */
  get socketEstimate(): Vec3 | null {
    return this.estimate;
  }

  reset(ctx: ControlContext): void {
    this.estimate = estimateSocket(ctx, this.config, 'Localize');
    this.gate = new AlignGate(this.config);
  }

  act(obs: Observation, ctx: ControlContext): Vec3 {
    const e = this.estimate;
    if (!e) throw new Error('Localize: act() before reset()');
    const x = obs.eePos;
    const aligned = this.gate.update(x, e);
    const [dx, dy] = limitXY(e[0] - x[0], e[1] - x[1], ctx.maxStep);
    if (!aligned) return clipAction([dx, dy, 0], ctx.maxStep);
    // Down, keeping (x, y) servoed on the estimate.
    const dz = Math.min(0, e[2] - this.config.pressDepth - x[2]);
    return clipAction([dx, dy, dz], ctx.maxStep);
  }
}

/**
 * Localize first, then hand over to another strategy (the research's scenario II baselines): move laterally to
 * the socket estimate at the current height until within `alignTolerance` and settled, then let `inner` act.
 */
export class LocalizeFirst implements Controller {
  readonly name: string;
  readonly config: LocalizeConfig;
  private estimate: Vec3 | null = null;
  private gate: AlignGate;

  constructor(
    readonly inner: Controller,
    config: Partial<LocalizeConfig> = {},
    name = `loc-${inner.name}`,
  ) {
    this.config = { ...DEFAULT_LOCALIZE_CONFIG, ...config };
    checkLocalize('LocalizeFirst', this.config);
    this.name = name;
    this.gate = new AlignGate(this.config);
  }

  get socketEstimate(): Vec3 | null {
    return this.estimate;
  }

  reset(ctx: ControlContext): void {
    // Fork so that the inner controller sees the same random stream whether or not it is wrapped.
    this.estimate = estimateSocket({ ...ctx, rng: ctx.rng.fork('localize') }, this.config, 'LocalizeFirst');
    this.gate = new AlignGate(this.config);
    this.inner.reset(ctx);
  }

  act(obs: Observation, ctx: ControlContext): Vec3 | Promise<Vec3> {
    const e = this.estimate;
    if (!e) throw new Error('LocalizeFirst: act() before reset()');
    if (this.gate.update(obs.eePos, e)) return this.inner.act(obs, ctx);
    const [dx, dy] = limitXY(e[0] - obs.eePos[0], e[1] - obs.eePos[1], ctx.maxStep);
    return clipAction([dx, dy, 0], ctx.maxStep);
  }
}
