/** Small real tfjs models and card drafts shared by the export, card and loader tests and bench/onnx.bench.ts. */
import * as tf from '@tensorflow/tfjs';
import { saveOnnxModel } from '../../src/learn/export.ts';
import { scale } from '../../src/learn/layers.ts';
import type { CardDraft, ModelKind } from '../../src/policy/card.ts';

/** Seeded random weights for every layer: kernels ~ N(0, 1/fan_in), biases and LN params ~ N(0/1, 0.3). */
export function randomizeWeights(model: tf.LayersModel, seed: number): void {
  let k = 0;
  for (const layer of model.layers) {
    const ws = layer.getWeights();
    if (ws.length === 0) continue;
    const fresh = ws.map((w, i) => {
      const name = layer.weights[i]?.originalName ?? '';
      const s = seed * 1000 + k++;
      if (w.rank >= 2) {
        const fanIn = w.shape.slice(0, -1).reduce((a, b) => a * b, 1);
        return tf.randomNormal(w.shape, 0, 1 / Math.sqrt(fanIn), 'float32', s);
      }
      return tf.randomNormal(w.shape, name.endsWith('gamma') ? 1 : 0, 0.3, 'float32', s);
    });
    layer.setWeights(fresh);
    fresh.forEach((t) => t.dispose());
  }
}

export interface PolicyLikeOptions {
  size?: number;
  channels?: number;
  proprioDim?: number;
  hidden?: number;
  /** Output head: 'action' = 3 values through tanh * bound; 'probability' = 1 sigmoid; 'features' = hidden-d features. */
  head?: 'action' | 'probability' | 'features';
  bound?: number;
  seed?: number;
}

/**
 * The shape of the daemon's networks: 3-conv encoder on an NHWC image in [0,1], flatten, concat with a scaled proprio
 * vector, 2 x hidden MLP with LayerNorm, and a head.
 */
export function buildPolicyLike(o: PolicyLikeOptions = {}): tf.LayersModel {
  const size = o.size ?? 64;
  const channels = o.channels ?? 3;
  const proprioDim = o.proprioDim ?? 9;
  const hidden = o.hidden ?? 256;
  const head = o.head ?? 'action';
  const image = tf.input({ shape: [size, size, channels], name: 'image' });
  const proprio = tf.input({ shape: [proprioDim], name: 'proprio' });
  let x = tf.layers.conv2d({ filters: 16, kernelSize: 5, strides: 2, padding: 'same', activation: 'relu' }).apply(image) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 32, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 32, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  const flat = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  const p = scale(Array.from({ length: proprioDim }, (_, i) => 0.5 + i * 0.25)).apply(proprio) as tf.SymbolicTensor;
  let h = tf.layers.concatenate().apply([flat, p]) as tf.SymbolicTensor;
  h = tf.layers.dense({ units: hidden }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.layerNormalization({ epsilon: 1e-5 }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.activation({ activation: 'relu' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.dense({ units: hidden, activation: 'relu' }).apply(h) as tf.SymbolicTensor;
  let out: tf.SymbolicTensor;
  if (head === 'action') {
    out = tf.layers.dense({ units: 3, activation: 'tanh' }).apply(h) as tf.SymbolicTensor;
    const b = o.bound ?? 0.002;
    out = scale([b, b, b], 'action_bound').apply(out) as tf.SymbolicTensor;
  } else if (head === 'probability') {
    out = tf.layers.dense({ units: 1, activation: 'sigmoid' }).apply(h) as tf.SymbolicTensor;
  } else {
    out = tf.layers.dense({ units: hidden, activation: 'tanh' }).apply(h) as tf.SymbolicTensor;
  }
  const model = tf.model({ inputs: [image, proprio], outputs: out, name: `${head}_net` });
  randomizeWeights(model, o.seed ?? 1);
  return model;
}

/** A plausible card (minus inputs/outputs/onnx) for a buildPolicyLike model; proprioDim 0 for an image-only model. */
export function cardDraft(
  kind: ModelKind,
  o: { size?: number; channels?: number; proprioDim?: number; bound?: number } = {},
): Omit<CardDraft, 'inputs' | 'outputs'> {
  const size = o.size ?? 64;
  const channels = o.channels ?? 3;
  const proprioDim = o.proprioDim ?? 9;
  const b = o.bound ?? 0.002;
  const layout = ['dx', 'dy', 'dz', 'fx', 'fy', 'fz', 'tx', 'ty', 'tz'].slice(0, proprioDim);
  while (layout.length < proprioDim) layout.push(`extra${layout.length}`);
  const draft: Omit<CardDraft, 'inputs' | 'outputs'> = {
    kind,
    name: `test-${kind}`,
    version: 3,
    created: new Date(0).toISOString(),
    description: `A randomly initialised ${kind} network used by the tests.`,
    preprocessing: {
      image: {
        width: size,
        height: size,
        channels: channels as 1 | 3,
        colour: channels === 3 ? 'rgb' : 'gray',
        layout: 'NHWC',
        crop: null,
        resize: 'area-average',
        scale: 1 / 255,
        offset: 0,
      },
      // proprioDim 0: an image-only model (e.g. the reward classifier), no proprio preprocessing.
      ...(proprioDim > 0 ? { proprio: { layout, mean: layout.map(() => 0), std: layout.map(() => 1) } } : {}),
    },
    training: { connectors: ['rect-a', 'round-b'], heldOut: ['dshape-c'], episodes: 10, transitions: 200, database: null, updates: 0, seed: 1 },
    hyperparameters: { note: 'random weights' },
    backend: 'cpu',
    metrics: {},
    code: { gitCommit: 'test', dirty: false },
  };
  if (kind === 'policy') draft.action = { low: [-b, -b, -b], high: [b, b, b], units: 'm/step' };
  return draft;
}

/**
 * A model of the daemon's input shape (64x64 RGB + 9-d proprio, hidden 16, random weights seeded) saved as ONNX with
 * its card at `path`: a policy (actions within +-bound per axis) or a reward classifier. Returns the path.
 */
export function saveModelLike(path: string, o: { version: number; seed: number; kind?: 'policy' | 'reward'; bound?: number; name?: string }): string {
  const kind = o.kind ?? 'policy';
  const bound = o.bound ?? 0.002;
  const head = kind === 'policy' ? 'action' : 'probability';
  const m = buildPolicyLike({ size: 64, proprioDim: 9, hidden: 16, head, bound, seed: o.seed });
  saveOnnxModel(m, path, {
    inputRoles: ['image', 'proprio'],
    outputRoles: [head],
    card: { ...cardDraft(kind, { size: 64, proprioDim: 9, bound }), name: o.name ?? `test-${kind}`, version: o.version },
  });
  m.dispose();
  return path;
}
