/**
 * Implicit Q-Learning (Kostrikov et al.; thesis ch. 7, T:3420-3580, hyperparameters T:8405-8495) with DAIB encoders
 * (thesis ch. 10.5.2, T:5262-5330), reading top to bottom:
 *
 *   1. policy (AWR): L_pi = -E[ min(exp(beta * (min(Qt1,Qt2)(s,a) - V(s))), advClip) * log pi(a|s) ] (+ DAIB aux)
 *   2. value (expectile): L_V = E[ tau*relu(d)^2 + (1-tau)*relu(-d)^2 ], d = min(Qt1,Qt2)(s,a) - V(s) (+ DAIB aux)
 *   3. twin Q: L_Q = E[(r + gamma*(1-done)*V(s') - Qi(s,a))^2], i = 1, 2, with the updated V (+ DAIB aux)
 *   4. Polyak: Qt <- polyak*Q + (1-polyak)*Qt (heads and, in image mode, the Q encoder)
 * (Same order as the authors' JAX code: the actor uses V before this step's value update.)
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
import { backendLabel } from './backend.ts';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { makeAdam } from './optim.ts';
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

/** DAIB settings for IQL's encoders: the research's objective, weights scaled to the RL losses (advWeight 0.01, beta 1e-3). */
export function iqlDaibConfig(overrides: Partial<DaibRepConfig> & { numDomains: number }): DaibRepConfig {
  return defaultDaibConfig({ advWeight: 0.01, beta: 1e-3, ...overrides });
}

export function validateIqlConfig(c: IqlConfig, where = 'IQL config'): void {
  const bad = (field: string, why: string): never => {
    throw new Error(`${where}: field '${field}' ${why}`);
  };
  if (c.mode !== 'image' && c.mode !== 'features') bad('mode', "must be 'image' or 'features'");
  if (!Number.isInteger(c.proprioDim) || c.proprioDim < 0) bad('proprioDim', 'must be an integer >= 0');
  if (c.proprioScale.length !== c.proprioDim || !c.proprioScale.every(Number.isFinite)) bad('proprioScale', `must have proprioDim (${c.proprioDim}) finite entries`);
  if (!Number.isInteger(c.actionDim) || c.actionDim <= 0) bad('actionDim', 'must be a positive integer');
  if (c.actionScale.length !== c.actionDim || !c.actionScale.every((v) => v > 0)) bad('actionScale', `must have actionDim (${c.actionDim}) positive entries`);
  if (!(c.expectile > 0 && c.expectile < 1)) bad('expectile', 'must be in (0, 1)');
  if (!(c.temperature >= 0)) bad('temperature', 'must be >= 0');
  if (!(c.advClip > 0)) bad('advClip', 'must be > 0');
  if (!(c.gamma >= 0 && c.gamma <= 1)) bad('gamma', 'must be in [0, 1]');
  if (!(c.polyak > 0 && c.polyak <= 1)) bad('polyak', 'must be in (0, 1]');
  for (const k of ['actorLr', 'criticLr', 'valueLr'] as const) if (!(c[k] > 0)) bad(k, 'must be > 0');
  if (!(c.logStdMin < c.logStdMax)) bad('logStdMin/logStdMax', 'must satisfy min < max');
  if (c.mode === 'image' && !c.daib) bad('daib', "is required in 'image' mode");
  if (c.mode === 'features' && !c.featureDims) bad('featureDims', "is required in 'features' mode");
  if (!(c.shiftPad >= 0)) bad('shiftPad', 'must be >= 0');
  if (!(c.successAuxWeight >= 0)) bad('successAuxWeight', 'must be >= 0');
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

export class IqlAgent {
  readonly config: IqlConfig;
  readonly backend: string;
  /** Image mode only. */
  readonly reps: Record<NetName, DaibRepresentation> | null;
  readonly qTargetEncoder: Encoder | null;
  readonly aux: Record<NetName, Mlp> | null;
  readonly pi: Mlp;
  readonly q1: Mlp;
  readonly q2: Mlp;
  readonly q1Target: Mlp;
  readonly q2Target: Mlp;
  readonly v: Mlp;
  readonly logStd: tf.Variable;
  readonly optimizers: Record<NetName, tf.Optimizer>;
  /** Updates done so far. */
  step = 0;
  /** True once encoders are frozen (features mode, or image mode after freezeEncoders()). */
  encodersFrozen: boolean;
  private readonly featDims: { pi: number; q: number; v: number };

  constructor(config: IqlConfig) {
    validateIqlConfig(config);
    this.config = config;
    this.backend = backendLabel();
    const seed = config.seed;
    if (config.mode === 'image' && config.daib) {
      const d = config.daib;
      this.reps = { pi: new DaibRepresentation('pi', d, seed), q: new DaibRepresentation('q', d, seed), v: new DaibRepresentation('v', d, seed) };
      this.qTargetEncoder = buildEncoder('qt_enc', this.reps.q.config.encoder, seed);
      polyakUpdate(this.qTargetEncoder, this.reps.q.encoder, 1);
      this.featDims = { pi: this.reps.pi.zDim, q: this.reps.q.zDim, v: this.reps.v.zDim };
      this.aux = config.successAuxWeight > 0 ? {
        pi: buildMlp('pi_aux', { inDim: this.featDims.pi, hidden: [], outDim: 1, layerNorm: false }, seed),
        q: buildMlp('q_aux', { inDim: this.featDims.q, hidden: [], outDim: 1, layerNorm: false }, seed),
        v: buildMlp('v_aux', { inDim: this.featDims.v, hidden: [], outDim: 1, layerNorm: false }, seed),
      } : null;
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
    this.pi = buildMlp('pi_head', { inDim: this.featDims.pi + p, hidden: h, outDim: a, layerNorm: false }, seed);
    this.v = buildMlp('v_head', { inDim: this.featDims.v + p, hidden: h, outDim: 1, layerNorm: true }, seed);
    this.q1 = buildMlp('q1_head', { inDim: this.featDims.q + p + a, hidden: h, outDim: 1, layerNorm: true }, seed);
    this.q2 = buildMlp('q2_head', { inDim: this.featDims.q + p + a, hidden: h, outDim: 1, layerNorm: true }, deriveSeed(seed, 'q2'));
    this.q1Target = buildMlp('q1t_head', this.q1.config, seed);
    this.q2Target = buildMlp('q2t_head', this.q2.config, seed);
    polyakUpdate(this.q1Target, this.q1, 1);
    polyakUpdate(this.q2Target, this.q2, 1);
    // Unnamed: tfjs variable names are process-global; the checkpoint key 'pi_logstd' is ours.
    this.logStd = tf.variable(tf.fill([a], config.logStdInit), true);
    this.optimizers = { pi: makeAdam(config.actorLr), q: makeAdam(config.criticLr), v: makeAdam(config.valueLr) };
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
      case 'pi': return [...netVariables(this.pi), this.logStd, ...enc('pi'), ...aux('pi')];
      case 'v': return [...netVariables(this.v), ...enc('v'), ...aux('v')];
      case 'q': return [...netVariables(this.q1), ...netVariables(this.q2), ...enc('q'), ...aux('q')];
    }
  }

  // --- input assembly
  private imageShape(): [number, number, number] {
    if (!this.config.daib) throw new Error('IQL: no image shape in features mode');
    return this.config.daib.encoder.inputShape;
  }

  /** Random shifts are a pure function of (seed, step, which): a resumed run augments exactly as the original would. */
  private imagesTensor(src: Uint8Array | Float32Array, n: number, augment: boolean, which: string): tf.Tensor4D {
    const shape = this.imageShape();
    const size = shape[0] * shape[1] * shape[2];
    if (src.length < n * size) throw new Error(`IQL batch: field 'images' has ${src.length} values, expected size*h*w*c = ${n * size}`);
    const buf = new Float32Array(n * size);
    const rng = new Rng(deriveSeed(this.config.seed, 'augment', this.step, which));
    gatherImages(src, shape, Int32Array.from({ length: n }, (_, i) => i), buf, augment ? this.config.shiftPad : 0, (k) => rng.int(k));
    return tf.tensor4d(buf, [n, ...shape]);
  }

  private featureTensor(f: IqlFeatures | undefined, which: NetName, n: number, field: string): tf.Tensor2D {
    if (!f) throw new Error(`IQL batch: field '${field}' is required (features mode or frozen encoders)`);
    const arr = f instanceof Float32Array ? f : f[which];
    const w = this.featDims[which];
    if (arr.length !== n * w) throw new Error(`IQL batch: field '${field}${f instanceof Float32Array ? '' : '.' + which}' has ${arr.length} values, expected size*${w}`);
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
    return (parts.length === 1 ? z : tf.concat(parts, -1));
  }

  /**
   * One IQL update. Returns losses and statistics (for the training log).
   */
  update(batch: IqlBatch): IqlStats {
    const c = this.config;
    const n = batch.size;
    for (const [k, v, w] of [['action', batch.action, c.actionDim], ['reward', batch.reward, 1], ['done', batch.done, 1]] as const) {
      if (v.length !== n * w) throw new Error(`IQL batch: field '${k}' has ${v.length} values, expected ${n * w}`);
    }
    const imageMode = this.reps !== null && !this.encodersFrozen;
    if (imageMode && (!batch.images || !batch.nextImages)) throw new Error("IQL batch: fields 'images' and 'nextImages' are required while encoders train");
    const augment = batch.augment ?? true;
    const trainActor = batch.trainActor ?? true;
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
        return (this.reps)[which].encoder.features<tf.Tensor>(x) as tf.Tensor2D;
      };
      // Trainable features + DAIB auxiliary loss of one network.
      const trainFeat = (which: NetName): { z: tf.Tensor2D; aux: tf.Scalar; domainCe: tf.Scalar; kl: tf.Scalar } => {
        if (!imageMode || !this.reps) {
          const z = feat(which, false);
          return { z, aux: tf.scalar(0), domainCe: tf.scalar(NaN), kl: tf.scalar(NaN) };
        }
        const rep = this.reps[which];
        const f = rep.forward(img as tf.Tensor4D, true, step);
        const a = rep.aux(f, dom, step);
        let aux = tf.add<tf.Scalar>(a.adv, a.kl);
        if (this.aux && succ) aux = tf.add<tf.Scalar>(aux, tf.mul(c.successAuxWeight, bceWithLogits(this.aux[which].apply(f.z), succ)));
        // A term the method does not have is logged as NaN, not as a misleading 0.
        const hasAdv = rep.domainHead !== null && rep.config.advWeight > 0;
        return { z: f.z, aux, domainCe: hasAdv ? a.domainCe : tf.scalar(NaN), kl: rep.settings.bottleneck ? a.klRaw : tf.scalar(NaN) };
      };

      // Targets that do not depend on this step's updates.
      const qtIn = this.withProprio(feat('q', false), p, act);
      const qTarget = tf.minimum(this.q1Target.apply(qtIn), this.q2Target.apply(qtIn));
      const vOld = this.v.apply(this.withProprio(feat('v', false), p));
      const adv = tf.sub(qTarget, vOld);
      const weights = tf.minimum(tf.exp(tf.mul(c.temperature, adv)), c.advClip);

      // 1. Policy: advantage-weighted regression (+ DAIB); skipped in a critic-only update (logged as NaN).
      let auxLog: tf.Tensor[] = [];
      const piLoss = trainActor ? this.optimizers.pi.minimize(() => {
        const f = trainFeat('pi');
        const mean = tf.tanh(this.pi.apply(this.withProprio(f.z, p)));
        const logStd = tf.clipByValue(this.logStd, c.logStdMin, c.logStdMax);
        const logp = gaussianLogProb(act, mean, logStd);
        auxLog = [tf.keep(f.domainCe), tf.keep(f.kl)];
        return tf.add<tf.Scalar>(tf.neg(tf.mean(tf.mul(tf.squeeze(weights, [1]), logp))), f.aux);
      }, true, this.vars('pi')) as tf.Scalar : tf.scalar(NaN);

      // 2. Value: expectile regression towards the target critics (+ DAIB).
      let vMean: tf.Tensor = tf.scalar(0);
      const vLoss = this.optimizers.v.minimize(() => {
        const f = trainFeat('v');
        const v = this.v.apply(this.withProprio(f.z, p));
        vMean = tf.keep(tf.mean(v));
        return tf.add<tf.Scalar>(expectileLoss(tf.sub(qTarget, v), c.expectile), f.aux);
      }, true, this.vars('v')) as tf.Scalar;

      // 3. Twin Q: TD towards r + gamma * V(s') with the updated V (+ DAIB).
      const vNext = this.v.apply(this.withProprio(feat('v', true), pNext));
      const y = tf.add(r, tf.mul(c.gamma, tf.mul(notDone, vNext)));
      let qStats: tf.Tensor[] = [];
      const qLoss = this.optimizers.q.minimize(() => {
        const f = trainFeat('q');
        const qIn = this.withProprio(f.z, p, act);
        const q1 = this.q1.apply(qIn);
        const q2 = this.q2.apply(qIn);
        qStats = [tf.keep(tf.mean(q1)), tf.keep(tf.max(q1))];
        return tf.addN([tf.mean(tf.square(tf.sub(q1, y))), tf.mean(tf.square(tf.sub(q2, y))), f.aux]) as tf.Scalar;
      }, true, this.vars('q')) as tf.Scalar;

      const stats = tf.stack([
        vLoss, qLoss, piLoss, vMean, qStats[0] ?? tf.scalar(NaN), qStats[1] ?? tf.scalar(NaN), tf.mean(adv), tf.mean(weights),
        tf.mean(this.logStd), auxLog[0] ?? tf.scalar(NaN), auxLog[1] ?? tf.scalar(NaN),
      ]);
      for (const t of [...auxLog, ...qStats, vMean]) t.dispose();
      return stats;
    });
    // 4. Polyak-averaged target critics.
    polyakUpdate(this.q1Target, this.q1, c.polyak);
    polyakUpdate(this.q2Target, this.q2, c.polyak);
    if (imageMode && this.reps && this.qTargetEncoder) polyakUpdate(this.qTargetEncoder, this.reps.q.encoder, c.polyak);
    const v = out.dataSync();
    out.dispose();
    this.step++;
    const s: IqlStats = {
      step: this.step, vLoss: v[0] ?? NaN, qLoss: v[1] ?? NaN, piLoss: v[2] ?? NaN, vMean: v[3] ?? NaN, qMean: v[4] ?? NaN,
      qMax: v[5] ?? NaN, advMean: v[6] ?? NaN, weightMean: v[7] ?? NaN, logStdMean: v[8] ?? NaN, domainCe: v[9] ?? NaN, kl: v[10] ?? NaN,
    };
    if (!Number.isFinite(s.vLoss) || !Number.isFinite(s.qLoss) || (trainActor && !Number.isFinite(s.piLoss))) {
      throw new Error(`IQL: non-finite loss at step ${this.step} (v ${s.vLoss}, q ${s.qLoss}, pi ${s.piLoss})`);
    }
    return s;
  }

  // ----------------------------------------------------------------------------------------------------------------
  // Evaluation helpers (features mode / frozen encoders or images)

  /** V(s) for a features batch (rows of featureDims.v) and proprio. */
  values(features: Float32Array, proprio?: Float32Array): Float32Array {
    const n = features.length / this.featDims.v;
    return tf.tidy(() => this.v.apply(this.withProprio(tf.tensor2d(features, [n, this.featDims.v]), this.proprioTensor(proprio, n, 'proprio'))).dataSync() as Float32Array);
  }

  /** A copy of the policy head (same architecture and weights), e.g. to keep a Polyak average of it. */
  clonePolicyHead(name: string): Mlp {
    const m = buildMlp(name, this.pi.config, this.config.seed);
    polyakUpdate(m, this.pi, 1);
    return m;
  }

  /** Deterministic residual (metres) for features rows (featureDims.pi) and proprio. */
  actFeatures(features: Float32Array, proprio?: Float32Array): Float32Array {
    const n = features.length / this.featDims.pi;
    return tf.tidy(() => tf.mul(tf.tanh(this.pi.apply(this.withProprio(tf.tensor2d(features, [n, this.featDims.pi]), this.proprioTensor(proprio, n, 'proprio')))), tf.tensor1d(this.config.actionScale)).dataSync() as Float32Array);
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
      gatherImages(images, shape, Int32Array.from({ length: m }, (_, i) => s + i), buf);
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
    const nets: Net[] = [this.pi, this.v, this.q1, this.q2, this.q1Target, this.q2Target];
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
    return saveCheckpoint(dir, {
      format: IQL_CHECKPOINT_FORMAT, step: this.step, variables: this.namedVariables(), optimizers: this.optimizers,
      fields: { encodersFrozen: this.encodersFrozen, backend: this.backend, config: this.config },
    }, keep);
  }

  /** Restore the checkpoint `dir/latest.json` points at. Refuses (clear error naming file and key) anything that does not match this agent. */
  async loadCheckpoint(dir: string): Promise<void> {
    const m = await loadCheckpoint(dir, 'IQL checkpoint', {
      format: IQL_CHECKPOINT_FORMAT, variables: this.namedVariables(), optimizers: this.optimizers,
      check: (manifest, file) => {
        // Another encoder method would otherwise fail later on some tensor's shape, or, where the shapes happen to
        // agree, silently continue encoders trained with another objective (e.g. DAIB weights in an 'erm' run).
        const saved = (manifest.config as { daib?: { method?: unknown } } | undefined)?.daib?.method;
        const mine = this.config.daib?.method;
        if (saved !== undefined && mine !== undefined && saved !== mine) {
          throw new Error(`IQL checkpoint: ${file}: field 'config.daib.method' is ${JSON.stringify(saved)}, this agent's encoders use '${mine}' (a different --encoder-method needs a new checkpoint directory)`);
        }
      },
    });
    this.step = m.step;
    if (m.encodersFrozen === true) this.encodersFrozen = true;
  }
}

function fail(field: string): never {
  throw new Error(`IQL batch: field '${field}' is required in image mode with this DAIB method / success aux weight`);
}

