/**
 * DAIB: domain-adversarial information bottleneck, and the reward (success) classifier built on it.
 * Thesis chapter 10.5.1 (T:5201-5262); SPEC.md "Learning on the job".
 *
 *   image x --encoder--> z = (zI, zS)
 *     zI: deterministic, made domain-invariant against a domain classifier F on zI (`adversary`, below);
 *     zS: variational bottleneck, zS = mu + sigma * eps while training (mu at inference), KL(q(zS|x) || N(0, I));
 *   success head on z, binary cross-entropy.
 *   L = L_task(z) + L_adv + beta * KL, with L_adv by `adversary`:
 *     'moments' (the default): a domain classifier F learns CE(domain | F(zI)) with the encoder's gradient stopped
 *        (it reports what is left to read); the encoder learns advWeight * lambda * M, where M is how far each
 *        domain's mean and variance of the batch-standardised zI are from the batch's (`domainMoments`). Every
 *        classifier that reads the domain from those moments is worsened at once, the best linear one included, so
 *        there is no classifier for the encoder to fool and none that lags behind it.
 *     'reversal': the research's literal form (T:5236-5242, L_adv = -L_domain): advWeight * CE(domain | F(GRL(zI))),
 *        the encoder maximising F's loss through gradient reversal (DANN). The encoder wins by relabelling the
 *        domains for the current F rather than hiding them: afterwards a fresh linear probe on the frozen zI read the
 *        domain perfectly (1.000, ERM 0.58; test/learn/daib-adversary.test.ts). Kept for the IQL encoders, whose
 *        shipped checkpoint was trained and measured with it.
 *     Also measured and dropped: a confusion loss (encoder towards F's uniform prediction, F trained on the stopped
 *     zI, also with 5-10 extra F updates per step or F on standardised zI): the probe read 0.79-1.00.
 *
 * The classifier may also take a proprio vector beside the image (`proprioDim` > 0; e.g. the wrist wrench's fz, which
 * tells a plug pressed onto the bottom of its socket from one hovering a few millimetres short, where the wrist
 * camera barely can). It joins z at the success head only, scaled by `proprioScale`: the encoder, the domain adversary
 * and the bottleneck still see the image alone.
 *
 * Ablations come from the same code (`method`):
 *   'erm'               z = zI, no auxiliary terms (plain classifier).
 *   'vib'               z = zS, bottleneck only.
 *   'dann'              z = zI, adversarial only.
 *   'daib-nobottleneck' z = (zI, zS), adversarial, zS deterministic and without KL.
 *   'daib'              z = (zI, zS), adversarial + bottleneck.
 *
 * The representation part (`DaibRepresentation`) is reused by IQL (src/learn/iql.ts), where each of policy, Q and V
 * owns one and adds its auxiliary loss to its own task loss.
 *
 * Data stays in plain typed arrays (the wasm heap never shrinks); batches are assembled per step with a seeded RNG.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng, deriveSeed } from '../util/rng.ts';
import { backendLabel } from './backend.ts';
import { Scale } from './layers.ts';
import { makeAdam } from './optim.ts';
import {
  type Encoder,
  type EncoderConfig,
  type Mlp,
  DEFAULT_ENCODER,
  buildEncoder,
  buildMlp,
  gatherImages,
  netVariables,
  validateEncoderConfig,
} from './nets.ts';

export type DaibMethod = 'erm' | 'vib' | 'dann' | 'daib-nobottleneck' | 'daib';
/** How the encoder is made to hide the domain from zI (see the file header). */
export type DaibAdversary = 'moments' | 'reversal';
export const DAIB_ADVERSARIES: readonly DaibAdversary[] = ['moments', 'reversal'];
export const DAIB_METHODS: readonly DaibMethod[] = ['erm', 'vib', 'dann', 'daib-nobottleneck', 'daib'];

/** A DAIB config read back from a file (model card, checkpoint manifest): those written before `adversary` existed
 *  were trained with the gradient reversal. */
export function savedDaibConfig<C extends DaibRepConfig>(c: Omit<C, 'adversary'> & { adversary?: DaibAdversary }): C {
  return { ...c, adversary: c.adversary ?? 'reversal' } as C;
}

/** What each method switches on. */
export interface MethodSettings {
  useZI: boolean;
  useZS: boolean;
  /** Domain classifier on zI through gradient reversal. */
  adversarial: boolean;
  /** zS sampled with the reparameterisation trick and penalised by KL. */
  bottleneck: boolean;
}

export function methodSettings(method: DaibMethod): MethodSettings {
  switch (method) {
    case 'erm':
      return { useZI: true, useZS: false, adversarial: false, bottleneck: false };
    case 'vib':
      return { useZI: false, useZS: true, adversarial: false, bottleneck: true };
    case 'dann':
      return { useZI: true, useZS: false, adversarial: true, bottleneck: false };
    case 'daib-nobottleneck':
      return { useZI: true, useZS: true, adversarial: true, bottleneck: false };
    case 'daib':
      return { useZI: true, useZS: true, adversarial: true, bottleneck: true };
    default:
      throw new Error(`unknown DAIB method '${String(method)}' (expected one of ${DAIB_METHODS.join(', ')})`);
  }
}

// ----------------------------------------------------------------------------------------------------------------
// Config

/** Settings of one DAIB representation (encoder + domain adversary + bottleneck). */
export interface DaibRepConfig {
  /** Which objective (see the file header). */
  method: DaibMethod;
  /** Conv encoder; zIDim/zSDim are the widths when the method uses that code (an unused code gets width 0). */
  encoder: EncoderConfig;
  /** Number of training domains (connectors); domain ids are 0..numDomains-1. */
  numDomains: number;
  /** Hidden widths of the domain classifier on zI. */
  domainHidden: number[];
  /** How the encoder hides the domain from zI: 'moments' (per-domain moments matched) or 'reversal' (GRL); see the file header. */
  adversary: DaibAdversary;
  /** Weight of the adversarial term in the encoder's loss (and of the domain classifier's own cross-entropy). */
  advWeight: number;
  /** Adversary strength lambda on the encoder: the reversal's gradient scale, or the moment term's multiplier. */
  grlLambda: number;
  /** Lambda ramps up as 2/(1+exp(-10 p)) - 1, p = step / grlWarmupSteps (Ganin et al.), so the adversary starts gently. 0 = no ramp. */
  grlWarmupSteps: number;
  /** KL weight beta on the bottleneck (ignored by methods without a bottleneck). */
  beta: number;
  /** zS log-variance clamp, keeps exp() finite early in training. */
  logVarClip: [number, number];
}

/** The reward classifier's full config. */
export interface DaibConfig extends DaibRepConfig {
  /** Hidden widths of the success head on z. */
  headHidden: number[];
  /** Adam learning rate. */
  lr: number;
  /** Batch size. */
  batchSize: number;
  /** Random-shift augmentation in pixels (pad with edge replication, random crop); 0 = off. 4 at 64x64, 2 at 32x32. */
  shiftPad: number;
  /**
   * Colour augmentation, 0 = off. Otherwise each training image gets a random permutation of its RGB channels and a
   * gain per channel drawn from [1 - c, 1 + c]. Whether a plug is seated does not depend on colour, and the training
   * connectors span few colours: none has a saturated blue socket like megablock.
   */
  colorJitter: number;
  /** Seed for weights, batches, noise. */
  seed: number;
  /** Width of the proprio input joined to z at the success head (0: image only). */
  proprioDim: number;
  /** Per-element scale of the proprio input (raw units -> order 1), baked into the exported graph. */
  proprioScale: number[];
}

export function defaultDaibConfig(overrides: Partial<DaibConfig> & { numDomains: number }): DaibConfig {
  const encoder: EncoderConfig = { ...structuredClone(DEFAULT_ENCODER), ...overrides.encoder };
  return {
    method: 'daib',
    adversary: 'moments',
    domainHidden: [128],
    advWeight: 1,
    grlLambda: 1,
    grlWarmupSteps: 1000,
    beta: 1e-2,
    logVarClip: [-10, 4],
    headHidden: [256, 256],
    lr: 3e-4,
    batchSize: 256,
    shiftPad: Math.round(encoder.inputShape[0] / 16),
    colorJitter: 0,
    seed: 0,
    proprioDim: 0,
    proprioScale: [],
    ...overrides,
    encoder,
  };
}

export function validateDaibRepConfig(c: DaibRepConfig, where: string): void {
  methodSettings(c.method);
  if (!DAIB_ADVERSARIES.includes(c.adversary))
    throw new Error(`${where}: field 'adversary' is ${JSON.stringify(c.adversary)} (expected one of ${DAIB_ADVERSARIES.join(', ')})`);
  validateEncoderConfig(c.encoder, `${where}.encoder`);
  const num = (field: string, v: number, ok: boolean): void => {
    if (!Number.isFinite(v) || !ok) throw new Error(`${where}: field '${field}' has invalid value ${v}`);
  };
  num('numDomains', c.numDomains, Number.isInteger(c.numDomains) && c.numDomains >= 1);
  num('advWeight', c.advWeight, c.advWeight >= 0);
  num('grlLambda', c.grlLambda, c.grlLambda >= 0);
  num('grlWarmupSteps', c.grlWarmupSteps, c.grlWarmupSteps >= 0);
  num('beta', c.beta, c.beta >= 0);
}

// ----------------------------------------------------------------------------------------------------------------
// Building blocks: gradient reversal, KL, losses, colour augmentation

const CHANNEL_ORDERS = [
  [0, 1, 2],
  [0, 2, 1],
  [1, 0, 2],
  [1, 2, 0],
  [2, 0, 1],
  [2, 1, 0],
] as const;

/** In place on `count` NHWC float images in [0, 1]: per image, a random channel order and per-channel gains in [1 - c, 1 + c]. */
export function jitterColours(
  buf: Float32Array,
  count: number,
  shape: readonly [number, number, number] | readonly number[],
  c: number,
  rand: () => number,
): void {
  const ch = shape[2];
  if (ch !== 3) throw new Error(`colour augmentation needs RGB images, got ${ch} channels`);
  const px = shape[0] * shape[1];
  const g = [0, 0, 0];
  for (let i = 0; i < count; i++) {
    const order = CHANNEL_ORDERS[Math.min(5, Math.floor(rand() * 6))]!;
    for (let k = 0; k < 3; k++) g[k] = 1 + c * (2 * rand() - 1);
    const [o0, o1, o2] = order;
    const [g0, g1, g2] = [g[0]!, g[1]!, g[2]!];
    for (let p = 0, o = i * px * 3; p < px; p++, o += 3) {
      const r = buf[o + o0]!,
        gr = buf[o + o1]!,
        b = buf[o + o2]!;
      buf[o] = Math.min(1, r * g0);
      buf[o + 1] = Math.min(1, gr * g1);
      buf[o + 2] = Math.min(1, b * g2);
    }
  }
}

/** Identity forward; backward multiplies the gradient by -lambda (Ganin & Lempitsky). */
export function gradientReversal(x: tf.Tensor, lambda: number): tf.Tensor {
  const f = tf.customGrad((a: tf.Tensor | tf.GradSaveFunc) => ({
    value: tf.clone(a as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => tf.mul(dy, -lambda),
  }));
  return f(x);
}

/** Identity forward; no gradient flows back (tfjs has no stop_gradient op). */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const f = tf.customGrad((a: tf.Tensor | tf.GradSaveFunc) => ({
    value: tf.clone(a as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
  }));
  return f(x) as T;
}

/**
 * Each column standardised over the batch (mean 0, variance 1; `eps` keeps a constant column at 0). The moment
 * adversary works on this scale so that the encoder cannot hide the domain by shrinking the differences: a probe
 * that standardises its input would still read them.
 */
export function batchStandardize(z: tf.Tensor2D, eps = 1e-4): tf.Tensor2D {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(z, 0, true);
    return tf.div(tf.sub(z, mean), tf.sqrt(tf.add(variance, eps)));
  });
}

/**
 * How far each domain's first two moments of a batch-standardised code `zn` are from the batch's (0 and 1), per
 * column: sum_d p_d [mean(zn | d)^2 + 0.5 (mean(zn^2 | d) - 1)^2], averaged over columns. 0 when no domain's mean or
 * variance differs from the others', in any column and hence in any linear combination of columns for the means.
 */
export function domainMoments(zn: tf.Tensor2D, domainOneHot: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const n = tf.sum(domainOneHot, 0); // [K]
    const means = tf.div(tf.matMul(domainOneHot, zn, true, false), tf.expandDims(tf.maximum(n, 1), 1)); // [K, D]
    const p = tf.div(n, zn.shape[0]);
    const second = tf.sub(tf.div(tf.matMul(domainOneHot, tf.square(zn), true, false), tf.expandDims(tf.maximum(n, 1), 1)), 1); // [K, D]
    const w = tf.expandDims(p, 1);
    return tf.add<tf.Scalar>(tf.mean(tf.sum(tf.mul(w, tf.square(means)), 0)), tf.mul(0.5, tf.mean(tf.sum(tf.mul(w, tf.square(second)), 0))));
  });
}

/** Mean over the batch of KL(N(mu, exp(logvar)) || N(0, I)), summed over dimensions. */
export function gaussianKl(mu: tf.Tensor, logVar: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.sum(tf.mul(0.5, tf.sub(tf.sub(tf.add(tf.square(mu), tf.exp(logVar)), 1), logVar)), -1)));
}

/** Mean binary cross-entropy from logits, numerically stable: relu(x) - x*y + log(1 + exp(-|x|)). */
export function bceWithLogits(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.add(tf.sub(tf.relu(logits), tf.mul(logits, labels)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))))));
}

/** Mean softmax cross-entropy from logits and integer labels (as a one-hot tensor). */
export function softmaxCe(logits: tf.Tensor, oneHot: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), -1))) as tf.Scalar);
}

// ----------------------------------------------------------------------------------------------------------------
// The representation

export interface RepForward {
  /** The code fed to downstream heads: concat of the used parts (zS sampled when training with a bottleneck). */
  z: tf.Tensor2D;
  zI: tf.Tensor2D | null;
  zSMean: tf.Tensor2D | null;
  zSLogVar: tf.Tensor2D | null;
}

export interface RepAux {
  /** The adversarial part of the loss, 0 when not adversarial. Reversal: advWeight * domain CE (through GRL for the
   *  encoder). Confusion: advWeight * (domain CE on the stopped zI, for F) + advWeight * lambda * uniform CE of F(zI) (for
   *  the encoder, F fixed). */
  adv: tf.Scalar;
  /** beta * KL; 0 without a bottleneck. */
  kl: tf.Scalar;
  /** Unweighted domain CE and KL, for logs. */
  domainCe: tf.Scalar;
  klRaw: tf.Scalar;
}

export class DaibRepresentation {
  readonly config: DaibRepConfig;
  readonly settings: MethodSettings;
  readonly encoder: Encoder;
  readonly domainHead: Mlp | null;
  private readonly rng: Rng;

  constructor(
    readonly name: string,
    config: DaibRepConfig,
    readonly seed: number,
  ) {
    validateDaibRepConfig(config, `DAIB representation '${name}'`);
    this.settings = methodSettings(config.method);
    const enc: EncoderConfig = {
      ...config.encoder,
      zIDim: this.settings.useZI ? config.encoder.zIDim : 0,
      zSDim: this.settings.useZS ? config.encoder.zSDim : 0,
    };
    this.config = { ...config, encoder: enc };
    this.encoder = buildEncoder(`${name}_enc`, enc, seed);
    this.domainHead = this.settings.adversarial
      ? buildMlp(`${name}_dom`, { inDim: enc.zIDim, hidden: config.domainHidden, outDim: config.numDomains, layerNorm: false }, seed)
      : null;
    this.rng = new Rng(deriveSeed(seed, name, 'noise'));
  }

  /** Width of z (and of the inference features). */
  get zDim(): number {
    return this.encoder.featureDim;
  }

  /**
   * Forward pass. `training` samples zS (bottleneck methods); otherwise zS = mean. Call inside a tidy/minimize.
   * With `step` the noise is a pure function of (seed, name, step), so a resumed run draws the same noise.
   */
  forward(images: tf.Tensor4D, training: boolean, step?: number): RepForward {
    const o = this.encoder.apply<tf.Tensor>(images, training && this.settings.bottleneck);
    let zS = o.zSMean as tf.Tensor2D | null;
    let logVar: tf.Tensor2D | null = null;
    if (o.zSMean && o.zSLogVar && training && this.settings.bottleneck) {
      const [lo, hi] = this.config.logVarClip;
      logVar = tf.clipByValue(o.zSLogVar, lo, hi) as tf.Tensor2D;
      const [b, d] = o.zSMean.shape as [number, number];
      const eps = new Float32Array(b * d);
      const rng = step === undefined ? this.rng : new Rng(deriveSeed(this.seed, this.name, 'noise', step));
      for (let i = 0; i < eps.length; i++) eps[i] = rng.normal();
      zS = tf.add<tf.Tensor2D>(o.zSMean, tf.mul(tf.exp(tf.mul(logVar, 0.5)), tf.tensor2d(eps, [b, d])));
    }
    const parts = [o.zI as tf.Tensor2D | null, zS].filter((p): p is tf.Tensor2D => p !== null);
    const z = parts.length === 1 ? (parts[0] as tf.Tensor2D) : tf.concat<tf.Tensor2D>(parts, -1);
    return { z, zI: o.zI as tf.Tensor2D | null, zSMean: o.zSMean as tf.Tensor2D | null, zSLogVar: logVar };
  }

  /** Current reversal strength at an update step (the DANN ramp). */
  lambdaAt(step: number): number {
    const w = this.config.grlWarmupSteps;
    if (w <= 0) return this.config.grlLambda;
    const p = Math.min(1, step / w);
    return this.config.grlLambda * (2 / (1 + Math.exp(-10 * p)) - 1);
  }

  /** Auxiliary DAIB terms for a forward pass. `domainOneHot` [B, numDomains]. */
  aux(f: RepForward, domainOneHot: tf.Tensor2D | null, step: number): RepAux {
    const zero = tf.scalar(0);
    let adv = zero;
    let domainCe = zero;
    if (this.domainHead && f.zI && this.config.advWeight > 0) {
      if (!domainOneHot) throw new Error(`DAIB '${this.name}': method '${this.config.method}' needs domain ids in every batch`);
      const w = this.config.advWeight;
      if (this.config.adversary === 'reversal') {
        domainCe = softmaxCe(this.domainHead.apply(gradientReversal(f.zI, this.lambdaAt(step))), domainOneHot);
        adv = tf.mul<tf.Scalar>(domainCe, w);
      } else {
        // F learns to read the domain from zI as it is (a monitor: its cross-entropy is logged); the encoder makes every
        // domain's mean and variance of zI the batch's, which leaves a fresh probe nothing to read.
        const zn = batchStandardize(f.zI);
        domainCe = softmaxCe(this.domainHead.apply(stopGradient(zn)), domainOneHot);
        adv = tf.add<tf.Scalar>(tf.mul(domainCe, w), tf.mul(domainMoments(zn, domainOneHot), w * this.lambdaAt(step)));
      }
    }
    let kl = zero;
    let klRaw = zero;
    if (this.settings.bottleneck && f.zSMean && f.zSLogVar) {
      klRaw = gaussianKl(f.zSMean, f.zSLogVar);
      kl = tf.mul<tf.Scalar>(klRaw, this.config.beta);
    }
    return { adv, kl, domainCe, klRaw };
  }

  variables(): tf.Variable[] {
    return [...netVariables(this.encoder), ...(this.domainHead ? netVariables(this.domainHead) : [])];
  }

  /** Encoder-only variables (the part that is frozen online). */
  encoderVariables(): tf.Variable[] {
    return netVariables(this.encoder);
  }

  /** Inference features model: image -> concat(zI, zSMean), contract layers only. */
  featuresModel(name = `${this.name}_features`): tf.LayersModel {
    const input = tf.input({ shape: this.config.encoder.inputShape, name: 'image' });
    return tf.model({ inputs: input, outputs: this.encoder.features(input), name });
  }
}

// ----------------------------------------------------------------------------------------------------------------
// Data: images + success label + domain id, in plain typed arrays.

export interface LabelledImages {
  /** Number of samples. */
  count: number;
  /** [height, width, channels] of every image. */
  shape: [number, number, number];
  /** NHWC pixels, count * h * w * c: uint8 0..255 or float in [0, 1]. */
  images: Uint8Array | Float32Array;
  /** 1 = success (connector seated), 0 = not. */
  success: Uint8Array;
  /** Domain (connector) index per sample. */
  domain: Int32Array;
  /** Optional domain names, index = domain id (for tables). */
  domainNames?: string[];
  /** Optional proprio per sample, count * proprioDim, raw units (as policy/inputs.ts builds it); a classifier with
   *  proprioDim > 0 needs it. */
  proprio?: Float32Array;
}

export function validateLabelledImages(ds: LabelledImages, where = 'dataset'): void {
  const [h, w, c] = ds.shape;
  if (!Number.isInteger(ds.count) || ds.count <= 0) throw new Error(`${where}: field 'count' must be a positive integer, got ${ds.count}`);
  if (ds.images.length !== ds.count * h * w * c)
    throw new Error(`${where}: field 'images' has length ${ds.images.length}, expected count*h*w*c = ${ds.count * h * w * c}`);
  if (ds.success.length !== ds.count) throw new Error(`${where}: field 'success' has length ${ds.success.length}, expected ${ds.count}`);
  if (ds.domain.length !== ds.count) throw new Error(`${where}: field 'domain' has length ${ds.domain.length}, expected ${ds.count}`);
  for (let i = 0; i < ds.count; i++) {
    const s = ds.success[i];
    if (s !== 0 && s !== 1) throw new Error(`${where}: field 'success'[${i}] must be 0 or 1, got ${s}`);
    if ((ds.domain[i] ?? -1) < 0) throw new Error(`${where}: field 'domain'[${i}] must be >= 0`);
  }
}

/** Sub-dataset of the samples whose domain is in `domains` (copies; for train/held-out splits by connector). */
export function selectDomains(ds: LabelledImages, domains: number[]): LabelledImages {
  const keep = new Set(domains);
  const idx: number[] = [];
  for (let i = 0; i < ds.count; i++) if (keep.has(ds.domain[i] ?? -1)) idx.push(i);
  const size = ds.shape[0] * ds.shape[1] * ds.shape[2];
  const images = ds.images instanceof Uint8Array ? new Uint8Array(idx.length * size) : new Float32Array(idx.length * size);
  const success = new Uint8Array(idx.length);
  const domain = new Int32Array(idx.length);
  idx.forEach((s, j) => {
    images.set(ds.images.subarray(s * size, (s + 1) * size), j * size);
    success[j] = ds.success[s] ?? 0;
    domain[j] = ds.domain[s] ?? 0;
  });
  const out: LabelledImages = { count: idx.length, shape: ds.shape, images, success, domain };
  if (ds.domainNames) out.domainNames = ds.domainNames;
  if (ds.proprio) {
    const pd = ds.proprio.length / ds.count;
    const pro = new Float32Array(idx.length * pd);
    idx.forEach((s, j) => pro.set((ds.proprio as Float32Array).subarray(s * pd, (s + 1) * pd), j * pd));
    out.proprio = pro;
  }
  return out;
}

/** Domain ids -> one-hot [B, n] as a tensor. */
export function oneHot(ids: ArrayLike<number>, n: number): tf.Tensor2D {
  const a = new Float32Array(ids.length * n);
  for (let i = 0; i < ids.length; i++) {
    const d = ids[i] ?? 0;
    if (d < 0 || d >= n) throw new Error(`domain id ${d} out of range [0, ${n}) (numDomains too small for this dataset?)`);
    a[i * n + d] = 1;
  }
  return tf.tensor2d(a, [ids.length, n]);
}

// ----------------------------------------------------------------------------------------------------------------
// Evaluation: accuracy rebalanced 50/50 per domain (mean of the true-positive and true-negative rates).

export interface DomainAccuracy {
  domain: number;
  name?: string;
  samples: number;
  positives: number;
  negatives: number;
  /** 0.5 * (TPR + TNR); with only one class present, that class's accuracy. */
  accuracy: number;
}

export interface BalancedEvaluation {
  perDomain: DomainAccuracy[];
  /** Mean of the per-domain rebalanced accuracies. */
  accuracy: number;
  samples: number;
  domains: number;
}

export function evaluateBalanced(
  probs: ArrayLike<number>,
  success: ArrayLike<number>,
  domain: ArrayLike<number>,
  threshold = 0.5,
  names?: string[],
): BalancedEvaluation {
  if (probs.length !== success.length || probs.length !== domain.length) throw new Error('evaluateBalanced: probs, success and domain lengths differ');
  const acc = new Map<number, { tp: number; p: number; tn: number; n: number }>();
  for (let i = 0; i < probs.length; i++) {
    const d = domain[i] ?? 0;
    const a = acc.get(d) ?? { tp: 0, p: 0, tn: 0, n: 0 };
    const pred = (probs[i] ?? 0) >= threshold;
    if (success[i]) {
      a.p++;
      if (pred) a.tp++;
    } else {
      a.n++;
      if (!pred) a.tn++;
    }
    acc.set(d, a);
  }
  const perDomain: DomainAccuracy[] = [...acc.entries()]
    .sort((x, y) => x[0] - y[0])
    .map(([d, a]) => {
      const rates = [a.p ? a.tp / a.p : null, a.n ? a.tn / a.n : null].filter((r): r is number => r !== null);
      const row: DomainAccuracy = { domain: d, samples: a.p + a.n, positives: a.p, negatives: a.n, accuracy: rates.reduce((s, r) => s + r, 0) / rates.length };
      const nm = names?.[d];
      if (nm !== undefined) row.name = nm;
      return row;
    });
  const mean = perDomain.reduce((s, r) => s + r.accuracy, 0) / Math.max(1, perDomain.length);
  return { perDomain, accuracy: mean, samples: probs.length, domains: perDomain.length };
}

/** Plain-text table like the thesis' table 8: method vs held-out accuracy. */
export function formatAccuracyTable(rows: Array<{ method: string; evaluation: BalancedEvaluation; seed?: number }>): string {
  const lines = ['method               held-out acc  connectors  samples  seed', '-------------------  ------------  ----------  -------  ----'];
  for (const r of rows) {
    lines.push(
      `${r.method.padEnd(19)}  ${(100 * r.evaluation.accuracy).toFixed(1).padStart(11)}%  ${String(r.evaluation.domains).padStart(10)}  ${String(r.evaluation.samples).padStart(7)}  ${r.seed ?? ''}`,
    );
  }
  return lines.join('\n');
}

// ----------------------------------------------------------------------------------------------------------------
// The reward classifier

export interface DaibTrainStats {
  step: number;
  loss: number;
  bce: number;
  domainCe: number;
  kl: number;
  lambda: number;
}

export class DaibClassifier {
  readonly config: DaibConfig;
  readonly rep: DaibRepresentation;
  readonly head: Mlp;
  readonly optimizer: tf.Optimizer;
  /** Updates done so far. */
  step = 0;
  /** Backend label at construction, for logs and model cards. */
  readonly backend: string;
  private readonly rng: Rng;
  private batchBuf: Float32Array;
  private readonly proprioBuf: Float32Array;

  constructor(config: DaibConfig) {
    validateDaibRepConfig(config, 'DAIB classifier config');
    if (!(config.lr > 0)) throw new Error(`DAIB classifier config: field 'lr' must be > 0`);
    if (!Number.isInteger(config.batchSize) || config.batchSize <= 0) throw new Error(`DAIB classifier config: field 'batchSize' must be a positive integer`);
    if (!(config.colorJitter >= 0 && config.colorJitter < 1))
      throw new Error(`DAIB classifier config: field 'colorJitter' must be in [0, 1), got ${config.colorJitter}`);
    if (!(Number.isInteger(config.proprioDim) && config.proprioDim >= 0))
      throw new Error(`DAIB classifier config: field 'proprioDim' must be a non-negative integer, got ${config.proprioDim}`);
    if (config.proprioScale.length !== config.proprioDim || !config.proprioScale.every((v) => Number.isFinite(v) && v > 0)) {
      throw new Error(
        `DAIB classifier config: field 'proprioScale' must have proprioDim (${config.proprioDim}) positive entries, got [${config.proprioScale.join(', ')}]`,
      );
    }
    this.config = config;
    this.rep = new DaibRepresentation('reward', config, config.seed);
    this.head = buildMlp('reward_head', { inDim: this.rep.zDim + config.proprioDim, hidden: config.headHidden, outDim: 1, layerNorm: false }, config.seed);
    this.proprioBuf = new Float32Array(config.batchSize * config.proprioDim);
    this.optimizer = makeAdam(config.lr);
    this.rng = new Rng(deriveSeed(config.seed, 'batches'));
    const [h, w, c] = config.encoder.inputShape;
    this.batchBuf = new Float32Array(config.batchSize * h * w * c);
    this.backend = backendLabel();
  }

  variables(): tf.Variable[] {
    return [...this.rep.variables(), ...netVariables(this.head)];
  }

  /** Release the weights and optimiser state. The classifier is unusable afterwards. */
  dispose(): void {
    for (const v of this.variables()) v.dispose();
    this.optimizer.dispose();
  }

  /** The head's input: z, then the scaled proprio when the classifier takes one. Inside a tidy. Public for the head's
   *  fine-tune on frozen features (reward-tune.ts), which must build it exactly as training and inference do. */
  headInput(z: tf.Tensor2D, proprio: tf.Tensor2D | null): tf.Tensor2D {
    if (this.config.proprioDim === 0) return z;
    if (!proprio) throw new Error(`DAIB classifier: takes a proprio input of ${this.config.proprioDim} values, none given`);
    return tf.concat<tf.Tensor2D>([z, tf.mul<tf.Tensor2D>(proprio, tf.tensor1d(this.config.proprioScale))], -1);
  }

  /** One update on a batch given as typed arrays (images already float [0, 1], NHWC; proprio raw, b * proprioDim). */
  trainStep(images: Float32Array, success: ArrayLike<number>, domain: ArrayLike<number>, proprio?: Float32Array): DaibTrainStats {
    const b = success.length;
    const shape = this.config.encoder.inputShape;
    const pd = this.config.proprioDim;
    if (pd > 0 && (!proprio || proprio.length < b * pd)) throw new Error(`DAIB classifier: batch needs ${b * pd} proprio values, got ${proprio?.length ?? 0}`);
    const lambda = this.rep.lambdaAt(this.step);
    let stats: tf.Tensor | undefined;
    const cost = tf.tidy(() => {
      const x = tf.tensor4d(images.subarray(0, b * shape[0] * shape[1] * shape[2]), [b, ...shape]);
      const y = tf.tensor2d(Float32Array.from(success), [b, 1]);
      const dom = this.rep.settings.adversarial ? oneHot(domain, this.config.numDomains) : null;
      const pro = pd > 0 && proprio ? tf.tensor2d(proprio.subarray(0, b * pd), [b, pd]) : null;
      const loss = this.optimizer.minimize(
        () => {
          const f = this.rep.forward(x, true, this.step);
          const logits = this.head.apply(this.headInput(f.z, pro));
          const bce = bceWithLogits(logits, y);
          const aux = this.rep.aux(f, dom, this.step);
          // Kept: minimize() disposes everything else created in here.
          stats = tf.keep(tf.stack([bce, aux.domainCe, aux.klRaw]));
          return tf.addN<tf.Scalar>([bce, aux.adv, aux.kl]);
        },
        true,
        this.variables(),
      );
      if (!loss) throw new Error('DAIB: optimiser returned no loss');
      return loss;
    });
    const lossV = cost.dataSync()[0] ?? NaN;
    cost.dispose();
    const v = stats ? stats.dataSync() : new Float32Array(3).fill(NaN);
    stats?.dispose();
    const parts = { bce: v[0] ?? NaN, domainCe: v[1] ?? NaN, kl: v[2] ?? NaN };
    this.step++;
    const loss = lossV;
    if (!Number.isFinite(loss)) throw new Error(`DAIB: loss became non-finite at step ${this.step} (lr too high?)`);
    return { step: this.step, loss, ...parts, lambda };
  }

  /** Sample a batch from `ds` (seeded), with random-shift augmentation, and update. */
  trainOnDataset(ds: LabelledImages): DaibTrainStats {
    const b = this.config.batchSize;
    const idx = new Int32Array(b);
    for (let i = 0; i < b; i++) idx[i] = this.rng.int(ds.count);
    gatherImages(ds.images, ds.shape, idx, this.batchBuf, this.config.shiftPad, (n) => this.rng.int(n));
    if (this.config.colorJitter > 0) jitterColours(this.batchBuf, b, ds.shape, this.config.colorJitter, () => this.rng.next());
    const success = new Float32Array(b);
    const domain = new Int32Array(b);
    const pd = this.config.proprioDim;
    for (let i = 0; i < b; i++) {
      const j = idx[i] ?? 0;
      success[i] = ds.success[j] ?? 0;
      domain[i] = ds.domain[j] ?? 0;
      if (pd > 0) this.proprioBuf.set((ds.proprio as Float32Array).subarray(j * pd, (j + 1) * pd), i * pd);
    }
    return this.trainStep(this.batchBuf, success, domain, this.proprioBuf);
  }

  /** Train for `steps` updates; `onLog` every `logEvery` steps. */
  fit(ds: LabelledImages, steps: number, onLog?: (s: DaibTrainStats) => void, logEvery = 100): DaibTrainStats | undefined {
    validateLabelledImages(ds, 'DAIB training data');
    this.checkProprio(ds.proprio, ds.count, 'DAIB training data');
    if (ds.shape.join('x') !== this.config.encoder.inputShape.join('x')) {
      throw new Error(
        `DAIB training data: field 'shape' ${ds.shape.join('x')} differs from the encoder's inputShape ${this.config.encoder.inputShape.join('x')}`,
      );
    }
    let last: DaibTrainStats | undefined;
    for (let i = 0; i < steps; i++) {
      last = this.trainOnDataset(ds);
      if (onLog && (last.step % logEvery === 0 || i === steps - 1)) onLog(last);
    }
    return last;
  }

  private checkProprio(proprio: Float32Array | undefined, count: number, where: string): void {
    const pd = this.config.proprioDim;
    if (pd === 0) return;
    if (!proprio) throw new Error(`${where}: field 'proprio' is required (the classifier takes ${pd} proprio values per sample)`);
    if (proprio.length < count * pd) throw new Error(`${where}: field 'proprio' has ${proprio.length} values, need ${count}*${pd}`);
  }

  /** Success probabilities for `count` images (uint8 or float [0, 1], NHWC), deterministic (zS = mean); `proprio`
   *  (count * proprioDim, raw) when the classifier takes it. */
  predict(images: Uint8Array | Float32Array, count?: number, chunk = 256, proprio?: Float32Array): Float32Array {
    const shape = this.config.encoder.inputShape;
    const size = shape[0] * shape[1] * shape[2];
    const n = count ?? Math.floor(images.length / size);
    if (images.length < n * size) throw new Error(`predict: images has ${images.length} values, need ${n}*${size}`);
    this.checkProprio(proprio, n, 'predict');
    const pd = this.config.proprioDim;
    const out = new Float32Array(n);
    const buf = new Float32Array(Math.min(chunk, n) * size);
    for (let s = 0; s < n; s += chunk) {
      const m = Math.min(chunk, n - s);
      const idx = Int32Array.from({ length: m }, (_, i) => s + i);
      gatherImages(images, shape, idx, buf);
      const p = tf.tidy(() => {
        const x = tf.tensor4d(buf.subarray(0, m * size), [m, ...shape]);
        const pro = pd > 0 && proprio ? tf.tensor2d(proprio.subarray(s * pd, (s + m) * pd), [m, pd]) : null;
        return tf.sigmoid(this.head.apply(this.headInput(this.rep.encoder.features<tf.Tensor>(x) as tf.Tensor2D, pro)));
      });
      out.set(p.dataSync(), s);
      p.dispose();
    }
    return out;
  }

  /** Rebalanced held-out accuracy on a dataset. */
  evaluate(ds: LabelledImages): BalancedEvaluation {
    validateLabelledImages(ds, 'DAIB evaluation data');
    return evaluateBalanced(this.predict(ds.images, ds.count, 256, ds.proprio), ds.success, ds.domain, 0.5, ds.domainNames);
  }

  /**
   * image [N, h, w, c] float [0, 1] (and proprio [N, proprioDim], raw units, when the classifier takes it) ->
   * success probability [N, 1]; contract layers only: encoder -> concat(zI, zS mean) [-> concat(scaled proprio)] ->
   * head -> sigmoid. Inputs named 'image' and 'proprio', output 'success_prob'.
   */
  inferenceModel(): tf.LayersModel {
    const input = tf.input({ shape: this.config.encoder.inputShape, name: 'image' });
    let h = this.rep.encoder.features(input);
    const inputs = [input];
    if (this.config.proprioDim > 0) {
      const pr = tf.input({ shape: [this.config.proprioDim], name: 'proprio' });
      inputs.push(pr);
      const ps = new Scale({ scale: this.config.proprioScale, name: 'reward_proprio_scale' }).apply(pr) as tf.SymbolicTensor;
      h = tf.layers.concatenate({ name: 'reward_head_input', axis: -1 }).apply([h, ps]) as tf.SymbolicTensor;
    }
    const logit = this.head.apply(h);
    const prob = tf.layers.activation({ activation: 'sigmoid', name: 'success_prob' }).apply(logit) as tf.SymbolicTensor;
    return tf.model({ inputs, outputs: prob, name: 'reward_classifier' });
  }
}

/**
 * What DAIB is for, measured: a FRESH linear domain classifier fitted on the frozen zI of `ds` (every other sample,
 * at most `maxSamples`, columns standardised with the fit half's statistics; Adam, full batch) and scored on the
 * other half. Near 1 / (number of domains) when zI carries no domain a linear read-out can find. Null without zI.
 */
export function freshDomainProbe(clf: DaibClassifier, ds: LabelledImages, opts: { maxSamples?: number; steps?: number; seed?: number } = {}): number | null {
  if (!clf.rep.settings.useZI) return null;
  const shape = clf.config.encoder.inputShape;
  const size = shape[0] * shape[1] * shape[2];
  const rng = new Rng(deriveSeed(opts.seed ?? 0, 'domain-probe'));
  const n = Math.min(ds.count, opts.maxSamples ?? 4000);
  const pick = ds.count <= n ? Int32Array.from({ length: ds.count }, (_, i) => i) : Int32Array.from({ length: n }, () => rng.int(ds.count));
  const k = Math.max(...Array.from(ds.domain)) + 1;
  const buf = new Float32Array(pick.length * size);
  gatherImages(ds.images, ds.shape, pick, buf);
  const zI = tf.tidy(() => {
    const o = clf.rep.encoder.apply<tf.Tensor>(tf.tensor4d(buf, [pick.length, ...shape]), false);
    return o.zI as tf.Tensor2D;
  });
  const half = (odd: number): number[] => Array.from(pick.keys()).filter((i) => i % 2 === odd);
  const [fitIdx, scoreIdx] = [half(0), half(1)];
  const fitDom = Int32Array.from(fitIdx, (i) => ds.domain[pick[i] ?? 0] ?? 0);
  const scoreDom = Int32Array.from(scoreIdx, (i) => ds.domain[pick[i] ?? 0] ?? 0);
  const w = tf.variable(tf.zeros([zI.shape[1], k]));
  const b = tf.variable(tf.zeros([k]));
  const opt = tf.train.adam(0.05);
  try {
    const [fit, score] = tf.tidy(() => {
      const f = tf.gather(zI, Int32Array.from(fitIdx));
      const sc = tf.gather(zI, Int32Array.from(scoreIdx));
      const { mean, variance } = tf.moments(f, 0);
      const sd = tf.sqrt(tf.add(variance, 1e-6));
      return [tf.div<tf.Tensor2D>(tf.sub(f, mean), sd), tf.div<tf.Tensor2D>(tf.sub(sc, mean), sd)];
    });
    const y = oneHot(fitDom, k);
    for (let i = 0; i < (opts.steps ?? 300); i++) opt.minimize(() => softmaxCe(tf.add(tf.matMul(fit, w), b), y));
    const pred = tf.tidy(() => tf.argMax(tf.add(tf.matMul(score, w), b), 1).dataSync());
    let right = 0;
    pred.forEach((p, i) => {
      if (p === scoreDom[i]) right++;
    });
    tf.dispose([fit, score, y]);
    return right / Math.max(1, scoreDom.length);
  } finally {
    tf.dispose([zI, w, b]);
    opt.dispose();
  }
}

/**
 * The research's table 8 on any split: train each method (same config, same seed, same steps) on `train` and report
 * rebalanced accuracy on `heldOut`. Rows are ready for `formatAccuracyTable`.
 */
export function compareMethods(
  train: LabelledImages,
  heldOut: LabelledImages,
  base: DaibConfig,
  steps: number,
  methods: readonly DaibMethod[] = DAIB_METHODS,
  onDone?: (row: { method: DaibMethod; evaluation: BalancedEvaluation; seed: number }) => void,
): Array<{ method: DaibMethod; evaluation: BalancedEvaluation; seed: number }> {
  const rows: Array<{ method: DaibMethod; evaluation: BalancedEvaluation; seed: number }> = [];
  for (const method of methods) {
    const clf = new DaibClassifier({ ...base, method });
    clf.fit(train, steps);
    const row = { method, evaluation: clf.evaluate(heldOut), seed: base.seed };
    rows.push(row);
    onDone?.(row);
    clf.dispose();
  }
  return rows;
}
