/**
 * Fused MLP heads for IQL on cached features (the online case): forward, backward and Adam over plain Float32Arrays,
 * every matMul one `cblas_sgemm` through the native addon (gemm.ts), LayerNorm and Adam in the addon's C loops.
 *
 * Why: for 2x256 heads on ~60-d inputs at batch 256 an IQL update is ~0.6 GFLOP, about 7 ms of GEMM on one core,
 * but through tfjs it costs ~30 ms: hundreds of kernel dispatches, tensor allocations and the autodiff tape dominate.
 * Here a head is a handful of calls per pass on buffers allocated once.
 *
 * The parameters are laid out exactly as the tfjs layers' variables (`netVariables` order: per hidden layer kernel
 * [in, out], bias [out], then gamma, beta with LayerNorm; the output kernel and bias), so IqlAgent copies them both
 * ways and the tfjs model stays the source for checkpoints, export and inference. The layer math is the tfjs one:
 * Dense -> (LayerNorm, epsilon LN_EPSILON) -> ReLU per hidden layer, linear output (`buildMlp`).
 * Tests: test/learn/fused.test.ts (gradients against tf.grad, IQL step for step against the tfjs update).
 */
import type { Gemm } from './gemm.ts';
import { LN_EPSILON, type MlpConfig } from './nets.ts';

interface Layer {
  inDim: number;
  outDim: number;
  ln: boolean;
  relu: boolean;
  /** Index of the kernel in `params` (bias +1, gamma +2, beta +3). */
  p: number;
}

export class FusedMlp {
  /** Parameters in `netVariables` order (replaced, never written in place, by `adam`: see there). */
  readonly params: Float32Array[] = [];
  /** Gradients of the last `backward`, same order and sizes. */
  readonly grads: Float32Array[] = [];
  private readonly spare: Float32Array[] = [];
  private readonly layers: Layer[] = [];
  private n = 0;
  private x: Float32Array = new Float32Array(0);
  /** Per layer: pre-LayerNorm output (LN layers) and the layer's output (post-activation). */
  private z: Float32Array[] = [];
  private a: Float32Array[] = [];
  /** Per LN layer: each row's mean and 1/sqrt(var + eps) from the forward, read again by the backward. */
  private stats: Float32Array[] = [];
  private d1 = new Float32Array(0);
  private d2 = new Float32Array(0);

  /**
   * g: the kernels this head runs on. Its helper lane (`gemm.helper`) queues them on the addon's helper thread: then
   * outputs, gradients and parameters are valid only after `g.sync()` (IqlAgent's update runs heads on both lanes).
   */
  constructor(
    readonly config: MlpConfig,
    readonly g: Gemm,
  ) {
    if ((config.outActivation ?? 'linear') !== 'linear') throw new Error(`fused mlp: outActivation '${config.outActivation}' is not supported (linear only)`);
    const dims = [config.inDim, ...config.hidden, config.outDim];
    for (let l = 0; l + 1 < dims.length; l++) {
      const hidden = l + 1 < dims.length - 1;
      const layer: Layer = { inDim: dims[l] as number, outDim: dims[l + 1] as number, ln: hidden && config.layerNorm, relu: hidden, p: this.params.length };
      this.layers.push(layer);
      const sizes = [layer.inDim * layer.outDim, layer.outDim, ...(layer.ln ? [layer.outDim, layer.outDim] : [])];
      for (const s of sizes) {
        this.params.push(new Float32Array(s));
        this.grads.push(new Float32Array(s));
        this.spare.push(new Float32Array(s));
      }
    }
  }

  get outDim(): number {
    return this.config.outDim;
  }

  private buffers(n: number): void {
    if (n === this.n) return;
    this.n = n;
    this.z = this.layers.map((l) => new Float32Array(l.ln ? n * l.outDim : 0));
    this.stats = this.layers.map((l) => new Float32Array(l.ln ? 2 * n : 0));
    this.a = this.layers.map((l) => new Float32Array(n * l.outDim));
    const w = Math.max(...this.layers.map((l) => Math.max(l.inDim, l.outDim)));
    this.d1 = new Float32Array(n * w);
    this.d2 = new Float32Array(n * w);
  }

  /**
   * Outputs [n, outDim] for inputs x [n, inDim] (row-major). The returned array is this net's buffer: valid until
   * the next forward of this net. `backward` uses the activations of the last forward (x must not change between).
   */
  forward(x: Float32Array, n: number): Float32Array {
    const g = this.g;
    if (x.length !== n * this.config.inDim) throw new Error(`fused mlp: input has ${x.length} values, expected ${n}*${this.config.inDim}`);
    this.buffers(n);
    this.x = x;
    let h = x;
    this.layers.forEach((l, i) => {
      const W = this.params[l.p] as Float32Array;
      const b = this.params[l.p + 1] as Float32Array;
      const out = this.a[i] as Float32Array;
      if (l.ln) {
        const z = this.z[i] as Float32Array;
        g.sgemm(false, false, 1, n, l.outDim, l.inDim, h, 0, W, 0, z, b, 1, 0, 0);
        g.layerNormRelu(z, this.params[l.p + 2] as Float32Array, this.params[l.p + 3] as Float32Array, out, LN_EPSILON, this.stats[i]);
      } else {
        g.sgemm(false, false, 1, n, l.outDim, l.inDim, h, 0, W, 0, out, b, 1, l.relu ? 1 : 0, 0);
      }
      h = out;
    });
    return h;
  }

  /** Gradients (into `grads`) of sum(dOut * output) for the last forward; dOut [n, outDim]. No input gradient. */
  backward(dOut: Float32Array): void {
    const g = this.g;
    const n = this.n;
    if (dOut.length !== n * this.config.outDim) throw new Error(`fused mlp: dOut has ${dOut.length} values, expected ${n}*${this.config.outDim}`);
    // d, the gradient flowing down, lives in d1 or d2 below the output layer; each step writes the other one.
    const other = (a: Float32Array): Float32Array => (a.buffer === this.d1.buffer ? this.d2 : this.d1);
    let d = dOut;
    // Not null: d is one value a row, and the gradient of this layer's output is d[row] * w1[k] (the input gradient of
    // a one-output layer above, left to the LayerNorm gradient's pass instead of written out by an sgemm).
    let w1: Float32Array | null = null;
    // With w1: that layer's weight gradient, left to the same pass (its input is this layer's output).
    let dw1: Float32Array | null = null;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const l = this.layers[i] as Layer;
      const m = n * l.outDim;
      let dz = d;
      let biasDone = false;
      if (l.relu) {
        // d holds d(loss)/d(layer output): through ReLU (output > 0), and LayerNorm in the same pass, into the other buffer.
        const out = this.a[i] as Float32Array;
        const dr = other(d).subarray(0, m);
        if (l.ln) {
          // The bias gradient (the sum of dz's rows) in the same pass, and the one-output layer's weight gradient.
          const wrote = g.reluLayerNormGradEx(
            w1 ? d : d.subarray(0, m),
            w1,
            out,
            this.z[i] as Float32Array,
            this.params[l.p + 2] as Float32Array,
            dr,
            this.grads[l.p + 2] as Float32Array,
            this.grads[l.p + 3] as Float32Array,
            LN_EPSILON,
            this.stats[i] as Float32Array,
            this.grads[l.p + 1] as Float32Array,
            dw1,
          );
          if (w1 && dw1 && !wrote) g.sgemm(true, false, 1, w1.length, 1, n, out, 0, d, 0, dw1, null, 0, 0, 0);
          biasDone = true;
        } else g.reluGrad(d.subarray(0, m), out, dr);
        dz = dr;
      }
      w1 = null;
      dw1 = null;
      const below = i > 0 ? (this.layers[i - 1] as Layer) : null;
      const foldBelow = l.outDim === 1 && below?.ln === true;
      const input = i === 0 ? this.x : (this.a[i - 1] as Float32Array);
      if (!foldBelow) g.sgemm(true, false, 1, l.inDim, l.outDim, n, input, 0, dz, 0, this.grads[l.p] as Float32Array, null, 0, 0, 0);
      if (!biasDone) g.sumRows(dz, this.grads[l.p + 1] as Float32Array);
      if (i > 0) {
        if (foldBelow) {
          d = dz;
          w1 = this.params[l.p] as Float32Array;
          dw1 = this.grads[l.p] as Float32Array;
        } else {
          const dx = other(dz).subarray(0, n * l.inDim);
          g.sgemm(false, true, 1, n, l.inDim, l.outDim, dz, 0, this.params[l.p] as Float32Array, 0, dx, null, 0, 0, 0);
          d = dx;
        }
      }
    }
  }

  /**
   * One Adam step on every parameter (HeapAdam's arithmetic: the addon's float32 loop), moments m[i], v[i]
   * in place; t = the step number (bias corrections 1 - beta^t). New values go to a second buffer that then
   * becomes the parameter (the addon's loop wants distinct buffers). With `target`: then target.polyakFrom(this,
   * tau), fused into the same pass over the weights (the same bits).
   */
  adam(m: Float32Array[], v: Float32Array[], lr: number, beta1: number, beta2: number, eps: number, t: number, target?: { net: FusedMlp; tau: number }): void {
    const c1 = 1 - Math.pow(beta1, t);
    const c2 = 1 - Math.pow(beta2, t);
    const tn = target?.net;
    if (tn && tn.params.length !== this.params.length) throw new Error('fused mlp: polyak between different architectures');
    this.params.forEach((w, i) => {
      const out = this.spare[i] as Float32Array;
      const g = this.grads[i] as Float32Array;
      if (tn && target.tau !== 1) {
        // The target's Polyak step from the new weights in the same pass (on this net's lane: the target is not read
        // until the update's end).
        const tOut = tn.spare[i] as Float32Array;
        this.g.adamPolyak(w, g, m[i] as Float32Array, v[i] as Float32Array, out, lr, beta1, beta2, eps, c1, c2, tn.params[i] as Float32Array, tOut, target.tau);
        tn.spare[i] = tn.params[i] as Float32Array;
        tn.params[i] = tOut;
      } else this.g.adam(w, g, m[i] as Float32Array, v[i] as Float32Array, out, lr, beta1, beta2, eps, c1, c2);
      this.spare[i] = w;
      this.params[i] = out;
    });
    if (tn && target.tau === 1) tn.polyakFrom(this, 1);
  }

  /** this <- tau * source + (1 - tau) * this (Polyak; the addon's float32 loop as `polyak`). */
  polyakFrom(source: FusedMlp, tau: number): void {
    if (source.params.length !== this.params.length) throw new Error('fused mlp: polyak between different architectures');
    this.params.forEach((w, i) => {
      const out = this.spare[i] as Float32Array;
      const s = source.params[i] as Float32Array;
      if (tau === 1) {
        this.g.sync(); // a plain copy: the source's queued kernels must have run
        out.set(s);
      } else this.g.lerp(out, s, w, tau);
      this.spare[i] = w;
      this.params[i] = out;
    });
  }
}
