// Per-kernel wall time of one 32x32 IQL image-encoder update (kernels wrapped in place; inclusive of nested calls
// only at the top level: a kernel called from inside another is counted in both, so we track depth).
import * as tf from '@tensorflow/tfjs';
import { initBackend, nativeGemm } from '../../src/learn/backend.ts';
import { DEFAULT_IQL, IqlAgent, type IqlBatch, iqlDaibConfig } from '../../src/learn/iql.ts';
import { Rng } from '../../src/util/rng.ts';
import { BENCH_PROPRIO_SCALE } from "../../bench/models.ts";
await initBackend({ gemmThreads: 1 });
nativeGemm()?.setThreads(1);
const S = Number(process.argv[2] ?? 32);
const B = 256;
const cpuMs = (): number => nativeGemm()!.threadCpuMs();
const spent = new Map<string, { ms: number; calls: number; shapes: Map<string, { ms: number; calls: number }> }>();
let depth = 0;
let on = false;
const reg = tf.getKernelsForBackend('wasm');
for (const k of reg) {
  const f = k.kernelFunc;
  tf.unregisterKernel(k.kernelName, 'wasm');
  tf.registerKernel({
    ...k,
    kernelFunc: ((args: any) => {
      if (!on || depth > 0) return f(args);
      depth++;
      const t0 = cpuMs();
      const r = f(args);
      const ms = cpuMs() - t0;
      depth--;
      const s = spent.get(k.kernelName) ?? { ms: 0, calls: 0, shapes: new Map() };
      s.ms += ms;
      s.calls++;
      if (process.argv[4] !== 'v') { spent.set(k.kernelName, s); return r; }
      const key = Object.values(args.inputs as Record<string, tf.TensorInfo>).map((t) => t?.shape?.join('x')).join(',') + ' ' + JSON.stringify({ s: args.attrs?.strides, tA: args.attrs?.transposeA, tB: args.attrs?.transposeB, act: args.attrs?.activation });
      const sh = s.shapes.get(key) ?? { ms: 0, calls: 0 };
      sh.ms += ms;
      sh.calls++;
      s.shapes.set(key, sh);
      spent.set(k.kernelName, s);
      return r;
    }) as tf.KernelFunc,
  });
}
const agent = new IqlAgent({
  ...DEFAULT_IQL, mode: 'image', proprioDim: 9, proprioScale: BENCH_PROPRIO_SCALE, shiftPad: S / 16, seed: 1,
  daib: iqlDaibConfig({ numDomains: 8, encoder: { inputShape: [S, S, 3], filters: [32, 32, 32], kernelSize: 3, strides: [2, 2, 2], padding: 'same', zIDim: 32, zSDim: 16 } }),
});
const rng = new Rng(S);
const px = B * S * S * 3;
const img = (): Uint8Array => Uint8Array.from({ length: px }, () => rng.int(256));
const f = (k: number, s: number): Float32Array => Float32Array.from({ length: B * k }, () => rng.normal(0, s));
const batch: IqlBatch = {
  size: B, images: img(), nextImages: img(), proprio: f(9, 0.01), nextProprio: f(9, 0.01), action: f(3, 0.003),
  reward: Float32Array.from({ length: B }, () => (rng.bernoulli(0.3) ? 1 : 0)), done: new Float32Array(B),
  success: Uint8Array.from({ length: B }, () => (rng.bernoulli(0.3) ? 1 : 0)), domain: Int32Array.from({ length: B }, () => rng.int(8)),
};
const outside = new Map<string, number>();
const wrap = (obj: any, key: string, label: string): void => {
  const f = obj[key].bind(obj);
  obj[key] = (...a: unknown[]): unknown => {
    if (!on) return f(...a);
    const t0 = cpuMs();
    const saved = on;
    on = false; // kernels inside are not counted in the kernel table
    const r = f(...a);
    on = saved;
    outside.set(label, (outside.get(label) ?? 0) + cpuMs() - t0);
    return r;
  };
};
wrap(agent as any, 'imagesTensor', 'imagesTensor (gather)');
for (const k of ['pi', 'v', 'q']) wrap((agent as any).optimizers[k], 'applyGradients', 'adam');
for (let i = 0; i < 3; i++) agent.update(batch);
const N = Number(process.argv[3] ?? 5);
let total = 0;
const c0 = process.cpuUsage();
on = true;
for (let i = 0; i < N; i++) {
  const t0 = cpuMs();
  agent.update(batch);
  total += cpuMs() - t0;
}
on = false;
const c = process.cpuUsage(c0);
let ksum = 0;
const rows = [...spent.entries()].sort((a, b) => b[1].ms - a[1].ms);
for (const [, s] of rows) ksum += s.ms;
console.log(`update ${S}x${S}: thread cpu ${(total / N).toFixed(1)} ms, cpu ${((c.user + c.system) / 1000 / N).toFixed(1)} ms; kernels ${(ksum / N).toFixed(1)} ms; outside kernels ${((total - ksum) / N).toFixed(1)} ms`);
for (const [k, v] of outside) console.log(`outside: ${k} ${(v / N).toFixed(2)} ms`);
let calls = 0; for (const [, s] of rows) calls += s.calls; console.log(`kernel calls per update ${(calls / N).toFixed(0)}`);
for (const [name, s] of rows.slice(0, 25)) {
  console.log(`${name.padEnd(24)} ${(s.ms / N).toFixed(2).padStart(7)} ms  ${(s.calls / N).toFixed(0).padStart(4)} calls`);
  if (process.argv[4] === 'v') for (const [k, v] of [...s.shapes.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 8)) console.log(`     ${(v.ms / N).toFixed(2).padStart(7)} ms ${(v.calls / N).toFixed(0).padStart(3)}x ${k}`);
}
