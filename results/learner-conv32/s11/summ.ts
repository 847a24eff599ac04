// Per-run CPU and wall medians of ours (wasm+openblas) and PyTorch 1T from ab-bench.sh's JSON files, and each arm's
// range: npx tsx summ.ts DIR
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
interface Doc {
  figures: {
    summary: Array<{ name: string; engine: string; cpuMedianMs: number; medianMs: number }>;
    pytorch: Array<{ threads: number; rows: Array<{ name: string; cpuMedianMs: number; medianMs: number }> }>;
    loadAverageBefore: number[];
  };
}
const dir = process.argv[2] ?? '.';
const rows: Array<{ file: string; name: string; cpu: number; wall: number; tcpu?: number; twall?: number; load: number }> = [];
for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const fig = (JSON.parse(readFileSync(join(dir, file), 'utf8')) as Doc).figures;
  for (const s of fig.summary.filter((x) => x.engine === 'wasm+openblas')) {
    const t = fig.pytorch.find((r) => r.threads === 1)?.rows.find((r) => r.name === s.name);
    rows.push({ file, name: s.name, cpu: s.cpuMedianMs, wall: s.medianMs, tcpu: t?.cpuMedianMs, twall: t?.medianMs, load: fig.loadAverageBefore[0] ?? NaN });
  }
}
console.log('file | workload | ours CPU / wall ms | PyTorch 1T CPU / wall ms | CPU ratio | load');
for (const r of rows)
  console.log(
    `${r.file} | ${r.name} | ${r.cpu.toFixed(1)} / ${r.wall.toFixed(1)} | ${r.tcpu?.toFixed(1) ?? '-'} / ${r.twall?.toFixed(1) ?? '-'} | ${r.tcpu ? (r.tcpu / r.cpu).toFixed(2) + 'x' : '-'} | ${r.load.toFixed(2)}`,
  );
const range = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[0]?.toFixed(1)}-${s.at(-1)?.toFixed(1)} (median ${s[s.length >> 1]?.toFixed(1)})`;
};
for (const arm of ['base', 'branch']) {
  const mine = rows.filter((r) => r.file.startsWith(`${arm}-`));
  if (mine.length) console.log(`${arm}: ours CPU ${range(mine.map((r) => r.cpu))}; PyTorch CPU in its rounds ${range(mine.flatMap((r) => (r.tcpu ? [r.tcpu] : [])))} over ${mine.length} runs`);
}
const torch = rows.flatMap((r) => (r.tcpu ? [r.tcpu] : []));
if (torch.length) console.log(`PyTorch CPU, all ${torch.length} runs: ${range(torch)}`);
