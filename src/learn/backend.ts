/**
 * Tensor backend selection for the learning core.
 *
 * Order: the native backend (`@tensorflow/tfjs-node`, name 'tensorflow') if it is installed AND loads; otherwise
 * `@tensorflow/tfjs-backend-wasm` with the project's own fixes (see PLATFORM.md, "Training with TensorFlow.js"):
 *  1. wasm has no `Conv2DBackpropFilter` kernel, so conv nets cannot be trained at all. We register one built from
 *     an im2col gather (JS, on wasm-heap views) and one XNNPack GEMM.
 *  2. wasm's own `Conv2DBackpropInput` is a plain loop (about 0.6 GFLOP/s, 10x slower than its forward conv). We
 *     replace it by a sub-pixel formulation: one stride-1 XNNPack conv of dy with s*s phase filters, then a
 *     depth-to-space transpose and a crop (the original stays as the fallback for dilated convs).
 *  3. wasm's Sum transposes its input when the reduced axes are not innermost. Bias gradients reduce every axis but
 *     the last (e.g. [256,32,32,32] -> [32] for a conv bias): we sum those rows directly on the heap instead (under
 *     1024 rows with wasm's own float sums, the same bits).
 *  4. wasm's matMul only takes XNNPack's fast path without transposeA/transposeB, and backprop always transposes.
 *     We wrap `BatchMatMul` and `_FusedMatMul` to transpose the operand explicitly first.
 *  5. wasm's `Identity` (and `Cast` to the same dtype) copies the buffer; autodiff and tf.keep/clone call it hundreds
 *     of times per IQL update. They share the buffer by reference count instead, as the cpu backend and wasm's own
 *     Reshape do (no kernel writes into its inputs; XNNPack's weight cache is keyed by the shared buffer).
 *  6. LayerNorm over the last axis is one kernel forward and one backward (`LayerNormLastAxis`, row loops on the heap)
 *     instead of ~12 and ~40 tfjs kernels; nets.ts uses it through `layerNormLastAxis` on wasm, the op-based formula
 *     elsewhere (the same formula; tests compare values and gradients with the ops on cpu).
 *  7. wasm's Concat copies each row of each input through a subarray; float32 concats are one loop between heap views.
 * Each fix is tested against the cpu backend (test/learn/backend.test.ts).
 * On wasm, when the native GEMM loads (src/learn/gemm.ts: an N-API addon over OpenBLAS's cblas_sgemm), `BatchMatMul`
 * and `_FusedMatMul` (and so every matMul gradient) run on it instead: small training GEMMs (batch 256, 256-wide MLPs)
 * are 3-10x faster there than XNNPack on one thread; so do the convs and their gradients, a conv + bias + ReLU
 * layer is one kernel each way (`convBiasRelu`), and an encoder's whole trunk of them too (`convTrunk`, used by nets.ts). Everything else stays tfjs-wasm, so the learning
 * math is written once; without the addon the wasm kernels run as before (the fallback that always works).
 * The chosen backend name, the GEMM engine and the list of applied fixes go into every training log and model card.
 */
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { GEMM_ACTIVATIONS, loadGemm, type Gemm, type GemmPrecision } from './gemm.ts';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  /** tfjs backend actually running ('tensorflow' = native libtensorflow through tfjs-node). */
  name: BackendName;
  /** Project fixes applied to that backend (kernel names), empty for native. */
  fixes: string[];
  /** Why the native backend was not used, when it was not (for logs). */
  nativeError?: string;
  /** tfjs-core version in use. */
  tfjsVersion: string;
  /** Native GEMM running the matMuls (wasm only), e.g. 'OpenBLAS 0.3.21 ... Haswell MAX_THREADS=64, 1 thread'; absent = the backend's own. */
  gemm?: string;
  /** Why the native GEMM is not used, when it is not (for logs). */
  gemmError?: string;
  /** Why bf16 GEMM inputs were asked for and not used (the GEMM then runs in float32). */
  gemmPrecisionError?: string;
}

export interface InitBackendOptions {
  /** 'auto' (default): native if it loads, else wasm. 'wasm'/'cpu' force that backend (cpu is for tests only: 30-1000x slower). */
  prefer?: 'auto' | 'wasm' | 'cpu' | 'tensorflow';
  /** Module specifier of the native backend (default '@tensorflow/tfjs-node'; '@tensorflow/tfjs-node-gpu' for CUDA, or a path in tests). */
  nativeModule?: string;
  /**
   * matMuls on wasm: 'auto' (default) the native OpenBLAS GEMM if it loads, else wasm's own; 'off' wasm's own
   * (also env INSERTION_GEMM=off); 'native' require it (throws when unavailable).
   */
  gemm?: 'auto' | 'off' | 'native';
  /** Native kernels' threads, 1 or 2 (default: env INSERTION_GEMM_THREADS, else the previous call's, else 1). */
  gemmThreads?: number;
  /**
   * Inputs of the native GEMMs: 'bf16' rounds them to bfloat16 through oneDNN (src/learn/gemm.ts), falling back to
   * 'fp32' with the reason in gemmPrecisionError (default: env INSERTION_GEMM_PRECISION, else the previous call's, else 'fp32').
   */
  gemmPrecision?: GemmPrecision;
  /** Addon path (tests), default native/build/gemm.node. */
  gemmAddon?: string;
}

let current: BackendInfo | undefined;

/** The backend chosen by the last `initBackend` call, or undefined before it. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

/**
 * One-line description for training logs and model cards, e.g. "wasm (fixes: Conv2DBackpropFilter, ...)" or, with
 * the native GEMM, "wasm+openblas (gemm: OpenBLAS 0.3.21 ..., 1 thread; fixes: ...)".
 */
/** Live tfjs tensors and their bytes: what a long-running trainer reports, so that a leak shows in its status. */
export function tensorMemory(): { tensors: number; bytes: number } {
  const m = tf.memory();
  return { tensors: m.numTensors, bytes: m.numBytes };
}

export function backendLabel(): string {
  if (!current) return 'uninitialised';
  const parts = [
    ...(current.gemm ? [`gemm: ${current.gemm}`] : []),
    ...(current.gemmPrecisionError ? [`bf16 not used: ${current.gemmPrecisionError}`] : []),
    ...(current.fixes.length ? [`fixes: ${current.fixes.join(', ')}`] : []),
  ];
  const name = current.gemm ? `${current.name}+openblas${activeGemm?.precision === 'bf16' ? '+onednn-bf16' : ''}` : current.name;
  return parts.length ? `${name} (${parts.join('; ')})` : name;
}

export async function initBackend(opts: InitBackendOptions = {}): Promise<BackendInfo> {
  const prefer = opts.prefer ?? 'auto';
  let nativeError: string | undefined;
  if (prefer === 'auto' || prefer === 'tensorflow') {
    try {
      // A non-literal specifier keeps tsc from requiring the (optional, usually absent) package's types.
      const spec = opts.nativeModule ?? '@tensorflow/tfjs-node';
      await import(spec);
      // A second tfjs-core copy (version mismatch) would register the backend elsewhere: check ours has it.
      if (tf.findBackendFactory('tensorflow') == null)
        throw new Error('tfjs-node loaded but registered no "tensorflow" backend in this tfjs-core (version mismatch?)');
      if (!(await tf.setBackend('tensorflow'))) throw new Error('setBackend("tensorflow") failed');
      await tf.ready();
      current = { name: 'tensorflow', fixes: [], tfjsVersion: tf.version_core };
      return current;
    } catch (err) {
      // Any error, not only MODULE_NOT_FOUND: the package can be half-installed (native library missing).
      nativeError = err instanceof Error ? err.message.split('\n')[0] : String(err);
      if (prefer === 'tensorflow') throw new Error(`native tfjs backend requested but unavailable: ${nativeError}`);
    }
  }
  if (prefer === 'cpu') {
    await tf.setBackend('cpu');
    await tf.ready();
    current = { name: 'cpu', fixes: [], tfjsVersion: tf.version_core };
    if (nativeError !== undefined) current.nativeError = nativeError;
    return current;
  }
  if (!(await tf.setBackend('wasm'))) throw new Error('could not initialise the tfjs wasm backend');
  await tf.ready();
  const fixes = applyWasmFixes();
  current = { name: 'wasm', fixes, tfjsVersion: tf.version_core };
  if (nativeError !== undefined) current.nativeError = nativeError;
  const gemmMode = opts.gemm ?? (process.env['INSERTION_GEMM'] === 'off' ? 'off' : 'auto');
  if (gemmMode === 'off') {
    activeGemm = null;
    current.gemmError = 'native gemm switched off';
  } else {
    // INSERTION_GEMM_THREADS: e.g. 2 lets the online trainer use the core the 10 Hz loop leaves idle between ticks.
    const envThreads = Number(process.env['INSERTION_GEMM_THREADS'] ?? NaN);
    // Unsaid: the env's, else what an earlier call set (a second initBackend, e.g. the reward tuner's, keeps the trainer's),
    // else 2 where this process may use two CPUs: bit-identical to one, and faster beside the 10 Hz daemon without
    // costing it ticks (results/online-bench-quiet/).
    const threads =
      opts.gemmThreads ?? (Number.isInteger(envThreads) && envThreads >= 1 ? envThreads : (loadedGemm?.threads ?? (availableParallelism() >= 2 ? 2 : 1)));
    const r = loadGemm({ ...(opts.gemmAddon !== undefined ? { addon: opts.gemmAddon } : {}), ...(threads !== undefined ? { threads } : {}) });
    if (r.gemm) {
      registerNativeMatMul();
      const envPrecision = process.env['INSERTION_GEMM_PRECISION'];
      const precision: GemmPrecision =
        opts.gemmPrecision ?? (envPrecision === 'bf16' || envPrecision === 'fp32' ? envPrecision : (loadedGemm?.precision ?? 'fp32'));
      try {
        r.gemm.setPrecision(precision);
      } catch (err) {
        current.gemmPrecisionError = (err as Error).message;
      }
      activeGemm = r.gemm;
      loadedGemm = r.gemm;
      current.gemm = gemmDescription(r.gemm);
    } else {
      activeGemm = null;
      loadedGemm = null;
      current.gemmError = r.error;
      if (gemmMode === 'native') throw new Error(`native gemm requested but unavailable: ${r.error}`);
    }
  }
  return current;
}

// ---------------------------------------------------------------------------------------------------------------
// Native GEMM on wasm: BatchMatMul and _FusedMatMul read their operands straight from the wasm heap (views, no copy)
// and write the output into a fresh heap tensor, in one N-API call. Cases the kernel does not cover (other dtypes,
// partial batch broadcasting, prelu, biases that are not a row vector or a scalar) go to the previous kernel.

function gemmDescription(g: Gemm): string {
  return `${g.library}, ${g.threads} thread${g.threads === 1 ? '' : 's'}${g.precision === 'bf16' ? `, bf16 inputs: ${g.bf16Engine ?? 'oneDNN'}` : ''}`;
}

let activeGemm: Gemm | null = null;

/** The native kernels in use (null: wasm's own); the heap optimiser uses them for its element-wise loops too. */
export function nativeGemm(): Gemm | null {
  return current?.name === 'wasm' ? activeGemm : null;
}
let loadedGemm: Gemm | null = null;
let nativeMatMulRegistered = false;

/**
 * Switches the native GEMM on or off at run time (benchmarks and tests compare both engines in one process; the
 * label follows). Returns whether it is on afterwards (false when it never loaded).
 */
export function setNativeGemm(on: boolean): boolean {
  activeGemm = on ? loadedGemm : null;
  if (current && current.name === 'wasm') {
    if (activeGemm) {
      current.gemm = gemmDescription(activeGemm);
      delete current.gemmError;
    } else {
      delete current.gemm;
      current.gemmError = loadedGemm ? 'native gemm switched off' : (current.gemmError ?? 'native gemm not loaded');
    }
  }
  return activeGemm !== null;
}

/**
 * Switches the native GEMM's input precision at run time (tests and benchmarks compare both in one process; the label
 * follows). Returns the precision in effect afterwards: 'fp32' when bf16 cannot run here (the reason goes to the label).
 */
export function setGemmPrecision(p: GemmPrecision): GemmPrecision {
  const g = loadedGemm;
  if (!g) return 'fp32';
  delete current?.gemmPrecisionError;
  try {
    g.setPrecision(p);
  } catch (err) {
    if (current) current.gemmPrecisionError = (err as Error).message;
  }
  if (current?.gemm) current.gemm = gemmDescription(g);
  return g.precision;
}

function registerNativeMatMul(): void {
  if (nativeMatMulRegistered) return;
  for (const name of ['BatchMatMul', '_FusedMatMul']) {
    const orig = tf.getKernel(name, 'wasm');
    if (!orig) throw new Error(`wasm backend has no ${name} kernel`);
    const prev = orig.kernelFunc as unknown as KFunc;
    const fused = name === '_FusedMatMul';
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({
      ...orig,
      kernelFunc: ((args: { inputs: Record<string, Info>; backend: WasmBackendLike; attrs: Record<string, unknown> }) => {
        const g = activeGemm;
        return (g && nativeMatMul(g, fused, args)) || prev(args);
      }) as unknown as tf.KernelFunc,
    });
  }
  // Bias adds ([..., C] + [C]): wasm's broadcasting Add is a generic index loop.
  const add = tf.getKernel('Add', 'wasm');
  if (!add) throw new Error('wasm backend has no Add kernel');
  const addPrev = add.kernelFunc as unknown as KFunc;
  tf.unregisterKernel('Add', 'wasm');
  tf.registerKernel({
    ...add,
    kernelFunc: ((args: { inputs: Record<string, Info>; backend: WasmBackendLike; attrs: Record<string, unknown> }) => {
      const g = activeGemm;
      return (g && nativeAddRow(g, args.inputs, args.backend)) || addPrev(args);
    }) as unknown as tf.KernelFunc,
  });
  for (const name of ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'] as const) {
    const orig = tf.getKernel(name, 'wasm');
    if (!orig) throw new Error(`wasm backend has no ${name} kernel`);
    const prev = orig.kernelFunc as unknown as KFunc;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({
      ...orig,
      kernelFunc: ((args: { inputs: Record<string, Info>; backend: WasmBackendLike; attrs: Record<string, unknown> }) => {
        const g = activeGemm;
        return (g && nativeConv(g, name, args)) || prev(args);
      }) as unknown as tf.KernelFunc,
    });
  }
  registerConvBiasRelu();
  registerConvTrunk();
  nativeMatMulRegistered = true;
}

/** a + b where one operand is a big float32 tensor and the other a row of its last-axis size (any leading 1s). */
function nativeAddRow(g: Gemm, inputs: Record<string, Info>, backend: WasmBackendLike): Info | null {
  const a = inputs['a'];
  const b = inputs['b'];
  if (!a || !b || a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const isRowOf = (row: Info, big: Info): boolean => {
    const c = big.shape[big.shape.length - 1];
    return row.shape.length <= big.shape.length && row.shape[row.shape.length - 1] === c && prod(row.shape) === c && prod(big.shape) >= 4096;
  };
  const [big, row] = isRowOf(b, a) ? [a, b] : isRowOf(a, b) ? [b, a] : [null, null];
  if (!big || !row) return null;
  const out = backend.makeOutput([...big.shape], 'float32');
  const ov = backend.typedArrayFromHeap(out);
  g.addRow(backend.typedArrayFromHeap(big), backend.typedArrayFromHeap(row), ov);
  return out;
}

/** NHWC convs without dilation through the addon's im2col + sgemm; null (previous kernel) otherwise. */
function nativeConv(
  g: Gemm,
  name: 'Conv2D' | 'Conv2DBackpropInput' | 'Conv2DBackpropFilter',
  { inputs, backend, attrs }: { inputs: Record<string, Info>; backend: WasmBackendLike; attrs: Record<string, unknown> },
): Info | null {
  if (((attrs['dataFormat'] as string | undefined) ?? 'NHWC') !== 'NHWC') return null;
  const dil = (attrs['dilations'] as number | [number, number] | undefined) ?? 1;
  if (!(dil === 1 || (Array.isArray(dil) && dil[0] === 1 && dil[1] === 1))) return null;
  const [a, b] =
    name === 'Conv2D' ? [inputs['x'], inputs['filter']] : name === 'Conv2DBackpropInput' ? [inputs['dy'], inputs['filter']] : [inputs['x'], inputs['dy']];
  if (!a || !b || a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const xShape = (name === 'Conv2DBackpropInput' ? attrs['inputShape'] : a.shape) as [number, number, number, number];
  const fShape = (name === 'Conv2DBackpropFilter' ? attrs['filterShape'] : b.shape) as [number, number, number, number];
  const dims = convDims(xShape, fShape, attrs);
  if (!dims) return null;
  const outShape =
    name === 'Conv2D' ? [xShape[0], dims[11] as number, dims[12] as number, fShape[3]] : name === 'Conv2DBackpropInput' ? [...xShape] : [...fShape];
  const out = backend.makeOutput(outShape, 'float32');
  const ov = backend.typedArrayFromHeap(out);
  g.conv(name === 'Conv2D' ? 0 : name === 'Conv2DBackpropInput' ? 1 : 2, dims, backend.typedArrayFromHeap(a), backend.typedArrayFromHeap(b), ov);
  return out;
}

/** The addon's conv dims [N, H, W, Ci, KH, KW, Co, sH, sW, padTop, padLeft, OH, OW] (no dilation), or null for an empty or malformed conv. */
function convDims(xShape: readonly number[] | undefined, fShape: readonly number[] | undefined, attrs: Record<string, unknown>): Int32Array | null {
  if (!xShape || !fShape || xShape.length !== 4 || fShape.length !== 4) return null;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    fShape as [number, number, number, number],
    attrs['strides'] as [number, number] | number,
    1,
    attrs['pad'] as 'valid' | 'same' | number,
    attrs['dimRoundingMode'] as 'floor' | 'round' | 'ceil' | undefined,
    false,
    'channelsLast',
  );
  const [n, H, W, ci] = xShape as [number, number, number, number];
  const [kh, kw, , co] = fShape as [number, number, number, number];
  if (info.outHeight < 1 || info.outWidth < 1 || n * H * W * ci === 0 || co === 0) return null;
  return Int32Array.of(n, H, W, ci, kh, kw, co, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left, info.outHeight, info.outWidth);
}

const CBR = 'ConvBiasRelu';
const CBR_GRAD = 'ConvBiasReluGrad';

/**
 * y = relu(conv2d(x, filter) + bias) (NHWC, no dilation) as one native kernel on wasm with the native kernels loaded,
 * and its gradient as one pass (dz = dy where y > 0, the bias gradient) and the two conv gradients, each computed
 * only when needed (not the image's); null elsewhere (callers then use the plain ops: the same formula, which the
 * tests compare it with on cpu).
 */
export function convBiasRelu(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  bias: tf.Tensor,
  strides: [number, number] | number,
  pad: 'same' | 'valid',
): tf.Tensor4D | null {
  if (tf.getBackend() !== 'wasm' || !activeGemm?.convBiasRelu || !tf.getKernel(CBR, 'wasm') || x.dtype !== 'float32' || bias.size !== filter.shape[3])
    return null;
  return tf.engine().runKernel<tf.Tensor4D>(CBR, { x, filter, bias }, { strides, pad });
}

function registerConvBiasRelu(): void {
  tf.registerKernel({
    kernelName: CBR,
    backendName: 'wasm',
    kernelFunc: (({ inputs, backend, attrs }: { inputs: Record<string, Info>; backend: WasmBackendLike; attrs: Record<string, unknown> }) => {
      const { x, filter, bias } = inputs as { x: Info; filter: Info; bias: Info };
      const f = activeGemm?.convBiasRelu;
      const dims = convDims(x.shape, filter.shape, attrs);
      if (!f || !dims) throw new Error(`${CBR}: needs the native kernels (convBiasRelu() returns null without them) and a non-empty conv`);
      const out = backend.makeOutput([x.shape[0] as number, dims[11] as number, dims[12] as number, filter.shape[3] as number], 'float32');
      const ov = backend.typedArrayFromHeap(out);
      f(dims, backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(filter), backend.typedArrayFromHeap(bias), ov);
      return out;
    }) as unknown as tf.KernelFunc,
  });
  // dz = y > 0 ? dy : 0 (the ReLU's gradient, read from its output) and the bias gradient, the sum of dz's rows.
  tf.registerKernel({
    kernelName: CBR_GRAD,
    backendName: 'wasm',
    kernelFunc: (({ inputs, backend }: { inputs: Record<string, Info>; backend: WasmBackendLike }) => {
      const { dy, y } = inputs as { dy: Info; y: Info };
      const c = y.shape[3] as number;
      const dz = backend.makeOutput([...y.shape], 'float32');
      const db = backend.makeOutput([c], 'float32');
      const [dzv, dbv, dyv, yv] = [dz, db, dy, y].map((t) => backend.typedArrayFromHeap(t)) as [Float32Array, Float32Array, Float32Array, Float32Array];
      const g = activeGemm ?? loadedGemm;
      if (!g) throw new Error(`${CBR_GRAD}: no native kernels`);
      g.reluGradSumRows(dyv, yv, dzv, dbv);
      return [dz, db];
    }) as unknown as tf.KernelFunc,
  });
  tf.registerGradient({
    kernelName: CBR,
    inputsToSave: ['x', 'filter'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter, y] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      const [dz, db] = tf.engine().runKernel<tf.Tensor[]>(CBR_GRAD, { dy: dy as tf.Tensor, y }, {}) as [tf.Tensor4D, tf.Tensor1D];
      const conv = { strides: attrs['strides'] as number | number[], pad: attrs['pad'] as string, dataFormat: 'NHWC' };
      return {
        x: () => tf.engine().runKernel<tf.Tensor>('Conv2DBackpropInput', { dy: dz, filter }, { ...conv, inputShape: x.shape }),
        filter: () => tf.engine().runKernel<tf.Tensor>('Conv2DBackpropFilter', { x, dy: dz }, { ...conv, filterShape: filter.shape }),
        bias: () => db,
      };
    },
  });
}

const TRUNK = 'ConvTrunk';
const TRUNK_GRAD = 'ConvTrunkGrad';

/** Float32Arrays kept between calls, by length: the trunk's intermediates (8 MB at batch 256) without fresh pages each pass. */
const trunkPool = new Map<number, Float32Array[]>();
const trunkTake = (n: number): Float32Array => trunkPool.get(n)?.pop() ?? new Float32Array(n);
const trunkGive = (a: Float32Array): void => {
  const free = trunkPool.get(a.length) ?? [];
  if (free.length < 4) free.push(a);
  trunkPool.set(a.length, free);
};
/**
 * The intermediate layers' outputs of trunk calls recorded for a gradient, by the call's key (its attrs): the gradient
 * reads them and gives them back. A recorded call whose gradient never runs is dropped after TRUNK_KEEP newer ones;
 * a gradient that finds none recomputes them (the same forward, the same values).
 */
const trunkSaved = new Map<number, Float32Array[]>();
const TRUNK_KEEP = 8;
let trunkKey = 0;
let trunkOn = true;
/** Switches the trunk kernel (convTrunk) on or off: off, callers apply the layers one by one, as with an older addon
 *  (tests compare the two). Returns the previous setting. */
export function setConvTrunk(on: boolean): boolean {
  const was = trunkOn;
  trunkOn = on;
  return was;
}

interface TrunkLayer {
  filter: tf.Tensor4D;
  bias: tf.Tensor;
}

/**
 * Layers of y = relu(conv2d(x, filter) + bias) applied in turn (an image encoder's conv trunk) as ONE native kernel on
 * wasm with the native kernels loaded, image group by image group (each group's layer outputs read back from L2), and
 * one kernel for every layer's gradients; the same values, bit for bit, as `convBiasRelu` layer by layer (tests). null
 * elsewhere or with an older addon: callers then apply the layers one by one.
 */
export function convTrunk(x: tf.Tensor4D, layers: TrunkLayer[], strides: ([number, number] | number)[], pad: 'same' | 'valid'): tf.Tensor4D | null {
  const g = activeGemm;
  if (!trunkOn || tf.getBackend() !== 'wasm' || !g?.convTrunk || !g.convTrunkGrad || !tf.getKernel(TRUNK, 'wasm') || x.dtype !== 'float32') return null;
  if (layers.length === 0 || layers.length > 8 || strides.length !== layers.length) return null;
  if (layers.some((l) => l.bias.size !== l.filter.shape[3] || l.filter.dtype !== 'float32' || l.bias.dtype !== 'float32')) return null;
  // Inputs as a list (tfjs saves every input of such a kernel for its gradient): x, the filters, the biases.
  const inputs = [x, ...layers.map((l) => l.filter), ...layers.map((l) => l.bias)];
  // Intermediates are kept only when a gradient may be asked for (a tape is recording).
  const key = tf.engine().isTapeOn() ? ++trunkKey : -1;
  return tf
    .engine()
    .runKernel<tf.Tensor4D>(TRUNK, inputs as unknown as tf.NamedTensorMap, { strides: strides as unknown as number[], pad, key, layers: layers.length });
}

/** Each layer's conv dims (the addon's 13 values) for the trunk's shapes, or null when one is empty or malformed. */
function trunkDims(xShape: readonly number[], filters: Info[], attrs: Record<string, unknown>): Int32Array | null {
  const strides = attrs['strides'] as ([number, number] | number)[];
  const dims = new Int32Array(13 * filters.length);
  let shape = [...xShape];
  for (let l = 0; l < filters.length; l++) {
    const f = filters[l] as Info;
    const d = convDims(shape, f.shape, { strides: strides[l], pad: attrs['pad'] });
    if (!d) return null;
    dims.set(d, 13 * l);
    shape = [shape[0] as number, d[11] as number, d[12] as number, f.shape[3] as number];
  }
  return dims;
}

/** Floats an image of layer l's output, and the whole batch's. */
const trunkOut = (dims: Int32Array, l: number): number => (dims[13 * l + 11] as number) * (dims[13 * l + 12] as number) * (dims[13 * l + 6] as number);

/** The trunk's forward into ys (the last one given; the others filled, or kept a group at a time where null). */
function trunkForward(g: Gemm, dims: Int32Array, x: Float32Array, filters: Float32Array[], biases: Float32Array[], ys: (Float32Array | null)[]): void {
  const f = g.convTrunk;
  if (f && f(dims, x, filters, biases, ys, 0)) return;
  // The direct kernels do not apply (channels, CPU): layer by layer through convBiasRelu, in full arrays.
  const cbr = g.convBiasRelu;
  if (!cbr) throw new Error(`${TRUNK}: needs the native kernels`);
  let input = x;
  const temps: Float32Array[] = [];
  for (let l = 0; l < filters.length; l++) {
    const n = (dims[0] as number) * trunkOut(dims, l);
    const out = ys[l] ?? trunkTake(n);
    if (!ys[l]) temps.push(out);
    cbr(dims.subarray(13 * l, 13 * l + 13), input, filters[l] as Float32Array, biases[l] as Float32Array, out);
    input = out;
  }
  temps.forEach(trunkGive);
}

function registerConvTrunk(): void {
  const views = (backend: WasmBackendLike, infos: Info[]): Float32Array[] => infos.map((t) => backend.typedArrayFromHeap(t));
  // Inputs n values from `from` of a kernel's input list.
  const layerInputs = (inputs: Record<string, Info>, n: number, from: number): Info[] =>
    Array.from({ length: n }, (_, i) => inputs[from + i] ?? fail(`${TRUNK}: missing input ${from + i}`));
  const fail = (m: string): never => {
    throw new Error(m);
  };
  tf.registerKernel({
    kernelName: TRUNK,
    backendName: 'wasm',
    kernelFunc: (({ inputs, backend, attrs }: { inputs: Record<string, Info>; backend: WasmBackendLike; attrs: Record<string, unknown> }) => {
      const L = attrs['layers'] as number;
      const [x] = layerInputs(inputs, 1, 0) as [Info];
      const filters = layerInputs(inputs, L, 1);
      const biases = layerInputs(inputs, L, 1 + L);
      const g = activeGemm ?? loadedGemm;
      const dims = trunkDims(x.shape, filters, attrs);
      if (!g || !dims) throw new Error(`${TRUNK}: needs the native kernels (convTrunk() returns null without them) and non-empty convs`);
      const N = x.shape[0] as number;
      const last = L - 1;
      const out = backend.makeOutput([N, dims[13 * last + 11] as number, dims[13 * last + 12] as number, dims[13 * last + 6] as number], 'float32');
      const key = attrs['key'] as number;
      const kept = key >= 0 ? Array.from({ length: L - 1 }, (_, l) => trunkTake(N * trunkOut(dims, l))) : null;
      // Views after the allocation (a heap growth detaches older views).
      trunkForward(g, dims, backend.typedArrayFromHeap(x), views(backend, filters), views(backend, biases), [
        ...(kept ?? Array.from({ length: L - 1 }, () => null)),
        backend.typedArrayFromHeap(out),
      ]);
      if (kept) {
        trunkSaved.set(key, kept);
        for (const k of trunkSaved.keys()) {
          if (trunkSaved.size <= TRUNK_KEEP) break;
          trunkSaved.get(k)?.forEach(trunkGive);
          trunkSaved.delete(k);
        }
      }
      return out;
    }) as unknown as tf.KernelFunc,
  });
  // Inputs [x, dy, y, filters..., biases...]; outputs: every layer's filter gradient, then every bias gradient, then
  // (attrs.dx) x's.
  tf.registerKernel({
    kernelName: TRUNK_GRAD,
    backendName: 'wasm',
    kernelFunc: (({ inputs, backend, attrs }: { inputs: Record<string, Info>; backend: WasmBackendLike; attrs: Record<string, unknown> }) => {
      const L = attrs['layers'] as number;
      const [x, dy, y] = layerInputs(inputs, 3, 0) as [Info, Info, Info];
      const filters = layerInputs(inputs, L, 3);
      const g = activeGemm ?? loadedGemm;
      const dims = trunkDims(x.shape, filters, attrs);
      if (!g || !dims) throw new Error(`${TRUNK_GRAD}: no native kernels`);
      const N = x.shape[0] as number;
      const withDx = attrs['dx'] === true;
      const dW = filters.map((f) => backend.makeOutput([...f.shape], 'float32'));
      const db = filters.map((f) => backend.makeOutput([f.shape[3] as number], 'float32'));
      const dx = withDx ? backend.makeOutput([...x.shape], 'float32') : null;
      const xv = backend.typedArrayFromHeap(x);
      const fv = views(backend, filters);
      // The intermediates kept by the forward call, or recomputed (the same values) when they were dropped.
      const key = attrs['key'] as number;
      let kept = trunkSaved.get(key);
      trunkSaved.delete(key);
      if (!kept) {
        kept = Array.from({ length: L - 1 }, (_, l) => trunkTake(N * trunkOut(dims, l)));
        const biases = views(backend, layerInputs(inputs, L, 3 + L));
        trunkForward(g, dims, xv, fv, biases, [...kept, trunkTake(N * trunkOut(dims, L - 1))]);
      }
      const ys = [...kept, backend.typedArrayFromHeap(y)];
      const [dWv, dbv] = [views(backend, dW), views(backend, db)];
      const dyv = backend.typedArrayFromHeap(dy);
      const dxv = dx ? backend.typedArrayFromHeap(dx) : null;
      const f = g.convTrunkGrad;
      if (!(f && f(dims, xv, fv, ys, dyv, dWv, dbv, dxv, 0))) {
        // Layer by layer (the direct kernels do not apply): reluGradSumRows, then conv's filter and input gradients.
        let dyl = dyv;
        for (let l = L - 1; l >= 0; l--) {
          const d = dims.subarray(13 * l, 13 * l + 13);
          const dz = trunkTake(dyl.length);
          g.reluGradSumRows(dyl, ys[l] as Float32Array, dz, dbv[l] as Float32Array);
          const input = l === 0 ? xv : (ys[l - 1] as Float32Array);
          g.conv(2, d, input, dz, dWv[l] as Float32Array);
          if (l > 0 || dxv) {
            const next = l > 0 ? trunkTake(input.length) : (dxv as Float32Array);
            g.conv(1, d, dz, fv[l] as Float32Array, next);
            if (dyl !== dyv) trunkGive(dyl);
            dyl = next;
          }
          trunkGive(dz);
        }
        if (dyl !== dyv && dyl !== dxv) trunkGive(dyl);
      }
      kept.forEach(trunkGive);
      return [...dW, ...db, ...(dx ? [dx] : [])];
    }) as unknown as tf.KernelFunc,
  });
  tf.registerGradient({
    kernelName: TRUNK,
    saveAllInputs: true,
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const L = attrs['layers'] as number;
      const [x, ...weights] = saved.slice(0, 1 + 2 * L);
      const args = [x, dy as tf.Tensor, saved[1 + 2 * L] as tf.Tensor, ...weights] as unknown as tf.NamedTensorMap;
      // The weights' gradients in one kernel, now (outside the per-input tidies, so each thunk can return its own);
      // x's (never an image's) by its own kernel when asked, which recomputes the chain.
      const grads = tf.engine().runKernel<tf.Tensor[]>(TRUNK_GRAD, args, { ...attrs, dx: false });
      const out: Record<string, () => tf.Tensor> = {
        0: () => tf.engine().runKernel<tf.Tensor[]>(TRUNK_GRAD, args, { ...attrs, key: -1, dx: true })[2 * L] as tf.Tensor,
      };
      for (let i = 0; i < 2 * L; i++) out[1 + i] = () => grads[i] as tf.Tensor;
      return out;
    },
  });
}

const prod = (s: readonly number[]): number => s.reduce((p, d) => p * d, 1);

/** The GEMM through the addon, or null for cases left to the previous kernel. */
function nativeMatMul(
  g: Gemm,
  fused: boolean,
  { inputs, backend, attrs }: { inputs: Record<string, Info>; backend: WasmBackendLike; attrs: Record<string, unknown> },
): Info | null {
  const a = inputs['a'];
  const b = inputs['b'];
  if (!a || !b || a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return null;
  const tA = attrs['transposeA'] === true;
  const tB = attrs['transposeB'] === true;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const [a0, a1] = [a.shape[ra - 2] as number, a.shape[ra - 1] as number];
  const [b0, b1] = [b.shape[rb - 2] as number, b.shape[rb - 1] as number];
  const M = tA ? a1 : a0;
  const K = tA ? a0 : a1;
  const N = tB ? b0 : b1;
  if ((tB ? b1 : b0) !== K) return null; // the previous kernel throws tfjs's own shape error
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  let outer: number[];
  try {
    outer = tf.backend_util.assertAndGetBroadcastShape(outerA, outerB);
  } catch {
    return null;
  }
  const batch = prod(outer);
  const batchA = prod(outerA);
  const batchB = prod(outerB);
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) return null; // partial broadcast
  if (M * N * K * batch === 0) return null;
  let act = 0;
  let alpha = 0;
  let bias: Info | undefined;
  let biasMode = 0;
  if (fused) {
    if (inputs['preluActivationWeights']) return null;
    const code = GEMM_ACTIVATIONS[(attrs['activation'] as string | undefined) ?? 'linear'];
    if (code === undefined) return null;
    act = code;
    alpha = (attrs['leakyreluAlpha'] as number | undefined) ?? 0; // as wasm's kernel
    bias = inputs['bias'];
    if (bias) {
      if (bias.dtype !== 'float32') return null;
      const size = prod(bias.shape);
      if (size === N && (bias.shape.length === 0 || bias.shape[bias.shape.length - 1] === N) && bias.shape.length <= outer.length + 2) biasMode = 1;
      else if (size === 1) biasMode = 2;
      else return null;
    }
  }
  const out = backend.makeOutput([...outer, M, N], 'float32');
  // Views after the allocation (a heap growth detaches older views).
  const cv = backend.typedArrayFromHeap(out);
  g.sgemm(
    tA,
    tB,
    batch,
    M,
    N,
    K,
    backend.typedArrayFromHeap(a),
    batchA === 1 ? 0 : M * K,
    backend.typedArrayFromHeap(b),
    batchB === 1 ? 0 : K * N,
    cv,
    bias ? backend.typedArrayFromHeap(bias) : null,
    biasMode,
    act,
    alpha,
  );
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// wasm fixes. Kernels are composed from wasm's own kernel functions (as the wasm backend does internally), so no
// tensors are created inside a kernel and intermediates are released with backend.disposeData.

/** The subset of the wasm backend's interface the fixes use (the backend class is not exported with types we can import cleanly). */
interface KernelBackend {
  disposeData(dataId: object): boolean;
}
type Info = tf.TensorInfo;
type KFunc = (args: { inputs: Record<string, Info>; backend: unknown; attrs?: Record<string, unknown> }) => Info | Info[];

function wasmKernel(name: string): KFunc {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`wasm backend has no ${name} kernel`);
  return k.kernelFunc as unknown as KFunc;
}

function one(out: Info | Info[]): Info {
  const o = Array.isArray(out) ? out[0] : out;
  if (!o) throw new Error('kernel returned no output');
  return o;
}

let wasmFixesApplied: string[] | undefined;

/** Registers the wasm fixes (idempotent). Returns the names of the fixes. */
export function applyWasmFixes(): string[] {
  if (wasmFixesApplied) return wasmFixesApplied;
  const fixes: string[] = [];
  if (!tf.getKernel('Conv2DBackpropFilter', 'wasm')) {
    registerConv2DBackpropFilter();
    fixes.push('Conv2DBackpropFilter');
  }
  registerFastConv2DBackpropInput();
  fixes.push('Conv2DBackpropInput-subpixel');
  wrapSumOverLeadingAxes();
  fixes.push('Sum-leading-axes');
  for (const name of ['BatchMatMul', '_FusedMatMul']) {
    wrapMatMulTranspose(name);
    fixes.push(`${name}-explicit-transpose`);
  }
  shareIdentityBuffers();
  fixes.push('Identity-shared');
  wrapConcatRows();
  fixes.push('Concat-rows');
  registerLayerNorm();
  fixes.push('LayerNorm-kernel');

  wasmFixesApplied = fixes;
  return fixes;
}

/**
 * dW = im2col(x)^T dy as ONE GEMM: dW [kh*kw*ci, co] = colsT [kh*kw*ci, N*OH*OW] x dy [N*OH*OW, co], with the
 * transposed im2col matrix gathered in JS straight between wasm-heap views (padding = zeros). (Tried first: one dilated conv with batch and channels swapped, correct but 5-8x slower than
 * the forward conv as XNNPack handles its huge kernels poorly; per-tap wasm Slice/StridedSlice copy the whole input
 * per call.) GEMMs with a long inner dimension are XNNPack's fast path.
 */
function registerConv2DBackpropFilter(): void {
  const reshape = wasmKernel('Reshape');
  const matMul = wasmKernel('BatchMatMul');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: (({ inputs, backend, attrs }: { inputs: Record<string, Info>; backend: WasmBackendLike; attrs: Record<string, unknown> }) => {
      const x = inputs['x'];
      const dy = inputs['dy'];
      if (!x || !dy) throw new Error('Conv2DBackpropFilter: missing x or dy');
      const dataFormat = (attrs['dataFormat'] as 'NHWC' | 'NCHW' | undefined) ?? 'NHWC';
      if (dataFormat !== 'NHWC') throw new Error('Conv2DBackpropFilter (wasm fix): only NHWC is supported');
      const filterShape = attrs['filterShape'] as [number, number, number, number];
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number],
        filterShape,
        attrs['strides'] as [number, number] | number,
        (attrs['dilations'] as [number, number] | number | undefined) ?? 1,
        attrs['pad'] as 'valid' | 'same' | number,
        attrs['dimRoundingMode'] as 'floor' | 'round' | 'ceil' | undefined,
        false,
        'channelsLast',
      );
      const [kh, kw, ci, co] = filterShape;
      const [n, H, W] = x.shape as [number, number, number, number];
      const oh = info.outHeight;
      const ow = info.outWidth;
      const np = n * oh * ow;
      const kk = kh * kw * ci;
      const sh = info.strideHeight;
      const sw = info.strideWidth;
      const dh = info.dilationHeight;
      const dw = info.dilationWidth;
      const pT = info.padInfo.top;
      const pL = info.padInfo.left;
      // colsT [kh*kw*ci, N*OH*OW] gathered directly: for each output row (b, i) and filter row a, one input row of x
      // (W*ci floats, cache-hot) feeds kw*ci runs of OW destination floats. XNNPack packs (and caches by tensor) the
      // second GEMM operand, so the fresh big matrix goes first and the GEMM needs no transpose. (A [N*OH*OW, kk]
      // gather + wasm Transpose was 10x slower: wasm's transpose of tall matrices is cache-unfriendly.)
      const colsT = backend.makeOutput([kk, np], 'float32');
      // Views after the allocation (a heap growth detaches older views).
      const cv = backend.typedArrayFromHeap(colsT);
      const xv = backend.typedArrayFromHeap(x);
      for (let b = 0; b < n; b++) {
        for (let i = 0; i < oh; i++) {
          const p0 = (b * oh + i) * ow;
          for (let a = 0; a < kh; a++) {
            const r = i * sh + a * dh - pT;
            const inRow = r >= 0 && r < H;
            const rowBase = (b * H + r) * W;
            for (let c = 0; c < kw; c++) {
              const qOff = c * dw - pL;
              for (let k = 0; k < ci; k++) {
                const o = ((a * kw + c) * ci + k) * np + p0;
                if (!inRow) {
                  cv.fill(0, o, o + ow);
                  continue;
                }
                for (let j = 0; j < ow; j++) {
                  const q = j * sw + qOff;
                  cv[o + j] = q < 0 || q >= W ? 0 : (xv[(rowBase + q) * ci + k] as number);
                }
              }
            }
          }
        }
      }
      const dy2 = one(reshape({ inputs: { x: dy }, backend, attrs: { shape: [np, co] } }));
      const mmArgs = { inputs: { a: colsT, b: dy2 }, backend, attrs: { transposeA: false, transposeB: false } };
      const g = (activeGemm && nativeMatMul(activeGemm, false, mmArgs)) || one(matMul(mmArgs)); // [kk, co]
      backend.disposeData(dy2.dataId);
      backend.disposeData(colsT.dataId);
      const out = one(reshape({ inputs: { x: g }, backend, attrs: { shape: [kh, kw, ci, co] } }));
      backend.disposeData(g.dataId);
      return out;
    }) as unknown as tf.KernelFunc,
  });
}

/** The wasm backend methods the sub-pixel kernel uses to build its phase filter on the JS side. */
interface WasmBackendLike extends KernelBackend {
  readSync(dataId: object): Float32Array;
  makeOutput(shape: number[], dtype: 'float32'): Info;
  typedArrayFromHeap(info: Info): Float32Array;
}

/**
 * dx of a conv with stride s, kernel K (no dilation), as a sub-pixel conv. Writing i + padTop = q*s + r:
 *   dx[i] = sum_m dy[q - m] * W[r + s*m]     (m = 0..M-1, M = ceil(K/s))
 * i.e. for every phase r a stride-1 correlation of dy (padded by M-1 in front) with the flipped sub-filter
 * G_r[t] = W[r + s*(M-1-t)]. All s*s phases (rows x cols) are output channels of ONE conv
 * ([M, M, Co, s*s*Ci]); a transpose interleaves them (DepthToSpace) and a slice removes padTop/padLeft. Same FLOPs as the forward
 * conv times (M*s/K)^2 (16/9 for K=3, s=2), on XNNPack's fast path.
 */
function registerFastConv2DBackpropInput(): void {
  const orig = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (!orig) throw new Error('wasm backend has no Conv2DBackpropInput kernel');
  const origFunc = orig.kernelFunc as unknown as KFunc;
  const conv2d = wasmKernel('Conv2D');
  const transpose = wasmKernel('Transpose');
  const reshape = wasmKernel('Reshape');
  const slice = wasmKernel('Slice');
  tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  tf.registerKernel({
    ...orig,
    kernelFunc: (({ inputs, backend, attrs }: { inputs: Record<string, Info>; backend: WasmBackendLike; attrs: Record<string, unknown> }) => {
      const dy = inputs['dy'];
      const filter = inputs['filter'];
      if (!dy || !filter) throw new Error('Conv2DBackpropInput: missing dy or filter');
      const dataFormat = (attrs['dataFormat'] as string | undefined) ?? 'NHWC';
      const inputShape = attrs['inputShape'] as [number, number, number, number];
      const info = tf.backend_util.computeConv2DInfo(
        inputShape,
        filter.shape as [number, number, number, number],
        attrs['strides'] as [number, number] | number,
        1,
        attrs['pad'] as 'valid' | 'same' | number,
        attrs['dimRoundingMode'] as 'floor' | 'round' | 'ceil' | undefined,
        false,
        'channelsLast',
      );
      if (dataFormat !== 'NHWC' || info.dilationHeight !== 1 || info.dilationWidth !== 1) return origFunc({ inputs, backend, attrs });
      const [n, H, W, ci] = inputShape;
      const [kh, kw, , co] = filter.shape as [number, number, number, number];
      const sh = info.strideHeight;
      const sw = info.strideWidth;
      if (sh !== sw) return origFunc({ inputs, backend, attrs }); // DepthToSpace needs a square block
      const s = sh;
      const pT = info.padInfo.top;
      const pL = info.padInfo.left;
      const oh = dy.shape[1] as number;
      const ow = dy.shape[2] as number;
      const mh = Math.ceil(kh / s);
      const mw = Math.ceil(kw / s);
      const qRows = Math.ceil((pT + H) / s);
      const pCols = Math.ceil((pL + W) / s);
      // Phase filter G[t, u, co, (rh*s + rw)*ci + c] = W[rh + s*(mh-1-t), rw + s*(mw-1-u), c, co] (0 outside W).
      const wv = backend.readSync(filter.dataId);
      const g = backend.makeOutput([mh, mw, co, s * s * ci], 'float32');
      const gv = backend.typedArrayFromHeap(g);
      gv.fill(0);
      const outC = s * s * ci;
      for (let t = 0; t < mh; t++) {
        for (let u = 0; u < mw; u++) {
          for (let rh = 0; rh < s; rh++) {
            const a = rh + s * (mh - 1 - t);
            if (a >= kh) continue;
            for (let rw = 0; rw < s; rw++) {
              const b = rw + s * (mw - 1 - u);
              if (b >= kw) continue;
              for (let c = 0; c < ci; c++) {
                const src = ((a * kw + b) * ci + c) * co;
                const dst = (t * mw + u) * co * outC + (rh * s + rw) * ci + c;
                for (let o = 0; o < co; o++) gv[dst + o * outC] = wv[src + o] ?? 0;
              }
            }
          }
        }
      }
      // Rows of dy beyond qRows only reach dx rows >= H: pad at the bottom/right, never negative.
      const padB = Math.max(0, qRows - oh);
      const padR = Math.max(0, pCols - ow);
      let dyIn = dy;
      if (qRows < oh || pCols < ow) {
        dyIn = one(slice({ inputs: { x: dy }, backend, attrs: { begin: [0, 0, 0, 0], size: [n, Math.min(oh, qRows), Math.min(ow, pCols), co] } }));
      }
      const z = one(
        conv2d({
          inputs: { x: dyIn, filter: g },
          backend,
          attrs: {
            strides: [1, 1],
            dilations: [1, 1],
            dataFormat: 'NHWC',
            dimRoundingMode: undefined,
            pad: [
              [0, 0],
              [mh - 1, padB],
              [mw - 1, padR],
              [0, 0],
            ],
          },
        }),
      );
      backend.disposeData(g.dataId);
      if (dyIn !== dy) backend.disposeData(dyIn.dataId);
      // Interleave the phases (DepthToSpace; wasm's own kernel is a slow generic loop, a rank-4 transpose is fast):
      // [n*Q, P, s_r, s_c*ci] -> [n*Q, s_r, P, s_c*ci] -> [n, Q*s, P*s, ci].
      let y = z;
      if (s > 1) {
        const z4 = one(reshape({ inputs: { x: z }, backend, attrs: { shape: [n * qRows, pCols, s, s * ci] } }));
        const zt = one(transpose({ inputs: { x: z4 }, backend, attrs: { perm: [0, 2, 1, 3] } }));
        backend.disposeData(z4.dataId);
        backend.disposeData(z.dataId);
        y = one(reshape({ inputs: { x: zt }, backend, attrs: { shape: [n, qRows * s, pCols * s, ci] } }));
        backend.disposeData(zt.dataId);
      }
      if (pT === 0 && pL === 0 && y.shape[1] === H && y.shape[2] === W) return y;
      const out = one(slice({ inputs: { x: y }, backend, attrs: { begin: [0, pT, pL, 0], size: [n, H, W, ci] } }));
      backend.disposeData(y.dataId);
      return out;
    }) as unknown as tf.KernelFunc,
  });
}

/** Small sums over all axes but the last without wasm's transpose (tests switch it off to compare with wasm's Sum). */
let smallSums = true;
/** Switches the small leading-axes sums (Sum-leading-axes, fix 3) on or off; returns the previous setting. */
export function setSmallSums(on: boolean): boolean {
  const was = smallSums;
  smallSums = on;
  return was;
}

/**
 * Sum over all axes but the last (bias gradients) by a row loop on heap views; anything else goes to wasm's kernel.
 * From 1024 rows in double (sumRows); below, wasm's own sums (float, from 0, rows in order: the same bits) without
 * its transpose of the input, which cost more than the sums for the heads' [256, 256] bias gradients.
 */
/** out[k] = x[0][k] + x[1][k] + ... in float, from 0, rows in order (a Float32Array accumulator: each += is a float
 *  addition, as the double sum of two floats rounds to their float sum): the addon's sumRowsFloat without the addon. */
function sumRowsFloat(x: Float32Array, out: Float32Array, rows: number, c: number): void {
  const acc = new Float32Array(c);
  for (let p = 0, o = 0; p < rows; p++, o += c) for (let k = 0; k < c; k++) acc[k] = (acc[k] as number) + (x[o + k] as number);
  out.set(acc);
}

/** Replaces wasm's kernel `name` with make(its own kernelFunc), which the replacement falls back to. */
function replaceWasmKernel(name: string, make: (prev: KFunc) => unknown): void {
  const orig = tf.getKernel(name, 'wasm');
  if (!orig) throw new Error(`wasm backend has no ${name} kernel`);
  tf.unregisterKernel(name, 'wasm');
  // The wrappers type their own arguments (backends, attrs); tfjs calls them with its KernelFunc arguments.
  tf.registerKernel({ ...orig, kernelFunc: make(orig.kernelFunc as unknown as KFunc) as tf.KernelFunc });
}

function wrapSumOverLeadingAxes(): void {
  replaceWasmKernel(
    'Sum',
    (origFunc) =>
      ({ inputs, backend, attrs }: { inputs: Record<string, Info>; backend: WasmBackendLike; attrs: Record<string, unknown> }) => {
        const x = inputs['x'];
        if (!x) throw new Error('Sum: missing x');
        const r = x.shape.length;
        const rawAxes = attrs['axis'] as number | number[] | null | undefined;
        const axes = rawAxes == null ? [...Array(r).keys()] : (Array.isArray(rawAxes) ? rawAxes : [rawAxes]).map((a) => (a < 0 ? a + r : a));
        const leading = r >= 2 && axes.length === r - 1 && [...axes].sort((a, b) => a - b).every((a, i) => a === i);
        const c = x.shape[r - 1] ?? 0;
        const rows = c > 0 ? tf.util.sizeFromShape(x.shape) / c : 0;
        // wasm sums in the order of the axes as given (its transpose puts them innermost in that order): rows in order
        // only when they ascend.
        const small = smallSums && axes.every((a, i) => a === i);
        if (!leading || x.dtype !== 'float32' || rows < 1 || (rows < 1024 && !small)) return origFunc({ inputs, backend, attrs });
        const outShape = attrs['keepDims'] === true ? [...new Array<number>(r - 1).fill(1), c] : [c];
        const out = backend.makeOutput(outShape, 'float32');
        const ov = backend.typedArrayFromHeap(out);
        const xv = backend.typedArrayFromHeap(x);
        if (rows < 1024) {
          if (activeGemm?.sumRowsFloat) activeGemm.sumRowsFloat(xv, ov);
          else sumRowsFloat(xv, ov, rows, c);
          return out;
        }
        if (activeGemm) {
          activeGemm.sumRows(xv, ov);
          return out;
        }
        const acc = new Float64Array(c);
        for (let p = 0, o = 0; p < rows; p++, o += c) for (let k = 0; k < c; k++) acc[k] = (acc[k] as number) + (xv[o + k] as number);
        ov.set(acc);
        return out;
      },
  );
}

const LN = 'LayerNormLastAxis';
const LN_GRAD = 'LayerNormLastAxisGrad';

/**
 * y = (x - mean) / sqrt(var + eps) * gamma + beta over the last axis, as one kernel on wasm; null on other backends
 * (callers then use the op-based formula). gamma and beta have the size of the last axis.
 */
export function layerNormLastAxis(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor | null {
  if (tf.getBackend() !== 'wasm' || !tf.getKernel(LN, 'wasm') || x.dtype !== 'float32') return null;
  return tf.engine().runKernel<tf.Tensor>(LN, { x, gamma, beta }, { epsilon });
}

/** Row statistics of a [rows, c] view: mean and 1/sqrt(var + eps), two-pass in double precision. */
function rowStats(xv: Float32Array, o: number, c: number, eps: number): [number, number] {
  let mu = 0;
  for (let k = 0; k < c; k++) mu += xv[o + k] as number;
  mu /= c;
  let v = 0;
  for (let k = 0; k < c; k++) {
    const d = (xv[o + k] as number) - mu;
    v += d * d;
  }
  return [mu, 1 / Math.sqrt(v / c + eps)];
}

function registerLayerNorm(): void {
  tf.registerKernel({
    kernelName: LN,
    backendName: 'wasm',
    kernelFunc: (({ inputs, backend, attrs }: { inputs: Record<string, Info>; backend: WasmBackendLike; attrs: Record<string, unknown> }) => {
      const { x, gamma, beta } = inputs as { x: Info; gamma: Info; beta: Info };
      const eps = attrs['epsilon'] as number;
      const c = x.shape[x.shape.length - 1] ?? 1;
      const out = backend.makeOutput([...x.shape], 'float32');
      const yv = backend.typedArrayFromHeap(out);
      const xv = backend.typedArrayFromHeap(x);
      const gv = backend.typedArrayFromHeap(gamma);
      const bv = backend.typedArrayFromHeap(beta);
      if (gv.length !== c || bv.length !== c) throw new Error(`${LN}: gamma/beta have ${gv.length}/${bv.length} values, the last axis ${c}`);
      if (activeGemm) {
        activeGemm.layerNorm(xv, gv, bv, yv, eps);
        return out;
      }
      for (let o = 0; o < xv.length; o += c) {
        const [mu, r] = rowStats(xv, o, c, eps);
        for (let k = 0; k < c; k++) yv[o + k] = ((xv[o + k] as number) - mu) * r * (gv[k] as number) + (bv[k] as number);
      }
      return out;
    }) as unknown as tf.KernelFunc,
  });
  // dx = r * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma; dgamma = sum over rows of dy * xhat; dbeta = sum dy.
  tf.registerKernel({
    kernelName: LN_GRAD,
    backendName: 'wasm',
    kernelFunc: (({ inputs, backend, attrs }: { inputs: Record<string, Info>; backend: WasmBackendLike; attrs: Record<string, unknown> }) => {
      const { dy, x, gamma } = inputs as { dy: Info; x: Info; gamma: Info };
      const eps = attrs['epsilon'] as number;
      const c = x.shape[x.shape.length - 1] ?? 1;
      const dx = backend.makeOutput([...x.shape], 'float32');
      const dg = backend.makeOutput([c], 'float32');
      const db = backend.makeOutput([c], 'float32');
      const [dxv, dgv, dbv] = [backend.typedArrayFromHeap(dx), backend.typedArrayFromHeap(dg), backend.typedArrayFromHeap(db)];
      const [xv, dyv, gv] = [backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(dy), backend.typedArrayFromHeap(gamma)];
      if (activeGemm && c <= 65536) {
        activeGemm.layerNormGrad(dyv, xv, gv, dxv, dgv, dbv, eps);
        return [dx, dg, db];
      }
      const accG = new Float64Array(c);
      const accB = new Float64Array(c);
      const xhat = new Float64Array(c);
      const g = new Float64Array(c);
      for (let o = 0; o < xv.length; o += c) {
        const [mu, r] = rowStats(xv, o, c, eps);
        let s1 = 0;
        let s2 = 0;
        for (let k = 0; k < c; k++) {
          const xh = ((xv[o + k] as number) - mu) * r;
          const d = dyv[o + k] as number;
          const gk = d * (gv[k] as number);
          xhat[k] = xh;
          g[k] = gk;
          s1 += gk;
          s2 += gk * xh;
          accG[k] = (accG[k] as number) + d * xh;
          accB[k] = (accB[k] as number) + d;
        }
        s1 /= c;
        s2 /= c;
        for (let k = 0; k < c; k++) dxv[o + k] = r * ((g[k] as number) - s1 - (xhat[k] as number) * s2);
      }
      dgv.set(accG);
      dbv.set(accB);
      return [dx, dg, db];
    }) as unknown as tf.KernelFunc,
  });
  tf.registerGradient({
    kernelName: LN,
    inputsToSave: ['x', 'gamma'],
    gradFunc: (dy, saved, attrs) => {
      const [x, gamma] = saved as [tf.Tensor, tf.Tensor];
      // One kernel computes all three gradients; the closures hand them out (tfjs asks per input).
      const [dx, dg, db] = tf.engine().runKernel<tf.Tensor[]>(LN_GRAD, { dy: dy as tf.Tensor, x, gamma }, attrs);
      const gShape = gamma.shape;
      return { x: () => dx as tf.Tensor, gamma: () => tf.reshape(dg as tf.Tensor, gShape), beta: () => tf.reshape(db as tf.Tensor, gShape) };
    },
  });
}

/**
 * Concat of float32 tensors (the heads' inputs: features, proprio, action) by an element loop between heap views:
 * wasm's kernel copies each row of each input through a subarray, an object per row and input (0.08 ms for 256 rows
 * of 48 + 9 floats). The same values (a copy); other dtypes and any empty input go to wasm's kernel.
 */
function wrapConcatRows(): void {
  replaceWasmKernel('Concat', (origFunc) => (args: { inputs: Record<string, Info>; backend: WasmBackendLike; attrs: Record<string, unknown> }) => {
    const xs = Object.values(args.inputs); // the tensors in order (tfjs passes an array)
    const first = xs[0];
    if (!first || xs.length < 2 || xs.some((x) => x.dtype !== 'float32' || x.shape.length !== first.shape.length || prod(x.shape) === 0)) return origFunc(args);
    const r = first.shape.length;
    const a = tf.util.parseAxisParam(args.attrs['axis'] as number | number[], first.shape)[0] ?? 0;
    tf.backend_util.assertParamsConsistent(
      xs.map((x) => [...x.shape]),
      a,
    );
    const rows = prod(first.shape.slice(0, a));
    const widths = xs.map((x) => prod(x.shape.slice(a)));
    const width = widths.reduce((s, w) => s + w, 0);
    const outShape = [...first.shape];
    outShape[a] = xs.reduce((s, x) => s + (x.shape[a] as number), 0);
    if (r === 0 || prod(outShape) !== rows * width) return origFunc(args);
    const out = args.backend.makeOutput(outShape, 'float32');
    const ov = args.backend.typedArrayFromHeap(out);
    let col = 0;
    xs.forEach((x, i) => {
      copyColumns(args.backend.typedArrayFromHeap(x), ov, rows, widths[i] as number, width, col);
      col += widths[i] as number;
    });
    return out;
  });
}

/** out[p * width + col + k] = x[p * w + k] for p < rows, k < w. */
function copyColumns(x: Float32Array, out: Float32Array, rows: number, w: number, width: number, col: number): void {
  for (let p = 0, i = 0, o = col; p < rows; p++, o += width) for (let k = 0; k < w; k++, i++) out[o + k] = x[i] as number;
}

/** Identity, and Cast to the input's own dtype, return the input's buffer with one more reference (no copy). */
function shareIdentityBuffers(): void {
  for (const name of ['Identity', 'Cast']) {
    const orig = tf.getKernel(name, 'wasm');
    if (!orig) throw new Error(`wasm backend has no ${name} kernel`);
    const origFunc = orig.kernelFunc as unknown as KFunc;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({
      ...orig,
      kernelFunc: ((args: { inputs: Record<string, Info>; backend: KernelBackend & { incRef(dataId: object): void }; attrs: Record<string, unknown> }) => {
        const x = args.inputs['x'];
        if (!x || x.dtype === 'string' || (name === 'Cast' && args.attrs['dtype'] !== x.dtype)) return origFunc(args);
        args.backend.incRef(x.dataId);
        return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
      }) as unknown as tf.KernelFunc,
    });
  }
}

function wrapMatMulTranspose(name: string): void {
  const orig = tf.getKernel(name, 'wasm');
  if (!orig) throw new Error(`wasm backend has no ${name} kernel`);
  const origFunc = orig.kernelFunc as unknown as KFunc;
  const transpose = wasmKernel('Transpose');
  const tLast2 = (x: Info, backend: unknown): Info => {
    const r = x.shape.length;
    const perm = [...Array(r).keys()];
    perm[r - 2] = r - 1;
    perm[r - 1] = r - 2;
    return one(transpose({ inputs: { x }, backend, attrs: { perm } }));
  };
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({
    ...orig,
    kernelFunc: (({ inputs, backend, attrs }: { inputs: Record<string, Info>; backend: KernelBackend; attrs: Record<string, unknown> }) => {
      const tA = attrs['transposeA'] === true;
      const tB = attrs['transposeB'] === true;
      if (!tA && !tB) return origFunc({ inputs, backend, attrs });
      const a = inputs['a'];
      const b = inputs['b'];
      if (!a || !b) throw new Error(`${name}: missing a or b`);
      const a2 = tA ? tLast2(a, backend) : a;
      const b2 = tB ? tLast2(b, backend) : b;
      const out = origFunc({ inputs: { ...inputs, a: a2, b: b2 }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
      if (tA) backend.disposeData(a2.dataId);
      if (tB) backend.disposeData(b2.dataId);
      return out;
    }) as unknown as tf.KernelFunc,
  });
}
