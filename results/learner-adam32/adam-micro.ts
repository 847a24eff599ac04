// The addon's Adam, Adam + Polyak and Polyak alone on 830,000 parameters (a 10-critic ensemble's size), one thread,
// warm cache: ms per call, the mean of 200 calls after 20.   npx tsx results/learner-adam32/adam-micro.ts
import { initBackend, nativeGemm } from '../../src/learn/backend.ts';

await initBackend();
const g = nativeGemm();
if (!g) throw new Error('the native GEMM did not load (bash native/build.sh)');
g.setThreads(1);
const n = 830_000;
const mk = (): Float32Array => Float32Array.from({ length: n }, () => Math.random() * 1e-3);
const [w, gr, m, v, o, t, to] = [mk(), mk(), mk(), mk(), mk(), mk(), mk()] as Float32Array[] as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
const time = (f: () => void): string => {
  for (let i = 0; i < 20; i++) f();
  const s = performance.now();
  for (let i = 0; i < 200; i++) f();
  return ((performance.now() - s) / 200).toFixed(3);
};
console.log('adamPolyak', time(() => g.adamPolyak(w, gr, m, v, o, 3e-4, 0.9, 0.999, 1e-8, 0.5, 0.5, t, to, 0.005)));
console.log('adam', time(() => g.adam(w, gr, m, v, o, 3e-4, 0.9, 0.999, 1e-8, 0.5, 0.5)));
console.log('lerp', time(() => g.lerp(o, w, t, 0.005)));
