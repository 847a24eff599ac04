/**
 * Implicit Q-Learning (Kostrikov et al.; thesis ch. 7, T:3420-3580, hyperparameters T:8405-8495) with DAIB encoders
 * (thesis ch. 10.5.2, T:5262-5330), reading top to bottom:
 *
 *   1. policy (AWR): L_pi = -E[ min(exp(beta * (min(Qt1,Qt2)(s,a) - V(s))), advClip) * log pi(a|s) ] (+ DAIB aux)
 *   2. value (expectile): L_V = E[ tau*relu(d)^2 + (1-tau)*relu(-d)^2 ], d = min(Qt1,Qt2)(s,a) - V(s) (+ DAIB aux)
 *   3. twin Q: L_Q = E[(r + gamma*(1-done)*V(s') - Qi(s,a))^2], i = 1, 2, with the updated V (+ DAIB aux)
 *   4. Polyak: Qt <- polyak*Q + (1-polyak)*Qt (heads and, in image mode, the Q encoder)
 * (Same order as the authors' JAX code: the actor uses V before this step's value update.)
 * What each step reads: 1 and 2 the target critics and V as they were before this update (one forward each, shared),
 * 1 pi's and 2 V's own pre-update weights; 3 V after step 2 (for V(s')) and each critic's pre-update weights; 4 the
 * critics after step 3. So the policy step is independent of 2-4, each critic of the others, and every forward but
 * V(s') can run first: the fused path runs pi and half the critics on the native addon's helper thread meanwhile.
 *
 * Networks: Gaussian policy (tanh'd mean, state-independent log-std), V and twin Q with LayerNorm in hidden layers.
 * Actions are the residual, bounded to +-actionScale (metres) and learned in [-1, 1] (a = residual / actionScale).
 * Observation = image + proprio (EE pose relative to x*, wrench; scaled by proprioScale).
 *
 * Two modes sharing this math:
 *  - 'image' (offline): policy, Q and V EACH own a DAIB encoder (a shared one was worse, T:5270), each adds its DAIB
 *    loss; random-shift augmentation on the images. Batches carry success labels and domain ids (domain ids only for
 *    adversarial methods). `daib.method` 'erm' gives plain encoders (z = zI, no adversary, no KL): table 7's
 *    "no DAIB in the policy" ablation.
 *  - 'features' (online): inputs are cached frozen-encoder features (bottleneck mean, from `encoderInferenceModel`)
 *    + proprio; no encoder training. An image-mode agent switches with `freezeEncoders()` (same heads keep learning).
 *
 * Batches arrive as plain typed arrays (the replay lives outside the wasm heap).
 */
import * as tf from '@tensorflow/tfjs';

import { Rng, deriveSeed } from '../util/rng.ts';
import { backendLabel, nativeGemm } from './backend.ts';
import { FusedMlp } from './fused.ts';
import type { Gemm } from './gemm.ts';
import { loadCheckpoint, readManifest, saveCheckpoint } from './checkpoint.ts';
import { HeapAdam, makeAdam } from './optim.ts';
import { DaibRepresentation, type DaibRepConfig, bceWithLogits, defaultDaibConfig, oneHot } from './daib.ts';
import { Scale } from './layers.ts';
import { type Mlp, type Net, ap, buildMlp, gatherImages, netVariableKeys, netVariables, polyakUpdate, buildEncoder, type Encoder } from './nets.ts';

// ----------------------------------------------------------------------------------------------------------------
// Config

export interface IqlConfig {
  /** 'image': train encoders from pixels (offline). 'features': heads only, on cached encoder features. */
  mode: 'image' | 'features';
  /** Proprio width: EE position relative to x* (3) + wrench (6) = 9 in this project; 0 = none. */
  proprioDim: number;
  /** Multiplies proprio before the networks (e.g. 1/0.01 m, 1/10 N), baked into exported models as a Scale layer. Length proprioDim. */
  proprioScale: number[];
  /** Action (residual) dimensions: dx, dy, dz. */
  actionDim: number;
  /** Residual bound per dimension in metres; actions are learned in [-1, 1] and scaled by this on the way out. */
  actionScale: number[];
  /** Hidden widths of every head (policy, Q, V): 2x256 ReLU in the research. */
  hidden: number[];
  /** Expectile tau: 0.7 locomotion, 0.9 AntMaze, 0.8 for dexterous fine-tuning (T:8405-8495); 0.8 here. */
  expectile: number;
  /** Inverse temperature beta of the advantage weights exp(beta * A): 3 (T:8405-8495). */
  temperature: number;
  /** Clip of exp(beta * A) from above (Brandfonbrener et al.): 100. */
  advClip: number;
  /** Discount gamma: 0.99. */
  gamma: number;
  /** Polyak rate of the target critics: 0.005. */
  polyak: number;
  /** Adam learning rates: 3e-4 for all in the research. */
  actorLr: number;
  criticLr: number;
  valueLr: number;
  /** Initial state-independent log-std (in the [-1, 1] action space) and its clamp. */
  logStdInit: number;
  logStdMin: number;
  logStdMax: number;
  /** Batch size (documentation for samplers; update() takes whatever size it is given). */
  batchSize: number;
  /** Image mode: the DAIB settings each of policy, Q and V gets its own copy of (numDomains = training connectors).
   *  Start from `iqlDaibConfig()`: the adversarial weight must be small against the RL losses (measured on the visual
   *  chain test: advWeight 0.1 lets the adversary win, zI collapses to a constant and Q stops fitting; 0.01 learns). */
  daib?: DaibRepConfig;
  /** Image mode: random-shift augmentation in pixels (4 at 64x64, 2 at 32x32; RLPD/DrQ). Applied when a batch says augment. */
  shiftPad: number;
  /** Image mode: weight of an auxiliary success-label BCE head on each encoder's z. Not in the thesis (0 = exact thesis
   *  objective); it gives each encoder a dense supervised signal from the same labels the reward classifier uses. */
  successAuxWeight: number;
  /** Number of Q critics (default 2, twin Q). 10 with `targetCritics` 2 = RLPD's ensemble: the target of V and the
   *  advantages is the min over a random subset of the target critics, drawn per update from (seed, step). */
  critics?: number;
  /** Target critics in that min (default 2; = critics: the min over all). */
  targetCritics?: number;
  /** Weight of hindsight aims (`IqlBatch.aims`) in the policy's loss, relative to the batch's mean advantage weight:
   *  each aim counts as one more action of that weight in the Gaussian log-likelihood of the policy's mean (the
   *  spread is left to the data's actions). The online trainer sets it from learning.hindsightWeight; 0/absent: none. */
  aimWeight?: number;
  /** Features mode (from scratch): feature widths of the policy, Q and V inputs. Ignored in image mode (= encoder widths). */
  featureDims?: { pi: number; q: number; v: number };
  /** Seed of weights, noise and augmentation. */
  seed: number;
}

export const DEFAULT_IQL: Omit<IqlConfig, 'mode' | 'proprioDim' | 'proprioScale'> = {
  actionDim: 3,
  actionScale: [0.005, 0.005, 0.005],
  hidden: [256, 256],
  expectile: 0.8,
  temperature: 3,
  advClip: 100,
  gamma: 0.99,
  polyak: 0.005,
  actorLr: 3e-4,
  criticLr: 3e-4,
  valueLr: 3e-4,
  logStdInit: 0,
  logStdMin: -5,
  logStdMax: 2,
  batchSize: 256,
  shiftPad: 4,
  successAuxWeight: 1,
  seed: 0,
};

/** DAIB settings for IQL's encoders: the research's objective, weights scaled to the RL losses (advWeight 0.01, beta 1e-3);
 *  the gradient reversal the shipped offline checkpoint was trained and measured with. */
export function iqlDaibConfig(overrides: Partial<DaibRepConfig> & { numDomains: number }): DaibRepConfig {
  return defaultDaibConfig({ advWeight: 0.01, beta: 1e-3, adversary: 'reversal', ...overrides });
}

export function validateIqlConfig(c: IqlConfig, where = 'IQL config'): void {
  const bad = (field: string, why: string): never => {
    throw new Error(`${where}: field '${field}' ${why}`);
  };
  if (c.mode !== 'image' && c.mode !== 'features') bad('mode', "must be 'image' or 'features'");
  if (!Number.isInteger(c.proprioDim) || c.proprioDim < 0) bad('proprioDim', 'must be an integer >= 0');
  if (c.proprioScale.length !== c.proprioDim || !c.proprioScale.every(Number.isFinite))
    bad('proprioScale', `must have proprioDim (${c.proprioDim}) finite entries`);
  if (!Number.isInteger(c.actionDim) || c.actionDim <= 0) bad('actionDim', 'must be a positive integer');
  if (c.actionScale.length !== c.actionDim || !c.actionScale.every((v) => v > 0)) bad('actionScale', `must have actionDim (${c.actionDim}) positive entries`);
  if (!(c.expectile > 0 && c.expectile < 1)) bad('expectile', 'must be in (0, 1)');
  if (!(c.temperature >= 0)) bad('temperature', 'must be >= 0');
  if (!(c.advClip > 0)) bad('advClip', 'must be > 0');
  if (!(c.gamma >= 0 && c.gamma <= 1)) bad('gamma', 'must be in [0, 1]');
  if (!(c.polyak > 0 && c.polyak <= 1)) bad('polyak', 'must be in (0, 1]');
  if (c.aimWeight !== undefined && !(c.aimWeight >= 0)) bad('aimWeight', 'must be >= 0');
  for (const k of ['actorLr', 'criticLr', 'valueLr'] as const) if (!(c[k] > 0)) bad(k, 'must be > 0');
  if (!(c.logStdMin < c.logStdMax)) bad('logStdMin/logStdMax', 'must satisfy min < max');
  if (c.mode === 'image' && !c.daib) bad('daib', "is required in 'image' mode");
  if (c.mode === 'features' && !c.featureDims) bad('featureDims', "is required in 'features' mode");
  if (!(c.shiftPad >= 0)) bad('shiftPad', 'must be >= 0');
  if (!(c.successAuxWeight >= 0)) bad('successAuxWeight', 'must be >= 0');
  const critics = c.critics ?? 2;
  if (!Number.isInteger(critics) || critics < 1) bad('critics', 'must be an integer >= 1');
  const tc = c.targetCritics ?? 2;
  if (!Number.isInteger(tc) || tc < 1) bad('targetCritics', 'must be an integer >= 1');
}

/** Indices of the target critics whose min is this update's target: all of them, or RLPD's random subset. */
export function targetCriticSubset(c: Pick<IqlConfig, 'critics' | 'targetCritics' | 'seed'>, step: number): number[] {
  const n = c.critics ?? 2;
  const k = Math.min(n, c.targetCritics ?? 2);
  const idx = Array.from({ length: n }, (_, i) => i);
  if (k >= n) return idx;
  const rng = new Rng(deriveSeed(c.seed, 'target-critics', step));
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(n - i);
    [idx[i], idx[j]] = [idx[j] as number, idx[i] as number];
  }
  return idx.slice(0, k).sort((a, b) => a - b);
}

/** Features-mode updates use the fused heads (fused.ts) when the native kernels are loaded; off: always tfjs. */
let fusedHeadsOn = process.env['INSERTION_FUSED'] !== 'off';
/** Switches the fused heads on or off (benchmarks and tests compare engines in one process). */
export function setFusedHeads(on: boolean): void {
  fusedHeadsOn = on;
}

// ----------------------------------------------------------------------------------------------------------------
// Losses (exported for tests)

/** Expectile regression loss mean(tau*relu(d)^2 + (1-tau)*relu(-d)^2), d = target - prediction. (tf.where(less) has no gradient.) */
export function expectileLoss(diff: tf.Tensor, tau: number): tf.Scalar {
  return tf.tidy(() => tf.mean<tf.Scalar>(tf.add(tf.mul(tau, tf.square(tf.relu(diff))), tf.mul(1 - tau, tf.square(tf.relu(tf.neg(diff)))))));
}

/** Diagonal Gaussian log-density summed over the last axis. */
export function gaussianLogProb(a: tf.Tensor, mean: tf.Tensor, logStd: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const z = tf.div(tf.sub(a, mean), tf.exp(logStd));
    return tf.sum(tf.sub(tf.mul(-0.5, tf.square(z)), tf.add(logStd, 0.5 * Math.log(2 * Math.PI))), -1);
  });
}

// ----------------------------------------------------------------------------------------------------------------
// Batches

/** Cached features per network (rows of width featureDims.pi / .q / .v). A single array means all three share it. */
export type IqlFeatures = { pi: Float32Array; q: Float32Array; v: Float32Array } | Float32Array;

export interface IqlBatch {
  size: number;
  /** Image mode: observation and next-observation images, NHWC, uint8 or float [0, 1], size*h*w*c each. */
  images?: Uint8Array | Float32Array;
  nextImages?: Uint8Array | Float32Array;
  /** Features mode (or frozen encoders): cached features of s and s'. */
  features?: IqlFeatures;
  nextFeatures?: IqlFeatures;
  /** size*proprioDim each (raw units; proprioScale is applied inside). */
  proprio?: Float32Array;
  nextProprio?: Float32Array;
  /** Residual action actually applied, metres, size*actionDim (scaled and clipped to [-1, 1] inside). */
  action: Float32Array;
  reward: Float32Array;
  /** 1 where s' is terminal. */
  done: Float32Array;
  /** Image mode: success label of s (auxiliary head) and domain (connector) id of each sample. */
  success?: Uint8Array | Float32Array;
  domain?: Int32Array;
  /** Random-shift augmentation (offline data: true; online data: false). Default true. */
  augment?: boolean;
  /** false: update the critics (Q, V) only and leave the policy untouched (the online trainer's warm-up). Default true. */
  trainActor?: boolean;
  /** Hindsight aims: per row and action dimension, a residual (metres) the policy's mean is pulled toward with weight
   *  config.aimWeight x the batch's mean advantage weight; NaN: none for that row and dimension. size*actionDim. */
  aims?: Float32Array;
}

export interface IqlStats {
  step: number;
  vLoss: number;
  qLoss: number;
  piLoss: number;
  vMean: number;
  qMean: number;
  qMax: number;
  advMean: number;
  weightMean: number;
  logStdMean: number;
  /** Domain CE of the policy encoder's adversary (image mode, adversarial method with advWeight > 0), NaN otherwise. */
  domainCe: number;
  /** KL of the policy encoder's bottleneck (image mode, method with a bottleneck), NaN otherwise (e.g. 'erm'). */
  kl: number;
}

// ----------------------------------------------------------------------------------------------------------------
// The agent

type NetName = 'pi' | 'q' | 'v';

/** Checkpoint format of this agent (learn/checkpoint.ts). */
export const IQL_CHECKPOINT_FORMAT = 'iql-checkpoint/1';

/** The heads' weights on the fused engine (fused.ts), copies of the tfjs variables (see IqlAgent's head getters). */
interface FusedHeads {
  pi: FusedMlp;
  v: FusedMlp;
  qs: FusedMlp[];
  qts: FusedMlp[];
  logStd: Float32Array;
  logStdSpare: Float32Array;
}
type HeadGroup = 'pi' | 'logStd' | 'v' | 'q' | 'qt';

export class IqlAgent {
  readonly config: IqlConfig;
  /** Image mode only. */
  readonly reps: Record<NetName, DaibRepresentation> | null;
  readonly qTargetEncoder: Encoder | null;
  readonly aux: Record<NetName, Mlp> | null;
  /**
   * The heads as tfjs models (policy, V, critics, target critics, log-std). Updates on the fused engine change copies
   * of their weights (`fused`); every read through these getters first writes pending fused weights back, so
   * checkpoints, exports, inference and outside readers always see the current weights. Outside code must not write
   * them (only this class does, and then marks the fused copies stale).
   */
  private readonly h: { pi: Mlp; v: Mlp; qs: Mlp[]; qts: Mlp[]; logStd: tf.Variable };
  private fused: FusedHeads | null = null;
  /** Fused copies equal to (or newer than) the tfjs variables. */
  private fusedFresh = false;
  /** tfjs variables behind the fused copies. */
  private readonly tfStale = new Set<HeadGroup>();
  readonly optimizers: Record<NetName, tf.Optimizer>;
  /** Updates done so far. */
  step = 0;
  /** True once encoders are frozen (features mode, or image mode after freezeEncoders()). */
  encodersFrozen: boolean;
  private readonly featDims: { pi: number; q: number; v: number };
  /** Per-update arrays by name (scratchArray), reused from update to update. */
  private readonly scratch = new Map<string, Float32Array>();

  constructor(config: IqlConfig) {
    validateIqlConfig(config);
    this.config = config;
    const seed = config.seed;
    if (config.mode === 'image' && config.daib) {
      const d = config.daib;
      this.reps = { pi: new DaibRepresentation('pi', d, seed), q: new DaibRepresentation('q', d, seed), v: new DaibRepresentation('v', d, seed) };
      this.qTargetEncoder = buildEncoder('qt_enc', this.reps.q.config.encoder, seed);
      polyakUpdate(this.qTargetEncoder, this.reps.q.encoder, 1);
      this.featDims = { pi: this.reps.pi.zDim, q: this.reps.q.zDim, v: this.reps.v.zDim };
      this.aux =
        config.successAuxWeight > 0
          ? {
              pi: buildMlp('pi_aux', { inDim: this.featDims.pi, hidden: [], outDim: 1, layerNorm: false }, seed),
              q: buildMlp('q_aux', { inDim: this.featDims.q, hidden: [], outDim: 1, layerNorm: false }, seed),
              v: buildMlp('v_aux', { inDim: this.featDims.v, hidden: [], outDim: 1, layerNorm: false }, seed),
            }
          : null;
      this.encodersFrozen = false;
    } else {
      this.reps = null;
      this.qTargetEncoder = null;
      this.aux = null;
      if (!config.featureDims) throw new Error("IQL config: field 'featureDims' is required in 'features' mode");
      this.featDims = { ...config.featureDims };
      this.encodersFrozen = true;
    }
    const p = config.proprioDim;
    const a = config.actionDim;
    const h = config.hidden;
    const qCfg = { inDim: this.featDims.q + p + a, hidden: h, outDim: 1, layerNorm: true };
    // Critic 1 and 2 keep their names and seeds (checkpoints of twin-Q agents load unchanged).
    const qs = Array.from({ length: config.critics ?? 2 }, (_, j) => buildMlp(`q${j + 1}_head`, qCfg, j === 0 ? seed : deriveSeed(seed, `q${j + 1}`)));
    const qts = qs.map((q, j) => {
      const t = buildMlp(`q${j + 1}t_head`, q.config, seed);
      polyakUpdate(t, q, 1);
      return t;
    });
    this.h = {
      pi: buildMlp('pi_head', { inDim: this.featDims.pi + p, hidden: h, outDim: a, layerNorm: false }, seed),
      v: buildMlp('v_head', { inDim: this.featDims.v + p, hidden: h, outDim: 1, layerNorm: true }, seed),
      qs,
      qts,
      // Unnamed: tfjs variable names are process-global; the checkpoint key 'pi_logstd' is ours.
      logStd: tf.variable(tf.fill([a], config.logStdInit), true),
    };
    this.optimizers = { pi: makeAdam(config.actorLr), q: makeAdam(config.criticLr), v: makeAdam(config.valueLr) };
  }

  get pi(): Mlp {
    this.flush('pi');
    return this.h.pi;
  }

  /**
   * The policy head's current weights in `netVariables` order, read without writing the fused copies back into tfjs
   * (the trainer averages them every update). The arrays are this agent's: read them before the next update.
   */
  policyWeights(): readonly Float32Array[] {
    if (this.fused && this.tfStale.has('pi')) return this.fused.pi.params;
    return netVariables(this.h.pi).map((v) => v.dataSync() as Float32Array);
  }
  get v(): Mlp {
    this.flush('v');
    return this.h.v;
  }
  get logStd(): tf.Variable {
    this.flush('logStd');
    return this.h.logStd;
  }
  /** All critics and their targets (config.critics of each). */
  get qs(): Mlp[] {
    this.flush('q');
    return this.h.qs;
  }
  get qTargets(): Mlp[] {
    this.flush('qt');
    return this.h.qts;
  }
  get q1(): Mlp {
    return this.qs[0] as Mlp;
  }
  get q2(): Mlp {
    return this.qs[1] ?? noCritic(2);
  }
  get q1Target(): Mlp {
    return this.qTargets[0] as Mlp;
  }
  get q2Target(): Mlp {
    return this.qTargets[1] ?? noCritic(2);
  }

  /**
   * The engine label for training logs and model cards: the tfjs backend (backendLabel()) and, when features-mode
   * updates run on the fused heads, that too.
   */
  get backend(): string {
    return this.fusedGemm() ? `${backendLabel()}; IQL heads: fused (native forward/backward + Adam)` : backendLabel();
  }

  /** The native kernels when the next update runs on the fused heads (frozen encoders, native GEMM, heap Adam). */
  private fusedGemm(): Gemm | null {
    if (!fusedHeadsOn || !this.encodersFrozen) return null;
    const g = nativeGemm();
    return g && Object.values(this.optimizers).every((o) => o instanceof HeapAdam) ? g : null;
  }

  /** Writes the fused copies of one head group back into its tfjs variables (when they are newer). */
  private flush(group: HeadGroup): void {
    if (!this.tfStale.delete(group) || !this.fused) return;
    const f = this.fused;
    const put = (vars: tf.Variable[], vals: Float32Array[]): void =>
      vars.forEach((v, i) => {
        const t = tf.tensor(vals[i] as Float32Array, v.shape, 'float32');
        v.assign(t);
        t.dispose();
      });
    switch (group) {
      case 'pi':
        put(netVariables(this.h.pi), f.pi.params);
        break;
      case 'v':
        put(netVariables(this.h.v), f.v.params);
        break;
      case 'q':
        this.h.qs.forEach((q, j) => put(netVariables(q), (f.qs[j] as FusedMlp).params));
        break;
      case 'qt':
        this.h.qts.forEach((q, j) => put(netVariables(q), (f.qts[j] as FusedMlp).params));
        break;
      case 'logStd':
        put([this.h.logStd], [f.logStd]);
        break;
    }
  }

  private flushAll(): void {
    for (const g of ['pi', 'logStd', 'v', 'q', 'qt'] as const) this.flush(g);
  }

  /** The fused heads, (re)loaded from the tfjs variables when those changed since. */
  private fusedHeads(g: Gemm): FusedHeads {
    if (!this.fused) {
      // Two lanes (fusedUpdate): the helper's runs pi, the target critics' forwards and the even critics, the caller's
      // V and the odd critics (it also does the JS work between kernels). A target's Polyak step runs in its critic's
      // Adam pass, on the critic's lane, after the targets' forwards (the caller waits for those first). With one
      // thread the helper lane runs its kernels at once, in the same order.
      const make = (m: Mlp, lane: Gemm): FusedMlp => new FusedMlp(m.config, lane);
      const a = this.config.actionDim;
      const lane = (j: number): Gemm => (j % 2 === 0 ? g.helper : g);
      this.fused = {
        pi: make(this.h.pi, g.helper),
        v: make(this.h.v, g),
        qs: this.h.qs.map((m, j) => make(m, lane(j))),
        qts: this.h.qts.map((m) => make(m, g.helper)),
        logStd: new Float32Array(a),
        logStdSpare: new Float32Array(a),
      };
    }
    const f = this.fused;
    if (!this.fusedFresh) {
      const get = (vars: tf.Variable[], vals: Float32Array[]): void => vars.forEach((v, i) => (vals[i] as Float32Array).set(v.dataSync()));
      get(netVariables(this.h.pi), f.pi.params);
      get(netVariables(this.h.v), f.v.params);
      this.h.qs.forEach((q, j) => get(netVariables(q), (f.qs[j] as FusedMlp).params));
      this.h.qts.forEach((q, j) => get(netVariables(q), (f.qts[j] as FusedMlp).params));
      get([this.h.logStd], [f.logStd]);
      this.fusedFresh = true;
    }
    return f;
  }

  /** Release every variable (weights, targets, log-std). The agent is unusable afterwards. */
  dispose(): void {
    for (const [, v] of this.namedVariables()) v.dispose();
    for (const o of Object.values(this.optimizers)) o.dispose();
  }

  /** Online phase: stop training encoders; subsequent updates take cached features (bottleneck mean). */
  freezeEncoders(): void {
    if (this.reps && this.qTargetEncoder) polyakUpdate(this.qTargetEncoder, this.reps.q.encoder, 1);
    this.encodersFrozen = true;
  }

  /** Widths of the cached features each network expects. */
  get featureDims(): { pi: number; q: number; v: number } {
    return { ...this.featDims };
  }

  // --- variable groups (each optimiser always gets the same list in the same order: Adam keys its moments by index)
  private vars(which: NetName): tf.Variable[] {
    const enc = (n: NetName): tf.Variable[] => (this.reps && !this.encodersFrozen ? this.reps[n].variables() : []);
    const aux = (n: NetName): tf.Variable[] => (this.aux && !this.encodersFrozen ? netVariables(this.aux[n]) : []);
    switch (which) {
      case 'pi':
        return [...netVariables(this.pi), this.logStd, ...enc('pi'), ...aux('pi')];
      case 'v':
        return [...netVariables(this.v), ...enc('v'), ...aux('v')];
      case 'q':
        return [...this.qs.flatMap((q) => netVariables(q)), ...enc('q'), ...aux('q')];
    }
  }

  /**
   * The actor's (policy head, its encoder, log std) learning rate from the next update on, for a schedule over an
   * offline run (src/offline/iql.ts). Not saved in checkpoints: an agent loaded from one starts at config.actorLr.
   */
  setActorLearningRate(lr: number): void {
    if (!(lr >= 0)) throw new Error(`IQL: actor learning rate must be >= 0, got ${lr}`);
    const opt = this.optimizers.pi;
    if (opt instanceof HeapAdam) opt.learningRate = lr;
    // tfjs' AdamOptimizer keeps the rate in a protected field that every applyGradients reads.
    else (opt as unknown as { learningRate: number }).learningRate = lr;
  }

  /** Every variable an update trains (each network's head, its encoder and auxiliary head unless frozen, log std). */
  trainedVariables(): tf.Variable[] {
    return [...this.vars('pi'), ...this.vars('q'), ...this.vars('v')];
  }

  // --- input assembly
  private imageShape(): [number, number, number] {
    if (!this.config.daib) throw new Error('IQL: no image shape in features mode');
    return this.config.daib.encoder.inputShape;
  }

  /**
   * The per-update array `name` of `len` floats, reused from update to update (a fresh 3 MB image batch costs page
   * faults and garbage collection each update). Callers write every element before reading it; the fused update ends
   * with a sync, so no queued kernel still reads one when the next update writes it; tensors copy their values.
   */
  private scratchArray(name: string, len: number): Float32Array {
    let b = this.scratch.get(name);
    if (b?.length !== len) this.scratch.set(name, (b = new Float32Array(len)));
    return b;
  }

  /** Random shifts are a pure function of (seed, step, which): a resumed run augments exactly as the original would. */
  private imagesTensor(src: Uint8Array | Float32Array, n: number, augment: boolean, which: string): tf.Tensor4D {
    const shape = this.imageShape();
    const size = shape[0] * shape[1] * shape[2];
    if (src.length < n * size) throw new Error(`IQL batch: field 'images' has ${src.length} values, expected size*h*w*c = ${n * size}`);
    const buf = this.scratchArray(`images-${which}`, n * size);
    const rng = new Rng(deriveSeed(this.config.seed, 'augment', this.step, which));
    gatherImages(
      src,
      shape,
      Int32Array.from({ length: n }, (_, i) => i),
      buf,
      augment ? this.config.shiftPad : 0,
      (k) => rng.int(k),
    );
    return tf.tensor4d(buf, [n, ...shape]);
  }

  private featureTensor(f: IqlFeatures | undefined, which: NetName, n: number, field: string): tf.Tensor2D {
    if (!f) throw new Error(`IQL batch: field '${field}' is required (features mode or frozen encoders)`);
    const arr = f instanceof Float32Array ? f : f[which];
    const w = this.featDims[which];
    if (arr.length !== n * w)
      throw new Error(`IQL batch: field '${field}${f instanceof Float32Array ? '' : '.' + which}' has ${arr.length} values, expected size*${w}`);
    return tf.tensor2d(arr, [n, w]);
  }

  private proprioTensor(p: Float32Array | undefined, n: number, field: string): tf.Tensor2D | null {
    const d = this.config.proprioDim;
    if (d === 0) return null;
    if (!p || p.length !== n * d) throw new Error(`IQL batch: field '${field}' must have size*proprioDim = ${n * d} values`);
    return tf.mul<tf.Tensor2D>(tf.tensor2d(p, [n, d]), tf.tensor1d(this.config.proprioScale));
  }

  private withProprio(z: tf.Tensor2D, p: tf.Tensor2D | null, a?: tf.Tensor2D): tf.Tensor2D {
    const parts = [z, ...(p ? [p] : []), ...(a ? [a] : [])];
    return parts.length === 1 ? z : tf.concat(parts, -1);
  }

  /**
   * One IQL update. Returns losses and statistics (for the training log).
   */
  update(batch: IqlBatch): IqlStats {
    const c = this.config;
    const n = batch.size;
    for (const [k, v, w] of [
      ['action', batch.action, c.actionDim],
      ['reward', batch.reward, 1],
      ['done', batch.done, 1],
    ] as const) {
      if (v.length !== n * w) throw new Error(`IQL batch: field '${k}' has ${v.length} values, expected ${n * w}`);
    }
    const imageMode = this.reps !== null && !this.encodersFrozen;
    if (imageMode && (!batch.images || !batch.nextImages)) throw new Error("IQL batch: fields 'images' and 'nextImages' are required while encoders train");
    const g = this.fusedGemm();
    const v = g ? this.fusedUpdate(batch, g) : this.tfUpdate(batch, imageMode);
    this.step++;
    const s: IqlStats = {
      step: this.step,
      vLoss: v[0] ?? NaN,
      qLoss: v[1] ?? NaN,
      piLoss: v[2] ?? NaN,
      vMean: v[3] ?? NaN,
      qMean: v[4] ?? NaN,
      qMax: v[5] ?? NaN,
      advMean: v[6] ?? NaN,
      weightMean: v[7] ?? NaN,
      logStdMean: v[8] ?? NaN,
      domainCe: v[9] ?? NaN,
      kl: v[10] ?? NaN,
    };
    if (!Number.isFinite(s.vLoss) || !Number.isFinite(s.qLoss) || (batch.trainActor !== false && !Number.isFinite(s.piLoss))) {
      throw new Error(`IQL: non-finite loss at step ${this.step} (v ${s.vLoss}, q ${s.qLoss}, pi ${s.piLoss})`);
    }
    return s;
  }

  /**
   * The hindsight aims' loss as a function of the policy's mean (tfjs path): aimWeight x mean(w) x mean over rows of
   * sum_k [finite aim] (aim_k / scale_k clipped - mean_k)^2 / (2 sigma_k^2), sigma from the log std as it is now (a
   * constant: the aims move the mean only). Null when there are none.
   */
  private aimTerm(batch: IqlBatch, weights: tf.Tensor): ((mean: tf.Tensor) => tf.Scalar) | null {
    const c = this.config;
    const aims = batch.aims;
    if (!aims || !((c.aimWeight ?? 0) > 0) || batch.trainActor === false) return null;
    const n = batch.size;
    const A = c.actionDim;
    if (aims.length !== n * A) throw new Error(`IQL batch: field 'aims' has ${aims.length} values, expected ${n * A}`);
    const mask = Float32Array.from(aims, (t) => (Number.isFinite(t) ? 1 : 0));
    const target = Float32Array.from(aims, (t, j) => (Number.isFinite(t) ? Math.max(-1, Math.min(1, t / (c.actionScale[j % A] as number))) : 0));
    const m = tf.tensor2d(mask, [n, A]);
    const tn = tf.tensor2d(target, [n, A]);
    const invVar = tf.exp(tf.mul(-2, tf.clipByValue(tf.tensor1d(this.logStd.dataSync()), c.logStdMin, c.logStdMax)));
    const lam = tf.mul(c.aimWeight ?? 0, tf.mean(weights));
    return (mean) => tf.mul<tf.Scalar>(lam, tf.div(tf.sum(tf.mul(tf.mul(m, tf.square(tf.sub(tn, mean))), tf.mul(0.5, invVar))), n));
  }

  /** The update through tfjs (autodiff; every mode): the reference the fused path is tested against. Stats as `update`. */
  private tfUpdate(batch: IqlBatch, imageMode: boolean): ArrayLike<number> {
    const c = this.config;
    const n = batch.size;
    this.flushAll();
    this.fusedFresh = false;
    const augment = batch.augment ?? true;
    const step = this.step;
    const out = tf.tidy(() => {
      // Inputs.
      const act = tf.clipByValue(tf.div(tf.tensor2d(batch.action, [n, c.actionDim]), tf.tensor1d(c.actionScale)), -1, 1) as tf.Tensor2D;
      const r = tf.tensor2d(batch.reward, [n, 1]);
      const notDone = tf.sub(1, tf.tensor2d(batch.done, [n, 1]));
      const p = this.proprioTensor(batch.proprio, n, 'proprio');
      const pNext = this.proprioTensor(batch.nextProprio, n, 'nextProprio');
      const img = imageMode ? this.imagesTensor(batch.images as Uint8Array | Float32Array, n, augment, 'obs') : null;
      const imgNext = imageMode ? this.imagesTensor(batch.nextImages as Uint8Array | Float32Array, n, augment, 'next') : null;
      const dom = imageMode && this.reps?.pi.settings.adversarial ? oneHot(batch.domain ?? fail('domain'), c.daib?.numDomains ?? 1) : null;
      const succ = imageMode && this.aux ? tf.tensor2d(Float32Array.from(batch.success ?? fail('success')), [n, 1]) : null;

      // Deterministic features for the stop-gradient targets.
      const feat = (which: NetName, next: boolean): tf.Tensor2D => {
        if (!imageMode) return this.featureTensor(next ? batch.nextFeatures : batch.features, which, n, next ? 'nextFeatures' : 'features');
        const x = (next ? imgNext : img) as tf.Tensor4D;
        if (which === 'q') return (this.qTargetEncoder as Encoder).features<tf.Tensor>(x) as tf.Tensor2D;
        return (this.reps as Record<NetName, DaibRepresentation>)[which].encoder.features<tf.Tensor>(x) as tf.Tensor2D;
      };
      // Trainable features + DAIB auxiliary loss of one network; det: the deterministic features (feat's) from the same pass.
      const trainFeat = (which: NetName): { z: tf.Tensor2D; det: tf.Tensor2D; aux: tf.Scalar; domainCe: tf.Scalar; kl: tf.Scalar } => {
        if (!imageMode || !this.reps) {
          const z = feat(which, false);
          return { z, det: z, aux: tf.scalar(0), domainCe: tf.scalar(NaN), kl: tf.scalar(NaN) };
        }
        const rep = this.reps[which];
        const f = rep.forward(img as tf.Tensor4D, true, step);
        // As Encoder.features: concat(zI, zSMean), from this pass's trunk (the same weights and input: the same values).
        const parts = [f.zI, f.zSMean].filter((t): t is tf.Tensor2D => t !== null);
        const det = parts.length === 1 ? (parts[0] as tf.Tensor2D) : tf.concat(parts, -1);
        const a = rep.aux(f, dom, step);
        let aux = tf.add<tf.Scalar>(a.adv, a.kl);
        if (this.aux && succ) aux = tf.add<tf.Scalar>(aux, tf.mul(c.successAuxWeight, bceWithLogits(this.aux[which].apply(f.z), succ)));
        // A term the method does not have is logged as NaN, not as a misleading 0.
        const hasAdv = rep.domainHead !== null && rep.config.advWeight > 0;
        return { z: f.z, det, aux, domainCe: hasAdv ? a.domainCe : tf.scalar(NaN), kl: rep.settings.bottleneck ? a.klRaw : tf.scalar(NaN) };
      };

      // Targets that do not depend on this step's updates.
      const qtIn = this.withProprio(feat('q', false), p, act);
      const qts = this.qTargets;
      const qTarget = targetCriticSubset(c, step)
        .map((j) => (qts[j] as Mlp).apply(qtIn))
        .reduce((m, q) => tf.minimum(m, q));

      // 1. Value: expectile regression towards the target critics (+ DAIB). It runs before the policy step, which reads
      // V only as it was before this update and touches none of V's weights, so the order changes no value; and V's
      // forward on s here, with the pre-update weights, also gives the advantages' V(s) (no second encoder pass).
      let vMean: tf.Tensor = tf.scalar(0);
      let vOld: tf.Tensor = tf.scalar(0);
      const vLoss = this.optimizers.v.minimize(
        () => {
          const f = trainFeat('v');
          const v = this.v.apply(this.withProprio(f.z, p));
          vOld = tf.keep(this.v.apply(this.withProprio(f.det, p)));
          vMean = tf.keep(tf.mean(v));
          return tf.add<tf.Scalar>(expectileLoss(tf.sub(qTarget, v), c.expectile), f.aux);
        },
        true,
        this.vars('v'),
      ) as tf.Scalar;
      const adv = tf.sub(qTarget, vOld);
      const weights = tf.minimum(tf.exp(tf.mul(c.temperature, adv)), c.advClip);
      const aimTerm = this.aimTerm(batch, weights);

      // 2. Policy: advantage-weighted regression (+ DAIB) (+ hindsight aims); skipped in a critic-only update (logged as NaN).
      let auxLog: tf.Tensor[] = [];
      const piLoss =
        batch.trainActor === false
          ? tf.scalar(NaN)
          : (this.optimizers.pi.minimize(
              () => {
                const f = trainFeat('pi');
                const mean = tf.tanh(this.pi.apply(this.withProprio(f.z, p)));
                const logStd = tf.clipByValue(this.logStd, c.logStdMin, c.logStdMax);
                const logp = gaussianLogProb(act, mean, logStd);
                auxLog = [tf.keep(f.domainCe), tf.keep(f.kl)];
                const awr = tf.add<tf.Scalar>(tf.neg(tf.mean(tf.mul(tf.squeeze(weights, [1]), logp))), f.aux);
                return aimTerm ? tf.add<tf.Scalar>(awr, aimTerm(mean)) : awr;
              },
              true,
              this.vars('pi'),
            ) as tf.Scalar);

      // 3. Twin Q: TD towards r + gamma * V(s') with the updated V (+ DAIB).
      const vNext = this.v.apply(this.withProprio(feat('v', true), pNext));
      const y = tf.add(r, tf.mul(c.gamma, tf.mul(notDone, vNext)));
      let qStats: tf.Tensor[] = [];
      const qLoss = this.optimizers.q.minimize(
        () => {
          const f = trainFeat('q');
          const qIn = this.withProprio(f.z, p, act);
          const qv = this.qs.map((q) => q.apply(qIn));
          const q1 = qv[0] as tf.Tensor;
          qStats = [tf.keep(tf.mean(q1)), tf.keep(tf.max(q1))];
          return tf.addN([...qv.map((q) => tf.mean(tf.square(tf.sub(q, y)))), f.aux]) as tf.Scalar;
        },
        true,
        this.vars('q'),
      ) as tf.Scalar;

      const stats = tf.stack([
        vLoss,
        qLoss,
        piLoss,
        vMean,
        qStats[0] ?? tf.scalar(NaN),
        qStats[1] ?? tf.scalar(NaN),
        tf.mean(adv),
        tf.mean(weights),
        tf.mean(this.logStd),
        auxLog[0] ?? tf.scalar(NaN),
        auxLog[1] ?? tf.scalar(NaN),
      ]);
      for (const t of [...auxLog, ...qStats, vMean, vOld]) t.dispose();
      return stats;
    });
    // 4. Polyak-averaged target critics.
    this.h.qts.forEach((t, j) => polyakUpdate(t, this.h.qs[j] as Mlp, c.polyak));
    if (imageMode && this.reps && this.qTargetEncoder) polyakUpdate(this.qTargetEncoder, this.reps.q.encoder, c.polyak);
    const v = out.dataSync();
    out.dispose();
    return v;
  }

  /**
   * The same update on the fused heads (features mode / frozen encoders): steps 1-4 of the file comment with the
   * gradients of each loss with respect to the head outputs written out, then each head's backward and Adam
   * (fused.ts). Same order, same targets (the subset min), same optimiser state (HeapAdam's moments and step count),
   * so the two paths continue each other; test/learn/fused.test.ts compares them step for step.
   * With two addon threads the heads on the helper lane (fusedHeads) run concurrently with the caller's, in the same
   * order per head, so every value is bit-identical to one thread (test/learn/gemm-threads.test.ts).
   */
  private fusedUpdate(batch: IqlBatch, g: Gemm): number[] {
    const c = this.config;
    const n = batch.size;
    const buf = (name: string, len: number): Float32Array => this.scratchArray(name, len);
    const P = c.proprioDim;
    const A = c.actionDim;
    const f = this.fusedHeads(g);
    const fd = this.featDims;
    const feats = (x: IqlFeatures | undefined, which: NetName, field: string): Float32Array => {
      if (!x) throw new Error(`IQL batch: field '${field}' is required (features mode or frozen encoders)`);
      const arr = x instanceof Float32Array ? x : x[which];
      if (arr.length !== n * fd[which])
        throw new Error(`IQL batch: field '${field}${x instanceof Float32Array ? '' : '.' + which}' has ${arr.length} values, expected size*${fd[which]}`);
      return arr;
    };
    const prop = (x: Float32Array | undefined, field: string): Float32Array => {
      if (P === 0) return new Float32Array(0);
      if (!x || x.length !== n * P) throw new Error(`IQL batch: field '${field}' must have size*proprioDim = ${n * P} values`);
      const o = buf(field, n * P);
      for (let i = 0; i < n * P; i++) o[i] = Math.fround((x[i] as number) * (c.proprioScale[i % P] as number));
      return o;
    };
    // Rows [features | proprio (| action)], as withProprio's concat (element loops: no per-row views to allocate).
    const rows = (name: string, parts: Array<[Float32Array, number]>): Float32Array => {
      const w = parts.reduce((s2, [, k]) => s2 + k, 0);
      const o = buf(name, n * w);
      let off = 0;
      for (const [a, k] of parts) {
        for (let i = 0; i < n; i++) {
          const src = i * k;
          const dst = i * w + off;
          for (let j = 0; j < k; j++) o[dst + j] = a[src + j] as number;
        }
        off += k;
      }
      return o;
    };
    const act = buf('act', n * A);
    for (let i = 0; i < n * A; i++) act[i] = Math.min(1, Math.max(-1, Math.fround((batch.action[i] as number) / (c.actionScale[i % A] as number))));
    const p = prop(batch.proprio, 'proprio');
    const pNext = prop(batch.nextProprio, 'nextProprio');
    const xPi = rows('xPi', [
      [feats(batch.features, 'pi', 'features'), fd.pi],
      [p, P],
    ]);
    const xV = rows('xV', [
      [feats(batch.features, 'v', 'features'), fd.v],
      [p, P],
    ]);
    const xQ = rows('xQ', [
      [feats(batch.features, 'q', 'features'), fd.q],
      [p, P],
      [act, A],
    ]);
    const xVn = rows('xVn', [
      [feats(batch.nextFeatures, 'v', 'nextFeatures'), fd.v],
      [pNext, P],
    ]);

    // Every forward on the pre-update parameters first: pi(s), the target critics of this step's subset, V(s) and
    // each critic Q_j(s, a). None of them depends on this update's steps (each head changes only in its own step
    // below), and each head's activations stay for its backward. Heads on the helper lane (fusedHeads: pi, the
    // targets, the even critics) run on the addon's helper thread in the meantime when it has two: the caller waits
    // for what it reads next (syncTo), and for everything at the end (sync).
    const subset = targetCriticSubset(c, this.step);
    const actor = batch.trainActor !== false;
    const raw = actor ? f.pi.forward(xPi, n) : null;
    const qtOut = subset.map((j) => (f.qts[j] as FusedMlp).forward(xQ, n));
    const targetsDone = g.mark();
    // V's forward on s serves both the advantages and the value loss (V does not change in between).
    const v = buf('v', n); // a copy: V's buffer is overwritten by V(s') in step 3
    v.set(f.v.forward(xV, n));
    const qOut = f.qs.map((q) => q.forward(xQ, n));
    const criticsDone = g.mark();
    g.syncTo(targetsDone);

    // Targets: min over this step's subset of target critics; V(s) before any update; advantage weights.
    const qT = buf('qT', n).fill(Infinity);
    for (const o of qtOut) for (let i = 0; i < n; i++) qT[i] = Math.min(qT[i] as number, o[i] as number);
    const w = buf('w', n);
    let advSum = 0;
    let wSum = 0;
    for (let i = 0; i < n; i++) {
      const adv = (qT[i] as number) - (v[i] as number);
      advSum += adv;
      w[i] = Math.min(Math.exp(c.temperature * adv), c.advClip);
      wSum += w[i] as number;
    }

    // 1. Policy (skipped in a critic-only update, logged as NaN): L = -mean_i w_i * sum_k [-z^2/2 - ls_k - log(2 pi)/2], z = (a - tanh(raw)) / exp(ls), ls = clip(logStd).
    let piLoss = NaN;
    if (raw) {
      const dRaw = buf('dRaw', n * A);
      const dLs = new Float64Array(A);
      const ls = Array.from(f.logStd, (x) => Math.min(c.logStdMax, Math.max(c.logStdMin, x)));
      piLoss = 0;
      for (let i = 0; i < n; i++) {
        const wi = w[i] as number;
        for (let k = 0; k < A; k++) {
          const mean = Math.tanh(raw[i * A + k] as number);
          const inv = Math.exp(-(ls[k] as number));
          const z = ((act[i * A + k] as number) - mean) * inv;
          piLoss -= wi * (-0.5 * z * z - (ls[k] as number) - 0.5 * Math.log(2 * Math.PI));
          // d(-w logp / n)/d mean = -w z / (sigma n); through tanh: * (1 - mean^2).
          dRaw[i * A + k] = ((-wi * z * inv) / n) * (1 - mean * mean);
          dLs[k] = (dLs[k] as number) - (wi * (z * z - 1)) / n;
        }
      }
      // Hindsight aims: one more action each, of weight aimWeight x mean(w), on the mean only (not the log std).
      const aims = batch.aims;
      const lam = (c.aimWeight ?? 0) * (wSum / n);
      if (aims && lam > 0) {
        for (let i = 0; i < n; i++) {
          for (let k = 0; k < A; k++) {
            const t = aims[i * A + k] as number;
            if (!Number.isFinite(t)) continue;
            const tn = Math.max(-1, Math.min(1, t / (c.actionScale[k] as number)));
            const mean = Math.tanh(raw[i * A + k] as number);
            const inv = Math.exp(-(ls[k] as number));
            const z = (tn - mean) * inv;
            piLoss += lam * 0.5 * z * z;
            dRaw[i * A + k] = (dRaw[i * A + k] as number) + ((-lam * z * inv) / n) * (1 - mean * mean);
          }
        }
      }
      piLoss /= n;
      const dLogStd = Float32Array.from(f.logStd, (x, k) => (x >= c.logStdMin && x <= c.logStdMax ? (dLs[k] as number) : 0));
      f.pi.backward(dRaw);
      const piOpt = this.optimizers.pi as HeapAdam;
      const { t: tPi, slot } = this.fusedAdam(piOpt, [f.pi]);
      {
        // log std's slot follows the head's, on the same step count (and the head's lane)
        const sl = piOpt.slot(slot, A);
        f.pi.g.adam(
          f.logStd,
          dLogStd,
          sl.m,
          sl.v,
          f.logStdSpare,
          piOpt.learningRate,
          piOpt.beta1,
          piOpt.beta2,
          piOpt.epsilon,
          1 - Math.pow(piOpt.beta1, tPi),
          1 - Math.pow(piOpt.beta2, tPi),
        );
        [f.logStd, f.logStdSpare] = [f.logStdSpare, f.logStd];
      }
    }

    // 2. Value: expectile regression, d = qT - V: dL/dV = -2 |tau - 1(d < 0)| d / n.
    const tau = c.expectile;
    const dV = buf('dV', n);
    let vLoss = 0;
    let vSum = 0;
    for (let i = 0; i < n; i++) {
      const d = (qT[i] as number) - (v[i] as number);
      const wt = d > 0 ? tau : 1 - tau;
      vLoss += wt * d * d;
      dV[i] = (-2 * wt * d) / n;
      vSum += v[i] as number;
    }
    vLoss /= n;
    f.v.backward(dV);
    this.fusedAdam(this.optimizers.v as HeapAdam, [f.v]);

    // 3. Critics: TD towards y = r + gamma (1 - done) V'(s') with the updated V; dL/dq_j = 2 (q_j - y) / n.
    const vNext = f.v.forward(xVn, n);
    const y = buf('y', n);
    for (let i = 0; i < n; i++) y[i] = (batch.reward[i] as number) + c.gamma * (1 - (batch.done[i] as number)) * (vNext[i] as number);
    let qLoss = 0;
    let qMean = 0;
    let qMax = -Infinity;
    g.syncTo(criticsDone);
    f.qs.forEach((q, j) => {
      const o = qOut[j] as Float32Array;
      const dQ = buf(`dQ${j}`, n); // one per critic: a queued backward reads it later
      let l = 0;
      for (let i = 0; i < n; i++) {
        const e = (o[i] as number) - (y[i] as number);
        l += e * e;
        dQ[i] = (2 * e) / n;
        if (j === 0) {
          qMean += o[i] as number;
          qMax = Math.max(qMax, o[i] as number);
        }
      }
      qLoss += l / n;
      q.backward(dQ);
    });
    // 4. Polyak-averaged target critics, each in its critic's Adam pass (from the critic's new weights, on its lane).
    this.fusedAdam(this.optimizers.q as HeapAdam, f.qs, f.qts, c.polyak);
    g.sync();
    for (const grp of ['pi', 'logStd', 'v', 'q', 'qt'] as const) this.tfStale.add(grp);
    const logStdMean = f.logStd.reduce((s2, x) => s2 + x, 0) / A;
    return [vLoss, qLoss, piLoss, vSum / n, qMean / n, qMax, advSum / n, wSum / n, logStdMean, NaN, NaN];
  }

  /**
   * One Adam step of a group of fused heads whose parameters are, in order, the optimiser's variable list (slots 0, 1,
   * ...): returns the step count and the next free slot. targets[j]: net j's target network, Polyak-stepped (rate
   * tau) from net j's new weights in the same pass.
   */
  private fusedAdam(opt: HeapAdam, nets: FusedMlp[], targets?: FusedMlp[], tau = 1): { t: number; slot: number } {
    const t = opt.nextIteration();
    let slot = 0;
    nets.forEach((net, j) => {
      const s2 = net.params.map((x) => opt.slot(slot++, x.length));
      const target = targets?.[j];
      net.adam(
        s2.map((x) => x.m),
        s2.map((x) => x.v),
        opt.learningRate,
        opt.beta1,
        opt.beta2,
        opt.epsilon,
        t,
        target ? { net: target, tau } : undefined,
      );
    });
    return { t, slot };
  }

  // ----------------------------------------------------------------------------------------------------------------
  // Evaluation helpers (features mode / frozen encoders or images)

  /** V(s) for a features batch (rows of featureDims.v) and proprio. */
  values(features: Float32Array, proprio?: Float32Array): Float32Array {
    const n = features.length / this.featDims.v;
    return tf.tidy(
      () => this.v.apply(this.withProprio(tf.tensor2d(features, [n, this.featDims.v]), this.proprioTensor(proprio, n, 'proprio'))).dataSync() as Float32Array,
    );
  }

  /** Every critic's Q(s, a) for features rows (featureDims.q), proprio and residuals `action` (metres, clipped to the
   *  bound as in training): one array per critic. */
  criticValues(features: Float32Array, proprio: Float32Array | undefined, action: Float32Array): Float32Array[] {
    const c = this.config;
    const n = features.length / this.featDims.q;
    const qs = this.qs;
    return tf.tidy(() => {
      const act = tf.clipByValue(tf.div(tf.tensor2d(action, [n, c.actionDim]), tf.tensor1d(c.actionScale)), -1, 1) as tf.Tensor2D;
      const x = this.withProprio(tf.tensor2d(features, [n, this.featDims.q]), this.proprioTensor(proprio, n, 'proprio'), act);
      return qs.map((q) => q.apply(x).dataSync() as Float32Array);
    });
  }

  /** A copy of the policy head (same architecture and weights), e.g. to keep a Polyak average of it. */
  clonePolicyHead(name: string): Mlp {
    const m = buildMlp(name, this.pi.config, this.config.seed);
    polyakUpdate(m, this.pi, 1);
    return m;
  }

  /** Deterministic residual (metres) for features rows (featureDims.pi) and proprio; `head`: another policy head of
   *  this architecture (clonePolicyHead), e.g. the trainer's Polyak average or the offline one. */
  actFeatures(features: Float32Array, proprio?: Float32Array, head: Mlp = this.pi): Float32Array {
    const n = features.length / this.featDims.pi;
    return tf.tidy(
      () =>
        tf
          .mul(
            tf.tanh(head.apply(this.withProprio(tf.tensor2d(features, [n, this.featDims.pi]), this.proprioTensor(proprio, n, 'proprio')))),
            tf.tensor1d(this.config.actionScale),
          )
          .dataSync() as Float32Array,
    );
  }

  // ----------------------------------------------------------------------------------------------------------------
  // Inference models (contract layers only, see nets.ts)

  /**
   * Deterministic policy: inputs 'image' [h,w,c] float [0,1] (image mode) or 'features' [featureDims.pi] (features
   * mode), and 'proprio' [proprioDim] raw units (absent when proprioDim = 0) -> 'residual' [actionDim] metres.
   */
  policyInferenceModel(head: Mlp = this.pi): tf.LayersModel {
    const c = this.config;
    const inputs: tf.SymbolicTensor[] = [];
    let z: tf.SymbolicTensor;
    if (this.reps) {
      const img = tf.input({ shape: this.imageShape(), name: 'image' });
      inputs.push(img);
      z = this.reps.pi.encoder.features(img);
    } else {
      const f = tf.input({ shape: [this.featDims.pi], name: 'features' });
      inputs.push(f);
      z = f;
    }
    let h = z;
    if (c.proprioDim > 0) {
      const pr = tf.input({ shape: [c.proprioDim], name: 'proprio' });
      inputs.push(pr);
      const ps = ap(new Scale({ scale: c.proprioScale, name: 'proprio_scale' }), pr);
      h = ap(tf.layers.concatenate({ name: 'pi_input', axis: -1 }), [z, ps]);
    }
    const raw = head.apply(h);
    const mean = ap(tf.layers.activation({ activation: 'tanh', name: 'pi_tanh' }), raw);
    const res = ap(new Scale({ scale: c.actionScale, name: 'residual' }), mean);
    return tf.model({ inputs, outputs: res, name: 'policy' });
  }

  /** Frozen-encoder features of one network: 'image' -> concat(zI, zS mean). Image mode only. */
  encoderInferenceModel(which: NetName = 'pi'): tf.LayersModel {
    if (!this.reps) throw new Error('IQL: encoderInferenceModel needs image mode (features mode has no encoders)');
    return this.reps[which].featuresModel(`${which}_encoder`);
  }

  /** Features of all three networks for images (uint8 or float [0,1]); for building the online feature cache. */
  computeFeatures(images: Uint8Array | Float32Array, count: number): { pi: Float32Array; q: Float32Array; v: Float32Array } {
    if (!this.reps) throw new Error('IQL: computeFeatures needs image mode');
    const reps = this.reps;
    const shape = this.imageShape();
    const size = shape[0] * shape[1] * shape[2];
    const out = { pi: new Float32Array(count * this.featDims.pi), q: new Float32Array(count * this.featDims.q), v: new Float32Array(count * this.featDims.v) };
    const chunk = 256;
    const buf = new Float32Array(chunk * size);
    for (let s = 0; s < count; s += chunk) {
      const m = Math.min(chunk, count - s);
      gatherImages(
        images,
        shape,
        Int32Array.from({ length: m }, (_, i) => s + i),
        buf,
      );
      tf.tidy(() => {
        const x = tf.tensor4d(buf.subarray(0, m * size), [m, ...shape]);
        for (const k of ['pi', 'q', 'v'] as const) out[k].set(reps[k].encoder.features(x).dataSync(), s * this.featDims[k]);
      });
    }
    return out;
  }

  // ----------------------------------------------------------------------------------------------------------------
  // Checkpoints: all weights + optimiser state + step counter (file I/O in learn/checkpoint.ts).

  private namedVariables(): Array<[string, tf.Variable]> {
    const nets: Net[] = [this.pi, this.v, ...this.qs, ...this.qTargets];
    if (this.reps) for (const r of Object.values(this.reps)) nets.push(r.encoder, ...(r.domainHead ? [r.domainHead] : []));
    if (this.qTargetEncoder) nets.push(this.qTargetEncoder);
    if (this.aux) nets.push(...Object.values(this.aux));
    const out: Array<[string, tf.Variable]> = [['pi_logstd', this.logStd]];
    for (const net of nets) {
      const keys = netVariableKeys(net);
      netVariables(net).forEach((v, i) => out.push([keys[i] ?? `${net.name}/${i}`, v]));
    }
    return out;
  }

  /** Save to `dir/ckpt-<step>/` (learn/checkpoint.ts), then point `dir/latest.json` at it; keeps the newest `keep`. */
  async saveCheckpoint(dir: string, keep = 2): Promise<string> {
    return saveCheckpoint(
      dir,
      {
        format: IQL_CHECKPOINT_FORMAT,
        step: this.step,
        variables: this.namedVariables(),
        optimizers: this.optimizers,
        fields: { encodersFrozen: this.encodersFrozen, backend: this.backend, config: this.config },
      },
      keep,
    );
  }

  /**
   * Restore the checkpoint `dir/latest.json` points at. Refuses (clear error naming file and key) anything that does not
   * match this agent, except with `growCritics` a checkpoint with fewer critics than this agent: see growCriticsFrom.
   */
  async loadCheckpoint(dir: string, opts: { growCritics?: boolean } = {}): Promise<void> {
    const saved = opts.growCritics ? savedCritics(dir) : null;
    if (saved !== null && saved < (this.config.critics ?? 2)) return this.growCriticsFrom(dir, saved);
    const m = await loadCheckpoint(dir, 'IQL checkpoint', {
      format: IQL_CHECKPOINT_FORMAT,
      variables: this.namedVariables(),
      optimizers: this.optimizers,
      check: (manifest, file) => {
        // Another encoder method would otherwise fail later on some tensor's shape, or, where the shapes happen to
        // agree, silently continue encoders trained with another objective (e.g. DAIB weights in an 'erm' run).
        const saved = (manifest.config as { daib?: { method?: unknown } } | undefined)?.daib?.method;
        const mine = this.config.daib?.method;
        if (saved !== undefined && mine !== undefined && saved !== mine) {
          throw new Error(
            `IQL checkpoint: ${file}: field 'config.daib.method' is ${JSON.stringify(saved)}, this agent's encoders use '${mine}' (a different --encoder-method needs a new checkpoint directory)`,
          );
        }
      },
    });
    this.step = m.step;
    if (m.encodersFrozen === true) this.encodersFrozen = true;
    this.tfStale.clear(); // the loaded weights replace any pending fused ones
    this.fusedFresh = false;
  }

  /**
   * RLPD's ensemble from a checkpoint with `saved` (< config.critics) critics, e.g. the shipped twin-Q one. RLPD
   * initialises all 10 critics at random and learns them from scratch; a trained checkpoint's two critics are worth
   * keeping, and plain copies would stay identical (same batch, same target, same gradient). So critic j > saved
   * takes the hidden layers (dense + LayerNorm) of critic ((j - 1) mod saved) + 1 and keeps its own freshly initialised
   * output layer (glorot, its own seed): diverse heads on trained features, fitted by the critic-only warm-up before
   * the policy moves. Its target critic starts equal to it. Everything else, the step and the policy's and V's Adam
   * state load as saved; the critics' Adam keeps the saved critics' moments (slots after them were the encoders',
   * frozen online), the new critics' moments start at zero.
   */
  private async growCriticsFrom(dir: string, saved: number): Promise<void> {
    const base = new IqlAgent({ ...this.config, critics: saved, targetCritics: Math.min(saved, this.config.targetCritics ?? 2) });
    try {
      await base.loadCheckpoint(dir);
      const src = new Map(base.namedVariables());
      // Copies of the values, never shared buffers (the heap optimiser and the fused heads write variables in place).
      const from = (key: string): tf.Tensor => {
        const t = src.get(key);
        if (!t) throw new Error(`IQL checkpoint: ${dir}: no variable '${key}' to start the extra critics from`);
        return tf.tensor(Float32Array.from(t.dataSync()), t.shape);
      };
      tf.tidy(() => {
        for (const [key, v] of this.namedVariables()) {
          const m = /^q(\d+)t?_head_(.+)$/.exec(key);
          const j = m ? Number(m[1]) : 0;
          if (!m || j <= saved) v.assign(from(key));
          else if (!m[2]?.startsWith('out/')) v.assign(from(`q${((j - 1) % saved) + 1}_head_${m[2]}`));
        }
      });
      this.h.qs.forEach((q, j) => j >= saved && polyakUpdate(this.h.qts[j] as Mlp, q, 1));
      for (const k of ['pi', 'v'] as const) await copyAdam(base.optimizers[k], this.optimizers[k], Infinity);
      await copyAdam(base.optimizers.q, this.optimizers.q, saved * netVariables(this.h.qs[0] as Mlp).length);
      this.step = base.step;
      this.encodersFrozen = base.encodersFrozen;
      this.tfStale.clear();
      this.fusedFresh = false;
    } finally {
      base.dispose();
    }
  }
}

/** Adam state (iterations, first moments, second moments) of the first `slots` variables of `from` into `to`. */
async function copyAdam(from: tf.Optimizer, to: tf.Optimizer, slots: number): Promise<void> {
  const [it, ...rest] = await from.getWeights();
  const half = rest.length / 2;
  const n = Math.min(slots, half);
  if (it) await to.setWeights([it, ...rest.slice(0, n), ...rest.slice(half, half + n)]);
  for (const w of [it, ...rest]) if (w && !(w.tensor instanceof tf.Variable)) w.tensor.dispose();
}

/** Critics of the checkpoint `dir/latest.json` points at (its config's, 2 when absent). */
function savedCritics(dir: string): number {
  const { m } = readManifest(dir, 'IQL checkpoint');
  return (m.config as { critics?: number } | undefined)?.critics ?? 2;
}

function noCritic(j: number): never {
  throw new Error(`IQL: this agent has fewer than ${j} critics (config.critics)`);
}

function fail(field: string): never {
  throw new Error(`IQL batch: field '${field}' is required in image mode with this DAIB method / success aux weight`);
}
