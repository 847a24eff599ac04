/**
 * Optimiser and Polyak averaging that update weights with plain loops on the wasm heap.
 *
 * Why: tfjs' Adam runs ~14 small kernels per variable (and Polyak 3), each paying tfjs' per-kernel overhead; with
 * ~100 variables (IQL with three DAIB encoders) that is ~1,500 kernels per update, a large share of an update on
 * cached features. Here each variable is one JS loop over its floats (read from heap views, written as a new tensor). Same math as `tf.train.adam` (epsilon 1e-7,
 * bias correction by beta^t), same checkpoint layout (`getWeights`: iterations, all first moments, all second
 * moments, by position in the variable list), so the two are interchangeable. On other backends `makeAdam` returns
 * tfjs' own Adam and `polyak` uses tf ops. With the native kernels loaded (backend.ts, gemm.ts) the two loops run in C
 * with the same arithmetic in the same order (float32; identical weights, about 10x faster).
 */
import * as tf from '@tensorflow/tfjs';
import { nativeGemm } from './backend.ts';

/** tfjs-core's NamedTensor (not re-exported by the @tensorflow/tfjs umbrella). */
type NamedTensor = { name: string; tensor: tf.Tensor };

/** The wasm backend methods used here. */
interface WasmHeapBackend {
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

/**
 * New values go into a NEW tensor that the variable is assigned to; never written in place: XNNPack caches packed
 * weights per tensor id (matMul, conv), so an in-place update would leave the forward pass on stale weights.
 */
function assignNew(v: tf.Variable, values: Float32Array): void {
  const t = tf.tensor(values, v.shape, 'float32');
  v.assign(t);
  t.dispose();
}

function wasmBackend(): WasmHeapBackend | null {
  return tf.getBackend() === 'wasm' ? (tf.backend() as unknown as WasmHeapBackend) : null;
}

function view(b: WasmHeapBackend, t: tf.Tensor): Float32Array {
  if (t.dtype !== 'float32') throw new Error(`heap update: tensor has dtype ${t.dtype}, expected float32`);
  return b.typedArrayFromHeap({ dataId: t.dataId, shape: t.shape, dtype: t.dtype });
}

/**
 * One Adam step in float32 (PyTorch's formulation: step = lr / c1, denominator sqrt(v) / sqrt(c2) + eps), each
 * operation rounded to float32 (fround): the same bits as the addon's loop (native/gemm.c adam_elem), which runs in
 * float because the double divisions and square root were the largest cost of an update after its GEMMs. Doubles
 * round to the same float as float arithmetic for + - * / and sqrt (53 >= 2 x 24 + 2 bits).
 */
function adamLoop(
  w: Float32Array,
  g: Float32Array,
  m: Float32Array,
  s: Float32Array,
  out: Float32Array,
  lr: number,
  beta1: number,
  beta2: number,
  epsilon: number,
  c1: number,
  c2: number,
): void {
  const f = Math.fround;
  const b1 = f(beta1),
    a1 = f(1 - beta1),
    b2 = f(beta2),
    a2 = f(1 - beta2);
  const step = f(lr / c1),
    rc2 = f(1 / Math.sqrt(c2)),
    eps = f(epsilon);
  for (let k = 0; k < w.length; k++) {
    const gk = g[k] as number;
    const mk = f(f(b1 * (m[k] as number)) + f(a1 * gk));
    const sk = f(f(b2 * (s[k] as number)) + f(f(a2 * gk) * gk));
    m[k] = mk;
    s[k] = sk;
    out[k] = f((w[k] as number) - f(f(step * mk) / f(f(f(Math.sqrt(sk)) * rc2) + eps)));
  }
}

export class HeapAdam extends tf.Optimizer {
  static get className(): string {
    return 'HeapAdam';
  }

  private m: Float32Array[] = [];
  private v: Float32Array[] = [];

  constructor(
    /** Read at every step: a schedule may change it between steps (IqlAgent.setActorLearningRate). */
    public learningRate: number,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly epsilon = 1e-7,
  ) {
    super();
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const b = wasmBackend();
    if (!b) throw new Error('HeapAdam needs the wasm backend (use makeAdam())');
    const list = Array.isArray(variableGradients)
      ? variableGradients
      : Object.keys(variableGradients).map((name) => ({ name, tensor: variableGradients[name] as tf.Tensor }));
    const t = this.iterations + 1;
    const c1 = 1 - Math.pow(this.beta1, t);
    const c2 = 1 - Math.pow(this.beta2, t);
    const { beta1, beta2, epsilon } = this;
    const lr = this.learningRate;
    list.forEach(({ name, tensor: g }, i) => {
      const variable = tf.engine().registeredVariables[name];
      if (!variable) throw new Error(`HeapAdam: no variable named ${name}`);
      const n = variable.size;
      if (!this.m[i]) this.m[i] = new Float32Array(n);
      if (!this.v[i]) this.v[i] = new Float32Array(n);
      const m = this.m[i];
      const s = this.v[i];
      if (m.length !== n) throw new Error(`HeapAdam: slot ${i} has ${m.length} values but variable ${name} has ${n} (variable list changed order?)`);
      if (g == null) return;
      const w = view(b, variable);
      const gv = view(b, g);
      const next = new Float32Array(n);
      const nat = nativeGemm();
      if (nat) nat.adam(w, gv, m, s, next, lr, beta1, beta2, epsilon, c1, c2);
      else adamLoop(w, gv, m, s, next, lr, beta1, beta2, epsilon, c1, c2);
      assignNew(variable, next);
    });
    this.incrementIterations();
  }

  /**
   * Moments of slot i (the i-th variable of the list this optimiser is always given), created for n values when absent.
   * The fused heads (fused.ts) update them in place, so either path continues the other's optimiser state.
   */
  slot(i: number, n: number): { m: Float32Array; v: Float32Array } {
    const m = (this.m[i] ??= new Float32Array(n));
    const v = (this.v[i] ??= new Float32Array(n));
    if (m.length !== n || v.length !== n) throw new Error(`HeapAdam: slot ${i} has ${m.length} values, expected ${n} (variable list changed order?)`);
    return { m, v };
  }

  /** Counts one step done outside applyGradients (fused heads); returns its number t (bias corrections use beta^t). */
  nextIteration(): number {
    this.incrementIterations();
    return this.iterations;
  }

  override async getWeights(): Promise<NamedTensor[]> {
    const it = await this.saveIterations();
    const ms = this.m.map((a, i) => ({ name: `m/${i}`, tensor: tf.tensor1d(a) }));
    const vs = this.v.map((a, i) => ({ name: `v/${i}`, tensor: tf.tensor1d(a) }));
    return [it, ...ms, ...vs];
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    if (rest.length % 2 !== 0) throw new Error(`HeapAdam.setWeights: expected pairs of moments, got ${rest.length} tensors`);
    const half = rest.length / 2;
    this.m = rest.slice(0, half).map((w) => Float32Array.from(w.tensor.dataSync()));
    this.v = rest.slice(half).map((w) => Float32Array.from(w.tensor.dataSync()));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }
}

/** Adam: the heap version on wasm, tfjs' own elsewhere (same hyperparameters and checkpoint layout). */
export function makeAdam(learningRate: number): tf.Optimizer {
  return wasmBackend() ? new HeapAdam(learningRate) : tf.train.adam(learningRate, 0.9, 0.999, 1e-7);
}

/** target <- tau * source + (1 - tau) * target, per variable pair (tau = 1 copies values, never shares buffers). */
export function polyak(target: tf.Variable[], source: tf.Variable[], tau: number): void {
  if (target.length !== source.length) throw new Error(`polyak: ${target.length} target vs ${source.length} source variables`);
  const b = wasmBackend();
  if (!b) {
    tf.tidy(() =>
      target.forEach((tv, i) => {
        const sv = source[i] as tf.Variable;
        tv.assign(tau === 1 ? tf.add(sv, 0) : tf.add(tf.mul(sv, tau), tf.mul(tv, 1 - tau)));
      }),
    );
    return;
  }
  target.forEach((tv, i) => {
    const sv = source[i] as tf.Variable;
    if (tv.size !== sv.size) throw new Error(`polyak: variable ${i} sizes differ (${tv.size} vs ${sv.size})`);
    const t = view(b, tv);
    const s = view(b, sv);
    const next = new Float32Array(t.length);
    lerpInto(next, s, t, tau);
    assignNew(tv, next);
  });
}

/**
 * out <- tau * s + (1 - tau) * t (out may be t): polyak()'s arithmetic, the addon's float32 loop or its JS twin (each
 * operation rounded to float32, tau and 1 - tau too: the same bits, and tfjs' own arithmetic for the expression).
 */
function lerpInto(out: Float32Array, s: Float32Array, t: Float32Array, tau: number): void {
  const nat = nativeGemm();
  const f = Math.fround;
  const a = f(tau),
    b = f(1 - tau);
  if (tau === 1) out.set(s);
  else if (nat) nat.lerp(out, s, t, tau);
  else for (let k = 0; k < t.length; k++) out[k] = f(f(a * (s[k] as number)) + f(b * (t[k] as number)));
}

/**
 * polyak() on plain arrays, in place: target[i] <- tau * source[i] + (1 - tau) * target[i]. The trainer's policy
 * average lives in arrays between exports: through tfjs variables it cost a write-back of the fused policy and eight
 * tensor assignments per update (0.6 ms, 5 % of an online update). Same arithmetic as polyak() on the wasm backend.
 */
export function polyakArrays(target: readonly Float32Array[], source: readonly Float32Array[], tau: number): void {
  if (target.length !== source.length) throw new Error(`polyak: ${target.length} target vs ${source.length} source arrays`);
  target.forEach((t, i) => {
    const s = source[i] as Float32Array;
    if (t.length !== s.length) throw new Error(`polyak: array ${i} sizes differ (${t.length} vs ${s.length})`);
    lerpInto(t, s, t, tau);
  });
}

/** Copies of a list of variables' values. */
export function variableValues(vars: readonly tf.Variable[]): Float32Array[] {
  return vars.map((v) => Float32Array.from(v.dataSync()));
}

/** Assigns each variable its values (as new tensors, see assignNew). */
export function assignValues(vars: readonly tf.Variable[], values: readonly Float32Array[]): void {
  if (vars.length !== values.length) throw new Error(`assign: ${vars.length} variables vs ${values.length} arrays`);
  vars.forEach((v, i) => assignNew(v, values[i] as Float32Array));
}
