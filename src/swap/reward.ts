/**
 * Validation and swap of a new reward classifier version (issue 13: the label-tuned versions from the trainer, and
 * REST activation/rollback), the reward's counterpart of validateCandidate for policies: on the last logged frames of
 * recent episodes (validate.ts outcomeProbeSet, fed through each model's own input builder) every probability must be finite and
 * within [0, 1]; the outcome the candidate gives a probe (p >= threshold) is compared with the current reward's, and
 * a version that changes more than `maxFlipFraction` of them is flagged (recorded; refused when onFlag is 'reject').
 * The verdict is stored on the model row; a refusal is a 'swap_rejected' event, a swap a 'swap' event (the daemon's).
 */
import type { DaemonEvent, RewardScorer } from '../daemon/interfaces.ts';
import type { DaemonControl } from '../daemon/types.ts';
import type { Store } from '../store/index.ts';
import { inputsFor, outcomeProbeSet, unfedRefusal } from './validate.ts';
import type { BackendSensors } from '../core/types.ts';

export interface RewardValidationConfig {
  probeCount: number;
  threshold: number;
  /** Share of probes whose judged outcome may change before the version is flagged. */
  maxFlipFraction: number;
  onFlag: 'accept' | 'reject';
}

export const DEFAULT_REWARD_VALIDATION: RewardValidationConfig = { probeCount: 32, threshold: 0.5, maxFlipFraction: 0.25, onFlag: 'accept' };

export interface RewardValidation {
  ok: boolean;
  flagged: boolean;
  reason: string;
  probes: number;
  /** Mean |p_candidate - p_current| and the share of probes whose outcome flips (null without a current reward). */
  meanDiff: number | null;
  flipFraction: number | null;
}

export async function validateReward(
  candidate: RewardScorer,
  current: RewardScorer | null,
  store: Store,
  c: RewardValidationConfig,
  /** What the robot observes (the daemon's status().sensors): a reward it cannot feed is refused before the probes. */
  sensors: BackendSensors,
): Promise<RewardValidation> {
  const unmet = unfedRefusal(candidate, sensors);
  if (unmet) return { ok: false, flagged: false, reason: unmet.reason, probes: 0, meanDiff: null, flipFraction: null };
  const probes = outcomeProbeSet(store, c.probeCount);
  let sum = 0,
    flips = 0,
    compared = 0;
  for (let i = 0; i < probes.length; i++) {
    const obs = probes[i]!;
    let p: number;
    try {
      const x = inputsFor(candidate, obs);
      p = await candidate.probability(x.image, x.proprio);
    } catch (e) {
      return { ok: false, flagged: false, reason: `probe ${i}: candidate failed: ${(e as Error).message}`, probes: i, meanDiff: null, flipFraction: null };
    }
    if (!(Number.isFinite(p) && p >= 0 && p <= 1))
      return { ok: false, flagged: false, reason: `probe ${i}: probability ${p} is not in [0, 1]`, probes: i, meanDiff: null, flipFraction: null };
    if (current) {
      try {
        const x = inputsFor(current, obs);
        const q = await current.probability(x.image, x.proprio);
        sum += Math.abs(p - q);
        if (p >= c.threshold !== q >= c.threshold) flips++;
        compared++;
      } catch {
        // the current model failing on a probe says nothing about the candidate
      }
    }
  }
  const meanDiff = compared ? sum / compared : null;
  const flipFraction = compared ? flips / compared : null;
  const flagged = flipFraction !== null && flipFraction > c.maxFlipFraction;
  const diff = compared ? `mean |dp| ${meanDiff!.toFixed(3)}, outcome changed on ${flips}/${compared} probes vs current` : 'no current reward to compare with';
  if (flagged && c.onFlag === 'reject')
    return { ok: false, flagged, reason: `changes too many outcomes (${diff}; limit ${c.maxFlipFraction})`, probes: probes.length, meanDiff, flipFraction };
  return {
    ok: true,
    flagged,
    reason: `${probes.length} probes in [0, 1]; ${diff}${flagged ? ' (FLAGGED, accepted per setting)' : ''}`,
    probes: probes.length,
    meanDiff,
    flipFraction,
  };
}

/**
 * Validates a loaded candidate reward against the one the daemon uses, records the verdict, and swaps it in when it
 * passes (the old one is disposed). Never throws for a bad model; the caller disposes a refused candidate.
 */
export async function offerReward(o: {
  daemon: DaemonControl;
  store: Store;
  event: (e: DaemonEvent) => void;
  candidate: RewardScorer;
  modelId: number;
  by: string;
  reason?: string | null;
  cfg?: Partial<RewardValidationConfig>;
}): Promise<RewardValidation> {
  const v = await validateReward(o.candidate, o.daemon.models().reward, o.store, { ...DEFAULT_REWARD_VALIDATION, ...o.cfg }, o.daemon.status().sensors);
  o.store.setModelValidation(o.modelId, v);
  if (!v.ok) {
    o.event({
      kind: 'swap_rejected',
      message: `reward ${o.candidate.version} rejected: ${v.reason}`,
      data: { version: o.candidate.version, modelId: o.modelId, validation: v },
    });
    return v;
  }
  if (v.flagged)
    o.event({
      kind: 'swap_flagged',
      message: `reward ${o.candidate.version} flagged: ${v.reason}`,
      data: { version: o.candidate.version, modelId: o.modelId, validation: v },
    });
  o.store.activateModel(o.modelId, { by: o.by, reason: o.reason ?? v.reason });
  const old = o.daemon.setReward(o.candidate);
  await old?.dispose?.();
  return v;
}
