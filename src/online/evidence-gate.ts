/**
 * The evidence gate at the switch from offline to online (issue 13, "no unlearning at the switch"): the exported
 * policy stays the offline one until the practice episodes it drove show that the trainer's change points the right
 * way. The rule, read top to bottom:
 *
 *   1. While the gate is closed the daemon drives the offline policy pi0, so a practice action is a = pi0(s) + eps with
 *      eps the exploration noise, known exactly: eps = a - pi0(s).
 *   2. For each new practice episode, BEFORE the trainer learns from it (prequential: the candidate has not seen it),
 *      take the candidate's change delta(s) = pi_c(s) - pi0(s) (pi_c: what would be exported) and score the episode
 *          g = sum_t (r_t - r_{t-1}) * (delta_t . eps_t) / rms_t |delta_t|        (metres; r_{-1} = 0)
 *      r_t is the learning reward after step t. g > 0 when the noise that raised the reward went the candidate's way.
 *      Its mean is the finite-difference derivative of the reward along the candidate's direction (times the noise
 *      variance), so under "the change is no better than pi0" it is <= 0.
 *   3. Open when a one-sided t-test over the episodes' g rejects mean <= 0 at level `alpha`. Once open it stays
 *      open (later protection is the rollback's and the shadow gate's job); the exports then carry the Polyak average
 *      the trainer kept all along, so no learning is lost while the gate was closed.
 *
 * No connector constant: the noise is the daemon's own, the reward the learned one. Episodes with an operator takeover
 * are left out (their action is not pi0 + noise).
 */

export interface GateStatus {
  open: boolean;
  /** Episodes scored. */
  episodes: number;
  /** Mean g (m) and its t statistic; null before two episodes. */
  mean: number | null;
  t: number | null;
  /** The t the gate needs at this many episodes. */
  tNeeded: number | null;
  /** Episodes scored when it opened. */
  openedAt: number | null;
  /** The scored rows' noise (action - pi0(s)) per axis, mm: the rule assumes it is the daemon's zero-mean exploration
   *  noise, i.e. that the daemon drove pi0 (a mean far from 0 says it drove something else). */
  noiseMm: { mean: number[]; rms: number[]; rows: number } | null;
}

/** g of one episode (rows in step order): reward increments times the noise projected on the candidate's change. */
export function episodeEvidence(rows: ReadonlyArray<{ reward: number; delta: ArrayLike<number>; noise: ArrayLike<number> }>): number | null {
  let num = 0;
  let sq = 0;
  let prev = 0;
  for (const r of rows) {
    let dot = 0;
    for (let k = 0; k < r.delta.length; k++) {
      dot += (r.delta[k] as number) * (r.noise[k] as number);
      sq += (r.delta[k] as number) ** 2;
    }
    num += (r.reward - prev) * dot;
    prev = r.reward;
  }
  if (rows.length === 0 || !(sq > 0)) return null; // no change yet: nothing to score
  return num / Math.sqrt(sq / rows.length);
}

/** Collects the episodes' g and decides. */
export class EvidenceGate {
  private readonly g: number[] = [];
  private openedAt: number | null = null;
  private noise = { sum: [0, 0, 0], sq: [0, 0, 0], rows: 0 };

  constructor(
    readonly alpha: number,
    open = false,
  ) {
    if (!(alpha > 0 && alpha < 0.5)) throw new Error(`evidence gate: alpha must be in (0, 0.5), got ${alpha}`);
    if (open) this.openedAt = 0;
  }

  get open(): boolean {
    return this.openedAt !== null;
  }

  /** Notes one scored row's noise (diagnostic only). */
  noteNoise(eps: ArrayLike<number>): void {
    for (let k = 0; k < 3; k++) {
      this.noise.sum[k]! += eps[k] ?? 0;
      this.noise.sq[k]! += (eps[k] ?? 0) ** 2;
    }
    this.noise.rows++;
  }

  /** Adds one episode's g; returns whether the gate is open now. */
  add(g: number): boolean {
    if (this.open || !Number.isFinite(g)) return this.open;
    this.g.push(g);
    const s = this.status();
    if (s.t !== null && s.tNeeded !== null && s.t > s.tNeeded) this.openedAt = this.g.length;
    return this.open;
  }

  status(): GateStatus {
    const n = this.g.length;
    let mean: number | null = null;
    let t: number | null = null;
    if (n >= 2) {
      const m = this.g.reduce((a, x) => a + x, 0) / n;
      const v = this.g.reduce((a, x) => a + (x - m) ** 2, 0) / (n - 1);
      mean = m;
      t = v > 0 ? m / Math.sqrt(v / n) : m > 0 ? Infinity : 0;
    }
    const z = this.noise;
    const noiseMm = z.rows > 0 ? { mean: z.sum.map((x) => (1000 * x) / z.rows), rms: z.sq.map((x) => 1000 * Math.sqrt(x / z.rows)), rows: z.rows } : null;
    return { open: this.open, episodes: n, mean, t, tNeeded: n >= 2 ? studentTQuantile(1 - this.alpha, n - 1) : null, openedAt: this.openedAt, noiseMm };
  }
}

/** Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`normalQuantile: p must be in (0, 1), got ${p}`);
  const a = [-39.69683028665376, 220.9460984245205, -275.928510446969, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  const tail = (q: number): number =>
    (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  if (p < lo) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - lo) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

/** Student t quantile with nu degrees of freedom: exact for nu 1 and 2, else the Cornish-Fisher series (A&S 26.7.5). */
export function studentTQuantile(p: number, nu: number): number {
  if (!(nu >= 1)) throw new Error(`studentTQuantile: nu must be >= 1, got ${nu}`);
  if (nu === 1) return Math.tan(Math.PI * (p - 0.5));
  if (nu === 2) return (2 * p - 1) / Math.sqrt(2 * p * (1 - p));
  const z = normalQuantile(p);
  const z2 = z * z;
  const g1 = ((z2 + 1) * z) / 4;
  const g2 = (((5 * z2 + 16) * z2 + 3) * z) / 96;
  const g3 = ((((3 * z2 + 19) * z2 + 17) * z2 - 15) * z) / 384;
  const g4 = (((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z) / 92160;
  return z + g1 / nu + g2 / nu ** 2 + g3 / nu ** 3 + g4 / nu ** 4;
}
