/**
 * Episode scoring: how an episode's outcome is judged from the reward classifier (or, in simulation when asked or
 * when no classifier is loaded, from ground truth), the physical check every learned reward passes first, and the
 * recent-episodes window behind the operator's success rates.
 *
 * The lift check (issue 13): seated is as deep as a connector goes, so an observation whose tip is more than
 * `liftToleranceM` above the lowest the tip reached earlier in the episode cannot be seated, whatever the classifier
 * says (every learned reward called a plug that the episode's last action lifted 1-3 mm seated:
 * results/reward-lift-check/). Its reward is 0. The daemon applies `checkedReward` once per scored observation and
 * logs the result as the transition's rewardProb, so the episode's judgement, the label requests and learning
 * (data/labels.ts learningReward reads rewardProb) all see the same checked reward. It needs only the tip height along
 * the insertion axis (the cell's z), which every backend delivers: no connector constant, no calibration of x*.
 *
 * The height check, in the same rule: the calibrated x* is where the seated tip stands (the P-controller drives to
 * it), so an observation whose tip is more than `heightToleranceM` above x* cannot be seated either: a plug resting
 * on the socket face stands at least its insertion depth above it (4-24 mm here), and the learned rewards called such
 * plugs seated (results/reward-lift-check/). The tolerance must cover x*'s vertical calibration error plus the
 * seated tip's own slack (seated ends stand <= 1 mm above an exact x*), so the default is a few mm: it never refuses a
 * seated plug while the vertical x* error is below about 3 mm, and it misses a plug held up by less than the
 * tolerance (a connector inserting less deep than that, or a plug a few mm short of seated).
 */
import type { Vec3 } from '../core/types.ts';
import type { EpisodeOutcome } from '../store/types.ts';
import type { DaemonWarning, EpisodeSummary } from './types.ts';

export interface ScoringSettings {
  /** Reward probability at or above which the episode counts as a success. */
  successThreshold: number;
  /** Judge by the simulator's ground truth even when a reward classifier is loaded. */
  useGroundTruthReward: boolean;
  /** Lift check: a tip more than this (m) above the episode's lowest so far is not seated; null: off. */
  liftToleranceM: number | null;
  /** Height check: a tip more than this (m) above the calibrated x* is not seated; null: off. */
  heightToleranceM: number | null;
  /** Seated end: the episode ends after this many consecutive observations the checked reward calls seated; null: off. */
  endSeatedFrames: number | null;
}

/** The lowest tip height of one episode so far, and how far above it each new observation is. */
export class LowestTip {
  private z = Number.POSITIVE_INFINITY;

  /** Notes the observation's tip and returns its height above the lowest point of earlier observations (m, >= 0). */
  observe(eePos: Vec3): number {
    const z = eePos[2];
    if (!Number.isFinite(z)) return 0;
    const lift = Number.isFinite(this.z) ? Math.max(0, z - this.z) : 0;
    this.z = Math.min(this.z, z);
    return lift;
  }
}

/**
 * The tip's height above the calibrated x* along the insertion axis (the cell's z; m): what the height check refuses
 * on, the label requests' "physically down" and the reward tuner's seated frames read. One definition for all of them.
 */
export function heightAboveGoalM(eePos: Vec3, goal: Vec3): number {
  return eePos[2] - goal[2];
}

export interface CheckedReward {
  /** The reward: the classifier's probability, 0 when the lift check refuses it; null without a classifier. */
  prob: number | null;
  /** The classifier's own probability. */
  rawProb: number | null;
  /** Tip height above the lowest it reached earlier in the episode (m). */
  liftM: number;
  /** The lift check says this observation cannot be seated. */
  lifted: boolean;
  /** Tip height above the calibrated x* (m); null: not known. */
  heightM: number | null;
  /** The height check says this observation cannot be seated (tip too far above x*); null: check off or height unknown. */
  high: boolean | null;
  /** Why a learned success was overruled (the operator reads it in the episode's reason), else null. */
  refused: string | null;
}

/**
 * A classifier's probability on one observation through the lift and height checks (the one rule; see the file
 * header): `liftM` is the tip's height above the lowest it reached earlier in the episode, `heightM` its height above
 * the calibrated x* (null: not known).
 */
export function checkedReward(
  rawProb: number | null,
  liftM: number,
  heightM: number | null,
  s: Pick<ScoringSettings, 'liftToleranceM' | 'heightToleranceM' | 'successThreshold'>,
): CheckedReward {
  const lifted = s.liftToleranceM !== null && liftM > s.liftToleranceM;
  const high = s.heightToleranceM === null || heightM === null || !Number.isFinite(heightM) ? null : heightM > s.heightToleranceM;
  if ((!lifted && high !== true) || rawProb === null) return { prob: rawProb, rawProb, liftM, lifted, heightM, high, refused: null };
  // The reason is written only when a learned success is overruled: on the approach (every tick above x*) nothing is.
  if (rawProb < s.successThreshold) return { prob: 0, rawProb, liftM, lifted, heightM, high, refused: null };
  const why: string[] = [];
  if (lifted) why.push(`lift check: tip ${mm(liftM)} mm above the lowest it reached (tolerance ${mm(s.liftToleranceM ?? 0)} mm)`);
  if (high) why.push(`height check: tip ${mm(heightM ?? 0)} mm above x* (tolerance ${mm(s.heightToleranceM ?? 0)} mm)`);
  return { prob: 0, rawProb, liftM, lifted, heightM, high, refused: `refused by the ${why.join(' and the ')}; classifier ${rawProb.toFixed(3)}` };
}

const mm = (m: number): string => (1000 * m).toFixed(1);

/**
 * The seated end (issue 13; HIL-SERL ends an episode when its reward classifier fires): an episode ends at the first
 * observation that completes `endSeatedFrames` consecutive observations whose CHECKED reward (checkedReward: classifier,
 * lift and height checks) is at or above the success threshold. That observation is the episode's final one: the arm is
 * held, the episode judged on it and its last transition logged done, as at the step limit. Ending, not holding the
 * pose to the step limit: the trainer already makes every episode's last transition terminal (no bootstrap), so an
 * ended success is the terminal transition IQL learns from either way, while held steps would log moves the policy did
 * not choose; and a seated plug that is pressed on can be lifted by the policy's own press-lift loop, so that the
 * outcome depended on the last step's parity (results/online-seeds-checks/, point 6). More than one frame so that a
 * single false call (a plug still moving down) does not end an episode; the count: results/online-hold/. Off with
 * ground-truth judging (the ablation): that episode is judged by the simulator, not by this reward.
 */
export class SeatedEnd {
  private run = 0;

  constructor(private readonly s: Pick<ScoringSettings, 'endSeatedFrames' | 'successThreshold' | 'useGroundTruthReward'>) {}

  /** Notes one observation's checked reward; true when the episode ends at it. */
  observe(r: Pick<CheckedReward, 'prob'>): boolean {
    const k = this.s.endSeatedFrames;
    if (k === null || this.s.useGroundTruthReward) return false;
    this.run = r.prob !== null && r.prob >= this.s.successThreshold ? this.run + 1 : 0;
    return this.run >= k;
  }

  /** Consecutive seated observations so far. */
  get frames(): number {
    return this.run;
  }
}

/**
 * The outcome of an episode whose final observation's checked reward is `prob` (null: no classifier) with ground
 * truth `gt`; `refused` is the checks' reason when it overruled the classifier.
 */
export function judgeEpisode(
  prob: number | null,
  gt: boolean | null,
  s: ScoringSettings,
  refused: string | null = null,
): { outcome: EpisodeOutcome; reason: string | null } {
  const useGt = s.useGroundTruthReward || prob === null;
  if (useGt && gt !== null) {
    return {
      outcome: gt ? 'success' : 'failure',
      reason: prob === null ? 'judged by ground truth (no reward model loaded)' : 'judged by ground truth (useGroundTruthReward)',
    };
  }
  if (prob !== null) return { outcome: prob >= s.successThreshold ? 'success' : 'failure', reason: refused };
  return { outcome: 'failure', reason: 'no reward model and no ground truth: not judged' };
}

/**
 * The height check's own failure mode, watched (issue 13): x* calibrated more than the tolerance too low refuses EVERY
 * seated plug, learning gets no success and the policy collapses, and nothing else says why. Its signature, per
 * judged episode's final observation: most of what the classifier called seated is refused by the height check, with
 * the tip at one height above x* (a plug at the bottom of something), not at scattered heights (plugs still moving, a
 * classifier's random errors). Ordinary practice does not look like that: real seatings stand within 1 mm of x* and
 * are kept, so the refusals of plugs resting on the socket face (at their connector's insertion depth above x*) stay a
 * minority of the classifier's successes. The watch cannot tell a low x* from a classifier that calls every
 * face-resting plug seated (both: a cluster at one height, nothing kept), so its warning names both causes, and it
 * never changes the rewards: switching the check off would teach the trainer the second case's false successes. Instead
 * the person who can tell the two apart is asked: the cluster's episodes, and later refusals at the same height
 * (`atWarnedHeight`), become label requests (daemon/loop.ts), and a "seated" label overrides their reward
 * (data/labels.ts). Thresholds and runs: results/reward-lift-check/README.md, "The height-refusal warning".
 */
export interface HeightWatchSettings {
  /** Judged episodes looked at (the newest). */
  window: number;
  /** Refusals at one height needed to warn. */
  minCount: number;
  /** Share of the window's classifier successes (kept or refused) those refusals must make up. */
  minShare: number;
  /** Width of "one height" (m): seated tips spread over 1 mm above x* (prior data, 0-0.97 mm). */
  bandM: number;
}

export const HEIGHT_WATCH: HeightWatchSettings = { window: 20, minCount: 5, minShare: 0.5, bandM: 0.002 };

/** One judged episode as the watch sees it: its final observation's checked reward. */
export interface JudgedFinal {
  episodeId: number;
  /** The classifier called it seated (its own probability at or above the success threshold). */
  classifierSuccess: boolean;
  /** The height check refused that success, and the lift check did not (the tip was at its lowest: at the bottom of something). */
  heightRefused: boolean;
  /** Tip height above x* (m); null: not known. */
  heightM: number | null;
}

export interface HeightCluster {
  /** Refusals at one height, and the classifier's successes in the window. */
  count: number;
  classifierSuccesses: number;
  judged: number;
  /** Heights above x* of the cluster (m): median, min, max. */
  medianM: number;
  minM: number;
  maxM: number;
  /** The cluster's episodes, oldest first. */
  episodeIds: number[];
}

/** The largest group of height refusals within `bandM` of each other, if it meets the rule; null otherwise. */
export function heightRefusalCluster(items: readonly JudgedFinal[], s: HeightWatchSettings = HEIGHT_WATCH): HeightCluster | null {
  const w = items.slice(-s.window);
  const successes = w.filter((e) => e.classifierSuccess).length;
  const h = w.filter((e) => refusedAtBottom(e)).sort((a, b) => a.heightM! - b.heightM!);
  let best = { from: 0, to: 0 };
  for (let i = 0, j = 0; j < h.length; j++) {
    while (h[j]!.heightM! - h[i]!.heightM! > s.bandM + 1e-12) i++;
    if (j + 1 - i > best.to - best.from) best = { from: i, to: j + 1 };
  }
  const c = h.slice(best.from, best.to).map((e) => e.heightM!);
  if (c.length < s.minCount || c.length < s.minShare * successes) return null;
  const mid = c.length >> 1;
  const medianM = c.length % 2 ? c[mid]! : (c[mid - 1]! + c[mid]!) / 2;
  const episodeIds = h
    .slice(best.from, best.to)
    .map((e) => e.episodeId)
    .sort((a, b) => a - b);
  return { count: c.length, classifierSuccesses: successes, judged: w.length, medianM, minM: c[0]!, maxM: c[c.length - 1]!, episodeIds };
}

/** A classifier success the height check refused with the tip at its lowest (at the bottom of something), height known. */
function refusedAtBottom(e: JudgedFinal): boolean {
  return e.classifierSuccess && e.heightRefused && e.heightM !== null && Number.isFinite(e.heightM);
}

/** The warning an operator reads (in /status and the event log). */
export interface HeightWarning extends DaemonWarning {
  kind: 'height-refusals-cluster';
  /** The cluster's median height above x* (mm): the likely vertical x* error. */
  offsetMm: number;
  cluster: HeightCluster;
}

/**
 * Watches the judged episodes for `heightRefusalCluster`; raises its warning once (the calibration and the tolerance
 * are read at start, so what it found stays true until the daemon restarts: it is not withdrawn).
 */
export class HeightRefusalWatch {
  private readonly items: JudgedFinal[] = [];
  warning: HeightWarning | null = null;

  constructor(
    private readonly toleranceM: number | null,
    private readonly s: HeightWatchSettings = HEIGHT_WATCH,
  ) {}

  /** Notes a judged episode; returns the warning when this episode raised it (once), else null. */
  add(e: JudgedFinal, now: number = Date.now()): HeightWarning | null {
    if (this.toleranceM === null || this.warning) return null;
    this.items.push(e);
    if (this.items.length > this.s.window) this.items.shift();
    const c = heightRefusalCluster(this.items, this.s);
    if (!c) return null;
    const off = 1000 * c.medianM;
    const message =
      `height check: ${c.count} of the classifier's last ${c.classifierSuccesses} successes (${c.judged} judged episodes) were refused ` +
      `with the tip ${mm(c.minM)}-${mm(c.maxM)} mm above x*, at one height: x* may be ${off.toFixed(1)} mm too low, and then every seated ` +
      `plug is refused and learning gets no success. Recalibrate the socket's z (calibration/socket.yaml goal or offset), ` +
      `or raise practice.heightToleranceM above ${Math.ceil(off + 1)} mm (now ${mm(this.toleranceM)} mm). ` +
      `If instead the plugs rest on the socket face there (x* off sideways), the refusals are right. The check keeps refusing meanwhile; ` +
      `the refused episodes at that height are asked as label requests (within the label budget), so a seated one's reward can be recovered.`;
    this.warning = { kind: 'height-refusals-cluster', message, offsetMm: Number(off.toFixed(1)), cluster: c, episodeId: e.episodeId, at: now };
    return this.warning;
  }

  /** After the warning: whether a judged episode is another refusal at the warned height (within the band of the
   *  cluster's median), whose reward a label could recover as well. */
  atWarnedHeight(e: JudgedFinal): boolean {
    const w = this.warning;
    return w !== null && refusedAtBottom(e) && Math.abs(e.heightM! - w.cluster.medianM) <= this.s.bandM + 1e-12;
  }
}

/** The last `size` judged episodes (success or failure), for learned and ground-truth success rates. */
export class RecentEpisodes {
  private readonly items: EpisodeSummary[] = [];

  constructor(private readonly size: number) {}

  add(e: EpisodeSummary): void {
    if (e.outcome !== 'success' && e.outcome !== 'failure') return;
    this.items.push(e);
    if (this.items.length > this.size) this.items.shift();
  }

  rates(successThreshold: number): { n: number; learnedSuccessRate: number | null; gtSuccessRate: number | null; meanRewardProb: number | null } {
    const learned = this.items.flatMap((e) => (e.learnedSuccessProb === null ? [] : [e.learnedSuccessProb]));
    const gt = this.items.flatMap((e) => (e.gtSuccess === null ? [] : [e.gtSuccess]));
    return {
      n: this.items.length,
      learnedSuccessRate: learned.length ? learned.filter((p) => p >= successThreshold).length / learned.length : null,
      gtSuccessRate: gt.length ? gt.filter(Boolean).length / gt.length : null,
      meanRewardProb: learned.length ? learned.reduce((a, p) => a + p, 0) / learned.length : null,
    };
  }
}
