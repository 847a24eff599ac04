// The trunk kernels alone at the 32x32 encoder's shapes (batch 256, 1 thread, random data), groups of 4-32 images
// interleaved, 12 rounds, medians of the last 10 (main-thread CPU ms): npx tsx results/learner-conv32/s12/group.ts
import { initBackend, nativeGemm } from '../../../src/learn/backend.ts';
await initBackend({ gemmThreads: 1 });
const g = nativeGemm()!;
g.setThreads(1);
const N = 256;
const shapes = [[32, 32, 3], [16, 16, 32], [8, 8, 32]];
const dims = new Int32Array(39);
shapes.forEach(([h, w, c], l) => dims.set([N, h!, w!, c!, 3, 3, 32, 2, 2, 0, 0, h! / 2, w! / 2], 13 * l));
const rnd = (n: number): Float32Array => Float32Array.from({ length: n }, () => Math.random() - 0.4);
const x = rnd(N * 32 * 32 * 3);
const F = shapes.map(([, , c]) => rnd(9 * c! * 32));
const B = shapes.map(() => rnd(32));
const ys = shapes.map(([h, w]) => new Float32Array(N * (h! / 2) * (w! / 2) * 32));
const dy = rnd(ys[2]!.length);
const dF = F.map((f) => new Float32Array(f.length));
const dB = B.map((b) => new Float32Array(b.length));
const Gs = [4, 8, 16, 32];
const acc: Record<number, { f: number[]; k: number[]; b: number[] }> = {};
for (let r = 0; r < 12; r++)
  for (const G of r % 2 ? [...Gs].reverse() : Gs) {
    const a = (acc[G] ??= { f: [], k: [], b: [] });
    let c0 = g.threadCpuMs();
    g.convTrunk!(dims, x, F, B, [null, null, ys[2]!], G); a.f.push(g.threadCpuMs() - c0); c0 = g.threadCpuMs();
    g.convTrunk!(dims, x, F, B, ys, G); a.k.push(g.threadCpuMs() - c0); c0 = g.threadCpuMs();
    g.convTrunkGrad!(dims, x, F, ys, dy, dF, dB, null, G); a.b.push(g.threadCpuMs() - c0);
  }
const med = (v: number[]): string => [...v].sort((p, q) => p - q)[v.length >> 1]!.toFixed(2);
for (const G of Gs) console.log('G', G, 'fwd (no keep)', med(acc[G]!.f.slice(2)), 'fwd (keep)', med(acc[G]!.k.slice(2)), 'grad', med(acc[G]!.b.slice(2)));
