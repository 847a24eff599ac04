// Categories of `perf report --no-children --sort dso,sym --stdio` (cpu-clock samples of the whole process): where one
// 32x32 update's CPU goes. perf report -i FILE --no-children --sort dso,sym --stdio | npx tsx perf-cats.ts MS_PER_UPDATE
import { readFileSync } from 'node:fs';
const ms = Number(process.argv[2] ?? 100);
const cat = (dso: string, sym: string): string => {
  if (dso === 'gemm.node') {
    if (sym.startsWith('dc_tile')) return 'conv tiles (the FMAs)';
    if (sym.startsWith('dc_') || sym.startsWith('conv')) return 'conv glue (input runs, borders, prefetch, loops)';
    if (sym.startsWith('relu') || sym.startsWith('sum_rows')) return 'ReLU gradient + bias sums';
    if (sym.startsWith('GatherImages')) return 'image batch gather';
    if (/^(adam|ln_|lerp)/.test(sym)) return 'Adam, LayerNorm';
    return 'addon other';
  }
  if (dso.startsWith('libopenblas')) return 'OpenBLAS sgemm (dense layers)';
  if (dso.startsWith('libc')) return 'libc (memcpy/memset/malloc)';
  if (dso.startsWith('[JIT]')) return 'JIT code (tfjs JS, wasm kernels)';
  if (dso === 'node') {
    if (/Scaven|Mark|GC|Heap|Sweep|Ephemeron|Evacuat|Compact/.test(sym)) return 'V8 garbage collection';
    if (/compiler|Compil|Turbofan|Maglev|Parse|Scanner|Bytecode/.test(sym)) return 'V8 compilers';
    return 'V8 runtime/builtins (tfjs engine)';
  }
  if (dso.startsWith('[kernel')) return 'kernel';
  return 'other';
};
const cats = new Map<string, number>();
for (const line of readFileSync(0, 'utf8').split('\n')) {
  const m = /^\s*([0-9.]+)%\s+(.+?)\s+\[.\]\s+(\S+)/.exec(line);
  if (!m) continue;
  const k = cat(m[2] ?? '', m[3] ?? '');
  cats.set(k, (cats.get(k) ?? 0) + Number(m[1]));
}
const tot = [...cats.values()].reduce((a, b) => a + b, 0);
for (const [k, v] of [...cats].sort((a, b) => b[1] - a[1])) console.log(`${v.toFixed(1).padStart(6)} %  ${((v / tot) * ms).toFixed(1).padStart(6)} ms  ${k}`);
