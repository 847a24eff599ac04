/**
 * Native single-precision GEMM for the trainer: the N-API addon `native/build/gemm.node` (built by
 * `native/build.sh`, which `scripts/install-system-deps.sh` runs) calling a system BLAS's `cblas_sgemm`
 * (Debian `libopenblas0-pthread`). Loaded lazily and optional: when the addon or the library is missing,
 * `loadGemm` returns the reason and the trainer keeps tfjs-wasm's own matMul (backend.ts).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  adam: (
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
  ) => void;
  lerp: (out: Float32Array, s: Float32Array, t: Float32Array, tau: number) => void;
  layerNorm: (x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, eps: number) => void;
  layerNormGrad: (dy: Float32Array, x: Float32Array, gamma: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, eps: number) => void;
  conv: (mode: 0 | 1 | 2, dims: Int32Array, a: Float32Array, b: Float32Array, out: Float32Array) => void;
  sumRows: (x: Float32Array, out: Float32Array) => void;
  addRow: (a: Float32Array, b: Float32Array, out: Float32Array) => void;
  relu?: (x: Float32Array) => void;
  reluGrad?: (dy: Float32Array, y: Float32Array, dx: Float32Array) => void;
}

export type ThreadStats = [jobs: number, helperParts: number, helperWorkMs: number, helperCpuMs: number, callerWaitMs: number];

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
  /** One Adam step (m, v in place; out = new weights), the same double-precision arithmetic as HeapAdam's JS loop. */
  adam: GemmAddon['adam'];
  /** out = tau * s + (1 - tau) * t (Polyak), as polyak()'s JS loop. */
  lerp: GemmAddon['lerp'];
  /** LayerNorm over the last axis (gamma.length) and its gradients, as backend.ts's JS kernels. */
  layerNorm: GemmAddon['layerNorm'];
  layerNormGrad: GemmAddon['layerNormGrad'];
  /**
   * NHWC conv (no dilation) as im2col + sgemm; dims [N, H, W, Ci, KH, KW, Co, strideH, strideW, padTop, padLeft, OH, OW].
   * mode 0 y = conv(x, filter); 1 dx from (dy, filter); 2 dW from (x, dy).
   */
  conv: GemmAddon['conv'];
  /** out[k] = sum of x[row, k] over rows (bias gradients). */
  sumRows: GemmAddon['sumRows'];
  /** out = a + b broadcast over rows (bias add). */
  addRow: GemmAddon['addRow'];
  /** x = max(x, 0) in place, and dx = y > 0 ? dy : 0 (the fused heads' ReLU); JS loops when an older addon lacks them. */
  relu: (x: Float32Array) => void;
  reluGrad: (dy: Float32Array, y: Float32Array, dx: Float32Array) => void;
  /**
   * Since load: [jobs split over the two threads, parts the helper ran, the helper's CPU ms in those parts, its CPU ms
   * in all (spinning included), the caller's CPU ms waiting for the helper's parts]. Benchmarks: what the second core did.
   */
  threadStats: () => ThreadStats;
  /** Changes the thread count at run time (benchmarks and tests compare 1 and 2 in one process); returns it. */
  setThreads: (n: number) => number;
}

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
}

export const DEFAULT_ADDON = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'build', 'gemm.node');

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
  const env = process.env['INSERTION_BLAS'];
  const libraries = opts.libraries ?? (env ? [env] : ['libopenblas.so.0']);
  const errors: string[] = [];
  for (const path of libraries) {
    try {
      const config = addon.open(path);
      const asked = opts.threads ?? 1;
      const got = addon.setThreads(asked);
      const threads = typeof got === 'number' ? got : asked;
      const gemm: Gemm = {
        library: config || path,
        path,
        threads,
        sgemm: addon.sgemm,
        adam: addon.adam,
        lerp: addon.lerp,
        layerNorm: addon.layerNorm,
        layerNormGrad: addon.layerNormGrad,
        conv: addon.conv,
        sumRows: addon.sumRows,
        addRow: addon.addRow,
        relu: addon.relu ?? jsRelu,
        reluGrad: addon.reluGrad ?? jsReluGrad,
        threadStats: addon.threadStats ?? ((): ThreadStats => [0, 0, 0, 0, 0]),
        setThreads: (n: number): number => {
          const r = addon.setThreads(n);
          gemm.threads = typeof r === 'number' ? r : n;
          return gemm.threads;
        },
      };
      return { gemm };
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  return { error: `no BLAS with cblas_sgemm (install Debian's libopenblas0-pthread): ${errors.join('; ')}` };
}

function jsRelu(x: Float32Array): void {
  for (let k = 0; k < x.length; k++) if ((x[k] as number) < 0) x[k] = 0;
}

function jsReluGrad(dy: Float32Array, y: Float32Array, dx: Float32Array): void {
  for (let k = 0; k < dy.length; k++) dx[k] = (y[k] as number) > 0 ? (dy[k] as number) : 0;
}
