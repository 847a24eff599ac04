/**
 * Practice's exploration noise, added to the policy's residual before the action rule bounds it (control/action.ts).
 *
 * Gaussian per axis with std dev `sigma`, correlated across one episode's steps as an AR(1) process:
 *   eps_0 = w_0,   eps_t = c * eps_{t-1} + sqrt(1 - c^2) * w_t,   w_t ~ N(0, sigma^2) per axis
 * so every step's noise has the same std dev whatever the correlation c. c = 0 is white noise (a fresh draw per step);
 * c = 1 holds one offset for the whole episode. Why correlate: with the lateral gain of 1 the P-controller undoes a
 * step's offset at the next step, so white noise jiggles the tip around one aim while it descends, and an episode
 * tells little about which aim inserts. An offset held through the descent tries one aim per episode, as a
 * calibration error would be.
 *
 * The noise can also fade as the tip nears x* (the seated tip position): scaled by clamp(h / taperM, 0, 1), h the tip's
 * height above x*. Inside a socket its walls decide where the tip goes laterally, and noise there can only jam it; a
 * taper at least as long as the socket is deep keeps the full noise at the socket's mouth, where the aim is decided.
 */
import type { Vec3 } from '../core/types.ts';
import type { Rng } from '../util/rng.ts';

/**
 * A practice episode's noise std dev (m): `noiseFromClearance` times the connector's clearance when that is on and the
 * connector has a definition, else `explorationNoise`. The fit's play sets the scale of the misalignment practice must
 * try, the idea measured in results/online-s24/ (off by default: it slowed learning where the fit is looser).
 */
export function practiceNoise(practice: { explorationNoise: number; noiseFromClearance: number }, clearanceM: number | undefined): number {
  return practice.noiseFromClearance > 0 && clearanceM !== undefined ? practice.noiseFromClearance * clearanceM : practice.explorationNoise;
}

export class ExplorationNoise {
  private prev: Vec3 | null = null;

  /** `rng` is the episode's own: a run's noise repeats from its seed. */
  constructor(
    readonly sigma: number,
    readonly correlation: number,
    private readonly rng: Rng,
    /** Height above x* (m) below which the noise fades linearly to zero at x*; 0: no taper. */
    readonly taperM = 0,
  ) {
    if (!(sigma >= 0 && Number.isFinite(sigma))) throw new RangeError(`exploration noise must be a finite number >= 0, got ${sigma}`);
    if (!(correlation >= 0 && correlation <= 1)) throw new RangeError(`noise correlation must be in [0, 1], got ${correlation}`);
    if (!(taperM >= 0 && Number.isFinite(taperM))) throw new RangeError(`noise taper must be a finite number >= 0 (m), got ${taperM}`);
  }

  /** The next step's noise (three draws per step whatever the correlation, so the stream stays aligned). */
  next(): Vec3 {
    const s = this.sigma;
    const w: Vec3 = [this.rng.normal(0, s), this.rng.normal(0, s), this.rng.normal(0, s)];
    const p = this.prev;
    const c = this.correlation;
    if (p === null || c === 0) this.prev = w;
    else {
      const k = Math.sqrt(1 - c * c);
      this.prev = [c * p[0] + k * w[0], c * p[1] + k * w[1], c * p[2] + k * w[2]];
    }
    return this.prev;
  }

  /** Adds the next step's noise to `residual` (nothing, and no draw, when sigma is 0), tapered by the tip's height
   *  above x* (m; a non-finite height gets no noise). */
  apply(residual: Vec3, heightAboveGoalM: number): Vec3 {
    if (this.sigma === 0) return residual;
    const n = this.next();
    const k = this.taperM > 0 ? Math.min(1, Math.max(0, heightAboveGoalM / this.taperM)) : 1;
    const s = Number.isFinite(k) ? k : 0;
    return [residual[0] + s * n[0], residual[1] + s * n[1], residual[2] + s * n[2]];
  }
}

/**
 * Practice noise that shrinks as practice succeeds. Each practice episode's std dev is the configured one times
 *   clamp(2 (1 - s), floor, 1),   s = learned successes among the connector's last `window` practice episodes / window
 * (episodes not yet practised count as failures, so a new connector starts at full noise and the noise stays full
 * until half the window has succeeded). The idea: the noise dithers a plug past small misalignments, so a policy whose
 * practice nearly always seats can still jam without it, and its practice outcomes no longer tell the learner what
 * its own, noise-free action does; less noise once practice succeeds keeps practice close to that action. Measured,
 * the dither also helps some connectors learn, so it is off by default (results/online-s22/).
 */
export class NoiseAnneal {
  private readonly outcomes = new Map<string, boolean[]>();

  /** `window` 0: off (every scale is 1). */
  constructor(
    readonly window: number,
    readonly floor: number,
  ) {
    if (!(Number.isInteger(window) && window >= 0)) throw new RangeError(`noise annealing window must be an integer >= 0, got ${window}`);
    if (!(floor >= 0 && floor <= 1)) throw new RangeError(`noise annealing floor must be in [0, 1], got ${floor}`);
  }

  /** The share of the configured noise for the connector's next practice episode. */
  scale(domain: string): number {
    if (this.window === 0) return 1;
    const seen = this.outcomes.get(domain) ?? [];
    const s = seen.filter(Boolean).length / this.window;
    return Math.min(1, Math.max(this.floor, 2 * (1 - s)));
  }

  /** A judged practice episode's learned outcome. */
  add(domain: string, success: boolean): void {
    if (this.window === 0) return;
    const seen = this.outcomes.get(domain) ?? [];
    seen.push(success);
    if (seen.length > this.window) seen.shift();
    this.outcomes.set(domain, seen);
  }
}

/**
 * Exams: every Nth practice episode of a connector runs without exploration noise. Practice noise dithers a plug past
 * small misalignments, so practice can keep seating while the policy's own, noise-free action (what an evaluation and
 * the daemon's work run) has drifted; an exam's outcome is that action's, and its transitions show the learner what
 * that action does. Counted per connector over this daemon's life, so the schedule does not restart with each run.
 */
export class ExamSchedule {
  private readonly begun = new Map<string, number>();

  /** `every` 0: off (no exams). */
  constructor(readonly every: number) {
    if (!(Number.isInteger(every) && every >= 0)) throw new RangeError(`exam interval must be an integer >= 0, got ${every}`);
  }

  /** Whether the connector's next practice episode is an exam (the Nth, 2Nth, ...); counts it. */
  next(domain: string): boolean {
    const n = (this.begun.get(domain) ?? 0) + 1;
    this.begun.set(domain, n);
    return this.every > 0 && n % this.every === 0;
  }
}
