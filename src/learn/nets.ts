/**
 * Network builders for the learning core (tf.layers, functional API).
 *
 * CONTRACT with the ONNX exporter (src/learn/export.ts): everything that ends up in an inference model uses only
 * InputLayer, Conv2D (valid/same, strides, relu/linear, NHWC), Dense (relu/tanh/sigmoid/linear),
 * LayerNormalization (epsilon ALWAYS 1e-5, ONNX's value; tfjs defaults to 1e-3), Flatten, Concatenate,
 * Activation (relu/tanh/sigmoid) and Scale (src/learn/layers.ts). Training-only pieces (gradient reversal,
 * reparameterised sampling, domain classifier) are computed with tf ops in the losses and never enter these graphs.
 *
 * PREPROCESSING: image inputs are float32 NHWC in [0, 1] (RGB, uint8 / 255). The scaling happens when a batch is
 * assembled from typed arrays (see `toUnitFloat`), not in the graph, so the exported ONNX models expect [0, 1] too.
 *
 * Each builder returns plain layer objects plus `apply`, which works both eagerly on tensors (training) and on
 * SymbolicTensors (to assemble flat inference models that share the same weights).
 */
import * as tf from '@tensorflow/tfjs';
import { deriveSeed } from '../util/rng.ts';
import { polyak } from './optim.ts';
import { convBiasRelu, convTrunk, layerNormLastAxis, nativeGemm } from './backend.ts';

/** LayerNorm epsilon shared with ONNX. */
export const LN_EPSILON = 1e-5;

type Sym = tf.SymbolicTensor;
type AnyT = tf.Tensor | Sym;

/**
 * Apply a layer to one input, keeping the eager/symbolic type. Eager tensors take `eagerApply` (same math with plain
 * tf ops): tfjs-layers' eager path is slow on wasm (LayerNormalization 6 ms vs 0.4 ms for the same ops, Dense 5x).
 */
export function ap<T extends AnyT>(layer: tf.layers.Layer, x: T | T[]): T {
  const first = Array.isArray(x) ? x[0] : x;
  if (first instanceof tf.Tensor) return eagerApply(layer, x as tf.Tensor | tf.Tensor[]) as unknown as T;
  return layer.apply(x as tf.Tensor | tf.Tensor[]) as unknown as T;
}

function activate(x: tf.Tensor, act: string): tf.Tensor {
  switch (act) {
    case 'linear':
      return x;
    case 'relu':
      return tf.relu(x);
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    default:
      throw new Error(`eagerApply: activation '${act}' is outside the layer contract`);
  }
}

const eagerInfo = new WeakMap<tf.layers.Layer, { cls: string; cfg: tf.serialization.ConfigDict; act: string; w: tf.Tensor[] }>();

/** The contract layers computed with tf ops from the layer's own variables (differentiable, identical math). */
export function eagerApply(layer: tf.layers.Layer, x: tf.Tensor | tf.Tensor[]): tf.Tensor {
  const t = Array.isArray(x) ? x[0] : x;
  if (!t) throw new Error(`eagerApply: no input for layer '${layer.name}'`);
  if (!layer.built) return layer.apply(x) as tf.Tensor; // first call builds the weights
  // getConfig() and trainableWeights are slow enough to matter per call: cache them per layer.
  let info = eagerInfo.get(layer);
  if (!info) {
    const cfg = layer.getConfig();
    const a = cfg['activation'];
    const act = typeof a === 'string' ? a : a == null ? 'linear' : JSON.stringify(a);
    info = { cls: layer.getClassName(), cfg, act, w: layer.trainableWeights.map((v) => v.read()) };
    eagerInfo.set(layer, info);
  }
  const { cls, cfg, act, w } = info;
  if (cls === 'Concatenate') return tf.concat(x as tf.Tensor[], (cfg['axis'] as number | undefined) ?? -1);
  switch (cls) {
    case 'Dense': {
      const [kernel, bias] = w;
      if (!kernel) break;
      const fusable = act === 'linear' || act === 'relu' || act === 'sigmoid';
      const y = tf.fused.matMul({ a: t, b: kernel, ...(bias ? { bias } : {}), activation: fusable ? act : 'linear' });
      return fusable ? y : activate(y, act);
    }
    case 'Conv2D': {
      // Not tf.fused.conv2d: its custom gradient always computes the input gradient, which for the first layer (the
      // image) is wasted work, about as costly as the forward conv. convBiasRelu and the plain ops compute it lazily.
      const [kernel, bias] = w;
      if (!kernel) break;
      const strides = cfg['strides'] as [number, number];
      const pad = cfg['padding'] as 'same' | 'valid';
      // One native kernel each way on wasm with the native kernels (backend.ts); the plain ops below elsewhere.
      const fused = bias && act === 'relu' ? convBiasRelu(t as tf.Tensor4D, kernel as tf.Tensor4D, bias, strides, pad) : null;
      if (fused) return fused;
      let y = tf.conv2d(t as tf.Tensor4D, kernel as tf.Tensor4D, strides, pad);
      if (bias) y = tf.add(y, bias);
      return activate(y, act);
    }
    case 'LayerNormalization': {
      const [gamma, beta] = w;
      const eps = cfg['epsilon'] as number;
      // One kernel each way on wasm (backend.ts fix 6); the formula below elsewhere.
      const fused =
        gamma && beta && cfg['axis'] !== undefined && [cfg['axis']].flat().every((a) => a === -1 || a === t.rank - 1)
          ? layerNormLastAxis(t, gamma, beta, eps)
          : null;
      if (fused) return fused;
      const { mean, variance } = tf.moments(t, -1, true);
      let y = tf.mul(tf.sub(t, mean), tf.rsqrt(tf.add(variance, eps)));
      if (gamma) y = tf.mul(y, gamma);
      if (beta) y = tf.add(y, beta);
      return y;
    }
    case 'Activation':
      return activate(t, act);
    case 'Flatten':
      return tf.reshape(t, [t.shape[0] ?? -1, -1]);
    default:
      break;
  }
  return layer.apply(t) as tf.Tensor;
}

function glorot(seed: number): tf.serialization.Serializable {
  return tf.initializers.glorotUniform({ seed });
}

/** A named group of layers whose trainable variables can be listed, copied and checkpointed. */
export interface Net {
  readonly name: string;
  readonly layers: tf.layers.Layer[];
}

/** Trainable tf.Variables of a net (built layers only). */
export function netVariables(net: Net): tf.Variable[] {
  return net.layers.flatMap((l) => l.trainableWeights.map((w) => w.read() as tf.Variable));
}

/** Stable checkpoint keys for a net's variables, in `netVariables` order. */
export function netVariableKeys(net: Net): string[] {
  // Layer name + index only: tfjs suffixes weight names (kernel_3) to keep them process-unique.
  return net.layers.flatMap((l) => l.trainableWeights.map((_, i) => `${l.name}/${i}`));
}

// ----------------------------------------------------------------------------------------------------------------
// Convolutional image encoder with the DAIB heads: z = (zI, zS).

export interface EncoderConfig {
  /** Input image [height, width, channels], float [0, 1]. 32x32x3 or 64x64x3 in this project. */
  inputShape: [number, number, number];
  /** Filters per conv layer (ReLU). */
  filters: number[];
  /** Kernel size of every conv layer (square). */
  kernelSize: number;
  /** Stride per conv layer. */
  strides: number[];
  /** Conv padding: 'same' halves the size at stride 2 exactly; 'valid' is cheaper to export. */
  padding: 'same' | 'valid';
  /** Width of the domain-invariant code zI (0 = none). Dense -> LayerNorm -> tanh, deterministic. */
  zIDim: number;
  /** Width of the bottleneck code zS (0 = none). Dense heads for its mean and log-variance. */
  zSDim: number;
}

export const DEFAULT_ENCODER: EncoderConfig = {
  inputShape: [64, 64, 3],
  filters: [32, 32, 32],
  kernelSize: 3,
  strides: [2, 2, 2],
  padding: 'same',
  zIDim: 32,
  zSDim: 16,
};

export interface EncoderOutputs<T extends AnyT> {
  /** Domain-invariant code (null when zIDim = 0). */
  zI: T | null;
  /** Bottleneck mean (null when zSDim = 0); the deterministic zS at inference. */
  zSMean: T | null;
  /** Bottleneck log-variance (null when zSDim = 0); training only. */
  zSLogVar: T | null;
}

export interface Encoder extends Net {
  readonly config: EncoderConfig;
  /** Width of the inference features concat(zI, zSMean). */
  readonly featureDim: number;
  /** Conv trunk + heads. `withLogVar` false skips the training-only head. */
  apply<T extends AnyT>(x: T, withLogVar?: boolean): EncoderOutputs<T>;
  /** Inference features concat(zI, zSMean) (symbolic or eager). */
  features<T extends AnyT>(x: T): T;
}

export function validateEncoderConfig(c: EncoderConfig, where = 'encoder config'): void {
  const bad = (field: string, why: string): never => {
    throw new Error(`${where}: field '${field}' ${why}`);
  };
  if (c.inputShape.length !== 3 || !c.inputShape.every((v) => Number.isInteger(v) && v > 0)) bad('inputShape', 'must be [h, w, c] positive integers');
  if (c.filters.length === 0 || !c.filters.every((v) => Number.isInteger(v) && v > 0)) bad('filters', 'must be a non-empty list of positive integers');
  if (c.strides.length !== c.filters.length || !c.strides.every((v) => Number.isInteger(v) && v > 0))
    bad('strides', 'must have one positive integer per conv layer');
  if (!Number.isInteger(c.kernelSize) || c.kernelSize <= 0) bad('kernelSize', 'must be a positive integer');
  if (c.padding !== 'same' && c.padding !== 'valid') bad('padding', "must be 'same' or 'valid'");
  if (!Number.isInteger(c.zIDim) || c.zIDim < 0) bad('zIDim', 'must be an integer >= 0');
  if (!Number.isInteger(c.zSDim) || c.zSDim < 0) bad('zSDim', 'must be an integer >= 0');
  if (c.zIDim + c.zSDim === 0) bad('zIDim/zSDim', 'cannot both be 0');
}

/** Conv encoder: conv(ReLU) x N -> flatten -> {zI: Dense -> LN -> tanh, zS mean: Dense, zS log-var: Dense}. */
export function buildEncoder(name: string, config: EncoderConfig, seed: number): Encoder {
  validateEncoderConfig(config, `encoder '${name}'`);
  const s = (label: string): number => deriveSeed(seed, name, label);
  const convs = config.filters.map((f, i) =>
    tf.layers.conv2d({
      name: `${name}_conv${i}`,
      filters: f,
      kernelSize: config.kernelSize,
      strides: config.strides[i] ?? 1,
      padding: config.padding,
      activation: 'relu',
      dataFormat: 'channelsLast',
      kernelInitializer: glorot(s(`conv${i}`)) as never,
      ...(i === 0 ? { inputShape: config.inputShape } : {}),
    }),
  );
  const flatten = tf.layers.flatten({ name: `${name}_flatten` });
  const zI =
    config.zIDim > 0
      ? [
          tf.layers.dense({ name: `${name}_zI_dense`, units: config.zIDim, kernelInitializer: glorot(s('zI')) as never }),
          tf.layers.layerNormalization({ name: `${name}_zI_ln`, epsilon: LN_EPSILON }),
          tf.layers.activation({ name: `${name}_zI_tanh`, activation: 'tanh' }),
        ]
      : [];
  const zSMean = config.zSDim > 0 ? tf.layers.dense({ name: `${name}_zS_mean`, units: config.zSDim, kernelInitializer: glorot(s('mu')) as never }) : null;
  const zSLogVar = config.zSDim > 0 ? tf.layers.dense({ name: `${name}_zS_logvar`, units: config.zSDim, kernelInitializer: glorot(s('lv')) as never }) : null;
  const concat = tf.layers.concatenate({ name: `${name}_features`, axis: -1 });
  const layers: tf.layers.Layer[] = [...convs, flatten, ...zI, ...(zSMean ? [zSMean] : []), ...(zSLogVar ? [zSLogVar] : [])];

  // The conv trunk as one native kernel each way where it runs (backend.ts convTrunk: the same values as layer by layer).
  let trunkWeights: { filter: tf.Tensor4D; bias: tf.Tensor }[] | null = null;
  const trunk = (x: tf.Tensor): tf.Tensor | null => {
    if (!convs.every((c) => c.built)) return null;
    trunkWeights ??= convs.map((c) => {
      const [filter, bias] = c.trainableWeights.map((w) => w.read());
      return { filter: filter as tf.Tensor4D, bias: bias as tf.Tensor };
    });
    return convTrunk(x as tf.Tensor4D, trunkWeights, config.strides, config.padding);
  };
  function apply<T extends AnyT>(x: T, withLogVar = true): EncoderOutputs<T> {
    let h = x instanceof tf.Tensor ? ((trunk(x) as T | null) ?? x) : x;
    if (h === x) for (const c of convs) h = ap(c, h);
    h = ap(flatten, h);
    let zi: T | null = null;
    if (zI.length) {
      zi = h;
      for (const l of zI) zi = ap(l, zi);
    }
    return {
      zI: zi,
      zSMean: zSMean ? ap(zSMean, h) : null,
      zSLogVar: zSLogVar && withLogVar ? ap(zSLogVar, h) : null,
    };
  }
  function features<T extends AnyT>(x: T): T {
    const o = apply(x, false);
    const parts = [o.zI, o.zSMean].filter((p): p is T => p !== null);
    if (parts.length === 1) return parts[0] as T;
    return ap(concat, parts);
  }
  const enc: Encoder = { name, config, featureDim: config.zIDim + config.zSDim, layers, apply, features };
  // Build the weights now so variables exist before the first optimiser step.
  tf.tidy(() => {
    apply(tf.zeros([1, ...config.inputShape]));
  });
  return enc;
}

// ----------------------------------------------------------------------------------------------------------------
// MLP heads.

export interface MlpConfig {
  /** Input width. */
  inDim: number;
  /** Hidden widths (ReLU). Default in this project: [256, 256]. */
  hidden: number[];
  /** Output width. */
  outDim: number;
  /** Dense -> LayerNorm -> ReLU in hidden layers (critics: bounds Q extrapolation, RLPD). */
  layerNorm: boolean;
  /** Output activation. */
  outActivation?: 'linear' | 'tanh' | 'sigmoid';
}

export interface Mlp extends Net {
  readonly config: MlpConfig;
  apply<T extends AnyT>(x: T): T;
}

export function buildMlp(name: string, config: MlpConfig, seed: number): Mlp {
  if (!Number.isInteger(config.inDim) || config.inDim <= 0) throw new Error(`mlp '${name}': field 'inDim' must be a positive integer`);
  if (!Number.isInteger(config.outDim) || config.outDim <= 0) throw new Error(`mlp '${name}': field 'outDim' must be a positive integer`);
  if (!config.hidden.every((h) => Number.isInteger(h) && h > 0)) throw new Error(`mlp '${name}': field 'hidden' must be positive integers`);
  const s = (label: string): number => deriveSeed(seed, name, label);
  const layers: tf.layers.Layer[] = [];
  config.hidden.forEach((units, i) => {
    if (config.layerNorm) {
      layers.push(
        tf.layers.dense({ name: `${name}_d${i}`, units, kernelInitializer: glorot(s(`d${i}`)) as never, ...(i === 0 ? { inputShape: [config.inDim] } : {}) }),
      );
      layers.push(tf.layers.layerNormalization({ name: `${name}_ln${i}`, epsilon: LN_EPSILON }));
      layers.push(tf.layers.activation({ name: `${name}_relu${i}`, activation: 'relu' }));
    } else {
      layers.push(
        tf.layers.dense({
          name: `${name}_d${i}`,
          units,
          activation: 'relu',
          kernelInitializer: glorot(s(`d${i}`)) as never,
          ...(i === 0 ? { inputShape: [config.inDim] } : {}),
        }),
      );
    }
  });
  layers.push(
    tf.layers.dense({ name: `${name}_out`, units: config.outDim, activation: config.outActivation ?? 'linear', kernelInitializer: glorot(s('out')) as never }),
  );
  const mlp: Mlp = {
    name,
    config,
    layers,
    apply<T extends AnyT>(x: T): T {
      let h = x;
      for (const l of layers) h = ap(l, h);
      return h;
    },
  };
  tf.tidy(() => {
    mlp.apply(tf.zeros([1, config.inDim]));
  });
  return mlp;
}

// ----------------------------------------------------------------------------------------------------------------
// Weight utilities.

/** target <- tau * source + (1 - tau) * target (Polyak). tau = 1 copies (values, never shared buffers). */
export function polyakUpdate(target: Net, source: Net, tau: number): void {
  const t = netVariables(target);
  const s = netVariables(source);
  if (t.length !== s.length) throw new Error(`polyak: '${target.name}' and '${source.name}' differ in variable count`);
  polyak(t, s, tau);
}

/** Uint8 (0..255) or float [0, 1] pixel data -> float [0, 1] (copied into `out` at `offset`). */
export function toUnitFloat(src: Uint8Array | Float32Array, srcOffset: number, length: number, out: Float32Array, offset: number): void {
  if (src instanceof Uint8Array) {
    for (let i = 0; i < length; i++) out[offset + i] = (src[srcOffset + i] ?? 0) / 255;
  } else {
    out.set(src.subarray(srcOffset, srcOffset + length), offset);
  }
}

/**
 * Copy images `idx` into `out` (NHWC float [0, 1]); with `pad` > 0 each image is randomly shifted by up to +-pad
 * pixels with edge replication (DrQ/RLPD random-shift augmentation: pad then random crop).
 */
export function gatherImages(
  images: Uint8Array | Float32Array,
  shape: [number, number, number],
  idx: ArrayLike<number>,
  out: Float32Array,
  pad = 0,
  randInt?: (n: number) => number,
): void {
  const [h, w, c] = shape;
  const size = h * w * c;
  const n = idx.length;
  // Each image's shift (rows, columns), drawn in this order whichever loop copies.
  const shifts = pad > 0 && randInt ? new Int32Array(2 * n) : null;
  if (shifts && randInt) for (let k = 0; k < 2 * n; k++) shifts[k] = randInt(2 * pad + 1) - pad;
  // The native loop (the same rule and values, about 10x faster) for uint8 images, in-range indices and a big enough out.
  const g = nativeGemm()?.gatherImages;
  const count = images.length / size;
  if (
    g &&
    images instanceof Uint8Array &&
    out.length >= n * size &&
    Array.prototype.every.call(idx, (i: number) => Number.isInteger(i) && i >= 0 && i < count)
  ) {
    g(images, Int32Array.from(idx), shifts, Int32Array.of(h, w, c), out);
    return;
  }
  const u8 = images instanceof Uint8Array;
  for (let b = 0; b < n; b++) {
    const src = (idx[b] ?? 0) * size;
    const dst = b * size;
    if (!shifts) {
      toUnitFloat(images, src, size, out, dst);
      continue;
    }
    const dy = shifts[2 * b] as number;
    const dx = shifts[2 * b + 1] as number;
    for (let y = 0; y < h; y++) {
      const sy = Math.min(h - 1, Math.max(0, y + dy));
      for (let x = 0; x < w; x++) {
        const sx = Math.min(w - 1, Math.max(0, x + dx));
        const so = src + (sy * w + sx) * c;
        const o = dst + (y * w + x) * c;
        for (let k = 0; k < c; k++) out[o + k] = u8 ? (images[so + k] ?? 0) / 255 : (images[so + k] ?? 0);
      }
    }
  }
}
