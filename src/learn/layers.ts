/**
 * Custom tfjs layers shared by the networks (nets.ts, daib.ts, iql.ts) and the ONNX exporter (export.ts).
 * Every layer here must have an ONNX translation in export.ts; keep the set small.
 */
import * as tf from '@tensorflow/tfjs';

export interface ScaleArgs {
  /** Per-channel constant factors along the last axis (length = channels, or 1 for a scalar). Not trainable. */
  scale: number[];
  name?: string;
}

/**
 * y = x * scale, broadcast along the last axis. Used for fixed normalisation (e.g. proprio scaling, action bounds):
 * a constant in the graph, so it travels with the exported ONNX file and never drifts from the card.
 */
export class Scale extends tf.layers.Layer {
  static className = 'Scale';
  readonly scale: number[];
  private scaleTensor: tf.Tensor1D | null = null;

  constructor(args: ScaleArgs) {
    super(args.name === undefined ? {} : { name: args.name });
    if (!Array.isArray(args.scale) || args.scale.length === 0 || !args.scale.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new Error(`Scale layer${args.name ? ` '${args.name}'` : ''}: config.scale must be a non-empty array of finite numbers`);
    }
    this.scale = [...args.scale];
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const channels = shape[shape.length - 1];
    if (this.scale.length !== 1 && channels !== null && channels !== undefined && channels !== this.scale.length) {
      throw new Error(`Scale layer '${this.name}': scale has ${this.scale.length} entries but the input has ${channels} channels`);
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (x === undefined) throw new Error(`Scale layer '${this.name}': no input`);
      // Created lazily and kept: a constant, not a weight (nothing to train, nothing to save but the config).
      if (this.scaleTensor === null || this.scaleTensor.isDisposed) this.scaleTensor = tf.keep(tf.tensor1d(this.scale, 'float32'));
      return tf.mul(x, this.scaleTensor);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), scale: [...this.scale] };
  }
}
tf.serialization.registerClass(Scale);

/** Functional-API helper: `scale([1, 0.5, 2]).apply(x)`. */
export function scale(factors: number[], name?: string): Scale {
  return new Scale(name === undefined ? { scale: factors } : { scale: factors, name });
}
