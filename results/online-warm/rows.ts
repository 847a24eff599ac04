/** Per-run rows of results/online-warm/README.md from the runs' curve.json and time.txt (npx tsx rows.ts DIR...). */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

interface Point {
  practiceEpisodes: number;
  successes: number;
  learnedSuccessRate: number;
  gtSuccessRate: number;
  evidenceGate?: { open?: boolean; checks?: number; openedAt?: number };
}

for (const d of process.argv.slice(2)) {
  const n = basename(d.replace(/\/$/, ''));
  const parts = n.split('-');
  const c = parts.at(-1) ?? '';
  const s = parts[1] ?? '';
  const cj = join(d, c, 'curve.json');
  if (!existsSync(cj)) continue;
  const cur = JSON.parse(readFileSync(cj, 'utf8')) as Point[];
  const succ = cur.map((p) => p.successes);
  const off = succ[0] ?? 0;
  const fin = succ.at(-1) ?? 0;
  const dip = Math.max(0, off - Math.min(...succ));
  const last = cur.at(-1);
  const lg = last ? `${last.learnedSuccessRate.toFixed(2)} / ${last.gtSuccessRate.toFixed(2)}` : '-';
  let gate = '-';
  for (const p of cur) {
    const g = p.evidenceGate;
    if (g?.open && g.checks !== undefined) {
      gate = `open by ${p.practiceEpisodes} (check ${g.openedAt})`;
      break;
    }
    if (g?.open === false && p === last) gate = 'never opened';
  }
  let wall = '?';
  let load = '?';
  const tt = join(d, 'time.txt');
  if (existsSync(tt)) {
    const t = readFileSync(tt, 'utf8');
    const m = /([\d.]+) s wall/.exec(t);
    if (m) wall = `${Number(m[1]).toFixed(0)} s`;
    const loads = [...t.matchAll(/load average: ([\d.]+),/g)].map((x) => Number(x[1]));
    if (loads.length > 0) load = `${Math.min(...loads).toFixed(0)}-${Math.max(...loads).toFixed(0)}`;
  }
  console.log(`| ${c} | ${s} | ${succ.join(' ')} | ${off} | ${fin} | ${dip} | ${lg} | ${gate} | ${wall}, ${load} |`);
}
