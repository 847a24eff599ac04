// Usage: npx tsx results/learner-conv32/summ.ts DIR -> per worktree and workload, medians over rounds of ours
// (wasm+openblas, fused) and PyTorch 1 thread (wall, CPU), and the ratios. DIR holds learn.bench JSON files
// named <worktree>-<round>.json.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

type Row = { name: string; medianMs: number; cpuMedianMs: number };
type Fig = {
  summary: Array<Row & { engine: string; shareOfPeak: number }>;
  pytorch: Array<{ threads: number; rows: Row[] }>;
  loadAverageBefore: number[];
  loadAverageAfter: number[];
};
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const dir = process.argv[2];
if (!dir) throw new Error('usage: summ.ts DIR');
const groups = new Map<string, Array<{ w: number; c: number; tw: number; tc: number; load: string; share: number }>>();
for (const f of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const tree = f.slice(0, f.lastIndexOf('-'));
  const j = (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { figures: Fig }).figures;
  const t1 = j.pytorch.find((r) => r.threads === 1);
  const load = `${j.loadAverageBefore[0]!.toFixed(1)}-${j.loadAverageAfter[0]!.toFixed(1)}`;
  for (const s of j.summary) {
    if (s.engine !== 'wasm+openblas' && s.engine !== 'fused') continue;
    const tr = t1?.rows.find((r) => r.name === s.name);
    const key = [s.name.padEnd(28), tree.padEnd(14), s.engine.padEnd(13)].join(' ');
    const v = groups.get(key) ?? [];
    v.push({ w: s.medianMs, c: s.cpuMedianMs, tw: tr?.medianMs ?? NaN, tc: tr?.cpuMedianMs ?? NaN, load, share: s.shareOfPeak });
    groups.set(key, v);
  }
}
for (const [key, v] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
  const m = (k: 'w' | 'c' | 'tw' | 'tc' | 'share'): number => median(v.map((x) => x[k]));
  console.log(
    `${key} n=${v.length} ours ${m('w').toFixed(1)} ms (cpu ${m('c').toFixed(1)}) torch ${m('tw').toFixed(1)} (cpu ${m('tc').toFixed(1)})` +
      ` | per-run ratio median ${median(v.map((x) => x.tw / x.w)).toFixed(2)}x wall, ${median(v.map((x) => x.tc / x.c)).toFixed(2)}x cpu;` +
      ` ratio of medians ${(m('tw') / m('w')).toFixed(2)}x wall ${(m('tc') / m('c')).toFixed(2)}x cpu | share ${(100 * m('share')).toFixed(0)}%` +
      ` | loads ${v.map((x) => x.load).join(', ')}`,
  );
}
