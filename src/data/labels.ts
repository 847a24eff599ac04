/**
 * The reward learning uses for one logged transition: THE one place where the learned reward, the simulator's ground
 * truth and an operator's label of the episode's outcome are combined (issue 13). The online trainer (src/online) and
 * the offline replay loader (dataset.ts loadTransitions) both read rewards through `learningReward`.
 *
 * A label overrides the learned reward of its episode's transitions:
 * - labelled failure: every transition's reward is 0. The connector was not seated at the end, and in this task a
 *   seated connector stays seated (the P-controller keeps pressing it in), so no earlier observation was seated either.
 * - labelled success: the episode's last transition (whose next observation is the final one) gets 1. Earlier
 *   transitions keep their learned reward: the label says where the episode ended, not when the connector seated.
 * Ground truth as the reward source ('gt', an ablation) is not overridden: it is already the truth.
 * The daemon's logged rewardProb has already passed the lift check (daemon/scoring.ts checkedReward: 0 where the tip
 * was lifted above the lowest it reached), so learning and the daemon's judgement see the same reward.
 */

/** Where the reward of a transition comes from (see dataset.ts RewardSource). */
export type LearningRewardSource = 'rewardProb' | 'gt' | 'rewardThreshold';

export interface RewardFields {
  /** The classifier's probability on the next observation through the lift check, as the daemon logged it. */
  rewardProb: number | null;
  /** Simulator ground truth of the next observation (null on a real robot). */
  gtSuccess: boolean | null;
}

export interface LearningRewardOptions {
  source: LearningRewardSource;
  /** For 'rewardThreshold' (default 0.5). */
  threshold?: number;
  /** The operator's label of the episode's outcome (its newest), or null/undefined when unlabelled. */
  label?: boolean | null;
  /** Whether this is the episode's last transition. */
  last: boolean;
}

/** The reward of one transition for learning, or null when it has none (the transition is then left out). */
export function learningReward(t: RewardFields, o: LearningRewardOptions): number | null {
  const gt = t.gtSuccess == null ? null : t.gtSuccess ? 1 : 0;
  if (o.source === 'gt') return gt;
  const learned = o.source === 'rewardThreshold'
    ? (t.rewardProb == null ? null : t.rewardProb >= (o.threshold ?? 0.5) ? 1 : 0)
    : t.rewardProb ?? gt;
  if (o.label === false) return 0;
  if (o.label === true && o.last) return 1;
  return learned;
}
