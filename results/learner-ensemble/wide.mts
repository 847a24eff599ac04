// The ensemble's first layer as one wide GEMM against one GEMM per critic (the shapes of 10 critics on 60 inputs,
// batch 256), fp32 and bf16, one thread: caller CPU per ensemble pass, median of 15 rounds of 50.
//   npx tsx results/learner-ensemble/wide.mts
import os from 'node:os';
import { initBackend, nativeGemm, setGemmPrecision } from '../../src/learn/backend.ts';
await initBackend({ gemmThreads: 1 });
const g = nativeGemm()!;
const n = 256, k = 60, h = 256, C = 10;
const r = (m: number) => Float32Array.from({ length: m }, () => Math.random() - 0.5);
const x = r(n * k), W = r(C * k * h), Wwide = r(k * C * h), dz = r(C * n * h), dzWide = r(n * C * h);
const out = new Float32Array(C * n * h), dW = new Float32Array(C * k * h);
const cases: Record<string, () => void> = {
  'forward, one per critic': () => { for (let c = 0; c < C; c++) g.sgemm(false, false, 1, n, h, k, x, 0, W.subarray(c * k * h), 0, out.subarray(c * n * h), null, 0, 0, 0); },
  'forward, batched call': () => g.sgemm(false, false, C, n, h, k, x, 0, W, k * h, out, null, 0, 0, 0),
  'forward, one wide': () => g.sgemm(false, false, 1, n, C * h, k, x, 0, Wwide, 0, out, null, 0, 0, 0),
  'weight gradient, one per critic': () => { for (let c = 0; c < C; c++) g.sgemm(true, false, 1, k, h, n, x, 0, dz.subarray(c * n * h), 0, dW.subarray(c * k * h), null, 0, 0, 0); },
  'weight gradient, one wide': () => g.sgemm(true, false, 1, k, C * h, n, x, 0, dzWide, 0, dW, null, 0, 0, 0),
};
for (const p of ['fp32', 'bf16'] as const) {
  setGemmPrecision(p);
  for (const [name, f] of Object.entries(cases)) {
    const t: number[] = [];
    for (let i = 0; i < 15; i++) { const c0 = g.threadCpuMs(); for (let j = 0; j < 50; j++) f(); t.push((g.threadCpuMs() - c0) / 50); }
    t.sort((a, b) => a - b);
    const ms = t[7]!;
    console.log(`${p} ${name.padEnd(34)} ${(ms * 1000).toFixed(0).padStart(5)} us  ${((2 * C * n * h * k) / ms / 1e6).toFixed(0)} GFLOP/s`);
  }
}
console.log(`load ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}`);
process.exit(0);
