/**
 * Asking the operator for labels (issue 13): after each episode the learned reward judged, decide whether its outcome
 * is worth a person's look, within a budget. A label is requested only when
 *   - the reward classifier is unsure: the final observation's probability lies within `uncertainBand` of the success
 *     threshold ('uncertain'), or its last `flipSteps` probabilities fall on both sides of the threshold while the tip
 *     moved less than `stillM` between them, i.e. the classifier changed its mind about a scene that did not change
 *     ('flip-flop');
 *   - or the learned outcome and the physical evidence disagree ('physical-disagreement'): the tip's height above the
 *     calibrated socket x* at the end says the connector went down to its seated height (within `seatedToleranceM`)
 *     while the classifier says failure, or that it never went down while the classifier says success. A tip the lift
 *     check (scoring.ts) found lifted above the lowest it reached is not down: that failure is already explained, and
 *     asks for no label. `seatedToleranceM` is not the height check's `practice.heightToleranceM` (scoring.ts): that
 *     one refuses the reward outright, so it must allow for x*'s vertical error (default 4 mm); asking costs only a
 *     label, so this band is tighter (2 mm) and a learned success 2-4 mm above x*, a plug partly in, asks
 *     (results/reward-lift-check/: with one 4 mm setting for both, those requests were lost). The pose and x* are
 *     what any robot backend delivers; no simulator ground truth is used here.
 * Budget: requests never exceed ceil(budget * judged episodes) at any moment (so one request is possible at once,
 * the next after 1/budget episodes, ...). A request that does not fit is recorded as skipped (counted, not asked).
 * The height-refusal warning's episodes (reason 'height-refusal', loop.ts) wait for room in the same budget instead.
 */
import type { Vec3, Wrench } from '../core/types.ts';
import { heightAboveGoalM } from './scoring.ts';

export interface LabelRequestSettings {
  /** Ask for labels at all. */
  requests: boolean;
  /** Half-width of the band around the success threshold in which the final probability counts as uncertain. */
  uncertainBand: number;
  /** Last probabilities compared for a flip-flop (0 = off). */
  flipSteps: number;
  /** Tip movement (m) below which the scene counts as unchanged across those steps. */
  stillM: number;
  /** Tip height above x* (m) up to which the connector counts as physically down (seated height). */
  seatedToleranceM: number;
  /** Fraction of judged episodes that may raise a request. */
  budget: number;
}

/** One observation's evidence, kept per episode (newest last, a few steps). */
export interface StepEvidence {
  /** The learned reward of this observation (the classifier's probability through the lift check, scoring.ts). */
  prob: number;
  eePos: Vec3;
  goal: Vec3;
  wrench: Wrench;
  /** Tip height above the lowest it reached earlier in the episode (m); absent: not known. */
  liftM?: number;
  /** The lift check found the tip lifted above that lowest point (so not seated). */
  lifted?: boolean;
}

/** 'height-refusal': the height check refused the classifier's success at the height the height-refusal warning named
 *  (scoring.ts heightRefusalCluster): if x* is too low there, the plug was seated and a label recovers its reward. */
export type LabelRequestReason = 'uncertain' | 'flip-flop' | 'physical-disagreement' | 'height-refusal';

export interface LabelNeed {
  reasons: LabelRequestReason[];
  finalProb: number;
  learnedSuccess: boolean;
  /** Tip height above x* at the end (m); null without steps. */
  heightAboveGoalM: number | null;
  physicallyDown: boolean | null;
  /** Tip height above the lowest it reached earlier in the episode (m), when known. */
  liftM: number | null;
  /** Force along z at the end (N, bias-corrected): reported for the operator, not judged on. */
  forceZN: number | null;
  recentProbs: number[];
}

export interface LabelRequest extends LabelNeed {
  episodeId: number;
  domain: string;
  requestedAt: number;
}

/** Whether an episode's outcome needs a label, from its last steps' evidence (newest last); null when it does not.
 *  `also`: reasons found elsewhere (the height-refusal warning), added to the ones found here. */
export function labelNeed(
  steps: readonly StepEvidence[],
  threshold: number,
  s: LabelRequestSettings,
  also: readonly LabelRequestReason[] = [],
): LabelNeed | null {
  const last = steps[steps.length - 1];
  if (!last) return null;
  const reasons: LabelRequestReason[] = [];
  const learnedSuccess = last.prob >= threshold;
  if (Math.abs(last.prob - threshold) < s.uncertainBand) reasons.push('uncertain');
  if (s.flipSteps >= 2 && steps.length >= s.flipSteps) {
    const w = steps.slice(-s.flipSteps);
    const sides = new Set(w.map((x) => x.prob >= threshold));
    const z = w.map((x) => x.eePos);
    const moved = Math.max(...z.map((p) => Math.hypot(p[0] - z[0]![0], p[1] - z[0]![1], p[2] - z[0]![2])));
    if (sides.size === 2 && moved < s.stillM) reasons.push('flip-flop');
  }
  const height = heightAboveGoalM(last.eePos, last.goal);
  const down = Number.isFinite(height) ? height <= s.seatedToleranceM && last.lifted !== true : null;
  if (down !== null && down !== learnedSuccess) reasons.push('physical-disagreement');
  reasons.push(...also);
  if (reasons.length === 0) return null;
  return {
    reasons,
    finalProb: last.prob,
    learnedSuccess,
    heightAboveGoalM: Number.isFinite(height) ? height : null,
    physicallyDown: down,
    liftM: last.liftM ?? null,
    forceZN: Number.isFinite(last.wrench[2]) ? last.wrench[2] : null,
    recentProbs: steps.map((x) => x.prob),
  };
}

/** The request budget: requests <= ceil(budget * judged) at every moment. */
export class LabelBudget {
  judged = 0;
  requested = 0;
  skipped = 0;

  constructor(private readonly fraction: number) {}

  /** Counts a judged episode; then, if `wanted`, whether a request fits the budget (and counts it). */
  judge(wanted: boolean): boolean {
    this.judged++;
    if (!wanted) return false;
    if (this.requested + 1 <= Math.ceil(this.fraction * this.judged - 1e-9)) {
      this.requested++;
      return true;
    }
    this.skipped++;
    return false;
  }

  /** A request about an episode judged earlier (counted then), if it fits the budget now (and counts it). */
  spend(): boolean {
    if (this.requested + 1 > Math.ceil(this.fraction * this.judged - 1e-9)) return false;
    this.requested++;
    return true;
  }
}
