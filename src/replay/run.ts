/**
 * Replay a logged session in the simulated cell, through the real Daemon (src/daemon/loop.ts): its tick, action rule
 * (control/action.ts composeAction), input pipeline (policy/inputs.ts), safety filter and episode state machine. Replay
 * adds only a backend whose episodes start where the log's did (backend.ts), a log that tags its rows (log.ts) and, in
 * open loop, a residual that makes the daemon execute the logged command (open-loop.ts).
 *
 *  - open loop: every logged episode is re-run with its logged commands; compared step by step with the log.
 *  - closed loop: the chosen policy (a version registered in the log, an .onnx file, or 'p-only') drives from the same
 *    starts, as many steps as the source daemon ran, without exploration noise; compared by outcome.
 *  - reward audit: with a reward model, the replay's daemon scores every replayed frame (as the daemon does); the
 *    audit sets those and the log's own predictions beside the cell's ground truth (audit.ts).
 *
 * The replay writes a new session (backend 'replay') into `outDb` (default: the source file) and reads the source
 * read-only: source rows are never changed.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadCalibration, loadDaemonConfig } from '../config/load.ts';
import type { Calibration, DaemonConfig } from '../config/schema.ts';
import { simCellOptions } from '../robot/sim-backend.ts';
import type { ResidualPolicy, RewardScorer } from '../daemon/interfaces.ts';
import { policyFromModel, rewardFromModel } from '../daemon/models.ts';
import { Daemon, type EpisodeSummary } from '../daemon/loop.ts';
import { PolicyModel, RewardModel } from '../policy/onnx-model.ts';
import { SimBackend } from '../robot/sim-backend.ts';
import type { Vec3 } from '../core/types.ts';
import { loadConnectors } from '../sim/connectors.ts';
import { Store } from '../store/index.ts';
import { auditClassifier, auditSamples, type AuditSample, type RewardAudit } from './audit.ts';
import { ReplayBackend } from './backend.ts';
import { BASELINE_PREFIX, BaselineResidual, checkBaseline } from './baseline.ts';
import {
  compareEpisode,
  DEFAULT_THRESHOLDS,
  overall,
  type CompareThresholds,
  type EpisodeComparison,
  type EpisodeSide,
  type OverallComparison,
} from './compare.ts';
import { ReplayLog } from './log.ts';
import { OPEN_LOOP_VERSION, OpenLoopResidual } from './open-loop.ts';
import { planStarts, readSource, ReplaySourceError } from './source.ts';

export const ROOT = resolve(import.meta.dirname, '../..');

export type ReplayMode = 'open-loop' | 'closed-loop';

export interface ReplayOptions {
  /** Source log file. */
  db: string;
  sessionId: number;
  /** Episode ids of that session (default: every ended episode with transitions). */
  episodes?: number[];
  mode: ReplayMode;
  /** Where the replay's session is written (default: the source file). */
  outDb?: string;
  /** Closed loop: 'p-only', a policy version registered in the source (or output) log, an .onnx file, or
   *  'baseline:<name>' (a scripted controller of src/control/registry.ts, see baseline.ts). */
  policy?: string;
  /** A reward model (version or .onnx file) for the audit; none by default. */
  reward?: string;
  /** Already-loaded models instead of `policy` / `reward` (tests, the shadow gate); the replay does not dispose them. */
  policyModel?: ResidualPolicy | null;
  rewardModel?: RewardScorer | null;
  /** Logged connector -> defined connector, for connectors the simulator does not define. */
  mapConnector?: Record<string, string>;
  /** x* calibration error assumed where the log cannot tell it (real-robot logs, mapped connectors), m. Default 0. */
  goalError?: Vec3;
  thresholds?: Partial<CompareThresholds>;
  /** For sessions that carry no daemon config / calibration snapshot (a real robot's): defaults config/ and calibration/. */
  configFile?: string;
  calibrationDir?: string;
  connectorsDir?: string;
  onProgress?: (p: ReplayProgress) => void;
  signal?: AbortSignal;
}

export interface ReplayProgress {
  done: number;
  total: number;
  /** The episode just replayed. */
  last: { sourceEpisodeId: number; sameOutcome: boolean; partedAtStep: number | null; replay: EpisodeSide } | null;
}

export interface ReplayResult {
  tool: 'replay';
  createdAt: string;
  mode: ReplayMode;
  source: { db: string; sessionId: number; backend: string; robot: string; episodes: number };
  out: { db: string; sessionId: number };
  policy: string | null;
  reward: string | null;
  thresholds: CompareThresholds;
  episodes: EpisodeComparison[];
  overall: OverallComparison;
  audit: RewardAudit | null;
  /** Wall-clock and CPU time (this process, all threads) of the episodes, resets included. */
  speed: { controlSteps: number; seconds: number; stepsPerSecond: number; cpuSeconds: number; stepsPerCpuSecond: number };
  notes: string[];
  aborted: boolean;
}

export class ReplayArgError extends Error {
  override name = 'ReplayArgError';
}

async function loadModel<M>(kind: 'policy' | 'reward', spec: string, dbs: string[], load: (path: string) => Promise<M>): Promise<M> {
  if (spec.endsWith('.onnx')) {
    if (!existsSync(spec)) throw new ReplayArgError(`${kind} '${spec}': no such file`);
    return load(spec);
  }
  const known: string[] = [];
  for (const db of [...new Set(dbs)]) {
    if (!existsSync(db)) continue;
    const s = Store.openReadOnly(db);
    try {
      const m = s.findModel(kind, spec);
      if (m) {
        if (!existsSync(m.path)) throw new ReplayArgError(`${kind} ${spec}: registered in ${db} at ${m.path}, which does not exist`);
        return load(m.path);
      }
      known.push(...s.listModels(kind).map((x) => x.version));
    } finally {
      s.close();
    }
  }
  throw new ReplayArgError(
    `${kind} '${spec}' is neither an .onnx file nor a ${kind} version registered in ${dbs.join(' or ')}${known.length ? ` (registered: ${[...new Set(known)].join(', ')})` : ''}${kind === 'policy' ? "; 'p-only' runs the P-controller alone" : ''}`,
  );
}

function replayConfig(src: ReturnType<typeof readSource>, o: ReplayOptions, outDb: string): DaemonConfig {
  const cfg = loadDaemonConfig(o.configFile ?? resolve(ROOT, 'config/daemon.yaml'), { realtime: false, priority: null, port: 0, db: outDb });
  if (src.config) {
    // The session's own settings: its tick rate, episode length, judging threshold, and the cell it ran.
    cfg.tickHz = src.config.tickHz;
    cfg.practice = { ...cfg.practice, ...src.config.practice };
    cfg.backend = { kind: 'sim', sim: { ...cfg.backend.sim, ...src.config.backend.sim } };
  }
  cfg.realtime = false;
  cfg.practice.explorationNoise = 0;
  // The replay's reward model is there to be audited: its own calls, not the daemon's lift and height checks on top
  // (daemon/scoring.ts), which would turn frames far above x* into negatives whatever the model says.
  cfg.practice.liftToleranceM = null;
  cfg.practice.heightToleranceM = null;
  cfg.swapAt = 'episode-boundary';
  return cfg;
}

function replayCalibration(src: ReturnType<typeof readSource>, o: ReplayOptions): Calibration {
  const base = src.simulated && src.calibration ? src.calibration : loadCalibration(o.calibrationDir ?? resolve(ROOT, 'calibration'));
  const cal = structuredClone(base);
  // x* is placed in the cell as logged (backend.ts): the daemon must take the cell's goal as it is.
  cal.socket = { goal: null, offset: [0, 0, 0] };
  // The command is the log's (open-loop.ts) or a whole controller's (baseline.ts), not a residual to bound.
  if (o.mode === 'open-loop' || o.policy?.startsWith(BASELINE_PREFIX)) cal.limits.residualBoundM = Number.POSITIVE_INFINITY;
  return cal;
}

const side = (
  e: { outcome: EpisodeSide['outcome']; reason: string | null; gtSuccess: boolean | null; learnedSuccessProb: number | null },
  steps: number,
): EpisodeSide => ({
  outcome: e.outcome,
  reason: e.reason,
  gtSuccess: e.gtSuccess,
  learnedSuccessProb: e.learnedSuccessProb,
  steps,
});

export async function runReplay(o: ReplayOptions): Promise<ReplayResult> {
  const outDb = o.outDb ?? o.db;
  const th: CompareThresholds = { ...DEFAULT_THRESHOLDS, ...o.thresholds };
  if (!(th.divergenceMm > 0) || !(th.divergenceN > 0))
    throw new ReplayArgError(`divergence thresholds must be > 0, got ${th.divergenceMm} mm, ${th.divergenceN} N`);
  if (o.mode !== 'open-loop' && o.mode !== 'closed-loop') throw new ReplayArgError(`mode must be open-loop or closed-loop, got ${JSON.stringify(o.mode)}`);
  if (o.mode === 'open-loop' && (o.policy !== undefined || o.policyModel !== undefined))
    throw new ReplayArgError('open loop executes the logged commands: a policy applies to closed loop only');
  if (o.mode === 'closed-loop' && o.policy === undefined && o.policyModel === undefined)
    throw new ReplayArgError("closed loop needs a policy: a registered version, an .onnx file, or 'p-only'");

  const src = readSource(o.db, o.sessionId, o.episodes);
  const connectors = loadConnectors(o.connectorsDir);
  const plans = planStarts(
    src,
    connectors.map((c) => c.name),
    o.mapConnector,
    o.goalError ?? null,
  );
  const notes: string[] = [];
  if (!src.simulated)
    notes.push(
      `session ${src.session.id} ran on '${src.session.backend}': starts rebuilt relative to x*; settings from ${o.configFile ?? 'config/daemon.yaml'} and ${o.calibrationDir ?? 'calibration/'}`,
    );

  const cfg = replayConfig(src, o, outDb);
  const cal = replayCalibration(src, o);
  const sourceSteps = cfg.practice.episodeSteps;

  // Models (loaded before anything is written, so a bad name leaves no trace).
  const owned: Array<ResidualPolicy | RewardScorer> = [];
  let policy: ResidualPolicy | null = null;
  let policyName: string | null = null;
  let reward: RewardScorer | null = o.rewardModel ?? null;
  try {
    if (o.mode === 'closed-loop') {
      if (o.policyModel !== undefined) policy = o.policyModel;
      else if (o.policy?.startsWith(BASELINE_PREFIX)) {
        // Made below, once the backend exists; checked now so that a bad name writes nothing.
        try {
          checkBaseline(o.policy.slice(BASELINE_PREFIX.length));
        } catch (e) {
          throw new ReplayArgError((e as Error).message);
        }
      } else if (o.policy !== 'p-only') {
        policy = await loadModel('policy', o.policy!, [o.db, outDb], async (p) => policyFromModel(await PolicyModel.load(p)));
        owned.push(policy);
      }
      policyName = policy?.version ?? 'p-only';
    }
    if (o.rewardModel === undefined && o.reward !== undefined) {
      reward = await loadModel('reward', o.reward, [o.db, outDb], async (p) => rewardFromModel(await RewardModel.load(p)));
      owned.push(reward);
    }
  } catch (e) {
    for (const m of owned) await m.dispose?.();
    throw e;
  }

  let sim: SimBackend;
  try {
    sim = await SimBackend.create({ connector: plans[0]!.domain, connectors, cell: simCellOptions(cfg) });
  } catch (e) {
    for (const m of owned) await m.dispose?.();
    throw e;
  }
  const backend = new ReplayBackend(sim);
  const openLoop = o.mode === 'open-loop' ? new OpenLoopResidual(backend, cal.gains.kp) : null;
  if (o.mode === 'closed-loop' && o.policyModel === undefined && o.policy?.startsWith(BASELINE_PREFIX)) {
    policy = new BaselineResidual(o.policy.slice(BASELINE_PREFIX.length), backend, cal.gains.kp, sourceSteps);
    policyName = policy.version;
  }
  let log: ReplayLog | null = null;
  let daemon: Daemon | null = null;
  try {
    log = ReplayLog.open(
      outDb,
      { sourceDb: o.db, sourceSessionId: o.sessionId, mode: o.mode, policy: openLoop ? OPEN_LOOP_VERSION : policyName, reward: reward?.version ?? null },
      cfg,
      cal,
    );
    const d = new Daemon({ backend, config: cfg, calibration: cal, log, policy: openLoop ?? policy, reward });
    daemon = d;
    const faults: string[] = [];
    d.on('fault', (m: string) => faults.push(m));
    const comparisons: EpisodeComparison[] = [];
    const repSamples: AuditSample[] = [];
    const logSamples: AuditSample[] = [];
    let controlSteps = 0;
    let seconds = 0;
    let cpuSeconds = 0;
    let aborted = false;
    for (const [k, plan] of plans.entries()) {
      if (o.signal?.aborted) {
        aborted = true;
        break;
      }
      const se = src.episodes[k]!;
      const loggedSteps = se.transitions.filter((t) => t.actionExecuted !== null);
      backend.plan(plan);
      log.next({
        sourceEpisodeId: se.record.id,
        seed: plan.seed,
        extra: { sourceDb: o.db, sourceSessionId: o.sessionId, mode: o.mode, loggedDomain: plan.loggedDomain },
      });
      // Open loop: the logged steps, plus one for a logged trip (its tick logged no row: the safety filter stopped it).
      cfg.practice.episodeSteps = openLoop ? Math.max(1, loggedSteps.length + (se.record.outcome === 'tripped' ? 1 : 0)) : sourceSteps;
      openLoop?.load(loggedSteps);
      let summary: EpisodeSummary | null = null;
      const onEpisode = (s: EpisodeSummary): void => {
        summary = s;
      };
      d.on('episode', onEpisode);
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      const started = d.startPractice({ count: 1, domain: plan.domain, scenario: plan.scenario, explorationNoise: 0, kind: 'eval' });
      if (!started.ok) throw new Error(`replay of episode ${se.record.id}: the daemon refused to start: ${started.reason}`);
      const maxTicks = 4 * cfg.practice.episodeSteps + 20;
      for (let i = 0; i < maxTicks; i++) {
        await d.settle();
        const st = d.currentState;
        if (st === 'idle' || st === 'estopped') break;
        await d.tick();
      }
      await d.settle();
      seconds += (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      cpuSeconds += (cpu.user + cpu.system) / 1e6;
      d.off('episode', onEpisode);
      if (d.currentState === 'estopped') {
        notes.push(
          `episode ${se.record.id}: the safety filter latched the e-stop (${d.status().safety.lastTrip?.detail ?? 'unknown'}); reset for the next episode`,
        );
        const r = d.resetEstop();
        if (!r.ok) throw new Error(`replay stopped at episode ${se.record.id}: e-stop cannot be reset: ${r.reason}`);
      } else if (d.currentState !== 'idle') {
        throw new Error(`replay of episode ${se.record.id} did not finish (daemon state ${d.currentState})`);
      }
      const s = summary as EpisodeSummary | null;
      const rep = s ? log.episodes.get(s.id) : undefined;
      const replayed = rep?.transitions ?? [];
      controlSteps += backend.step;
      const cmp = compareEpisode(
        {
          sourceEpisodeId: se.record.id,
          replayEpisodeId: s?.id ?? null,
          domain: plan.loggedDomain,
          replayedAs: plan.domain,
          start: backend.rebuilt,
          logged: side(se.record, loggedSteps.length),
          replay: s ? side(s, s.steps) : { outcome: null, reason: 'not run', gtSuccess: null, learnedSuccessProb: null, steps: 0 },
        },
        se.transitions,
        replayed,
        th,
      );
      comparisons.push(cmp);
      const a = auditSamples(
        { sourceEpisodeId: se.record.id, replayEpisodeId: s?.id ?? null, domain: plan.loggedDomain, partedAtStep: cmp.divergence.partedAtStep },
        se.transitions,
        replayed,
        backend.truths,
      );
      repSamples.push(...a.replayed);
      logSamples.push(...a.logged);
      o.onProgress?.({
        done: k + 1,
        total: plans.length,
        last: { sourceEpisodeId: se.record.id, sameOutcome: cmp.sameOutcome, partedAtStep: cmp.divergence.partedAtStep, replay: cmp.replay },
      });
      // Let timers and I/O of the hosting process run between episodes.
      await new Promise((r) => setImmediate(r));
    }
    if (faults.length) notes.push(...[...new Set(faults)].slice(0, 20).map((f) => `daemon fault: ${f}`));
    for (const c of comparisons) if (c.start?.note) notes.push(`episode ${c.sourceEpisodeId}: ${c.start.note}`);
    const threshold = cfg.practice.successThreshold;
    const audit: RewardAudit | null =
      repSamples.length || logSamples.length
        ? {
            replayed: repSamples.length ? auditClassifier('replayed', reward?.version ?? null, repSamples, threshold) : null,
            logged: logSamples.length ? auditClassifier('logged', null, logSamples, threshold) : null,
            notes: logSamples.length && !src.simulated ? ['logged predictions judged against the replay ground truth while on the logged trajectory only'] : [],
          }
        : null;
    await d.shutdown('replay finished');
    const sessionId = log.sessionId;
    await log.close();
    return {
      tool: 'replay',
      createdAt: new Date().toISOString(),
      mode: o.mode,
      source: { db: o.db, sessionId: o.sessionId, backend: src.session.backend, robot: src.session.robot, episodes: src.episodes.length },
      out: { db: outDb, sessionId },
      policy: openLoop ? OPEN_LOOP_VERSION : policyName,
      reward: reward?.version ?? null,
      thresholds: th,
      episodes: comparisons,
      overall: overall(comparisons),
      audit,
      speed: {
        controlSteps,
        seconds,
        stepsPerSecond: seconds > 0 ? controlSteps / seconds : 0,
        cpuSeconds,
        stepsPerCpuSecond: cpuSeconds > 0 ? controlSteps / cpuSeconds : 0,
      },
      notes,
      aborted,
    };
  } finally {
    if (daemon) await daemon.shutdown('replay ended').catch(() => undefined);
    await log?.close().catch(() => undefined);
    sim.dispose();
    for (const m of owned) await m.dispose?.();
  }
}

export { ReplaySourceError };
