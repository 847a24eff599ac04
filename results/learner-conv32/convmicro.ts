import { createRequire } from 'node:module';
import { loadGemm, DEFAULT_ADDON } from '../../src/learn/gemm.ts';
const g = loadGemm({ threads: 1 }).gemm!;
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
const rnd = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 113) / 113 - 0.5);
const err = (a: Float32Array, b: Float32Array): number => { let m = 0, s = 0; for (let i = 0; i < a.length; i++) { m = Math.max(m, Math.abs(a[i]! - b[i]!)); s = Math.max(s, Math.abs(b[i]!)); } return m / s; };
for (const [H, ci, pT, nn] of [[32, 3, 0, 256], [16, 32, 0, 256], [16, 32, 0, 32], [8, 32, 0, 256]]) {
  const n = nn, co = 32, OH = Math.ceil(H / 2);
  const dims = Int32Array.of(n, H, H, ci, 3, 3, co, 2, 2, pT, pT, OH, OH);
  const x = rnd(n * H * H * ci), w = rnd(9 * ci * co), dyv = rnd(n * OH * OH * co);
  const fl = 2 * n * OH * OH * 9 * ci * co / 1e6;
  const res: string[] = [];
  const outs: Float32Array[][] = [];
  for (const direct of [false, true]) {
    addon.setConvDirect(direct);
    const y = new Float32Array(n * OH * OH * co), dx = new Float32Array(x.length), dw = new Float32Array(w.length);
    const f0 = best(3, () => g.conv(0, dims, x, w, y));
    const f1 = best(3, () => g.conv(1, dims, dyv, w, dx));
    const f2 = best(3, () => g.conv(2, dims, x, dyv, dw));
    outs.push([y, dx, dw]);
    res.push(`${direct ? 'direct' : 'im2col'} fwd ${f0.toFixed(2)} ms ${(fl / f0).toFixed(0)} GF/s, dx ${f1.toFixed(2)} ms ${(fl / f1).toFixed(0)}, dw ${f2.toFixed(2)} ms ${(fl / f2).toFixed(0)}`);
  }
  console.log(`conv ${n}x${H}x${H}x${ci} pT=${pT}: ${res.join(' | ')} | rel err ${outs[0]!.map((o, k) => err(outs[1]![k]!, o).toExponential(1)).join(' ')}`);
}
