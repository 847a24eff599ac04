/**
 * Episode scoring: how an episode's outcome is judged from the reward classifier (or, in simulation when asked or
 * when no classifier is loaded, from ground truth), and the recent-episodes window behind the operator's success rates.
 */
import type { EpisodeOutcome } from '../store/types.ts';
import type { EpisodeSummary } from './types.ts';

export interface ScoringSettings {
  /** Reward probability at or above which the episode counts as a success. */
  successThreshold: number;
  /** Judge by the simulator's ground truth even when a reward classifier is loaded. */
  useGroundTruthReward: boolean;
}

/** The outcome of an episode whose final observation scored `prob` (null: no classifier) with ground truth `gt`. */
export function judgeEpisode(prob: number | null, gt: boolean | null, s: ScoringSettings): { outcome: EpisodeOutcome; reason: string | null } {
  const useGt = s.useGroundTruthReward || prob === null;
  if (useGt && gt !== null) {
    return {
      outcome: gt ? 'success' : 'failure',
      reason: prob === null ? 'judged by ground truth (no reward model loaded)' : 'judged by ground truth (useGroundTruthReward)',
    };
  }
  if (prob !== null) return { outcome: prob >= s.successThreshold ? 'success' : 'failure', reason: null };
  return { outcome: 'failure', reason: 'no reward model and no ground truth: not judged' };
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
