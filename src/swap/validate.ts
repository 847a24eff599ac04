/**
 * Validation of a candidate policy before it may drive the arm (issue 5, hot-swap):
 *   1. it loads (PolicyModel refuses corrupt files, bad cards, wrong shapes) - done by the caller;
 *   2. on a probe set of recently logged observations its outputs are finite and within the daemon's residual bound;
 *   3. its actions are compared with the current policy's on the same probes: a mean |difference| beyond
 *      `maxMeanDiffM` (or a max beyond `maxDiffM`) FLAGS the version; per `onFlag` it is then accepted-with-flag or rejected.
 * Each model is fed the probe as its own card asks (image size, proprio layout), from the same logged rows.
 */
import { DEFAULT_RESIDUAL_BOUND_M } from '../control/action.ts';
import type { ResidualPolicy } from '../daemon/interfaces.ts';
import { observationOf } from '../data/dataset.ts';
import { ModelInputs, unmetSensors, type ModelInput, type ModelInputSpec } from '../policy/inputs.ts';
import type { BackendSensors, Observation } from '../core/types.ts';
import type { Store } from '../store/index.ts';

export interface SwapValidationConfig {
  /** Recently logged observations used as probes (newest transitions with an image). */
  probeCount: number;
  /** Residual bound per axis (m): every probe output must be within it (plus float tolerance). */
  residualBoundM: number;
  /** Max |a_new - a_current| on any probe and axis (m) before the version is flagged. */
  maxDiffM: number;
  /** Mean over probes of max-axis |a_new - a_current| (m) before the version is flagged. */
  maxMeanDiffM: number;
  /** What happens to a flagged version: 'accept' (recorded with the flag) or 'reject'. */
  onFlag: 'accept' | 'reject';
}

export const DEFAULT_SWAP_VALIDATION: SwapValidationConfig = {
  probeCount: 32,
  residualBoundM: DEFAULT_RESIDUAL_BOUND_M,
  maxDiffM: 0.005,
  maxMeanDiffM: 0.002,
  onFlag: 'accept',
};

export interface ValidationResult {
  ok: boolean;
  flagged: boolean;
  reason: string;
  probes: number;
  meanDiffM: number | null;
  maxDiffM: number | null;
  maxAbsActionM: number;
  ms: number;
}

/**
 * A candidate the robot cannot feed (policy/inputs.ts unmetSensors: a depth model on a backend without depth), as a
 * failed validation naming the model; null when it can be fed. Checked before the probes: logged probes may carry what
 * the backend gives no longer (a log recorded with a depth camera, the daemon restarted without one), and a fresh log
 * has none to fail on.
 */
export function unfedRefusal(model: { input: ModelInputSpec; version: string }, sensors: BackendSensors): ValidationResult | null {
  const why = unmetSensors(model.input, sensors);
  if (!why) return null;
  return { ok: false, flagged: false, reason: `${model.version}: ${why}`, probes: 0, meanDiffM: null, maxDiffM: null, maxAbsActionM: 0, ms: 0 };
}

/** The newest `n` logged transitions that carry an image, as observations (oldest first). */
export function probeSet(store: Store, n: number): Observation[] {
  const ids = store.transitionIds({});
  const pick = ids.slice(Math.max(0, ids.length - n * 2));
  const rows = store.getTransitions(pick, { images: true }).filter((r) => r.image !== null);
  return rows.slice(Math.max(0, rows.length - n)).map(observationOf);
}

/**
 * The frames that decide episodes' outcomes, for judging a reward: the last logged frame (with an image) of each of the
 * newest `n` ended episodes, topped up with the newest frames while fewer have ended. The newest frames alone are
 * mostly one episode's approach, where a reward that misjudges seated plugs changes nothing (results/labels-depth/).
 */
export function outcomeProbeSet(store: Store, n: number): Observation[] {
  const ids: number[] = [];
  for (const e of store.listEpisodes({ limit: n * 2 })) {
    if (ids.length >= n) break;
    if (e.endedAt === null || e.transitionCount === 0) continue;
    const last = store.transitionIds({ episodeIds: [e.id] }).at(-1);
    if (last !== undefined) ids.push(last);
  }
  const ends = store
    .getTransitions(ids, { images: true })
    .filter((r) => r.image !== null)
    .map(observationOf);
  return ends.length >= n ? ends : [...probeSet(store, n - ends.length), ...ends];
}

/** A model's inputs for a logged observation, built as its card asks (a policy or a reward model). */
export function inputsFor(policy: Pick<ResidualPolicy, 'input' | 'version'>, obs: Observation): ModelInput {
  const x = new ModelInputs(policy.input, policy.version).build(obs);
  return { image: x.image && Float32Array.from(x.image), proprio: x.proprio && Float32Array.from(x.proprio) };
}

/** Runs the candidate (and the current policy, if any) on the probes; never throws for a bad model, says why instead. */
export async function validatePolicy(
  candidate: ResidualPolicy,
  current: ResidualPolicy | null,
  probes: readonly Observation[],
  c: SwapValidationConfig,
): Promise<ValidationResult> {
  const t0 = performance.now();
  const done = (r: Omit<ValidationResult, 'ms'>): ValidationResult => ({ ...r, ms: performance.now() - t0 });
  let maxAbs = 0;
  let sumDiff = 0;
  let maxDiff = 0;
  let compared = 0;
  const tol = 1e-6;
  for (let i = 0; i < probes.length; i++) {
    const obs = probes[i] as Observation;
    let a: number[];
    try {
      const x = inputsFor(candidate, obs);
      a = await candidate.run(x.image, x.proprio);
    } catch (e) {
      return done({
        ok: false,
        flagged: false,
        reason: `probe ${i}: candidate failed: ${(e as Error).message}`,
        probes: i,
        meanDiffM: null,
        maxDiffM: null,
        maxAbsActionM: maxAbs,
      });
    }
    if (a.length !== 3 || !a.every(Number.isFinite))
      return done({
        ok: false,
        flagged: false,
        reason: `probe ${i}: non-finite output [${a.join(', ')}]`,
        probes: i,
        meanDiffM: null,
        maxDiffM: null,
        maxAbsActionM: maxAbs,
      });
    const m = Math.max(...a.map(Math.abs));
    maxAbs = Math.max(maxAbs, m);
    if (m > c.residualBoundM + tol)
      return done({
        ok: false,
        flagged: false,
        reason: `probe ${i}: residual ${m.toExponential(3)} m beyond the bound ${c.residualBoundM} m`,
        probes: i,
        meanDiffM: null,
        maxDiffM: null,
        maxAbsActionM: maxAbs,
      });
    if (current) {
      try {
        const x = inputsFor(current, obs);
        const b = await current.run(x.image, x.proprio);
        const d = Math.max(Math.abs(a[0]! - b[0]), Math.abs(a[1]! - b[1]), Math.abs(a[2]! - b[2]));
        sumDiff += d;
        maxDiff = Math.max(maxDiff, d);
        compared++;
      } catch {
        // The current policy failing on a probe says nothing about the candidate.
      }
    }
  }
  const mean = compared > 0 ? sumDiff / compared : null;
  const flagged = compared > 0 && ((mean as number) > c.maxMeanDiffM || maxDiff > c.maxDiffM);
  const diffText =
    compared > 0
      ? `mean |da| ${((mean as number) * 1000).toFixed(3)} mm, max ${(maxDiff * 1000).toFixed(3)} mm vs current`
      : 'no current policy to compare with';
  if (flagged && c.onFlag === 'reject') {
    return done({
      ok: false,
      flagged,
      reason: `differs from the current policy beyond the limit (${diffText}; limits mean ${c.maxMeanDiffM * 1000} mm, max ${c.maxDiffM * 1000} mm)`,
      probes: probes.length,
      meanDiffM: mean,
      maxDiffM: compared ? maxDiff : null,
      maxAbsActionM: maxAbs,
    });
  }
  if (probes.length === 0) {
    // Nothing logged yet (a fresh log): accepted unchecked; the loop still clamps every residual to the bound.
    return done({
      ok: true,
      flagged: false,
      reason: '0 probes: no logged observations with an image yet, outputs not checked before the swap',
      probes: 0,
      meanDiffM: null,
      maxDiffM: null,
      maxAbsActionM: 0,
    });
  }
  return done({
    ok: true,
    flagged,
    reason: `${probes.length} probes finite and within +-${c.residualBoundM * 1000} mm; ${diffText}${flagged ? ' (FLAGGED: beyond the limit, accepted per setting)' : ''}`,
    probes: probes.length,
    meanDiffM: mean,
    maxDiffM: compared ? maxDiff : null,
    maxAbsActionM: maxAbs,
  });
}
