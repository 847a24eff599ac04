/**
 * Tensor backend selection for the learning core.
 *
 * Order: the native backend (`@tensorflow/tfjs-node`, name 'tensorflow') if it is installed AND loads; otherwise
 * `@tensorflow/tfjs-backend-wasm` with the project's own fixes (see PLATFORM.md, "Training with TensorFlow.js"):
 *  1. wasm has no `Conv2DBackpropFilter` kernel, so conv nets cannot be trained at all. We register one built from
 *     wasm's own kernels: the filter gradient of a conv is itself a conv (batch and channel axes swapped, the output
 *     gradient as the filter, the forward stride as the dilation).
 *  2. wasm's matMul only takes XNNPack's fast path without transposeA/transposeB, and backprop always transposes.
 *     We wrap `BatchMatMul` and `_FusedMatMul` to transpose the operand explicitly first.
 * The chosen backend name and the list of applied fixes go into every training log and model card.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

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
}

export interface InitBackendOptions {
  /** 'auto' (default): native if it loads, else wasm. 'wasm'/'cpu' force that backend (cpu is for tests only: 30-1000x slower). */
  prefer?: 'auto' | 'wasm' | 'cpu' | 'tensorflow';
}

let current: BackendInfo | undefined;

/** The backend chosen by the last `initBackend` call, or undefined before it. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

/** One-line description for training logs and model cards, e.g. "wasm (fixes: Conv2DBackpropFilter, BatchMatMul-transpose)". */
export function backendLabel(): string {
  if (!current) return 'uninitialised';
  return current.fixes.length ? `${current.name} (fixes: ${current.fixes.join(', ')})` : current.name;
}

export async function initBackend(opts: InitBackendOptions = {}): Promise<BackendInfo> {
  const prefer = opts.prefer ?? 'auto';
  let nativeError: string | undefined;
  if (prefer === 'auto' || prefer === 'tensorflow') {
    try {
      // A non-literal specifier keeps tsc from requiring the (optional, usually absent) package's types.
      const spec = '@tensorflow/tfjs-node';
      await import(spec);
      // A second tfjs-core copy (version mismatch) would register the backend elsewhere: check ours has it.
      if (tf.findBackendFactory('tensorflow') == null) throw new Error('tfjs-node loaded but registered no "tensorflow" backend in this tfjs-core (version mismatch?)');
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
  return current;
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
  for (const name of ['BatchMatMul', '_FusedMatMul']) {
    wrapMatMulTranspose(name);
    fixes.push(`${name}-explicit-transpose`);
  }
  wasmFixesApplied = fixes;
  return fixes;
}

function registerConv2DBackpropFilter(): void {
  const conv2d = wasmKernel('Conv2D');
  const transpose = wasmKernel('Transpose');
  const slice = wasmKernel('Slice');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: (({ inputs, backend, attrs }: { inputs: Record<string, Info>; backend: KernelBackend; attrs: Record<string, unknown> }) => {
      const x = inputs['x'];
      const dy = inputs['dy'];
      if (!x || !dy) throw new Error('Conv2DBackpropFilter: missing x or dy');
      const strides = attrs['strides'] as [number, number] | number;
      const pad = attrs['pad'] as 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
      const dataFormat = (attrs['dataFormat'] as 'NHWC' | 'NCHW' | undefined) ?? 'NHWC';
      const dimRoundingMode = attrs['dimRoundingMode'] as 'floor' | 'round' | 'ceil' | undefined;
      const filterShape = attrs['filterShape'] as [number, number, number, number];
      if (dataFormat !== 'NHWC') throw new Error('Conv2DBackpropFilter (wasm fix): only NHWC is supported');
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
      const [kh, kw, ci, co] = filterShape;
      // dW[kh,kw,ci,co] = sum_{n,oh,ow} xpad[n, oh*sh + kh, ow*sw + kw, ci] * dy[n,oh,ow,co]
      // = conv2d(input = x^T [ci,H,W,n], filter = dy^T [oh,ow,n,co], stride 1, dilation (sh,sw)) -> [ci,kh',kw',co]
      const xT = one(transpose({ inputs: { x }, backend, attrs: { perm: [3, 1, 2, 0] } }));
      const dyT = one(transpose({ inputs: { x: dy }, backend, attrs: { perm: [1, 2, 0, 3] } }));
      const p = info.padInfo;
      const convOut = one(conv2d({
        inputs: { x: xT, filter: dyT }, backend,
        attrs: {
          strides: [1, 1], dilations: [info.strideHeight, info.strideWidth], dataFormat: 'NHWC', dimRoundingMode: undefined,
          pad: [[0, 0], [p.top, p.bottom], [p.left, p.right], [0, 0]],
        },
      }));
      backend.disposeData(xT.dataId);
      backend.disposeData(dyT.dataId);
      // 'valid' convs that ignore trailing input rows leave extra rows here: keep the first kh x kw.
      let cropped = convOut;
      if (convOut.shape[1] !== kh || convOut.shape[2] !== kw) {
        cropped = one(slice({ inputs: { x: convOut }, backend, attrs: { begin: [0, 0, 0, 0], size: [ci, kh, kw, co] } }));
        backend.disposeData(convOut.dataId);
      }
      const out = one(transpose({ inputs: { x: cropped }, backend, attrs: { perm: [1, 2, 0, 3] } }));
      backend.disposeData(cropped.dataId);
      return out;
    }) as unknown as tf.KernelFunc,
  });
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
