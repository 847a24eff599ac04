// Each conv of the 32x32 encoder alone at batch 256 (and 32), the direct kernels' AVX2 tiles against the wide (AVX-512F)
// ones: CPU ms (best of 5) and GFLOP/s, and whether the outputs are bit-identical. Run: npx tsx convwide.ts
import { createRequire } from 'node:module';
import { loadGemm, DEFAULT_ADDON } from '../../src/learn/gemm.ts';
const g = loadGemm({ threads: 1 }).gemm!;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the raw addon, for its switches
const addon = createRequire(import.meta.url)(DEFAULT_ADDON) as any;
const cpu = (): number => g.threadCpuMs();
const best = (reps: number, f: () => void): number => {
  let b = Infinity;
  for (let k = 0; k < 5; k++) {
    const t0 = cpu();
    for (let r = 0; r < reps; r++) f();
    b = Math.min(b, (cpu() - t0) / reps);
  }
  return b;
};
const rnd = (n: number, s: number): Float32Array => Float32Array.from({ length: n }, (_, i) => ((i * 7919 + s) % 113) / 113 - 0.5);
const same = (a: Float32Array, b: Float32Array): boolean => a.every((v, i) => Object.is(v, b[i]));
for (const [H, ci, n] of [[32, 3, 256], [16, 32, 256], [8, 32, 256], [16, 32, 32]] as const) {
  const co = 32, OH = Math.ceil(H / 2);
  const dims = Int32Array.of(n, H, H, ci, 3, 3, co, 2, 2, 0, 0, OH, OH);
  const x = rnd(n * H * H * ci, 1), w = rnd(9 * ci * co, 2), dyv = rnd(n * OH * OH * co, 3), bias = rnd(co, 4);
  const fl = (2 * n * OH * OH * 9 * ci * co) / 1e6;
  const res: string[] = [];
  const outs: Float32Array[][] = [];
  for (const wide of [false, true]) {
    addon.setConvWide(wide);
    const y = new Float32Array(n * OH * OH * co), dx = new Float32Array(x.length), dw = new Float32Array(w.length);
    const f0 = best(3, () => addon.convBiasRelu(dims, x, w, bias, y));
    const f1 = ci % 16 === 0 ? best(3, () => g.conv(1, dims, dyv, w, dx)) : NaN;
    const f2 = best(3, () => g.conv(2, dims, x, dyv, dw));
    outs.push([y, dx, dw]);
    res.push(`${wide ? 'wide' : 'avx2'} fwd ${f0.toFixed(2)} ms ${(fl / f0).toFixed(0)} GF/s, dx ${f1.toFixed(2)} ms ${(fl / f1).toFixed(0)}, dw ${f2.toFixed(2)} ms ${(fl / f2).toFixed(0)}`);
  }
  const eq = outs[0]!.map((o, k) => same(o, outs[1]![k]!));
  console.log(`${n}x${H}x${H}x${ci}: ${res.join(' | ')} | bit-identical ${eq.join(' ')}`);
}
