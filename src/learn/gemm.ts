/**
 * Native single-precision GEMM for the trainer: the N-API addon `native/build/gemm.node` (built by
 * `native/build.sh`, which `scripts/install-system-deps.sh` runs) calling a system BLAS's `cblas_sgemm`
 * (Debian `libopenblas0-pthread`). Loaded lazily and optional: when the addon or the library is missing,
 * `loadGemm` returns the reason and the trainer keeps tfjs-wasm's own matMul (backend.ts).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { NATIVE_ADDON } from '../util/native-addon.ts';

/** The arguments of the addon's Adam step: weights, gradient, moments, output, then lr, beta1, beta2, eps and the bias
 *  corrections c1, c2. */
type AdamArgs = [
  w: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  out: Float32Array,
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  c1: number,
  c2: number,
];

/** The addon's exports (native/gemm.c documents the arguments). */
interface GemmAddon {
  open: (path: string) => string;
  /** The addon's threads (this addon: 1 or 2, returned; an older one returned whether OpenBLAS took n). */
  setThreads: (n: number) => number | boolean;
  /** See Gemm.threadStats (absent in older addons). */
  threadStats?: () => ThreadStats;
  sgemm: (
    tA: boolean,
    tB: boolean,
    batch: number,
    M: number,
    N: number,
    K: number,
    A: Float32Array,
    strideA: number,
    B: Float32Array,
    strideB: number,
    C: Float32Array,
    bias: Float32Array | null,
    biasMode: number,
    act: number,
    alpha: number,
  ) => void;
  adam: (...a: AdamArgs) => void;
  lerp: (out: Float32Array, s: Float32Array, t: Float32Array, tau: number) => void;
  /** See Gemm.adamPolyak (absent in older addons). */
  adamPolyak?: (...a: [...AdamArgs, target: Float32Array, targetOut: Float32Array, tau: number]) => void;
  layerNorm: (x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, eps: number) => void;
  layerNormGrad: (dy: Float32Array, x: Float32Array, gamma: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, eps: number) => void;
  /** See Gemm.layerNormRelu / reluLayerNormGrad (absent in older addons). */
  layerNormRelu?: (x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, eps: number, stats?: Float32Array) => void;
  reluLayerNormGrad?: (
    dy: Float32Array,
    y: Float32Array,
    x: Float32Array,
    gamma: Float32Array,
    dx: Float32Array,
    dgamma: Float32Array,
    dbeta: Float32Array,
    eps: number,
    stats?: Float32Array,
  ) => void;
  /** See Gemm.reluLayerNormGradEx (absent in older addons). */
  reluLayerNormGradEx?: (
    dy: Float32Array,
    w: Float32Array | null,
    y: Float32Array,
    x: Float32Array,
    gamma: Float32Array,
    dx: Float32Array,
    dgamma: Float32Array,
    dbeta: Float32Array,
    eps: number,
    stats: Float32Array | null,
    dbias: Float32Array | null,
    dw?: Float32Array | null,
  ) => boolean;
  conv: (mode: 0 | 1 | 2, dims: Int32Array, a: Float32Array, b: Float32Array, out: Float32Array) => void;
  /** See Gemm.convBiasRelu / setConvDirect (absent in older addons). */
  convBiasRelu?: (dims: Int32Array, x: Float32Array, filter: Float32Array, bias: Float32Array, out: Float32Array) => void;
  setConvDirect?: (on: boolean) => boolean;
  /** See Gemm.convTrunk / convTrunkGrad (absent in older addons). */
  convTrunk?: (dims: Int32Array, x: Float32Array, filters: Float32Array[], biases: Float32Array[], ys: (Float32Array | null)[], group: number) => boolean;
  convTrunkGrad?: (
    dims: Int32Array,
    x: Float32Array,
    filters: Float32Array[],
    ys: Float32Array[],
    dy: Float32Array,
    dfilters: Float32Array[],
    dbiases: Float32Array[],
    dx: Float32Array | null,
    group: number,
  ) => boolean;
  /** See Gemm.setConvWide (absent in older addons). */
  setConvWide?: (on: boolean) => boolean;
  gatherImages?: (src: Uint8Array, idx: Int32Array, shifts: Int32Array | null, dims: Int32Array, out: Float32Array) => void;
  sumRows: (x: Float32Array, out: Float32Array) => void;
  /** See Gemm.sumRowsFloat (absent in older addons). */
  sumRowsFloat?: (x: Float32Array, out: Float32Array) => void;
  addRow: (a: Float32Array, b: Float32Array, out: Float32Array) => void;
  relu?: (x: Float32Array) => void;
  reluGrad?: (dy: Float32Array, y: Float32Array, dx: Float32Array) => void;
  /** See Gemm.reluGradSumRows (absent in older addons). */
  reluGradSumRows?: (dy: Float32Array, y: Float32Array, dz: Float32Array, db: Float32Array) => void;
  /** Queue mode of the calling thread (absent in older addons); returns whether it is on. */
  setQueue?: (on: boolean) => boolean;
  sync?: () => void;
  mark?: () => number;
  syncTo?: (mark: number) => void;
  threadCpuMs?: () => number;
  /** 0 float32, 1 bf16 inputs through oneDNN; returns the engine's description, throws when bf16 cannot run (absent in older addons). */
  setPrecision?: (p: 0 | 1) => string;
}

export type ThreadStats = [
  jobs: number,
  helperParts: number,
  helperWorkMs: number,
  helperCpuMs: number,
  callerWaitMs: number,
  queued: number,
  helperRanQueued: number,
  helperQueuedMs: number,
  syncWaitMs: number,
  callerRanQueuedMs: number,
];

/** Fused activations the native kernel applies itself (codes of gemm.c); others fall back to tfjs. */
export const GEMM_ACTIVATIONS: Readonly<Record<string, number>> = { linear: 0, relu: 1, relu6: 2, elu: 3, sigmoid: 4, leakyrelu: 5 };

export interface Gemm {
  /** e.g. 'OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64' (the library's own config string). */
  library: string;
  /** Path the library was opened from. */
  path: string;
  threads: number;
  /**
   * C[b] = act(op(A[b]) op(B[b]) + bias), row-major; strideA/strideB 0 broadcast one matrix over the batch.
   * biasMode 0 none, 1 row vector of N, 2 scalar.
   */
  sgemm: GemmAddon['sgemm'];
  /** One Adam step (m, v in place; out = new weights), the same float32 arithmetic as HeapAdam's JS loop. */
  adam: GemmAddon['adam'];
  /** out = tau * s + (1 - tau) * t (Polyak), as polyak()'s JS loop. */
  lerp: GemmAddon['lerp'];
  /** adam, and in the same pass the target network's Polyak step from the new weights, lerp(targetOut, out, target,
   *  tau): the same bits as the two calls (an older addon: those calls). */
  adamPolyak: NonNullable<GemmAddon['adamPolyak']>;
  /** LayerNorm over the last axis (gamma.length) and its gradients, as backend.ts's JS kernels. */
  layerNorm: GemmAddon['layerNorm'];
  layerNormGrad: GemmAddon['layerNormGrad'];
  /**
   * y = relu(layerNorm(x)) in one pass over the rows, and the gradients through it (dy: of y; dx must be another
   * buffer than dy and y): the same bits as layerNorm + relu and reluGrad + layerNormGrad (an older addon: those calls).
   * stats (2 values a row, optional): the forward keeps each row's mean and 1/sqrt(var + eps) there, and the gradient
   * of the same x reads them instead of computing them again (the same bits; an older addon ignores it).
   */
  layerNormRelu: NonNullable<GemmAddon['layerNormRelu']>;
  reluLayerNormGrad: NonNullable<GemmAddon['reluLayerNormGrad']>;
  /**
   * reluLayerNormGrad with the passes next to it folded in, the same bits as the calls it replaces (an older addon:
   * those calls). w (or null): dy is one value a row and the gradient of y is dy[row] * w[k], the product
   * sgemm(false, true, 1, rows, c, 1, dy, 0, w, 0, ...) would write out (the input gradient of a dense layer with one
   * output); dbias (or null): sumRows(dx, dbias), the bias gradient of the dense layer under the LayerNorm; dw (with
   * w, or null): that one-output layer's weight gradient, sgemm(true, false, 1, c, 1, rows, y, 0, dy, 0, dw, ...).
   * Returns whether it wrote dw (false where the addon cannot give sgemm's bits for it: then compute it otherwise).
   */
  reluLayerNormGradEx: NonNullable<GemmAddon['reluLayerNormGradEx']>;
  /**
   * NHWC conv (no dilation) as im2col + sgemm; dims [N, H, W, Ci, KH, KW, Co, strideH, strideW, padTop, padLeft, OH, OW].
   * mode 0 y = conv(x, filter); 1 dx from (dy, filter); 2 dW from (x, dy).
   */
  conv: GemmAddon['conv'];
  /** y = relu(conv(x, filter) + bias) (mode 0 with the bias and ReLU applied to each output tile); null with an older addon. */
  convBiasRelu: NonNullable<GemmAddon['convBiasRelu']> | null;
  /**
   * A trunk of conv + bias + ReLU layers (dims: 13 values a layer, each layer's input the previous one's output) in one
   * call, group images at a time (0: the addon's default), with the direct kernels: ys[l] = relu(conv(ys[l-1]) + b[l]),
   * ys[-1] = x; a null ys[l] (not the last) is kept only a group at a time. The same bits as convBiasRelu layer by
   * layer. Returns false, having done nothing, where the direct kernels do not apply; null with an older addon.
   */
  convTrunk: NonNullable<GemmAddon['convTrunk']> | null;
  /**
   * convTrunk's backward from the last output's gradient dy and every layer's output ys: each layer's filter and bias
   * gradients (and x's into dx when given), the same bits as the layer-by-layer kernels (reluGradSumRows, conv modes
   * 2 and 1). Returns false, having done nothing, where the direct kernels do not apply; null with an older addon.
   */
  convTrunkGrad: NonNullable<GemmAddon['convTrunkGrad']> | null;
  /**
   * Whether conv uses its direct AVX2 kernels where they apply (output channels of the GEMM a multiple of 16), else
   * im2col + sgemm; returns whether they are on (false: an older addon, or a CPU without AVX2/FMA). Tests and
   * benchmarks compare the two.
   */
  setConvDirect: (on: boolean) => boolean;
  /**
   * Whether the direct kernels use their wide AVX-512F tiles (32 columns) where the channels are a multiple of 32,
   * else AVX2 tiles of 16: the same operations in the same order, so the same bits, with fewer loads per FMA. Returns
   * whether they are on (false: an older addon, a CPU without AVX-512F, or the direct kernels off). Tests compare the two.
   */
  setConvWide: (on: boolean) => boolean;
  /** Batch assembly for nets.ts's gatherImages (uint8 images, its shifts drawn there); null with an older addon. */
  gatherImages: NonNullable<GemmAddon['gatherImages']> | null;
  /** out[k] = sum of x[row, k] over rows (bias gradients). */
  sumRows: GemmAddon['sumRows'];
  /** The same sums in float, from 0, rows in order (tfjs-wasm's Sum's bits); null with an older addon. */
  sumRowsFloat: NonNullable<GemmAddon['sumRowsFloat']> | null;
  /** out = a + b broadcast over rows (bias add). */
  addRow: GemmAddon['addRow'];
  /** x = max(x, 0) in place, and dx = y > 0 ? dy : 0 (the fused heads' ReLU); JS loops when an older addon lacks them. */
  relu: (x: Float32Array) => void;
  reluGrad: (dy: Float32Array, y: Float32Array, dx: Float32Array) => void;
  /** dz = y > 0 ? dy : 0 and db = sumRows(dz) (a conv + bias + ReLU layer's backward) in one pass: the same bits as
   *  reluGrad then sumRows, which an older addon runs instead. */
  reluGradSumRows: (dy: Float32Array, y: Float32Array, dz: Float32Array, db: Float32Array) => void;
  /**
   * Since load: [jobs split over the two threads, parts the helper ran, the helper's CPU ms in those parts, its CPU ms
   * in all (spinning included), the caller's CPU ms waiting for the helper's parts, kernels queued on the helper
   * lane, those the helper ran (the caller ran the rest in sync), the helper's CPU ms in them, the caller's CPU ms
   * waiting in sync, the caller's CPU ms running queued kernels the helper had not started]. Benchmarks: what the
   * second core did.
   */
  threadStats: () => ThreadStats;
  /**
   * The helper lane: the same kernels, but with two threads and `parallel` on, the fused heads' kernels called
   * through it (sgemm, adam, lerp, layerNorm/Grad, sumRows, relu/Grad) are queued and run in call order on the
   * helper thread while the caller goes on; `sync()` waits for them (running on the caller those the helper has not
   * started). Arrays passed in stay referenced until then. Otherwise it runs them at once, like this object.
   * Its own `helper` is itself.
   */
  helper: Gemm;
  /** Waits for every kernel queued on the helper lane (no-op when none is). */
  sync: () => void;
  /** The helper lane's position after its last queued kernel, for `syncTo`. */
  mark: () => number;
  /** Waits for the kernels queued before `mark` only (later ones may still run): what the caller reads next. */
  syncTo: (mark: number) => void;
  /** Whether the helper lane queues (with two threads): env INSERTION_PARALLEL_HEADS=off makes it false; benchmarks toggle it. */
  parallel: boolean;
  /** The calling thread's CPU time in ms (NaN with an older addon). */
  threadCpuMs: () => number;
  /** Changes the thread count at run time (benchmarks and tests compare 1 and 2 in one process); returns it. */
  setThreads: (n: number) => number;
  /** The inputs of sgemm's products: 'fp32', or 'bf16' (rounded to bfloat16, multiplied by oneDNN with float32 sums). */
  precision: GemmPrecision;
  /** With bf16: oneDNN's version and kernel, e.g. 'oneDNN 2.6.3 brg:avx512_core_bf16'. */
  bf16Engine?: string;
  /**
   * Switches sgemm's precision for later calls (conv, Adam, LayerNorm and the weights stay float32). Throws, leaving
   * 'fp32', when bf16 cannot run here: an addon built without oneDNN's header, no libdnnl.so.2, or a CPU on which
   * oneDNN has no native bf16 kernel (it would emulate, slower than float32).
   */
  setPrecision: (p: GemmPrecision) => void;
}

export type GemmPrecision = 'fp32' | 'bf16';

export interface LoadGemmOptions {
  /** Path of the addon (default native/build/gemm.node of this checkout). */
  addon?: string;
  /** BLAS libraries to try in order (default: $INSERTION_BLAS if set, else OpenBLAS's soname). */
  libraries?: string[];
  /**
   * Threads (default 1). 2: the addon splits GEMMs of at least 2^20 multiply-adds, Adam and LayerNorm over a helper
   * thread and the caller, with bit-identical results (OpenBLAS itself stays on one thread). More than 2 counts as 2.
   */
  threads?: number;
  /** Exports to treat as absent (tests: the fallbacks an older addon gets, e.g. ['layerNormRelu', 'adamPolyak']). */
  without?: ReadonlyArray<keyof GemmAddon>;
}

/** Arrays handed to queued kernels, referenced until sync() (the helper reads and writes them later; one addon per process). */
const queuedArrays: unknown[] = [];

export const DEFAULT_ADDON = NATIVE_ADDON;

export type GemmLoad = { gemm: Gemm; error?: undefined } | { gemm?: undefined; error: string };

export function loadGemm(opts: LoadGemmOptions = {}): GemmLoad {
  const addonPath = opts.addon ?? DEFAULT_ADDON;
  if (!existsSync(addonPath)) return { error: `native gemm addon not built (${addonPath} missing; run bash native/build.sh)` };
  let addon: GemmAddon;
  try {
    addon = createRequire(import.meta.url)(addonPath) as GemmAddon;
  } catch (err) {
    return { error: `native gemm addon failed to load: ${(err as Error).message.split('\n')[0]}` };
  }
  const without = opts.without;
  if (without?.length) {
    // The addon's exports are not enumerable (napi_define_properties): copy them by name.
    const all = addon as unknown as Record<string, unknown>;
    addon = Object.fromEntries(
      Object.getOwnPropertyNames(all)
        .filter((k) => !without.includes(k as keyof GemmAddon))
        .map((k) => [k, all[k]]),
    ) as unknown as GemmAddon;
  }
  const env = process.env['INSERTION_BLAS'];
  const libraries = opts.libraries ?? (env ? [env] : ['libopenblas.so.0']);
  const errors: string[] = [];
  for (const path of libraries) {
    try {
      const config = addon.open(path);
      const asked = opts.threads ?? 1;
      const got = addon.setThreads(asked);
      const threads = typeof got === 'number' ? got : asked;
      const sync = (): void => {
        addon.sync?.();
        queuedArrays.length = 0;
      };
      const gemm: Gemm = {
        library: config || path,
        path,
        threads,
        sgemm: addon.sgemm,
        adam: addon.adam,
        lerp: addon.lerp,
        adamPolyak:
          addon.adamPolyak ??
          ((w, g, m, v, out, lr, b1, b2, eps, c1, c2, target, targetOut, tau): void => {
            gemm.adam(w, g, m, v, out, lr, b1, b2, eps, c1, c2);
            gemm.lerp(targetOut, out, target, tau);
          }),
        layerNorm: addon.layerNorm,
        layerNormGrad: addon.layerNormGrad,
        conv: addon.conv,
        convBiasRelu: addon.convBiasRelu ?? null,
        convTrunk: addon.convTrunk ?? null,
        convTrunkGrad: addon.convTrunkGrad ?? null,
        setConvDirect: addon.setConvDirect ?? ((): boolean => false),
        setConvWide: addon.setConvWide ?? ((): boolean => false),
        gatherImages: addon.gatherImages ?? null,
        sumRows: addon.sumRows,
        sumRowsFloat: addon.sumRowsFloat ?? null,
        addRow: addon.addRow,
        relu: addon.relu ?? jsRelu,
        reluGrad: addon.reluGrad ?? jsReluGrad,
        reluGradSumRows:
          addon.reluGradSumRows ??
          ((dy, y, dz, db): void => {
            gemm.reluGrad(dy, y, dz);
            gemm.sumRows(dz, db);
          }),
        layerNormRelu:
          addon.layerNormRelu ??
          ((x, gamma, beta, y, eps): void => {
            gemm.layerNorm(x, gamma, beta, y, eps);
            gemm.relu(y);
          }),
        reluLayerNormGrad:
          addon.reluLayerNormGrad ??
          ((dy, y, x, gamma, dx, dgamma, dbeta, eps): void => {
            const t = new Float32Array(dy.length);
            gemm.reluGrad(dy, y, t);
            gemm.layerNormGrad(t, x, gamma, dx, dgamma, dbeta, eps);
          }),
        reluLayerNormGradEx: addon.reluLayerNormGradEx ?? reluLayerNormGradExFallback(() => gemm),
        threadStats: addon.threadStats ?? ((): ThreadStats => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        helper: undefined as unknown as Gemm, // set below (it refers to this object)
        sync,
        mark: addon.mark ?? ((): number => 0),
        syncTo: addon.syncTo ?? sync,
        parallel: process.env['INSERTION_PARALLEL_HEADS'] !== 'off',
        threadCpuMs: addon.threadCpuMs ?? ((): number => NaN),
        setThreads: (n: number): number => {
          const r = addon.setThreads(n);
          gemm.threads = typeof r === 'number' ? r : n;
          return gemm.threads;
        },
        precision: 'fp32',
        setPrecision: (p: GemmPrecision): void => {
          // Always asked of the addon: its setting is per process, and an earlier loadGemm may have changed it.
          if (!addon.setPrecision) {
            if (p === 'bf16') throw new Error('this gemm addon predates bf16 (run bash native/build.sh)');
            return;
          }
          gemm.sync(); // queued products keep their precision anyway; the label must not run ahead of them
          try {
            const desc = addon.setPrecision(p === 'bf16' ? 1 : 0);
            gemm.precision = p;
            if (p === 'bf16') gemm.bf16Engine = desc;
            else delete gemm.bf16Engine;
          } catch (err) {
            gemm.precision = 'fp32';
            delete gemm.bf16Engine;
            throw err;
          }
        },
      };
      gemm.helper = helperLane(gemm, addon, queuedArrays);
      return { gemm };
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  return { error: `no BLAS with cblas_sgemm (install Debian's libopenblas0-pthread): ${errors.join('; ')}` };
}

/** The helper lane of `main` (see Gemm.helper). */
function helperLane(main: Gemm, addon: GemmAddon, keep: unknown[]): Gemm {
  const setQueue = addon.setQueue;
  if (!setQueue || !addon.sync) return main;
  const lane: Gemm = { ...main };
  // Queue only when asked (two threads, parallel on) and the addon agrees (it may refuse: another thread owns it).
  const queued =
    <A extends unknown[], R>(f: (...a: A) => R) =>
    (...a: A): R => {
      if (main.threads < 2 || !main.parallel || !setQueue(true)) return f(...a);
      let r: R;
      try {
        r = f(...a);
      } finally {
        setQueue(false);
      }
      for (const x of a) if (ArrayBuffer.isView(x)) keep.push(x);
      return r;
    };
  lane.sgemm = queued(addon.sgemm);
  lane.adam = queued(addon.adam);
  lane.lerp = queued(addon.lerp);
  lane.adamPolyak = addon.adamPolyak
    ? queued(addon.adamPolyak)
    : (w, g, m, v, out, lr, b1, b2, eps, c1, c2, target, targetOut, tau): void => {
        lane.adam(w, g, m, v, out, lr, b1, b2, eps, c1, c2);
        lane.lerp(targetOut, out, target, tau);
      };
  lane.layerNorm = queued(addon.layerNorm);
  lane.layerNormGrad = queued(addon.layerNormGrad);
  lane.sumRows = queued(addon.sumRows);
  lane.relu = queued(main.relu);
  lane.reluGrad = queued(main.reluGrad);
  lane.reluGradSumRows = addon.reluGradSumRows ? queued(addon.reluGradSumRows) : (dy, y, dz, db): void => (lane.reluGrad(dy, y, dz), lane.sumRows(dz, db));
  // An older addon's fallbacks call main's kernels: through the lane's instead, so that they are queued too.
  lane.layerNormRelu = addon.layerNormRelu
    ? queued(addon.layerNormRelu)
    : (x, gamma, beta, y, eps): void => (lane.layerNorm(x, gamma, beta, y, eps), lane.relu(y));
  lane.reluLayerNormGrad = addon.reluLayerNormGrad
    ? queued(addon.reluLayerNormGrad)
    : (dy, y, x, gamma, dx, dgamma, dbeta, eps): void => {
        const t = new Float32Array(dy.length);
        lane.reluGrad(dy, y, t);
        lane.layerNormGrad(t, x, gamma, dx, dgamma, dbeta, eps);
      };
  lane.reluLayerNormGradEx = addon.reluLayerNormGradEx ? queued(addon.reluLayerNormGradEx) : reluLayerNormGradExFallback(() => lane);
  lane.helper = lane;
  // threads, parallel, precision and setThreads belong to main: read through to it.
  Object.defineProperty(lane, 'threads', { get: () => main.threads });
  Object.defineProperty(lane, 'precision', { get: () => main.precision });
  Object.defineProperty(lane, 'bf16Engine', { get: () => main.bf16Engine });
  Object.defineProperty(lane, 'parallel', { get: () => main.parallel, set: (v: boolean) => (main.parallel = v) });
  return lane;
}

/** reluLayerNormGradEx as the calls it folds together, on the kernels of `k()` (a lane's, so that they queue on it). */
function reluLayerNormGradExFallback(k: () => Gemm): Gemm['reluLayerNormGradEx'] {
  return (dy, w, y, x, gamma, dx, dgamma, dbeta, eps, stats, dbias, dw): boolean => {
    const g = k();
    let d = dy;
    if (w) {
      d = new Float32Array(y.length);
      g.sgemm(false, true, 1, dy.length, w.length, 1, dy, 0, w, 0, d, null, 0, 0, 0);
      if (dw) g.sgemm(true, false, 1, w.length, 1, dy.length, y, 0, dy, 0, dw, null, 0, 0, 0);
    }
    if (stats) g.reluLayerNormGrad(d, y, x, gamma, dx, dgamma, dbeta, eps, stats);
    else g.reluLayerNormGrad(d, y, x, gamma, dx, dgamma, dbeta, eps);
    if (dbias) g.sumRows(dx, dbias);
    return !!(w && dw);
  };
}

function jsRelu(x: Float32Array): void {
  for (let k = 0; k < x.length; k++) if ((x[k] as number) < 0) x[k] = 0;
}

function jsReluGrad(dy: Float32Array, y: Float32Array, dx: Float32Array): void {
  for (let k = 0; k < dy.length; k++) dx[k] = (y[k] as number) > 0 ? (dy[k] as number) : 0;
}
