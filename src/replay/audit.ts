/**
 * Reward audit: the reward classifier's calls beside the simulator's ground truth, on every replayed frame.
 *
 * Two classifiers are judged, each against the truth of the frame it judged:
 *  - 'replayed': the reward model given to the replay, run by the replay's daemon on the replayed frames (the daemon's
 *    own input pipeline), against the cell's ground truth of those frames;
 *  - 'logged': the probabilities in the source log (the daemon's checked rewards where the session ran its lift and
 *    height checks, daemon/scoring.ts), against the log's own ground truth where it has one (simulated
 *    sessions) and otherwise the replay's, only while the replay is still on the logged trajectory (the frames are
 *    then the same). Heights come from the replay's truth, so they are known only on the logged trajectory.
 *
 * A false positive is a frame called seated (p >= threshold) that is not; a false negative a seated frame called not.
 * Errors by connector, and by tip height above seated through offline/reward.ts errorsByHeight (the table eval-reward
 * prints): errors on seated frames are the false negatives, on unseated frames (per height bin) the false positives.
 */
import type { TickTransition } from '../daemon/interfaces.ts';
import type { TransitionRecord } from '../store/types.ts';
import { errorsByHeight, type HeightErrors } from '../offline/reward.ts';
import type { StepTruth } from './backend.ts';

export interface AuditSample {
  sourceEpisodeId: number;
  replayEpisodeId: number | null;
  /** The transition's step: its reward judges the observation after this step's command. */
  step: number;
  domain: string;
  prob: number;
  truth: boolean;
  /** NaN: unknown. */
  aboveSeatedMm: number;
}

export interface ClassifierAudit {
  source: 'replayed' | 'logged';
  model: string | null;
  threshold: number;
  samples: number;
  tp: number;
  tn: number;
  fp: number;
  fn: number;
  byConnector: Array<{ name: string; samples: number; seated: number; unseated: number; fp: number; fn: number; fpRate: number | null; fnRate: number | null }>;
  byHeight: HeightErrors[];
  /** The false positives, most confident first (at most 50): where the policy could learn to please the reward. */
  falsePositives: Array<Omit<AuditSample, 'truth'>>;
  falseNegatives: Array<Omit<AuditSample, 'truth'>>;
}

export interface RewardAudit {
  replayed: ClassifierAudit | null;
  logged: ClassifierAudit | null;
  notes: string[];
}

/** Samples of one replayed episode: the replay's model on its own frames, and the log's predictions. */
export function auditSamples(
  o: { sourceEpisodeId: number; replayEpisodeId: number | null; domain: string; partedAtStep: number | null },
  logged: readonly TransitionRecord[],
  replayed: readonly TickTransition[],
  truths: readonly StepTruth[],
): { replayed: AuditSample[]; logged: AuditSample[] } {
  const rep: AuditSample[] = [];
  const log: AuditSample[] = [];
  const base = { sourceEpisodeId: o.sourceEpisodeId, replayEpisodeId: o.replayEpisodeId, domain: o.domain };
  for (const t of replayed) {
    const truth = truths[t.step];
    if (t.rewardProb === null || !truth) continue;
    rep.push({ ...base, step: t.step, prob: t.rewardProb, truth: truth.success, aboveSeatedMm: 1000 * truth.aboveSeatedM });
  }
  for (const t of logged) {
    if (t.rewardProb === null) continue;
    // The judged frame is the one after step t.step: on the logged trajectory while the replay has not parted there.
    const onTrack = o.partedAtStep === null ? t.step < truths.length : t.step + 1 < o.partedAtStep;
    const rt = onTrack ? truths[t.step] : undefined;
    const truth = t.gtSuccess ?? rt?.success;
    if (truth === undefined) continue;
    log.push({ ...base, step: t.step, prob: t.rewardProb, truth, aboveSeatedMm: rt ? 1000 * rt.aboveSeatedM : NaN });
  }
  return { replayed: rep, logged: log };
}

export function auditClassifier(source: ClassifierAudit['source'], model: string | null, samples: readonly AuditSample[], threshold: number): ClassifierAudit {
  const names = [...new Set(samples.map((s) => s.domain))];
  const idx = new Map(names.map((n, i) => [n, i]));
  let tp = 0,
    tn = 0,
    fp = 0,
    fn = 0;
  const per = names.map((name) => ({ name, samples: 0, seated: 0, unseated: 0, fp: 0, fn: 0, fpRate: null as number | null, fnRate: null as number | null }));
  const fps: AuditSample[] = [],
    fns: AuditSample[] = [];
  for (const s of samples) {
    const c = per[idx.get(s.domain)!]!;
    const called = s.prob >= threshold;
    c.samples++;
    if (s.truth) c.seated++;
    else c.unseated++;
    if (called && s.truth) tp++;
    else if (!called && !s.truth) tn++;
    else if (called) {
      fp++;
      c.fp++;
      fps.push(s);
    } else {
      fn++;
      c.fn++;
      fns.push(s);
    }
  }
  for (const c of per) {
    c.fpRate = c.unseated ? c.fp / c.unseated : null;
    c.fnRate = c.seated ? c.fn / c.seated : null;
  }
  const byHeight = errorsByHeight(
    samples.map((s) => s.prob),
    {
      count: samples.length,
      domainNames: names,
      domain: samples.map((s) => idx.get(s.domain)!),
      success: samples.map((s) => (s.truth ? 1 : 0)),
      aboveSeated: samples.map((s) => s.aboveSeatedMm / 1000),
    },
    threshold,
  );
  const strip = ({ truth: _t, ...rest }: AuditSample): Omit<AuditSample, 'truth'> => rest;
  fps.sort((a, b) => b.prob - a.prob);
  fns.sort((a, b) => a.prob - b.prob);
  return {
    source,
    model,
    threshold,
    samples: samples.length,
    tp,
    tn,
    fp,
    fn,
    byConnector: per,
    byHeight,
    falsePositives: fps.slice(0, 50).map(strip),
    falseNegatives: fns.slice(0, 50).map(strip),
  };
}

export function formatAudit(a: RewardAudit): string {
  const lines: string[] = [];
  for (const c of [a.replayed, a.logged]) {
    if (!c) continue;
    lines.push(
      `reward audit, ${c.source === 'replayed' ? `${c.model ?? 'model'} on the replayed frames` : 'logged predictions'}: ${c.samples} frames, ${c.fp} false positives, ${c.fn} false negatives (threshold ${c.threshold})`,
    );
    for (const k of c.byConnector) {
      const pct = (x: number | null): string => (x === null ? '-' : `${(100 * x).toFixed(0)}%`);
      lines.push(`  ${k.name.padEnd(12)} FP ${k.fp}/${k.unseated} unseated (${pct(k.fpRate)}), FN ${k.fn}/${k.seated} seated (${pct(k.fnRate)})`);
    }
    for (const h of c.byHeight)
      lines.push(
        `  ${h.name.padEnd(12)} by height above seated: ${h.bins.map((b) => `${b.label} ${b.samples}: ${(100 * b.errorRate).toFixed(0)}% wrong`).join(' | ')}`,
      );
    for (const f of c.falsePositives.slice(0, 5))
      lines.push(
        `  FP: episode ${f.sourceEpisodeId} step ${f.step} p=${f.prob.toFixed(3)} ${Number.isFinite(f.aboveSeatedMm) ? `${f.aboveSeatedMm.toFixed(1)} mm above seated` : ''}`,
      );
  }
  lines.push(...a.notes.map((n) => `  note: ${n}`));
  return lines.join('\n');
}
