/**
 * Offline IQL on the training connectors' prior data (thesis ch. 10.5.2): per-network DAIB encoders (or, with
 * `encoderMethod`, an ablation of them: 'erm' = plain encoders for table 7's "no DAIB in the policy"), random-shift
 * augmentation, reward = the logged rewardProb (ground truth 0/1 on prior data, see src/data/README.md), resumable
 * checkpoints, then ONNX export of the deterministic policy and the three frozen encoders with cards.
 *
 * Resumability: the minibatch of update k is a pure function of (seed, k) (a fresh sampler stream per step), and the
 * agent's noise/augmentation already is (src/learn/iql.ts), so resuming from the checkpoint at step k repeats exactly
 * what the uninterrupted run did after step k. An interrupted run loses only the steps since its last checkpoint.
 */
import { cardPreprocessing, DEFAULT_PROPRIO_SPEC } from '../policy/inputs.ts';
import { join } from 'node:path';
import { TransitionSampler, describeTransitions, loadTransitions, type TransitionDataset } from '../data/dataset.ts';
import { assertNoHeldOut, type Split } from '../data/splits.ts';
import { backendLabel } from '../learn/backend.ts';
import type { DaibMethod } from '../learn/daib.ts';
import { DEFAULT_IQL, IqlAgent, iqlDaibConfig, type IqlConfig, type IqlStats } from '../learn/iql.ts';
import { saveOnnxModel } from '../learn/export.ts';
import { assignValues, polyakArrays, variableValues } from '../learn/optim.ts';
import type { ModelCard } from '../policy/card.ts';
import { Store } from '../store/index.ts';
import { deriveSeed } from '../util/rng.ts';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { log } from './common.ts';

/** Proprio scaling baked into the policy (Scale layer): metres -> cm-ish units (x100), N -> x0.1, N m -> x1. */
export const PROPRIO_SCALE = [100, 100, 100, 0.1, 0.1, 0.1, 1, 1, 1];

export interface OfflineOptions {
  db: string;
  /** Version written into the exported cards; raise it when a new model replaces a shipped one at the same path (a daemon registers name@version once). */
  cardVersion: number;
  split: Split;
  /** Total updates of the run (a resumed run continues up to this). */
  steps: number;
  /** Square network input (px); logged images are area-resized to it by the loader. */
  imageSize: number;
  batchSize: number;
  /** Conv filters per encoder layer (each stride 2). */
  filters: number[];
  zIDim: number;
  zSDim: number;
  /** Hidden widths of the policy, Q and V heads. */
  hidden: number[];
  /** Q critics (default 2, twin Q); e.g. 10 = RLPD's ensemble (target: min of a random 2), kept by the online trainer. */
  critics?: number;
  /** Objective of the per-network encoders: 'daib' (the research's), or an ablation; 'erm' = no domain adversary and
   *  no bottleneck (z = zI; table 7's "no DAIB in the policy"). See src/learn/daib.ts. */
  encoderMethod: DaibMethod;
  seed: number;
  checkpointDir: string | null;
  /** Save a checkpoint every this many updates (and at the end). */
  checkpointEvery: number;
  resume: boolean;
  logEvery: number;
  /** Stop (as if interrupted) after this many updates in this process; tests use it. */
  stopAfter?: number;
  /** Residual bound per axis (m); must match the daemon's residualBoundM. */
  actionBound: number;
  /** Polyak rate of a running average of every trained weight (encoders, heads, log std): after each update
   *  avg <- (1 - rate) avg + rate w, and the last step's checkpoint and the export carry the average, not the last
   *  SGD iterate (one run's raw policy swings between checkpoints: results/offline-stage/). 0 = off. The average
   *  restarts from the current weights when a run resumes. */
  weightAverage: number;
  /**
   * The actor's learning rate over the run: 'constant' (IqlConfig.actorLr at every update) or 'cosine', IQL's reference
   * recipe: actorLr (1 + cos(pi k / steps)) / 2 at update k, falling to 0 at the last, so the exported policy is a
   * settled fit of the final advantages, not wherever a constant-step iterate happened to stop (one run's policy swings
   * between checkpoints: results/offline-stage/). A function of the step, so a resumed run follows it exactly; critics
   * and V keep their constant rates, and the online trainer starts again at actorLr.
   */
  actorLrSchedule: ActorLrSchedule;
  onLog?: (s: IqlStats & { updatesPerSec: number }) => void;
  /** Called after each checkpoint is saved (train-offline's checkpoint selection, src/offline/select.ts). */
  onCheckpoint?: (run: OfflineModel) => Promise<void>;
}

/** What an export needs of a run: the agent and the data it was trained on. */
export type OfflineModel = Pick<OfflineRun, 'agent' | 'data' | 'domains' | 'digest'>;

export const DEFAULT_OFFLINE: Omit<OfflineOptions, 'db' | 'split' | 'checkpointDir'> = {
  cardVersion: 1,
  steps: 2000,
  imageSize: 32,
  batchSize: 128,
  filters: [16, 16, 16],
  zIDim: 16,
  zSDim: 16,
  hidden: [256, 256],
  encoderMethod: 'daib',
  seed: 0,
  checkpointEvery: 200,
  resume: false,
  logEvery: 50,
  actionBound: 0.005,
  weightAverage: 0,
  actorLrSchedule: 'constant',
};

export const ACTOR_LR_SCHEDULES = ['constant', 'cosine'] as const;
export type ActorLrSchedule = (typeof ACTOR_LR_SCHEDULES)[number];

/** The actor's learning rate for update `step` (0-based) of a `steps`-update run: see OfflineOptions.actorLrSchedule. */
export function actorLearningRate(schedule: ActorLrSchedule, base: number, step: number, steps: number): number {
  if (schedule === 'constant') return base;
  return (base * (1 + Math.cos((Math.PI * Math.min(step, steps)) / steps))) / 2;
}

export interface OfflineRun {
  agent: IqlAgent;
  data: TransitionDataset;
  domains: string[];
  digest: { episodes: number; transitions: number; sha256: string };
  /** Updates done by this process, and wall time of training in this process (a resumed run counts only its own part). */
  updatesThisRun: number;
  seconds: number;
  last: IqlStats | null;
  /** True when stopAfter cut the run short. */
  interrupted: boolean;
}

export function offlineConfig(
  o: Pick<OfflineOptions, 'imageSize' | 'filters' | 'zIDim' | 'zSDim' | 'hidden' | 'critics' | 'encoderMethod' | 'seed' | 'batchSize' | 'actionBound'>,
  numDomains: number,
): IqlConfig {
  const strides = o.filters.map(() => 2);
  return {
    ...DEFAULT_IQL,
    mode: 'image',
    proprioDim: DEFAULT_PROPRIO_SPEC.layout.length,
    proprioScale: PROPRIO_SCALE,
    actionScale: [o.actionBound, o.actionBound, o.actionBound],
    hidden: o.hidden,
    ...(o.critics !== undefined && o.critics !== 2 ? { critics: o.critics, targetCritics: 2 } : {}),
    batchSize: o.batchSize,
    shiftPad: Math.max(1, Math.round(o.imageSize / 16)),
    seed: o.seed,
    daib: iqlDaibConfig({
      method: o.encoderMethod,
      numDomains,
      encoder: { inputShape: [o.imageSize, o.imageSize, 3], filters: o.filters, kernelSize: 3, strides, padding: 'same', zIDim: o.zIDim, zSDim: o.zSDim },
      domainHidden: [64],
    }),
  };
}

/** Loads the training connectors' prior data and trains (resuming when asked and a checkpoint exists). */
export async function trainOffline(o: OfflineOptions): Promise<OfflineRun> {
  const store = Store.openReadOnly(o.db);
  let data: TransitionDataset;
  let digest: OfflineRun['digest'];
  let domains: string[];
  try {
    domains = o.split.train.filter((d) => store.countTransitions({ domain: d, kind: 'prior' }) > 0);
    if (domains.length === 0) throw new Error(`${o.db}: no prior episodes of any training connector (${o.split.train.join(', ')})`);
    assertNoHeldOut(o.split, domains, 'offline IQL data');
    data = loadTransitions(store, { domains, imageSize: o.imageSize });
    digest = store.datasetDigest({ domain: domains, kind: 'prior' });
  } finally {
    store.close();
  }
  const agent = new IqlAgent(offlineConfig(o, domains.length));
  const backend = backendLabel();
  const d = describeTransitions(data);
  log(
    backend,
    `offline IQL: ${d.transitions} transitions, ${d.episodes} episodes, ${domains.length} connectors, reward mean ${d.rewardMean.toFixed(3)}; encoders ${o.encoderMethod}; backend ${backend}`,
  );
  if (o.checkpointDir) {
    // The checkpoints belong to one training set: refuse to resume on different data (the card's hash would lie).
    const runFile = join(o.checkpointDir, 'run.json');
    if (o.resume && existsSync(join(o.checkpointDir, 'latest.json'))) {
      const prev = existsSync(runFile) ? (JSON.parse(readFileSync(runFile, 'utf8')) as { digest?: { sha256?: string } }) : null;
      if (prev?.digest?.sha256 !== digest.sha256) {
        throw new Error(
          `${runFile}: the checkpoints were trained on data with sha256 ${String(prev?.digest?.sha256)}, but ${o.db} now holds ${digest.sha256}; use a new --checkpoint-dir (or restore that database; digests recorded before December 2026 also hashed each row's wall-clock time)`,
        );
      }
      await agent.loadCheckpoint(o.checkpointDir);
      log(backend, `resumed from ${o.checkpointDir} at step ${agent.step}`);
    } else {
      mkdirSync(o.checkpointDir, { recursive: true });
      writeFileSync(
        runFile,
        `${JSON.stringify({ db: o.db, digest, domains, encoderMethod: o.encoderMethod, startedAt: new Date().toISOString() }, null, 1)}\n`,
      );
    }
  }
  const t0 = performance.now();
  let tLog = t0;
  let stepsLog = 0;
  let done = 0;
  let last: IqlStats | null = null;
  let interrupted = false;
  const trained = o.weightAverage > 0 ? agent.trainedVariables() : [];
  const avg = o.weightAverage > 0 ? variableValues(trained) : null;
  while (agent.step < o.steps) {
    if (o.stopAfter !== undefined && done >= o.stopAfter) {
      interrupted = true;
      break;
    }
    // The batch of update k depends only on (seed, k): see the file header.
    const sampler = new TransitionSampler(data, { seed: deriveSeed(o.seed, 'offline-batch', agent.step), batchSize: o.batchSize });
    if (o.actorLrSchedule !== 'constant') agent.setActorLearningRate(actorLearningRate(o.actorLrSchedule, agent.config.actorLr, agent.step, o.steps));
    last = agent.update(sampler.sample());
    if (avg) {
      polyakArrays(avg, variableValues(trained), o.weightAverage);
      if (agent.step === o.steps) assignValues(trained, avg);
    }
    done++;
    stepsLog++;
    if (agent.step % o.logEvery === 0 || agent.step === o.steps) {
      const now = performance.now();
      const ups = (stepsLog * 1000) / Math.max(1, now - tLog);
      tLog = now;
      stepsLog = 0;
      log(
        backend,
        `step ${agent.step}/${o.steps} vLoss ${last.vLoss.toFixed(4)} qLoss ${last.qLoss.toFixed(4)} piLoss ${last.piLoss.toFixed(3)} ` +
          `Q mean ${last.qMean.toFixed(3)} max ${last.qMax.toFixed(3)} V mean ${last.vMean.toFixed(3)} adv ${last.advMean.toFixed(3)} w ${last.weightMean.toFixed(2)} ` +
          `logStd ${last.logStdMean.toFixed(2)}${Number.isFinite(last.domainCe) ? ` domCE ${last.domainCe.toFixed(3)}` : ''}` +
          `${Number.isFinite(last.kl) ? ` KL ${last.kl.toFixed(3)}` : ''} | ${ups.toFixed(2)} upd/s`,
      );
      o.onLog?.({ ...last, updatesPerSec: ups });
    }
    if (o.checkpointDir && (agent.step % o.checkpointEvery === 0 || agent.step === o.steps)) {
      await agent.saveCheckpoint(o.checkpointDir);
      await o.onCheckpoint?.({ agent, data, domains, digest });
    }
  }
  return { agent, data, domains, digest, updatesThisRun: done, seconds: (performance.now() - t0) / 1000, last, interrupted };
}

/** How the cards name the encoders of a method: what they are and what their features are. */
function encoderWords(method: DaibMethod): { policy: string; encoder: string; features: string } {
  switch (method) {
    case 'daib':
      return { policy: 'with its own DAIB encoder', encoder: 'DAIB encoder', features: 'concat(zI, zS mean)' };
    case 'erm':
      return {
        policy: 'without DAIB (ERM encoders: no domain adversary, no bottleneck), with its own plain encoder',
        encoder: 'ERM encoder (no DAIB)',
        features: 'zI',
      };
    case 'vib':
      return { policy: 'with its own bottleneck-only encoder (VIB, DAIB ablation)', encoder: 'VIB encoder (DAIB ablation)', features: 'zS mean' };
    case 'dann':
      return { policy: 'with its own adversarial-only encoder (DANN, DAIB ablation)', encoder: 'DANN encoder (DAIB ablation)', features: 'zI' };
    case 'daib-nobottleneck':
      return { policy: 'with its own DAIB encoder without bottleneck (DAIB ablation)', encoder: 'DAIB encoder without bottleneck', features: 'concat(zI, zS)' };
  }
}

export interface ExportedOffline {
  policy: ModelCard;
  encoders: Record<'pi' | 'q' | 'v', ModelCard>;
}

/** Export the deterministic policy to `<outDir>/policy.onnx` and the encoders to `<outDir>/encoder-{pi,q,v}.onnx`, with cards. */
export function exportOffline(
  run: OfflineModel,
  o: OfflineOptions,
  outDir: string,
  extra: { metrics?: Record<string, number>; trainingSeconds?: number; selection?: unknown } = {},
): ExportedOffline {
  const { agent, data, domains, digest } = run;
  const c = agent.config;
  const training = {
    connectors: domains,
    heldOut: o.split.heldOut,
    episodes: digest.episodes,
    transitions: data.count,
    database: { path: o.db, sha256: digest.sha256 },
    updates: agent.step,
    seed: o.seed,
  };
  const method = c.daib?.method ?? o.encoderMethod;
  const words = encoderWords(method);
  const hyperparameters = {
    iql: c,
    encoderMethod: method,
    batchSize: o.batchSize,
    steps: o.steps,
    actorLrSchedule: o.actorLrSchedule,
    imageSize: o.imageSize,
    reward: 'rewardProb (ground truth 0/1 on prior data)',
    augmentation: `random shift, pad ${c.shiftPad} px`,
    split: o.split.source,
    trainingSecondsThisProcess: extra.trainingSeconds ?? null,
    // The checkpoint selection that chose this one, when the run selected (src/offline/select.ts).
    ...(extra.selection !== undefined ? { selection: extra.selection } : {}),
  };
  const created = new Date().toISOString();
  const policyModel = agent.policyInferenceModel();
  const b = o.actionBound;
  const { card: policy } = saveOnnxModel(policyModel, join(outDir, 'policy.onnx'), {
    inputRoles: ['image', 'proprio'],
    outputRoles: ['action'],
    card: {
      kind: 'policy',
      name: 'policy-iql-offline',
      version: o.cardVersion,
      created,
      description: `Offline IQL residual policy (deterministic mean, tanh-bounded) ${words.policy}, trained on simulated prior data of the training connectors. u = u_H + residual.`,
      preprocessing: cardPreprocessing(o.imageSize, DEFAULT_PROPRIO_SPEC),
      action: { low: [-b, -b, -b], high: [b, b, b], units: 'm/step' },
      training,
      hyperparameters,
      backend: agent.backend,
      metrics: extra.metrics ?? {},
    },
  });
  const encoders = {} as Record<'pi' | 'q' | 'v', ModelCard>;
  for (const which of ['pi', 'q', 'v'] as const) {
    const m = agent.encoderInferenceModel(which);
    const { card } = saveOnnxModel(m, join(outDir, `encoder-${which}.onnx`), {
      inputRoles: ['image'],
      outputRoles: ['features'],
      card: {
        kind: 'encoder',
        name: `encoder-${which}`,
        version: o.cardVersion,
        created,
        description: `Frozen ${words.encoder} of the ${which === 'pi' ? 'policy' : which === 'q' ? 'Q' : 'value'} network from offline IQL: image -> ${words.features}, the features cached for online learning.`,
        preprocessing: cardPreprocessing(o.imageSize, null),
        training,
        hyperparameters,
        backend: agent.backend,
        metrics: {},
      },
    });
    encoders[which] = card;
  }
  return { policy, encoders };
}
