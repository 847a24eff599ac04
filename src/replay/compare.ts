/**
 * Step-by-step comparison of a replayed episode with its logged source, and the overall figures of a replay.
 * Poses are compared relative to each episode's x* (tip - x*), so a real-robot episode replayed in the cell (another
 * frame) compares like a simulated one; wrenches are the bias-corrected ones both logs hold.
 */
import type { TickTransition } from '../daemon/interfaces.ts';
import type { Vec3 } from '../core/types.ts';
import type { EpisodeOutcome, TransitionRecord } from '../store/types.ts';
import type { RebuiltStart } from './backend.ts';

export interface CompareThresholds {
  /** Trajectories part at the first step whose pose (relative to x*) differs by more than this (mm). */
  divergenceMm: number;
  /** ... or whose force differs by more than this (N). */
  divergenceN: number;
}

export const DEFAULT_THRESHOLDS: CompareThresholds = { divergenceMm: 1, divergenceN: 5 };

export interface StepDivergence {
  step: number;
  poseMm: number;
  forceN: number;
  torqueNm: number;
  /** Executed commands, replayed vs logged (mm). */
  actionMm: number;
}

export interface EpisodeSide {
  outcome: EpisodeOutcome | null;
  reason: string | null;
  gtSuccess: boolean | null;
  learnedSuccessProb: number | null;
  steps: number;
}

export interface EpisodeComparison {
  sourceEpisodeId: number;
  replayEpisodeId: number | null;
  domain: string;
  replayedAs: string;
  start: RebuiltStart | null;
  logged: EpisodeSide;
  replay: EpisodeSide;
  /** Same outcome and, where both know it, the same ground truth (a logged 'aborted': the ground truth alone). */
  sameOutcome: boolean;
  divergence: {
    stepsCompared: number;
    maxPoseMm: number;
    finalPoseMm: number;
    maxForceN: number;
    maxTorqueNm: number;
    maxActionMm: number;
    /** First step where the trajectories part (thresholds above); null: they never do. */
    partedAtStep: number | null;
    perStep: StepDivergence[];
  };
}

const d3 = (a: readonly number[], b: readonly number[], o = 0): number => Math.hypot(a[o]! - b[o]!, a[o + 1]! - b[o + 1]!, a[o + 2]! - b[o + 2]!);
const rel = (p: Vec3, g: Vec3): Vec3 => [p[0] - g[0], p[1] - g[1], p[2] - g[2]];

export function compareEpisode(
  o: Omit<EpisodeComparison, 'sameOutcome' | 'divergence'>,
  logged: readonly TransitionRecord[],
  replayed: readonly TickTransition[],
  th: CompareThresholds,
): EpisodeComparison {
  const n = Math.min(logged.length, replayed.length);
  const perStep: StepDivergence[] = [];
  let parted: number | null = null;
  for (let s = 0; s < n; s++) {
    const l = logged[s]!,
      r = replayed[s]!;
    const poseMm = 1000 * d3(rel(r.obs.eePos, r.obs.goal), rel(l.eePos, l.goal));
    const forceN = d3(r.obs.wrench, l.wrench);
    const torqueNm = d3(r.obs.wrench, l.wrench, 3);
    const actionMm = l.actionExecuted ? 1000 * d3(r.actionExecuted, l.actionExecuted) : NaN;
    perStep.push({ step: s, poseMm, forceN, torqueNm, actionMm });
    if (parted === null && (poseMm > th.divergenceMm || forceN > th.divergenceN)) parted = s;
  }
  const max = (k: keyof StepDivergence): number => perStep.reduce((m, x) => (Number.isFinite(x[k]) ? Math.max(m, x[k]) : m), 0);
  const gtSame = o.logged.gtSuccess === null || o.replay.gtSuccess === null || o.logged.gtSuccess === o.replay.gtSuccess;
  // An episode stopped on request ended by an operator, not by what happened: only the ground truth compares.
  const outcomeSame = o.logged.outcome === 'aborted' ? o.logged.gtSuccess !== null && o.replay.gtSuccess !== null : o.logged.outcome === o.replay.outcome;
  return {
    ...o,
    sameOutcome: outcomeSame && gtSame,
    divergence: {
      stepsCompared: n,
      maxPoseMm: max('poseMm'),
      finalPoseMm: perStep[n - 1]?.poseMm ?? NaN,
      maxForceN: max('forceN'),
      maxTorqueNm: max('torqueNm'),
      maxActionMm: max('actionMm'),
      partedAtStep: parted,
      perStep,
    },
  };
}

export interface SideRates {
  /** Share of episodes the simulator's ground truth calls seated at the end (episodes where it is known). */
  gtSuccessRate: number | null;
  /** Share of episodes whose outcome is 'success' (as judged then: learned reward, or ground truth). */
  successRate: number;
  outcomes: Record<string, number>;
}

export interface OverallComparison {
  episodes: number;
  sameOutcome: number;
  parted: number;
  /** Median step where trajectories part, over the episodes that part. */
  medianPartStep: number | null;
  maxPoseMm: number;
  logged: SideRates;
  replay: SideRates;
  /** Paired success (ground truth where both sides know it, else the outcome): how the replay differs. */
  paired: { both: number; loggedOnly: number; replayOnly: number; neither: number };
  byConnector: Array<{ name: string; episodes: number; sameOutcome: number; loggedSuccess: number; replaySuccess: number }>;
}

function rates(sides: EpisodeSide[]): SideRates {
  const known = sides.filter((s) => s.gtSuccess !== null);
  const outcomes: Record<string, number> = {};
  for (const s of sides) outcomes[s.outcome ?? 'open'] = (outcomes[s.outcome ?? 'open'] ?? 0) + 1;
  return {
    gtSuccessRate: known.length ? known.filter((s) => s.gtSuccess).length / known.length : null,
    successRate: sides.length ? sides.filter((s) => s.outcome === 'success').length / sides.length : 0,
    outcomes,
  };
}

const succeeded = (s: EpisodeSide, useGt: boolean): boolean => (useGt ? s.gtSuccess === true : s.outcome === 'success');

export function overall(eps: readonly EpisodeComparison[]): OverallComparison {
  const parts = eps
    .map((e) => e.divergence.partedAtStep)
    .filter((x): x is number => x !== null)
    .sort((a, b) => a - b);
  const paired = { both: 0, loggedOnly: 0, replayOnly: 0, neither: 0 };
  const conn = new Map<string, { name: string; episodes: number; sameOutcome: number; loggedSuccess: number; replaySuccess: number }>();
  for (const e of eps) {
    const useGt = e.logged.gtSuccess !== null && e.replay.gtSuccess !== null;
    const l = succeeded(e.logged, useGt),
      r = succeeded(e.replay, useGt);
    paired[l && r ? 'both' : l ? 'loggedOnly' : r ? 'replayOnly' : 'neither']++;
    const c = conn.get(e.domain) ?? { name: e.domain, episodes: 0, sameOutcome: 0, loggedSuccess: 0, replaySuccess: 0 };
    c.episodes++;
    if (e.sameOutcome) c.sameOutcome++;
    if (l) c.loggedSuccess++;
    if (r) c.replaySuccess++;
    conn.set(e.domain, c);
  }
  return {
    episodes: eps.length,
    sameOutcome: eps.filter((e) => e.sameOutcome).length,
    parted: parts.length,
    medianPartStep: parts.length ? parts[Math.floor((parts.length - 1) / 2)]! : null,
    maxPoseMm: eps.reduce((m, e) => Math.max(m, e.divergence.maxPoseMm), 0),
    logged: rates(eps.map((e) => e.logged)),
    replay: rates(eps.map((e) => e.replay)),
    paired,
    byConnector: [...conn.values()],
  };
}

export function formatComparison(eps: readonly EpisodeComparison[], all: OverallComparison): string {
  const lines = ['episode  connector    logged (gt)            replay (gt)            same  parted@  max pose mm  max |dF| N'];
  const side = (s: EpisodeSide): string => `${s.outcome ?? 'open'} (${s.gtSuccess === null ? '-' : s.gtSuccess ? 'seated' : 'not'})`.padEnd(22);
  for (const e of eps) {
    lines.push(
      `${String(e.sourceEpisodeId).padEnd(8)} ${(e.replayedAs === e.domain ? e.domain : `${e.domain}->${e.replayedAs}`).padEnd(12)} ${side(e.logged)} ${side(e.replay)} ${(e.sameOutcome ? 'yes' : 'NO').padEnd(5)} ` +
        `${String(e.divergence.partedAtStep ?? '-').padEnd(8)} ${e.divergence.maxPoseMm.toFixed(3).padStart(11)}  ${e.divergence.maxForceN.toFixed(2).padStart(9)}`,
    );
  }
  const pct = (x: number | null): string => (x === null ? '-' : `${(100 * x).toFixed(0)}%`);
  lines.push(
    `overall: ${all.sameOutcome}/${all.episodes} same outcome, ${all.parted} parted (median step ${all.medianPartStep ?? '-'}), max pose divergence ${all.maxPoseMm.toFixed(3)} mm; ` +
      `success logged ${pct(all.logged.successRate)} (gt ${pct(all.logged.gtSuccessRate)}) vs replay ${pct(all.replay.successRate)} (gt ${pct(all.replay.gtSuccessRate)}); ` +
      `paired: both ${all.paired.both}, logged only ${all.paired.loggedOnly}, replay only ${all.paired.replayOnly}, neither ${all.paired.neither}`,
  );
  return lines.join('\n');
}
