/**
 * Fine-tuning the reward classifier's head on operator-labelled frames (issue 13).
 *
 * The shipped reward model exists as ONNX (+ card) only. `rewardClassifierFromOnnx` rebuilds the DaibClassifier its
 * card describes and loads the ONNX initializers into it by name (the exporter, export.ts, names each initializer
 * `<layer>/<kernel|bias|gamma|beta>`; conv kernels go back from ONNX's [co, ci, kh, kw] to tfjs's [kh, kw, ci, co]).
 * Layers the inference graph does not hold (the bottleneck's log-variance, the domain head) keep their initial
 * weights: inference never uses them. `fineTuneHead` then trains only the success head on frozen encoder features
 * (computed once; with the proprio input, e.g. the depth reward's depth steps, joined as in training), with
 * per-sample weights, and the result is exported through the ordinary path
 * (`clf.inferenceModel()` + saveOnnxModel).
 */
import * as tf from '@tensorflow/tfjs';
import { onnxProto } from '../policy/onnx-format.ts';
import { DaibClassifier, savedDaibConfig, type DaibConfig } from './daib.ts';
import { netVariables } from './nets.ts';
import { makeAdam } from './optim.ts';

/** float32 initializers of an ONNX model by name. */
function initializers(bytes: Uint8Array, where: string): Map<string, { dims: number[]; data: Float32Array }> {
  const m = onnxProto.onnx.ModelProto.decode(bytes);
  const out = new Map<string, { dims: number[]; data: Float32Array }>();
  for (const t of m.graph?.initializer ?? []) {
    if (!t.name) continue;
    const dims = (t.dims ?? []).map(Number);
    const n = dims.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (t.rawData && t.rawData.length > 0) {
      if (t.rawData.length !== n * 4) throw new Error(`${where}: initializer '${t.name}' has ${t.rawData.length} bytes for dims [${dims.join(', ')}]`);
      const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
      data = Float32Array.from({ length: n }, (_, i) => view.getFloat32(i * 4, true));
    } else {
      data = Float32Array.from(t.floatData ?? []);
    }
    out.set(t.name, { dims, data });
  }
  return out;
}

/**
 * The DaibClassifier of `config` with the weights of an ONNX reward model exported from such a classifier. Throws,
 * naming the file and the weight, when a weight the inference graph needs is missing or has another shape.
 * `config` comes from a model card, so its fields may be older than this build's.
 */
export function rewardClassifierFromOnnx(bytes: Uint8Array, config: DaibConfig, where: string): DaibClassifier {
  const init = initializers(bytes, where);
  // Cards written before the classifier could take a proprio input carry no proprio fields: image only.
  const clf = new DaibClassifier({
    ...savedDaibConfig(config),
    proprioDim: config.proprioDim ?? 0,
    proprioScale: config.proprioScale ?? [],
  });
  try {
    for (const layer of [...clf.rep.encoder.layers, ...clf.head.layers]) {
      for (const w of layer.weights) {
        const suffix = w.originalName.split('/').pop() ?? '';
        const name = `${layer.name}/${suffix}`;
        const t = init.get(name);
        if (!t) {
          if (layer.name.endsWith('_zS_logvar')) continue; // training only: not in the inference graph
          throw new Error(`${where}: no initializer '${name}' (is this a reward model exported from a ${config.method} classifier of this shape?)`);
        }
        const v = tf.tidy(() => {
          const x = tf.tensor(t.data, t.dims);
          return layer.getClassName() === 'Conv2D' && suffix === 'kernel' ? tf.transpose(x, [2, 3, 1, 0]) : x;
        });
        if (v.shape.join('x') !== w.shape.join('x')) {
          v.dispose();
          throw new Error(`${where}: initializer '${name}' has shape [${t.dims.join(', ')}], the classifier's weight [${w.shape.join(', ')}]`);
        }
        w.write(v);
        v.dispose();
      }
    }
  } catch (e) {
    clf.dispose();
    throw e;
  }
  return clf;
}

export interface HeadTuneOptions {
  steps: number;
  lr: number;
  /** Minibatch size (whole set when larger). */
  batchSize: number;
  seed: number;
}

export interface HeadTuneResult {
  /** Weighted BCE on the tuning set before and after. */
  lossBefore: number;
  lossAfter: number;
  steps: number;
}

/** A tuning set as the model is fed (policy/inputs.ts ModelInputs): float images, and proprio when it takes one. */
export interface HeadTuneInputs {
  /** count * h * w * 3, NHWC, already scaled as the card asks (byte / 255). */
  images: Float32Array;
  /** count * proprioDim, raw units (the classifier's proprioScale is applied inside, as in its graph); absent: none. */
  proprio?: Float32Array;
}

/**
 * Trains the success head only, on frozen encoder features of `count` samples (and their proprio, joined as
 * DaibClassifier.headInput joins it), toward `targets` in [0, 1] (hard labels or soft anchors) weighted per sample.
 */
export function fineTuneHead(
  clf: DaibClassifier,
  inputs: HeadTuneInputs,
  count: number,
  targets: Float32Array,
  weights: Float32Array,
  o: HeadTuneOptions,
): HeadTuneResult {
  if (targets.length !== count || weights.length !== count)
    throw new Error(`fineTuneHead: ${count} samples, ${targets.length} targets, ${weights.length} weights`);
  const shape = clf.config.encoder.inputShape;
  const size = shape[0] * shape[1] * shape[2];
  if (inputs.images.length !== count * size) throw new Error(`fineTuneHead: images has ${inputs.images.length} values, need ${count}*${size}`);
  const pd = clf.config.proprioDim;
  if ((inputs.proprio?.length ?? 0) !== count * pd)
    throw new Error(`fineTuneHead: proprio has ${inputs.proprio?.length ?? 0} values, the classifier takes ${count}*${pd}`);
  const feats = tf.tidy(() => {
    const z = clf.rep.encoder.features<tf.Tensor>(tf.tensor4d(inputs.images, [count, ...shape])) as tf.Tensor2D;
    return clf.headInput(z, pd > 0 && inputs.proprio ? tf.tensor2d(inputs.proprio, [count, pd]) : null);
  });
  const y = tf.tensor2d(targets, [count, 1]);
  const wsum = weights.reduce((a, b) => a + b, 0);
  const w = tf.tensor2d(
    Float32Array.from(weights, (x) => (x * count) / Math.max(1e-12, wsum)),
    [count, 1],
  );
  const vars = netVariables(clf.head);
  const opt = makeAdam(o.lr);
  // Weighted binary cross-entropy from logits (daib.ts bceWithLogits, per sample): relu(z) - z y + log(1 + exp(-|z|)).
  const lossOn = (idx: tf.Tensor1D | null): tf.Scalar => {
    const f = idx ? tf.gather(feats, idx) : feats;
    const yy = idx ? tf.gather(y, idx) : y;
    const ww = idx ? tf.gather(w, idx) : w;
    const z = clf.head.apply(f);
    const per = tf.add(tf.sub(tf.relu(z), tf.mul(z, yy)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
    return tf.mean(tf.mul(per, ww));
  };
  const full = (): number => tf.tidy(() => lossOn(null).dataSync()[0] ?? NaN);
  const lossBefore = full();
  let seed = o.seed >>> 0;
  const rand = (n: number): number => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed % n;
  };
  const b = Math.min(o.batchSize, count);
  for (let s = 0; s < o.steps; s++) {
    const idx =
      b === count
        ? null
        : tf.tensor1d(
            Int32Array.from({ length: b }, () => rand(count)),
            'int32',
          );
    const cost = opt.minimize(() => lossOn(idx), true, vars);
    cost?.dispose();
    idx?.dispose();
  }
  const lossAfter = full();
  feats.dispose();
  y.dispose();
  w.dispose();
  opt.dispose();
  if (!Number.isFinite(lossAfter)) throw new Error(`fineTuneHead: loss became ${lossAfter}`);
  return { lossBefore, lossAfter, steps: o.steps };
}
