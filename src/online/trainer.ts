/**
 * Online IQL beside the daemon (thesis ch. 10.5.3; RLPD for the 50/50 mix), reading top to bottom:
 *
 *   0. Start from the offline IQL checkpoint (or this trainer's own newer checkpoint after a restart); freeze the
 *      encoders: from now on each network sees the bottleneck MEAN of its frozen DAIB encoder (computeFeatures);
 *      with a checkpoint of another encoder method (train-offline --encoder-method erm: table 7's "no DAIB in the
 *      policy") the features are whatever that encoder outputs (ERM: zI), with widths from the agent's featureDims.
 *   1. Offline replay: the training connectors' prior data; features computed once at start-up for K copies of every
 *      observation, copy 0 unshifted and copies 1..K-1 random-shifted (augmentation has to happen before the encoder,
 *      so it is precomputed: a sampled offline transition picks one of its K copies at random).
 *   2. Online replay: the daemon's practice transitions, read incrementally from the same SQLite file (ended episodes
 *      only, so s' is known); features computed once, without augmentation, and cached in the store (putFeatures) so
 *      a restarted trainer does not recompute them. Reward = the reward classifier's probability on the NEXT
 *      observation, which the daemon logged as rewardProb after its lift check (daemon/scoring.ts; ground truth only
 *      with reward: 'gt', an ablation), unless an operator labelled the episode: data/labels.ts learningReward is the
 *      one rule, re-applied when a label arrives.
 *      Operator takeovers (intervention transitions; their logged action is executed - u_H, the residual the policy
 *      should have output) go, marked, into BOTH buffers as HIL-SERL does: the online one like any practice step, and
 *      the offline/demonstration one (addDemonstrations), so that they stay in every batch's offline share too.
 *   3. Updates: each batch = round(onlineFraction * B) online + the rest offline samples; `utd` updates per new
 *      environment step (transition) are owed and paid as data arrives (`utdLate` each once its robot/connector group
 *      has `utdLateAfter` transitions: a schedule that learns a new connector fast and then trains less hard).
 *   4. Every `exportEvery` updates (0: after the updates owed for each new batch of episodes) the deterministic policy
 *      (frozen pi encoder + a Polyak average of the trained head, `policyAverage`) is exported to ONNX with a card,
 *      registered in the store, checkpointed, and announced (onExport) - the daemon validates and hot-swaps it (src/swap).
 */
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTransitions, observationOf, type TransitionDataset } from '../data/dataset.ts';
import { learningReward } from '../data/labels.ts';
import { cardPreprocessing, DEFAULT_PROPRIO_SPEC, modelImageBytes, ProprioBuilder } from '../policy/inputs.ts';
import { initBackend, nativeGemm, tensorMemory } from '../learn/backend.ts';
import { saveOnnxModel } from '../learn/export.ts';
import { savedDaibConfig } from '../learn/daib.ts';
import { IqlAgent, type IqlConfig, type IqlStats } from '../learn/iql.ts';
import { gatherImages, netVariables, type Mlp } from '../learn/nets.ts';
import { assignValues, polyakArrays, variableValues } from '../learn/optim.ts';
import { sha256Hex, type ModelCard } from '../policy/card.ts';
import { Store } from '../store/index.ts';
import type { RewardTunerConfig } from './reward-tuner.ts';
import { LEARNING_DEFAULTS, type FleetSampling } from '../config/schema.ts';
import type { TransitionRecord } from '../store/types.ts';
import { deriveSeed, Rng } from '../util/rng.ts';
import { EvidenceGate, meanAdvantages, type GateStatus } from './evidence-gate.ts';
import { median } from '../util/stats.ts';

export interface OnlineTrainerConfig {
  /** The daemon's log (read: practice transitions; write: feature cache, model registrations). */
  db: string;
  /** Prior data for the offline share of each batch (null: online only, e.g. tests). */
  offlineDb: string | null;
  /** Connectors of the offline data (the training connectors). */
  offlineDomains: string[];
  /** Online data: only practice episodes of these connectors (empty: any). */
  onlineDomains: string[];
  /** Offline IQL checkpoint directory to start from (latest.json). */
  startCheckpoint: string;
  /** This trainer's own checkpoints (resume after a crash); exports go to `<workDir>/models/`. */
  workDir: string;
  /** Fraction of each batch from online data: 0.25 in the research, 0.5 = RLPD, 1 = practice data alone (the default,
   *  src/config/schema.ts: it learned faster and dipped less over three seeds, results/online-seeds-of100/). */
  onlineFraction: number;
  batchSize: number;
  /** Updates per new environment step (transition). */
  utd: number;
  /** Transitions of a connector (robot/connector group) after which its new transitions owe `utdLate` updates each
   *  instead of `utd`; 0: `utd` throughout. */
  utdLateAfter: number;
  utdLate: number;
  /** Export every N updates; 0 = after the updates owed for each new set of ended episodes. */
  exportEvery: number;
  /** Threads of the native kernels (1 or 2; src/learn/gemm.ts); null: INSERTION_GEMM_THREADS, else 1. */
  gemmThreads: number | null;
  /** Inputs of the native GEMMs ('bf16': rounded, through oneDNN; src/config/schema.ts); null: INSERTION_GEMM_PRECISION, else fp32. */
  gemmPrecision: 'fp32' | 'bf16' | null;
  /** Offline feature copies (1 = no augmentation; K > 1: copies 1..K-1 random-shifted by the agent's shiftPad). */
  offlineAugmentCopies: number;
  /** 'rewardProb' (the learned reward, default) or 'gt' (simulator ground truth; ablation only). */
  reward: 'rewardProb' | 'gt';
  /** Minimum online transitions before the first update. */
  minOnline: number;
  seed: number;
  /** Cap of owed updates (a trainer that fell far behind does not spend an hour catching up). */
  maxOwed: number;
  /** Card name of exported versions; the version number is the agent's update count. */
  exportName: string;
  /** Polyak rate of the EXPORTED policy head: after every update avg <- (1 - rate) avg + rate pi, and exports carry
   *  the average. The residual must be right to a fraction of a millimetre (the clearance), and raw SGD weights move it
   *  by more than that between exports (test/online/learning.test.ts's set-up with the 32 px reward, successes /20
   *  every 10 episodes: raw weights 0 7 0 19 0; 0.002: 0 0 0 9 18 18 19). 1 = raw weights. The average restarts from
   *  the current weights when the trainer restarts. */
  policyAverage: number;
  /** Fine-tune the reward classifier on operator labels beside the policy (reward-tuner.ts); absent/null: off. */
  rewardTune?: RewardTunerConfig | null;
  /** Warm-up at the switch from offline to online: the first N updates train the critics (Q, V) only, so the policy
   *  (and every export) stays the offline one until the critics have adapted to the practice data and its learned
   *  reward; 0 = none. Not repeated when the trainer resumes from its own checkpoint. */
  warmupUpdates: number;
  /** The evidence gate (evidence-gate.ts): every export carries the offline policy head until every critic ranks the
   *  candidate above it on newly read practice states; false = off (exports follow the average from the first actor
   *  update). Not re-applied when the trainer resumes from its own checkpoint. */
  evidenceGate: boolean;
  /** Adam learning rate of the policy head online; null = the checkpoint's (3e-4). A lower one is VRL3's
   *  conservative start. */
  actorLr: number | null;
  /** Inverse temperature of the AWR weights exp(beta * A) online; null = the checkpoint's (3). */
  temperature: number | null;
  /** Q critics; null = the checkpoint's. More than the checkpoint has: RLPD's ensemble, the extra critics started by
   *  IqlAgent.loadCheckpoint's critic growth (hidden layers of the checkpoint's critics, fresh output layers). */
  critics: number | null;
  /** Target critics in each update's min (RLPD: a random 2 of 10); null = the checkpoint's (2). */
  targetCritics: number | null;
  /** Polyak rate of the target critics; null = the checkpoint's (0.005). */
  criticPolyak: number | null;
  /** Hindsight aims (`seatedAims`): each online row whose plug rests on the socket's face gets its connector's aim,
   *  the median of where its latest seated practice episodes ended, counted in the actor's loss as one more action of
   *  this weight x the batch's mean advantage weight (IqlConfig.aimWeight); 0 = off. */
  hindsightWeight: number;
  /** Weights of the online rows in each batch's online share, by the arm (the session's robot: in the fleet learner's
   *  mirror, the arm's robot id) and the connector (the episode's domain): a row's weight is arms[robot] x
   *  connectors[domain], 1 where unnamed, 0 leaves it out. Absent/null or both empty: uniform (as before). */
  sampling?: FleetSampling | null;
  /** Directory of offline feature caches (absent/null: computed at every start). The offline features are the frozen
   *  encoders' outputs on every prior observation (K copies): tens of CPU seconds per start, the same for every trainer
   *  started from one checkpoint on one prior database with one seed (the experiment starts one per connector). */
  featureCache?: string | null;
}

/** The trainer settings a config's learning section declares (src/config/schema.ts): the daemon's and the experiment's. */
export type TrainerSettings = Pick<
  OnlineTrainerConfig,
  | 'onlineFraction'
  | 'utd'
  | 'utdLateAfter'
  | 'utdLate'
  | 'batchSize'
  | 'policyAverage'
  | 'warmupUpdates'
  | 'evidenceGate'
  | 'actorLr'
  | 'temperature'
  | 'critics'
  | 'targetCritics'
  | 'criticPolyak'
  | 'hindsightWeight'
  | 'exportEvery'
  | 'gemmThreads'
  | 'gemmPrecision'
>;

export function trainerSettings(l: TrainerSettings): TrainerSettings {
  return {
    onlineFraction: l.onlineFraction,
    utd: l.utd,
    utdLateAfter: l.utdLateAfter,
    utdLate: l.utdLate,
    batchSize: l.batchSize,
    policyAverage: l.policyAverage,
    warmupUpdates: l.warmupUpdates,
    evidenceGate: l.evidenceGate,
    actorLr: l.actorLr,
    temperature: l.temperature,
    critics: l.critics,
    targetCritics: l.targetCritics,
    criticPolyak: l.criticPolyak,
    hindsightWeight: l.hindsightWeight,
    exportEvery: l.exportEvery,
    gemmThreads: l.gemmThreads,
    gemmPrecision: l.gemmPrecision,
  };
}

/** Defaults of everything but the paths: the declared learning settings plus what only the trainer knows. */
export const DEFAULT_ONLINE: Omit<OnlineTrainerConfig, 'db' | 'offlineDb' | 'offlineDomains' | 'startCheckpoint' | 'workDir'> = {
  ...trainerSettings(LEARNING_DEFAULTS),
  onlineDomains: [],
  offlineAugmentCopies: 2,
  reward: 'rewardProb',
  minOnline: 1,
  seed: 0,
  maxOwed: 5000,
  exportName: 'policy-iql-online',
};

export interface TrainerProgress {
  updates: number;
  /** Live tfjs tensors and their MiB (flat once training runs: test/online/trainer.test.ts). */
  tensors?: { count: number; MiB: number };
  /** Agent step (offline + online updates). */
  agentStep: number;
  onlineTransitions: number;
  offlineTransitions: number;
  /** Operator takeover steps learned from: in the online buffer, and copied into the offline/demonstration buffer. */
  interventions: { online: number; offline: number };
  episodesSeen: number;
  owed: number;
  losses: { vLoss: number; qLoss: number; piLoss: number; qMean: number; vMean: number } | null;
  /** Mean learned reward (rewardProb) of the online transitions seen so far. */
  meanPredictedReward: number | null;
  /** Operator labels read (each overrides its episode's rewards). */
  labels: number;
  /** Hindsight aims (learning.hindsightWeight > 0), by arm and connector (the sampling group's key): the lateral
   *  residual (mm) its face states are pulled toward; absent when off. */
  hindsightAims?: Record<string, { dxMm: number; dyMm: number }>;
  updatesPerSec: number | null;
  /** CPU time per update (ms, all threads of the trainer): 1000 / this = the updates/s one free core would give,
   *  a figure that does not depend on how busy the machine is. */
  cpuMsPerUpdate?: number | null;
  /** Where the trainer's CPU went over the same window, ms per update: `process` all of the process's CPU (every
   *  thread, in updates or not), `update` the process's CPU inside updates (= cpuMsPerUpdate), `mainThread` the
   *  update thread's own CPU inside updates, of which `batch` (sampling and gathering the batch), `agent` (the IQL
   *  update) and `average` (the exported policy's average); `poll` (reading and encoding new practice rows) and
   *  `export` (ONNX, checkpoint, registration) outside updates. */
  cpuBreakdown?: CpuBreakdown | null;
  /** The engine the updates run on (tfjs backend, GEMM, fused heads), as in the model cards. */
  engine?: string;
  exports: number;
  lastExport: { version: string; path: string; modelId: number } | null;
  /** Critic-only warm-up updates still to come (the policy is the offline one until 0). */
  warmupLeft: number;
  /** The evidence gate (null: off). */
  gate: GateStatus | null;
}

export interface CpuBreakdown {
  process: number;
  update: number;
  mainThread: number;
  batch: number;
  agent: number;
  average: number;
  poll: number;
  export: number;
}

/** CPU ms of the calling thread (the native addon's clock; NaN without it) and of the whole process. */
const threadMs = (): number => nativeGemm()?.threadCpuMs() ?? NaN;
const processMs = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

export interface ExportInfo {
  path: string;
  version: string;
  modelId: number;
  updates: number;
  exportedAt: number;
}

/** What an online replay row's reward was made from, so that a label arriving later can re-make it (data/labels.ts). */
interface RewardOrigin {
  episodeId: number;
  rewardProb: number | null;
  gtSuccess: boolean | null;
  last: boolean;
}

interface Replay {
  n: number;
  /** Per transition: feature rows of s and s' (index into feats), action (3), reward, done. */
  obs: Int32Array;
  next: Int32Array;
  action: Float32Array;
  reward: Float32Array;
  done: Float32Array;
  proprio: Float32Array;
  nextProprio: Float32Array;
  /** 1 where an operator's takeover drove the step (a demonstration), else 0. */
  intervention: Uint8Array;
}

const PD = DEFAULT_PROPRIO_SPEC.layout.length;
/** Hindsight aims: the seated endings a group's aim is the median of, at most and at least. */
const AIM_WINDOW = 9;
const AIM_MIN = 3;
/** A state rests on the socket's face: the tip this far above x* (m; a seated one is at it) and pressing this hard (N). */
const FACE_HEIGHT_M = 0.003;
const FACE_FORCE_N = 5;

/** A rate window's CPU sums (CpuBreakdown's fields, ms), starting at the process's CPU `process`. */
function cpuSums(process: number) {
  return { process, mainThread: 0, batch: 0, agent: 0, average: 0, poll: 0, export: 0 };
}

/** One update's batch, allocated once per batch size and feature widths. */
class BatchBuffers {
  readonly rowsS: Int32Array;
  readonly rowsN: Int32Array;
  readonly action: Float32Array;
  readonly reward: Float32Array;
  readonly done: Float32Array;
  readonly proprio: Float32Array;
  readonly nextProprio: Float32Array;
  readonly s: IqlFeatures3;
  readonly next: IqlFeatures3;
  /** The online replay row of each of the batch's online rows. */
  readonly onlineRows: Int32Array;
  readonly aims: Float32Array;

  constructor(
    readonly size: number,
    readonly dims: { pi: number; q: number; v: number },
  ) {
    const feats = (): IqlFeatures3 => ({
      pi: new Float32Array(size * dims.pi),
      q: new Float32Array(size * dims.q),
      v: new Float32Array(size * dims.v),
    });
    this.rowsS = new Int32Array(size);
    this.rowsN = new Int32Array(size);
    this.action = new Float32Array(size * 3);
    this.reward = new Float32Array(size);
    this.done = new Float32Array(size);
    this.proprio = new Float32Array(size * PD);
    this.nextProprio = new Float32Array(size * PD);
    this.s = feats();
    this.next = feats();
    this.onlineRows = new Int32Array(size);
    this.aims = new Float32Array(size * 3);
  }

  fits(size: number, dims: { pi: number; q: number; v: number }): boolean {
    return size === this.size && dims.pi === this.dims.pi && dims.q === this.dims.q && dims.v === this.dims.v;
  }
}

type IqlFeatures3 = { pi: Float32Array; q: Float32Array; v: Float32Array };

/**
 * The offline features on disk, keyed by everything they depend on: the encoders (checkpoint), the prior database
 * (file, size, modification time, the transitions read), the connectors, the copies and their augmentation seed. A
 * file of the wrong length is ignored (recomputed). Written under a temporary name and renamed, so trainers started
 * side by side never read half a file.
 */
function offlineFeatureCache(
  c: OnlineTrainerConfig,
  encoderVersion: string,
  d: TransitionDataset,
  K: number,
  shiftPad: number,
  dims: { pi: number; q: number; v: number },
): { read: () => IqlFeatures3 | null; write: (f: IqlFeatures3) => void } {
  const dir = c.featureCache as string;
  const db = c.offlineDb as string;
  const st = statSync(db);
  const key = sha256Hex(
    Buffer.concat([
      Buffer.from(
        JSON.stringify({
          encoderVersion,
          db: realpathSync(db),
          size: st.size,
          mtimeMs: st.mtimeMs,
          domains: c.offlineDomains,
          K,
          shiftPad,
          seed: c.seed,
          dims,
        }),
      ),
      Buffer.from(d.transitionId.buffer, d.transitionId.byteOffset, d.transitionId.byteLength),
    ]),
  ).slice(0, 24);
  const file = join(dir, `offline-${key}.f32`);
  const rows = d.obsCount * K;
  const lengths = [rows * dims.pi, rows * dims.q, rows * dims.v];
  return {
    read: () => {
      if (!existsSync(file)) return null;
      const b = readFileSync(file);
      if (b.byteLength !== 4 * (lengths[0]! + lengths[1]! + lengths[2]!)) return null;
      const all = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      return { pi: all.subarray(0, lengths[0]), q: all.subarray(lengths[0], lengths[0]! + lengths[1]!), v: all.subarray(lengths[0]! + lengths[1]!) };
    },
    write: (f) => {
      mkdirSync(dir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, Buffer.concat([f.pi, f.q, f.v].map((x) => Buffer.from(x.buffer, x.byteOffset, x.byteLength))));
      renameSync(tmp, file);
    },
  };
}

/** Growable feature table: row i = [pi | q | v] features of one observation copy. */
class FeatureTable {
  pi: Float32Array;
  q: Float32Array;
  v: Float32Array;
  rows = 0;
  constructor(
    private readonly dims: { pi: number; q: number; v: number },
    cap = 1024,
  ) {
    this.pi = new Float32Array(cap * dims.pi);
    this.q = new Float32Array(cap * dims.q);
    this.v = new Float32Array(cap * dims.v);
  }
  add(f: { pi: Float32Array; q: Float32Array; v: Float32Array }, count: number): number {
    const start = this.rows;
    const need = start + count;
    if (need * this.dims.pi > this.pi.length) {
      const cap = Math.max(need, (this.pi.length / this.dims.pi) * 2);
      const grow = (a: Float32Array, d: number): Float32Array => {
        const b = new Float32Array(cap * d);
        b.set(a);
        return b;
      };
      this.pi = grow(this.pi, this.dims.pi);
      this.q = grow(this.q, this.dims.q);
      this.v = grow(this.v, this.dims.v);
    }
    this.pi.set(f.pi, start * this.dims.pi);
    this.q.set(f.q, start * this.dims.q);
    this.v.set(f.v, start * this.dims.v);
    this.rows = need;
    return start;
  }
  gather(rows: Int32Array): { pi: Float32Array; q: Float32Array; v: Float32Array } {
    const out = {
      pi: new Float32Array(rows.length * this.dims.pi),
      q: new Float32Array(rows.length * this.dims.q),
      v: new Float32Array(rows.length * this.dims.v),
    };
    this.gatherInto(rows, out, 0);
    return out;
  }
  /** Rows `rows` into out's arrays from row `at` on (element loops: no per-row views to allocate). */
  gatherInto(rows: Int32Array, out: { pi: Float32Array; q: Float32Array; v: Float32Array }, at: number): void {
    for (const k of ['pi', 'q', 'v'] as const) {
      const d = this.dims[k];
      const src = this[k];
      const dst = out[k];
      for (let i = 0; i < rows.length; i++) {
        const r = (rows[i] as number) * d;
        const o = (at + i) * d;
        for (let j = 0; j < d; j++) dst[o + j] = src[r + j] as number;
      }
    }
  }
}

function emptyReplay(): Replay {
  return {
    n: 0,
    obs: new Int32Array(0),
    next: new Int32Array(0),
    action: new Float32Array(0),
    reward: new Float32Array(0),
    done: new Float32Array(0),
    proprio: new Float32Array(0),
    nextProprio: new Float32Array(0),
    intervention: new Uint8Array(0),
  };
}

function appendReplay(r: Replay, add: Omit<Replay, 'n'> & { n: number }): Replay {
  const cat = <T extends Int32Array | Float32Array | Uint8Array>(a: T, b: T): T => {
    const c = new (a.constructor as { new (n: number): T })(a.length + b.length);
    c.set(a);
    c.set(b, a.length);
    return c;
  };
  return {
    n: r.n + add.n,
    obs: cat(r.obs, add.obs),
    next: cat(r.next, add.next),
    action: cat(r.action, add.action),
    reward: cat(r.reward, add.reward),
    done: cat(r.done, add.done),
    proprio: cat(r.proprio, add.proprio),
    nextProprio: cat(r.nextProprio, add.nextProprio),
    intervention: cat(r.intervention, add.intervention),
  };
}

/** Reads the IQL config a checkpoint was trained with (so the online agent has the same networks). */
export function checkpointConfig(dir: string): IqlConfig {
  const latest = JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')) as { checkpoint: string };
  const m = JSON.parse(readFileSync(join(dir, latest.checkpoint, 'manifest.json'), 'utf8')) as { config?: IqlConfig };
  if (!m.config || m.config.mode !== 'image')
    throw new Error(
      `${join(dir, latest.checkpoint, 'manifest.json')}: field 'config' must be an image-mode IQL config (the online trainer needs its encoders)`,
    );
  return m.config.daib ? { ...m.config, daib: savedDaibConfig(m.config.daib) } : m.config;
}

/** The agent's config online: the checkpoint's, with the trainer's actor learning rate, temperature and critic settings. */
export function onlineAgentConfig(
  saved: IqlConfig,
  c: Pick<OnlineTrainerConfig, 'actorLr' | 'temperature' | 'critics' | 'targetCritics' | 'criticPolyak'> &
    Partial<Pick<OnlineTrainerConfig, 'hindsightWeight'>>,
): IqlConfig {
  return {
    ...saved,
    ...(c.hindsightWeight ? { aimWeight: c.hindsightWeight } : {}),
    ...(c.actorLr !== null ? { actorLr: c.actorLr } : {}),
    ...(c.temperature !== null ? { temperature: c.temperature } : {}),
    ...(c.critics !== null ? { critics: c.critics } : {}),
    ...(c.targetCritics !== null ? { targetCritics: c.targetCritics } : {}),
    ...(c.criticPolyak !== null ? { polyak: c.criticPolyak } : {}),
  };
}

export class OnlineTrainer {
  readonly cfg: OnlineTrainerConfig;
  agent!: IqlAgent;
  /** Polyak average of the policy head (what is exported), null when policyAverage = 1. */
  private piAvg: Mlp | null = null;
  /** piAvg's weights, averaged here every update and written into piAvg only when it is read (export). */
  private piAvgW: Float32Array[] | null = null;
  private offline: Replay = emptyReplay();
  private online: Replay = emptyReplay();
  private offFeat!: FeatureTable;
  private onFeat!: FeatureTable;
  private copies = 1;
  private warmupLeft = 0;
  /** The evidence gate and the offline policy head it holds the exports on (null: no gate, or opened). */
  private gate: EvidenceGate | null = null;
  private pi0: Mlp | null = null;
  private actorUpdates = 0;
  private lastTransitionId = 0;
  /** Per online replay row: what its reward came from; and the rows of each episode, for labels. */
  private origins: RewardOrigin[] = [];
  private rowsOfEpisode = new Map<number, number[]>();
  /** Newest operator label per episode, and the last label row read. */
  private labels = new Map<number, boolean>();
  private lastLabelId = 0;
  private labelsApplied = 0;
  private seenEpisodes = new Set<number>();
  private rewardSum = 0;
  private rewardCount = 0;
  private owed = 0;
  private updates = 0;
  private sinceExport = 0;
  private exportDue = false;
  private last: IqlStats | null = null;
  private rate: { t: number; u: number } | null = null;
  private ups: number | null = null;
  /** CPU time (this process, all threads) spent in update() since the last rate window, and per update over it. */
  private cpuUs = 0;
  private cpuMsPerUpdate: number | null = null;
  /** Sums over the current rate window (CpuBreakdown's fields, ms; process: the process's CPU at the window's start). */
  private cpuAcc = cpuSums(0);
  private cpuBreakdown: CpuBreakdown | null = null;
  private exports = 0;
  /** Intervention transitions added to the offline/demonstration buffer. */
  private demonstrations = 0;
  private onlineInterventions = 0;
  /** Of the last update's batch: rows from each buffer, how many of them were interventions, and the online rows per
   *  `robot/connector` group. */
  lastBatch: {
    online: number;
    offline: number;
    onlineInterventions: number;
    offlineInterventions: number;
    onlineByGroup: Record<string, number>;
  } | null = null;
  /** Per online replay row its `robot/connector` group (index into groups); each group's sampling weight. */
  private rowGroup: number[] = [];
  /** seatedAims' answer until the online replay or its rewards change (null: to be computed). */
  private seatedAimsCache: Map<number, [number, number]> | null = null;
  private groups: Array<{ key: string; weight: number }> = [];
  private groupIndex = new Map<string, number>();
  private groupOfEpisode = new Map<number, number>();
  /** Online transitions read so far per group (the UTD schedule, cfg.utdLateAfter). */
  private groupRows = new Map<number, number>();
  /** Cumulative sampling weights of the online rows (weighted sampling only; null: uniform). */
  private cumWeight: Float64Array | null = null;
  private lastExport: TrainerProgress['lastExport'] = null;
  private rng: Rng;
  private encoderVersion = '';
  private imageSize = 0;
  private reader!: Store;
  private writer!: Store;
  /** update()'s batch arrays, reused from update to update (each is written in full; the agent keeps none). */
  private buffers: BatchBuffers | null = null;

  constructor(cfg: OnlineTrainerConfig) {
    if (!(cfg.onlineFraction >= 0 && cfg.onlineFraction <= 1))
      throw new Error(`online trainer: field 'onlineFraction' must be in [0, 1], got ${cfg.onlineFraction}`);
    if (!(cfg.utd > 0)) throw new Error(`online trainer: field 'utd' must be > 0, got ${cfg.utd}`);
    if (!(cfg.utdLate > 0)) throw new Error(`online trainer: field 'utdLate' must be > 0, got ${cfg.utdLate}`);
    if (!(Number.isInteger(cfg.utdLateAfter) && cfg.utdLateAfter >= 0)) {
      throw new Error(`online trainer: field 'utdLateAfter' must be an integer >= 0, got ${cfg.utdLateAfter}`);
    }
    if (!Number.isInteger(cfg.batchSize) || cfg.batchSize < 2) throw new Error(`online trainer: field 'batchSize' must be an integer >= 2`);
    if (!Number.isInteger(cfg.offlineAugmentCopies) || cfg.offlineAugmentCopies < 1)
      throw new Error(`online trainer: field 'offlineAugmentCopies' must be an integer >= 1`);
    if (!(cfg.policyAverage > 0 && cfg.policyAverage <= 1))
      throw new Error(`online trainer: field 'policyAverage' must be in (0, 1], got ${cfg.policyAverage}`);
    if (!Number.isInteger(cfg.warmupUpdates) || cfg.warmupUpdates < 0)
      throw new Error(`online trainer: field 'warmupUpdates' must be an integer >= 0, got ${cfg.warmupUpdates}`);
    if (cfg.actorLr !== null && !(cfg.actorLr > 0 && cfg.actorLr < 1))
      throw new Error(`online trainer: field 'actorLr' must be in (0, 1) or null, got ${cfg.actorLr}`);
    if (cfg.temperature !== null && !(cfg.temperature > 0)) throw new Error(`online trainer: field 'temperature' must be > 0 or null, got ${cfg.temperature}`);
    if (!(cfg.hindsightWeight >= 0)) throw new Error(`online trainer: field 'hindsightWeight' must be >= 0, got ${cfg.hindsightWeight}`);
    this.cfg = cfg;
    this.rng = new Rng(deriveSeed(cfg.seed, 'online-trainer'));
  }

  /** Loads the agent and the offline replay (features of K copies). Seconds of work on a big prior database. */
  async init(): Promise<void> {
    const c = this.cfg;
    await initBackend({
      ...(c.gemmThreads !== null && c.gemmThreads !== undefined ? { gemmThreads: c.gemmThreads } : {}),
      ...(c.gemmPrecision ? { gemmPrecision: c.gemmPrecision } : {}),
    });
    const own = join(c.workDir, 'checkpoints');
    const from = existsSync(join(own, 'latest.json')) ? own : c.startCheckpoint;
    const config = checkpointConfig(from);
    this.agent = new IqlAgent(onlineAgentConfig(config, c));
    // A checkpoint with fewer critics than asked for (the shipped twin-Q one, critics 10) grows its ensemble on load.
    await this.agent.loadCheckpoint(from, { growCritics: true });
    this.agent.freezeEncoders();
    // A restart from this trainer's own checkpoint has adapted critics already.
    this.warmupLeft = from === own ? 0 : c.warmupUpdates;
    if (c.evidenceGate) {
      this.gate = new EvidenceGate(from === own);
      if (!this.gate.open) this.pi0 = this.agent.clonePolicyHead('pi_offline');
    }
    if (c.policyAverage < 1) {
      this.piAvg = this.agent.clonePolicyHead('pi_avg');
      this.piAvgW = variableValues(netVariables(this.piAvg));
    }
    const shape = config.daib?.encoder.inputShape;
    if (!shape) throw new Error(`${from}: checkpoint config has no encoder input shape`);
    this.imageSize = shape[0];
    // Features depend on the frozen encoders: name them by the checkpoint they came from.
    this.encoderVersion = `iql-encoders:${sha256Hex(readFileSync(join(c.startCheckpoint, 'latest.json'))).slice(0, 16)}:${this.imageSize}`;
    this.offFeat = new FeatureTable(this.agent.featureDims);
    this.onFeat = new FeatureTable(this.agent.featureDims);
    this.reader = Store.openReadOnly(c.db);
    this.writer = Store.open(c.db, { integrityCheck: 'header' });
    if (c.offlineDb && c.offlineDomains.length > 0 && c.onlineFraction < 1) {
      const s = Store.openReadOnly(c.offlineDb);
      let d: TransitionDataset;
      try {
        d = loadTransitions(s, { domains: c.offlineDomains, imageSize: this.imageSize });
      } finally {
        s.close();
      }
      this.loadOffline(d, config.shiftPad);
    }
  }

  private loadOffline(d: TransitionDataset, shiftPad: number): void {
    const K = this.cfg.offlineAugmentCopies;
    this.copies = K;
    const dims = this.agent.featureDims;
    const cache = this.cfg.featureCache ? offlineFeatureCache(this.cfg, this.encoderVersion, d, K, shiftPad, dims) : null;
    const cached = cache?.read() ?? null;
    const feats = cached ?? this.offlineFeatures(d, K, shiftPad);
    if (cache && !cached) cache.write(feats);
    this.offFeat.add(feats, d.obsCount * K);
    const pd = d.proprioDim;
    const proprio = new Float32Array(d.count * pd);
    const nextProprio = new Float32Array(d.count * pd);
    for (let i = 0; i < d.count; i++) {
      proprio.set(d.obsProprio.subarray(d.obs[i]! * pd, (d.obs[i]! + 1) * pd), i * pd);
      nextProprio.set(d.obsProprio.subarray(d.nextObs[i]! * pd, (d.nextObs[i]! + 1) * pd), i * pd);
    }
    this.offline = {
      n: d.count,
      obs: Int32Array.from(d.obs),
      next: Int32Array.from(d.nextObs),
      action: d.action,
      reward: d.reward,
      done: Float32Array.from(d.done),
      proprio,
      nextProprio,
      intervention: new Uint8Array(d.count),
    };
  }

  /** K copies of every offline observation through the frozen encoders; row of (observation o, copy k) = o * K + k. */
  private offlineFeatures(d: TransitionDataset, K: number, shiftPad: number): IqlFeatures3 {
    const shape = d.shape;
    const dims = this.agent.featureDims;
    const size = shape[0] * shape[1] * shape[2];
    const chunk = 512;
    const buf = new Float32Array(chunk * size);
    const rng = new Rng(deriveSeed(this.cfg.seed, 'offline-augment'));
    const all = { pi: [] as Float32Array[], q: [] as Float32Array[], v: [] as Float32Array[] };
    for (let s = 0; s < d.obsCount; s += chunk) {
      const m = Math.min(chunk, d.obsCount - s);
      const per: Array<{ pi: Float32Array; q: Float32Array; v: Float32Array }> = [];
      for (let k = 0; k < K; k++) {
        gatherImages(
          d.obsImages,
          shape,
          Int32Array.from({ length: m }, (_, i) => s + i),
          buf,
          k === 0 ? 0 : shiftPad,
          k === 0 ? undefined : (n) => rng.int(n),
        );
        per.push(this.agent.computeFeatures(buf.subarray(0, m * size), m));
      }
      // Interleave copies per observation.
      for (const key of ['pi', 'q', 'v'] as const) {
        const dd = dims[key];
        const out = new Float32Array(m * K * dd);
        for (let i = 0; i < m; i++)
          for (let k = 0; k < K; k++)
            out.set((per[k] as { pi: Float32Array; q: Float32Array; v: Float32Array })[key].subarray(i * dd, (i + 1) * dd), (i * K + k) * dd);
        all[key].push(out);
      }
    }
    const join2 = (xs: Float32Array[]): Float32Array => {
      const n = xs.reduce((a, x) => a + x.length, 0);
      const o = new Float32Array(n);
      let p = 0;
      for (const x of xs) {
        o.set(x, p);
        p += x.length;
      }
      return o;
    };
    return { pi: join2(all.pi), q: join2(all.q), v: join2(all.v) };
  }

  /**
   * Reads practice transitions of episodes that ended since the last poll; returns how many were added.
   * Owes `utd` updates per new transition.
   */
  poll(): number {
    const c0 = processMs();
    try {
      return this.pollRows();
    } finally {
      this.cpuAcc.poll += processMs() - c0;
    }
  }

  private pollRows(): number {
    this.pollLabels();
    const c = this.cfg;
    const filter = {
      kind: 'practice' as const,
      endedOnly: true,
      afterId: this.lastTransitionId,
      ...(c.onlineDomains.length ? { domain: c.onlineDomains } : {}),
    };
    const ids = this.reader.transitionIds(filter);
    if (ids.length === 0) return 0;
    // Images are decoded only for rows without cached features (below): a restarted learner's kept mirror has them all.
    const recs = this.reader.getTransitions(ids, { images: false });
    const byEp = new Map<number, TransitionRecord[]>();
    for (const r of recs) {
      const l = byEp.get(r.episodeId) ?? [];
      l.push(r);
      byEp.set(r.episodeId, l);
    }
    // The daemon commits an episode's end (main thread) and its transitions (writer worker) separately: an ended
    // episode whose last row is not yet `done` may still have rows in flight. Hold it back (and everything after it)
    // until it is complete, unless it ended long ago (a killed daemon's episode, closed at start-up, has no done row).
    let holdFrom = Infinity;
    for (const [ep, l] of byEp) {
      l.sort((a, b) => a.step - b.step);
      if (!(l[l.length - 1] as TransitionRecord).done) {
        const rec = this.reader.getEpisode(ep);
        if (rec?.endedAt != null && Date.now() - rec.endedAt < 30_000) holdFrom = Math.min(holdFrom, ...l.map((r) => r.id));
      }
    }
    const rows: TransitionRecord[] = [];
    for (const [ep, l] of byEp) {
      if (l.some((r) => r.id >= holdFrom)) continue;
      this.seenEpisodes.add(ep);
      rows.push(...l);
    }
    if (rows.length === 0) return 0;
    this.lastTransitionId = Math.max(this.lastTransitionId, ...rows.map((r) => r.id));
    // Features: from the cache when present, else computed (no augmentation) and cached.
    const cached = this.reader.getFeatures(
      this.encoderVersion,
      rows.map((r) => r.id),
    );
    const dims = this.agent.featureDims;
    const width = dims.pi + dims.q + dims.v;
    const missing = rows.filter((r) => !cached.has(r.id) || cached.get(r.id)!.length !== width);
    if (missing.length > 0) {
      const px = this.imageSize * this.imageSize * 3;
      const imgs = new Uint8Array(missing.length * px);
      const withImages = new Map(
        this.reader
          .getTransitions(
            missing.map((r) => r.id),
            { images: true },
          )
          .map((r) => [r.id, r]),
      );
      missing.forEach((m, i) => {
        const r = withImages.get(m.id) ?? m;
        if (!r.image) throw new Error(`${c.db}: transitions.id=${r.id} has no image; the online trainer needs the logged image`);
        modelImageBytes(r.image, this.imageSize, this.imageSize, imgs, i * px);
      });
      const f = this.agent.computeFeatures(imgs, missing.length);
      const put = missing.map((r, i) => {
        const v = new Float32Array(width);
        v.set(f.pi.subarray(i * dims.pi, (i + 1) * dims.pi), 0);
        v.set(f.q.subarray(i * dims.q, (i + 1) * dims.q), dims.pi);
        v.set(f.v.subarray(i * dims.v, (i + 1) * dims.v), dims.pi + dims.q);
        cached.set(r.id, v);
        return { transitionId: r.id, vector: v };
      });
      try {
        this.writer.putFeatures(this.encoderVersion, put);
      } catch {
        // The cache is an optimisation: a busy database costs a recomputation after a restart, nothing else.
      }
    }
    const n = rows.length;
    const pi = new Float32Array(n * dims.pi);
    const q = new Float32Array(n * dims.q);
    const v = new Float32Array(n * dims.v);
    rows.forEach((r, i) => {
      const f = cached.get(r.id) as Float32Array;
      pi.set(f.subarray(0, dims.pi), i * dims.pi);
      q.set(f.subarray(dims.pi, dims.pi + dims.q), i * dims.q);
      v.set(f.subarray(dims.pi + dims.q), i * dims.v);
    });
    const base = this.onFeat.add({ pi, q, v }, n);
    const builder = new ProprioBuilder(DEFAULT_PROPRIO_SPEC, c.db);
    const prop = new Float32Array(n * PD);
    rows.forEach((r, i) => prop.set(builder.build(observationOf(r)), i * PD));
    const keep: number[] = [];
    const rewards: number[] = [];
    const origins: RewardOrigin[] = [];
    // Each episode's last transition (the last of its rows that carries an action).
    const lastRow = new Map<number, number>();
    rows.forEach((r, i) => {
      if (r.actionResidual) lastRow.set(r.episodeId, i);
    });
    rows.forEach((r, i) => {
      if (!r.actionResidual) return;
      const last = lastRow.get(r.episodeId) === i;
      const origin: RewardOrigin = { episodeId: r.episodeId, rewardProb: r.rewardProb, gtSuccess: r.gtSuccess, last };
      const rw = this.rewardOf(origin);
      if (rw === null) return;
      keep.push(i);
      rewards.push(rw);
      origins.push(origin);
      if (r.rewardProb != null) {
        this.rewardSum += r.rewardProb;
        this.rewardCount++;
      }
    });
    const m = keep.length;
    const add: Replay = {
      n: m,
      obs: new Int32Array(m),
      next: new Int32Array(m),
      action: new Float32Array(m * 3),
      reward: Float32Array.from(rewards),
      done: new Float32Array(m),
      proprio: new Float32Array(m * PD),
      nextProprio: new Float32Array(m * PD),
      intervention: new Uint8Array(m),
    };
    keep.forEach((i, j) => {
      const r = rows[i] as TransitionRecord;
      const nx = rows[i + 1];
      const hasNext = nx !== undefined && nx.episodeId === r.episodeId && nx.step === r.step + 1;
      const ni = hasNext ? i + 1 : i;
      add.obs[j] = base + i;
      add.next[j] = base + ni;
      add.action.set(r.actionResidual as number[], j * 3);
      add.done[j] = r.done || !hasNext ? 1 : 0;
      add.proprio.set(prop.subarray(i * PD, (i + 1) * PD), j * PD);
      add.nextProprio.set(prop.subarray(ni * PD, (ni + 1) * PD), j * PD);
      add.intervention[j] = r.intervention ? 1 : 0;
      this.onlineInterventions += add.intervention[j];
    });
    let owed = 0;
    origins.forEach((o, j) => {
      const l = this.rowsOfEpisode.get(o.episodeId) ?? [];
      l.push(this.online.n + j);
      this.rowsOfEpisode.set(o.episodeId, l);
      const g = this.groupOf(o.episodeId);
      this.rowGroup.push(g);
      const seen = this.groupRows.get(g) ?? 0;
      this.groupRows.set(g, seen + 1);
      owed += c.utdLateAfter > 0 && seen >= c.utdLateAfter ? c.utdLate : c.utd;
    });
    this.rankCandidate(add, keep, pi, q);
    this.origins.push(...origins);
    this.online = appendReplay(this.online, add);
    this.seatedAimsCache = null;
    this.rebuildWeights();
    this.addDemonstrations(add);
    this.owed = Math.min(c.maxOwed, this.owed + owed);
    if (c.exportEvery === 0 && m > 0) this.exportDue = true;
    return m;
  }

  /**
   * The evidence gate's step 1 (evidence-gate.ts) on newly read rows, before any update has seen them: every critic's
   * mean Q of the candidate's actions minus the offline policy's on their observations.
   */
  private rankCandidate(add: Replay, keep: number[], piAll: Float32Array, qAll: Float32Array): void {
    const gate = this.gate;
    if (!gate || gate.open || !this.pi0 || this.actorUpdates === 0 || add.n === 0) return;
    const dims = this.agent.featureDims;
    const pick = (all: Float32Array, w: number): Float32Array => {
      const f = new Float32Array(keep.length * w);
      keep.forEach((i, j) => f.set(all.subarray(i * w, (i + 1) * w), j * w));
      return f;
    };
    const fPi = pick(piAll, dims.pi);
    const fQ = pick(qAll, dims.q);
    const a0 = this.agent.actFeatures(fPi, add.proprio, this.pi0);
    const ac = this.agent.actFeatures(fPi, add.proprio, this.piAvg ? this.averagedPolicy(this.piAvg) : this.agent.pi);
    gate.rank(meanAdvantages(this.agent.criticValues(fQ, add.proprio, ac), this.agent.criticValues(fQ, add.proprio, a0)));
    if (gate.open) {
      for (const v of netVariables(this.pi0)) v.dispose();
      this.pi0 = null;
    }
  }

  /**
   * The intervention transitions of a new online batch, copied into the offline/demonstration buffer as well: their s
   * and s' features (unaugmented: these observations have no precomputed shifted copies, so all K copies are the same)
   * become new offline observations.
   */
  private addDemonstrations(add: Replay): void {
    const idx: number[] = [];
    for (let j = 0; j < add.n; j++) if (add.intervention[j] === 1) idx.push(j);
    if (idx.length === 0) return;
    const K = this.copies;
    const n = idx.length;
    const rows = new Int32Array(2 * n * K);
    idx.forEach((j, d) => {
      for (let k = 0; k < K; k++) {
        rows[2 * d * K + k] = add.obs[j]!;
        rows[(2 * d + 1) * K + k] = add.next[j]!;
      }
    });
    const base = this.offFeat.add(this.onFeat.gather(rows), rows.length) / K; // offline rows are observation * K + copy
    const demo: Replay = {
      n,
      obs: new Int32Array(n),
      next: new Int32Array(n),
      action: new Float32Array(n * 3),
      reward: new Float32Array(n),
      done: new Float32Array(n),
      proprio: new Float32Array(n * PD),
      nextProprio: new Float32Array(n * PD),
      intervention: new Uint8Array(n).fill(1),
    };
    idx.forEach((j, d) => {
      demo.obs[d] = base + 2 * d;
      demo.next[d] = base + 2 * d + 1;
      demo.action.set(add.action.subarray(j * 3, j * 3 + 3), d * 3);
      demo.reward[d] = add.reward[j]!;
      demo.done[d] = add.done[j]!;
      demo.proprio.set(add.proprio.subarray(j * PD, (j + 1) * PD), d * PD);
      demo.nextProprio.set(add.nextProprio.subarray(j * PD, (j + 1) * PD), d * PD);
    });
    this.offline = appendReplay(this.offline, demo);
    this.demonstrations += n;
  }

  /** The `robot/connector` group of an episode (read once from the log), with its weight from cfg.sampling. */
  private groupOf(episodeId: number): number {
    let g = this.groupOfEpisode.get(episodeId);
    if (g !== undefined) return g;
    const ep = this.reader.getEpisode(episodeId);
    const robot = (ep ? this.reader.getSession(ep.sessionId)?.robot : undefined) ?? '?';
    const domain = ep?.domain ?? '?';
    const key = `${robot}/${domain}`;
    g = this.groupIndex.get(key);
    if (g === undefined) {
      const sm = this.cfg.sampling;
      g = this.groups.push({ key, weight: (sm?.arms[robot] ?? 1) * (sm?.connectors[domain] ?? 1) }) - 1;
      this.groupIndex.set(key, g);
    }
    this.groupOfEpisode.set(episodeId, g);
    return g;
  }

  /** Weighted sampling is on when any weight is given; then cumWeight[i] = sum of the weights of rows 0..i. */
  private rebuildWeights(): void {
    const sm = this.cfg.sampling;
    if (!sm || (Object.keys(sm.arms).length === 0 && Object.keys(sm.connectors).length === 0)) return;
    const cum = new Float64Array(this.online.n);
    let total = 0;
    for (let i = 0; i < this.online.n; i++) cum[i] = total += this.groups[this.rowGroup[i]!]!.weight;
    this.cumWeight = cum;
  }

  /** Whether the online share of a batch has rows to draw from (rows whose weights are all 0 do not count). */
  private get onlineSamplable(): boolean {
    return this.online.n > 0 && (this.cumWeight === null || (this.cumWeight[this.online.n - 1] ?? 0) > 0);
  }

  /** One online row: uniform, or with probability proportional to its group's weight. */
  private sampleOnline(): number {
    const cum = this.cumWeight;
    if (cum === null) return this.rng.int(this.online.n);
    const u = this.rng.next() * cum[cum.length - 1]!;
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** The reward of an online row through the one rule (data/labels.ts), with its episode's newest label. */
  private rewardOf(o: RewardOrigin): number | null {
    return learningReward(o, { source: this.cfg.reward, label: this.labels.get(o.episodeId) ?? null, last: o.last });
  }

  /**
   * Reads operator labels added since the last poll (the newest per episode wins) and re-makes the rewards of the
   * rows already in the online replay for those episodes; episodes not read yet get theirs when they are.
   */
  pollLabels(): number {
    const fresh = this.reader.labelsAfter(this.lastLabelId);
    if (fresh.length === 0) return 0;
    this.lastLabelId = fresh[fresh.length - 1]!.id;
    const touched = new Set<number>();
    for (const l of fresh) {
      this.labels.set(l.episodeId, l.success);
      touched.add(l.episodeId);
    }
    for (const ep of touched) {
      for (const row of this.rowsOfEpisode.get(ep) ?? []) {
        const rw = this.rewardOf(this.origins[row]!);
        // A row kept once had a reward, and a label never takes one away (it only sets 0 or 1).
        if (rw !== null) this.online.reward[row] = rw;
      }
    }
    this.seatedAimsCache = null;
    this.labelsApplied += fresh.length;
    return fresh.length;
  }

  /** The reward each online replay row now carries, with its episode (tests, the label experiment). */
  onlineRewards(): Array<{ episodeId: number; reward: number }> {
    return this.origins.map((o, i) => ({ episodeId: o.episodeId, reward: this.online.reward[i]! }));
  }

  /** Updates owed and possible now. */
  get pending(): number {
    return this.online.n >= this.cfg.minOnline && this.onlineSamplable ? Math.floor(this.owed) : 0;
  }

  /**
   * Hindsight aims: each group's (arm and connector) median lateral tip offset from x* at the end of its latest
   * `AIM_WINDOW` practice episodes judged seated (the final row's learned reward > 0.5), once there are `AIM_MIN`. A
   * seated plug's tip is in the socket, so that offset is the residual that aims the P-controller (lateral gain 1) at
   * the socket from any state; the policy is pulled toward it where it most needs to be, on the socket's face.
   */
  seatedAims(): Map<number, [number, number]> {
    return (this.seatedAimsCache ??= this.findSeatedAims());
  }

  /** seatedAims, computed: a scan of the online replay, newest first (kept until new rows or labels arrive). */
  private findSeatedAims(): Map<number, [number, number]> {
    const seen = new Map<number, Array<[number, number]>>();
    const on = this.online;
    for (let i = on.n - 1; i >= 0; i--) {
      if (on.done[i] !== 1 || !((on.reward[i] as number) > 0.5)) continue;
      const g = this.rowGroup[i] as number;
      const l = seen.get(g) ?? [];
      if (l.length >= AIM_WINDOW) continue;
      l.push([on.nextProprio[i * PD] as number, on.nextProprio[i * PD + 1] as number]);
      seen.set(g, l);
    }
    const aims = new Map<number, [number, number]>();
    for (const [g, l] of seen) if (l.length >= AIM_MIN) aims.set(g, [median(l.map((x) => x[0])), median(l.map((x) => x[1]))]);
    return aims;
  }

  private aimsByKey(): Record<string, { dxMm: number; dyMm: number }> {
    const out: Record<string, { dxMm: number; dyMm: number }> = {};
    for (const [g, [x, y]] of this.seatedAims()) out[this.groups[g]?.key ?? String(g)] = { dxMm: 1000 * x, dyMm: 1000 * y };
    return out;
  }

  /** The batch's aims (IqlBatch.aims): its group's lateral aim on the online rows whose plug rests on the face; NaN elsewhere. */
  private faceAims(nOn: number): Float32Array {
    const buf = this.buffers as BatchBuffers;
    const aims = buf.aims.fill(NaN);
    const byGroup = this.seatedAims();
    for (let b = 0; b < nOn; b++) {
      const aim = byGroup.get(this.rowGroup[buf.onlineRows[b] as number] as number);
      const dz = buf.proprio[b * PD + 2] as number;
      const fz = buf.proprio[b * PD + 5] as number;
      if (aim && dz > FACE_HEIGHT_M && Math.abs(fz) > FACE_FORCE_N) {
        aims[b * 3] = aim[0];
        aims[b * 3 + 1] = aim[1];
      }
    }
    return aims;
  }

  /** One IQL update on a mixed batch. */
  update(): IqlStats {
    const cpu0 = process.cpuUsage();
    const th0 = threadMs();
    const c = this.cfg;
    const B = c.batchSize;
    const nOn = this.offline.n === 0 ? B : !this.onlineSamplable ? 0 : Math.round(c.onlineFraction * B);
    const dims = this.agent.featureDims;
    if (!this.buffers?.fits(B, dims)) this.buffers = new BatchBuffers(B, dims);
    const { rowsS, rowsN, action, reward, done, proprio, nextProprio } = this.buffers;
    const batch = { online: nOn, offline: B - nOn, onlineInterventions: 0, offlineInterventions: 0, onlineByGroup: {} as Record<string, number> };
    for (let b = 0; b < B; b++) {
      const off = b >= nOn;
      const r = off ? this.offline : this.online;
      const i = off ? this.rng.int(r.n) : this.sampleOnline();
      if (!off) {
        this.buffers.onlineRows[b] = i;
        const key = this.groups[this.rowGroup[i]!]!.key;
        batch.onlineByGroup[key] = (batch.onlineByGroup[key] ?? 0) + 1;
      }
      if (off) {
        // One of the K precomputed copies of s and of s' (augmentation of offline data only).
        rowsS[b] = r.obs[i]! * this.copies + this.rng.int(this.copies);
        rowsN[b] = r.next[i]! * this.copies + this.rng.int(this.copies);
      } else {
        rowsS[b] = r.obs[i]!;
        rowsN[b] = r.next[i]!;
      }
      action.set(r.action.subarray(i * 3, i * 3 + 3), b * 3);
      reward[b] = r.reward[i]!;
      done[b] = r.done[i]!;
      proprio.set(r.proprio.subarray(i * PD, (i + 1) * PD), b * PD);
      nextProprio.set(r.nextProprio.subarray(i * PD, (i + 1) * PD), b * PD);
      if (r.intervention[i] === 1) batch[off ? 'offlineInterventions' : 'onlineInterventions']++;
    }
    this.lastBatch = batch;
    // The online rows then the offline rows, gathered straight into one batch.
    const feats = (rows: Int32Array, out: IqlFeatures3): IqlFeatures3 => {
      this.onFeat.gatherInto(rows.subarray(0, nOn), out, 0);
      this.offFeat.gatherInto(rows.subarray(nOn), out, nOn);
      return out;
    };
    const warm = this.warmupLeft > 0;
    const aims = c.hindsightWeight > 0 && !warm ? this.faceAims(nOn) : null;
    const th1 = threadMs();
    const stats = this.agent.update({
      size: B,
      features: feats(rowsS, this.buffers.s),
      nextFeatures: feats(rowsN, this.buffers.next),
      proprio,
      nextProprio,
      action,
      reward,
      done,
      augment: false,
      trainActor: !warm,
      ...(aims ? { aims } : {}),
    });
    const th2 = threadMs();
    if (warm) this.warmupLeft--;
    else {
      this.actorUpdates++;
      if (this.piAvgW) polyakArrays(this.piAvgW, this.agent.policyWeights(), c.policyAverage);
    }
    const th3 = threadMs();
    const acc = this.cpuAcc;
    acc.batch += th1 - th0;
    acc.agent += th2 - th1;
    acc.average += th3 - th2;
    acc.mainThread += th3 - th0;
    this.last = stats;
    this.updates++;
    this.sinceExport++;
    this.owed = Math.max(0, this.owed - 1);
    const now = performance.now();
    const cpu = process.cpuUsage(cpu0);
    this.cpuUs += cpu.user + cpu.system;
    if (!this.rate) {
      this.rate = { t: now, u: this.updates };
      this.cpuAcc = cpuSums(processMs());
    } else if (now - this.rate.t > 2000) {
      const k = Math.max(1, this.updates - this.rate.u);
      this.ups = ((this.updates - this.rate.u) * 1000) / (now - this.rate.t);
      this.cpuMsPerUpdate = this.cpuUs / 1000 / k;
      const a = this.cpuAcc;
      const p = processMs();
      this.cpuBreakdown = {
        process: (p - a.process) / k,
        update: this.cpuMsPerUpdate,
        mainThread: a.mainThread / k,
        batch: a.batch / k,
        agent: a.agent / k,
        average: a.average / k,
        poll: a.poll / k,
        export: a.export / k,
      };
      this.cpuUs = 0;
      this.rate = { t: now, u: this.updates };
      this.cpuAcc = cpuSums(p);
    }
    return stats;
  }

  /** Whether an export is due now (every N updates, or once the owed updates for new episodes are paid). */
  get exportDueNow(): boolean {
    if (this.updates === 0) return false;
    if (this.cfg.exportEvery > 0) return this.sinceExport >= this.cfg.exportEvery;
    return this.exportDue && this.pending === 0;
  }

  /** Exports the current policy to ONNX (+ card), checkpoints the agent, registers the version in the store. */
  async export(): Promise<ExportInfo> {
    const c0 = processMs();
    try {
      return await this.exportNow();
    } finally {
      this.cpuAcc.export += processMs() - c0;
    }
  }

  private async exportNow(): Promise<ExportInfo> {
    const c = this.cfg;
    const dir = join(c.workDir, 'models');
    mkdirSync(dir, { recursive: true });
    const version = this.agent.step;
    const path = join(dir, `${c.exportName}-${String(version).padStart(7, '0')}.onnx`);
    const { card, bytes } = exportPolicyOnnx(this.agent, path, c.exportName, version, {
      training: {
        connectors: [...c.offlineDomains, ...c.onlineDomains],
        heldOut: [],
        episodes: this.seenEpisodes.size,
        transitions: this.online.n + this.offline.n,
        database: null,
        updates: this.agent.step,
        seed: c.seed,
      },
      hyperparameters: {
        iql: this.agent.config,
        encoderMethod: this.agent.config.daib?.method ?? null,
        online: { ...c },
        startCheckpoint: c.startCheckpoint,
        onlineTransitions: this.online.n,
        offlineTransitions: this.offline.n,
        onlineUpdates: this.updates,
      },
      // A critic-only (warm-up) update has no policy loss: the card keeps finite numbers only.
      metrics: this.last
        ? Object.fromEntries(Object.entries({ vLoss: this.last.vLoss, qLoss: this.last.qLoss, piLoss: this.last.piLoss }).filter(([, x]) => Number.isFinite(x)))
        : {},
      // Held by a closed evidence gate: the offline head; else the average (or the raw head).
      ...(this.pi0 ? { head: this.pi0 } : this.piAvg ? { head: this.averagedPolicy(this.piAvg) } : {}),
    });
    await this.agent.saveCheckpoint(join(c.workDir, 'checkpoints'));
    const v = `${card.name}@${card.version}`;
    const modelId = this.writer.findModel('policy', v)?.id ?? this.writer.registerModel({ kind: 'policy', version: v, path, card, sha256: sha256Hex(bytes) });
    this.sinceExport = 0;
    this.exportDue = false;
    this.exports++;
    this.lastExport = { version: v, path, modelId };
    return { path, version: v, modelId, updates: this.updates, exportedAt: Date.now() };
  }

  progress(): TrainerProgress {
    const l = this.last;
    const mem = tensorMemory();
    return {
      updates: this.updates,
      tensors: { count: mem.tensors, MiB: mem.bytes / 2 ** 20 },
      agentStep: this.agent?.step ?? 0,
      onlineTransitions: this.online.n,
      offlineTransitions: this.offline.n,
      interventions: { online: this.onlineInterventions, offline: this.demonstrations },
      episodesSeen: this.seenEpisodes.size,
      owed: Math.floor(this.owed),
      losses: l ? { vLoss: l.vLoss, qLoss: l.qLoss, piLoss: l.piLoss, qMean: l.qMean, vMean: l.vMean } : null,
      meanPredictedReward: this.rewardCount ? this.rewardSum / this.rewardCount : null,
      labels: this.labelsApplied,
      ...(this.cfg.hindsightWeight > 0 ? { hindsightAims: this.aimsByKey() } : {}),
      updatesPerSec: this.ups,
      cpuMsPerUpdate: this.cpuMsPerUpdate,
      cpuBreakdown: this.cpuBreakdown,
      ...(this.agent ? { engine: this.agent.backend } : {}),
      exports: this.exports,
      lastExport: this.lastExport,
      warmupLeft: this.warmupLeft,
      gate: this.gate?.status() ?? null,
    };
  }

  /** The averaged policy head with its variables brought up to date. */
  private averagedPolicy(head: Mlp): Mlp {
    if (this.piAvgW) assignValues(netVariables(head), this.piAvgW);
    return head;
  }

  close(): void {
    this.reader?.close();
    this.writer?.close();
    this.agent?.dispose();
    if (this.piAvg) for (const v of netVariables(this.piAvg)) v.dispose();
    if (this.pi0) for (const v of netVariables(this.pi0)) v.dispose();
  }
}

/** The agent's deterministic policy (frozen pi encoder + head) as ONNX + card, in the daemon's input contract. */
export function exportPolicyOnnx(
  agent: IqlAgent,
  path: string,
  name: string,
  version: number,
  extra: { training: ModelCard['training']; hyperparameters: Record<string, unknown>; metrics: Record<string, number>; description?: string; head?: Mlp },
): { card: ModelCard; bytes: Uint8Array } {
  const a = agent.config.actionScale;
  const shape = agent.config.daib?.encoder.inputShape;
  if (!shape) throw new Error('exportPolicyOnnx: the agent has no image encoder');
  const img = shape[0];
  return saveOnnxModel(agent.policyInferenceModel(extra.head), path, {
    inputRoles: ['image', 'proprio'],
    outputRoles: ['action'],
    card: {
      kind: 'policy',
      name,
      version,
      created: new Date().toISOString(),
      description:
        extra.description ??
        `Online IQL residual policy: ${frozenEncoderWords(agent)} from offline IQL + a head fine-tuned on the daemon's practice data with the learned reward.`,
      preprocessing: cardPreprocessing(img, DEFAULT_PROPRIO_SPEC),
      action: { low: a.map((x) => -x), high: [...a], units: 'm/step' },
      training: extra.training,
      hyperparameters: extra.hyperparameters,
      backend: agent.backend,
      metrics: extra.metrics,
    },
  });
}

function frozenEncoderWords(agent: IqlAgent): string {
  const m = agent.config.daib?.method ?? 'daib';
  if (m === 'daib') return 'frozen DAIB encoder (bottleneck mean)';
  if (m === 'erm') return 'frozen encoder without DAIB (ERM: no domain adversary, no bottleneck)';
  return `frozen '${m}' encoder (DAIB ablation)`;
}

/** Exports the policy of an IQL checkpoint (e.g. the offline one the trainer starts from) to `path`. */
export async function exportCheckpointPolicy(checkpoint: string, path: string, name = 'policy-iql-offline'): Promise<string> {
  await initBackend();
  const agent = new IqlAgent(checkpointConfig(checkpoint));
  try {
    await agent.loadCheckpoint(checkpoint);
    exportPolicyOnnx(agent, path, name, agent.step, {
      training: { connectors: [], heldOut: [], episodes: 0, transitions: 0, database: null, updates: agent.step, seed: agent.config.seed },
      hyperparameters: { iql: agent.config, encoderMethod: agent.config.daib?.method ?? null, checkpoint },
      metrics: {},
      description: `Policy of the IQL checkpoint ${checkpoint} (${frozenEncoderWords(agent).replace('frozen ', '')}; exported for the online experiment).`,
    });
  } finally {
    agent.dispose();
  }
  return path;
}
