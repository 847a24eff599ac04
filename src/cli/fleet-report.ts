/**
 * The fleet demo's report from the arms' own logs (src/cli/fleet-demo.ts writes it at the end of a run, and
 * `fleet-demo --report DIR[,DIR...]` rewrites it for finished runs):
 * - windows.md: ground-truth success of practice episodes per arm in windows counted from the first practice episode
 *   of any arm; each cell is the success rate, the episodes and how many ran on the offline policy;
 * - stalls.md (runs with faults): each arm through each fault from its log (not the demo's 3 s status samples, whose
 *   gaps include the demo's own pauses): practice episodes begun in the 60 s from the fault, the longest gap between
 *   two episode starts that overlaps that window, the arm's gaps over the whole run (median, p95, max) and its
 *   deadman trips there against its rate over the run;
 * - over several runs (seeds): each arm's success per window in every run, the mean and the worst, and a plot.
 * These replace results/fleet-demo/success-windows.py and fault-stalls.py; their numbers are formatted as Python's
 * `format` did (halves of the last digit round to even), so a recorded table and its rewrite compare byte for byte.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readLog } from '../store/index.ts';
import { fixed } from '../util/py-format.ts';
import { frame, points, polyline, SVG_CLOSE } from '../util/svg-chart.ts';

/** One practice episode as the report needs it. */
export interface ReportEpisode {
  startedAt: number;
  gtSuccess: boolean | null;
  policyVersion: string | null;
  domain: string;
  outcome: string | null;
}

export interface ArmLog {
  /** 'arm-N', from the file name. */
  name: string;
  /** Practice episodes in id order. */
  episodes: ReportEpisode[];
}

/** `x` with `d` decimals as Python's format does (util/py-format.ts). */
export const pyFixed = fixed;

/** Python's float floor division a // b (CPython float_divmod), for the window count. */
function pyFloorDiv(a: number, b: number): number {
  const mod = a % b;
  let div = (a - mod) / b;
  if (mod !== 0 && b < 0 !== mod < 0) div -= 1;
  let q = Math.floor(div);
  if (div - q > 0.5) q += 1;
  return q;
}

/** The arms' logs of a run folder (arm-N.db, in N order): their practice episodes. */
export function readArmLogs(runDir: string): ArmLog[] {
  const files = readdirSync(runDir)
    .map((f) => /^arm-(\d+)\.db$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((x, y) => Number(x[1]) - Number(y[1]));
  return files.map((m) =>
    // A run's log from an older build is read from a migrated copy; the run's file stays as it was.
    readLog(join(runDir, m[0]), (s) => {
      const eps = s.listEpisodes({ kind: 'practice', order: 'asc', limit: Number.MAX_SAFE_INTEGER });
      return {
        name: basename(m[0], '.db'),
        episodes: eps.map((e) => ({ startedAt: e.startedAt, gtSuccess: e.gtSuccess, policyVersion: e.policyVersion, domain: e.domain, outcome: e.outcome })),
      };
    }),
  );
}

export interface SuccessWindow {
  from: number;
  to: number;
  /** Per arm: null where it began no episode with a ground truth in the window. */
  cells: Array<{ rate: number; episodes: number; offline: number } | null>;
}

/** Success per arm in windows of `windowS` from the first practice episode (with a ground truth) of any arm. */
export function successWindows(arms: ArmLog[], windowS: number): { names: string[]; windows: SuccessWindow[] } {
  const data = arms.map((a) => a.episodes.filter((e) => e.gtSuccess !== null));
  const names = arms.map((a, i) => `${a.name} ${data[i]?.[0]?.domain ?? ''}`);
  const all = data.flat().map((e) => e.startedAt);
  if (!all.length) return { names, windows: [] };
  const t0 = Math.min(...all);
  const last = Math.max(...all);
  const w = windowS * 1000;
  const windows: SuccessWindow[] = [];
  for (let k = 0; k <= pyFloorDiv((last - t0) / 1000, windowS); k++)
    windows.push({
      from: k * windowS,
      to: (k + 1) * windowS,
      cells: data.map((rows) => {
        const inW = rows.filter((e) => k * w <= e.startedAt - t0 && e.startedAt - t0 < (k + 1) * w);
        if (!inW.length) return null;
        const wins = inW.filter((e) => e.gtSuccess === true).length;
        return { rate: wins / inW.length, episodes: inW.length, offline: inW.filter((e) => (e.policyVersion ?? '').includes('offline')).length };
      }),
    });
  return { names, windows };
}

export function successWindowsMd(r: { names: string[]; windows: SuccessWindow[] }): string {
  const lines = [`| window (s) | ${r.names.join(' | ')} |`, `|---|${'---|'.repeat(r.names.length)}`];
  for (const w of r.windows)
    lines.push(`| ${w.from}-${w.to} | ${w.cells.map((c) => (c ? `${pyFixed(c.rate, 2)} (${c.episodes} ep, ${c.offline} offline)` : '-')).join(' | ')} |`);
  return lines.join('\n') + '\n';
}

/** Reads a windows table as written by successWindowsMd (a run whose arm logs are gone keeps its windows.md). */
export function parseWindowsMd(md: string): { names: string[]; windows: SuccessWindow[] } {
  const rows = md.split('\n').filter((l) => l.startsWith('| '));
  const cellsOf = (l: string): string[] =>
    l
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
  const head = rows[0];
  if (!head || !/^\| window \(s\) \|/.test(head)) throw new Error(`not a windows table (its first row is '${head ?? ''}')`);
  const names = cellsOf(head).slice(1);
  const windows = rows.slice(1).map((l) => {
    const [span, ...cells] = cellsOf(l);
    const m = /^(\d+)-(\d+)$/.exec(span ?? '');
    if (!m) throw new Error(`windows table: '${span ?? ''}' is not a window`);
    return {
      from: Number(m[1]),
      to: Number(m[2]),
      cells: cells.map((c) => {
        const x = /^([\d.]+) \((\d+) ep, (\d+) offline\)$/.exec(c);
        return x ? { rate: Number(x[1]), episodes: Number(x[2]), offline: Number(x[3]) } : null;
      }),
    };
  });
  return { names, windows };
}

/** Each arm through each fault, from its log; `t0` is the wall time (ms) of the faults' t = 0. */
export function faultStallsMd(arms: ArmLog[], faults: Array<{ t: number; kind: string }>, t0: number): string {
  const W = 60_000;
  const lines = [
    '| fault (t s) | arm | episodes begun in the 60 s after | longest gap between episode starts there (s) | gaps over the run: median / p95 / max (s) | deadman trips there (per 60 s over the run) |',
    '|---|---|---|---|---|---|',
  ];
  for (const f of faults) {
    const tf = t0 + f.t * 1000;
    for (const a of arms) {
      // By start time, stable (the logs' id order among equal times).
      const rows = [...a.episodes].sort((x, y) => x.startedAt - y.startedAt);
      const starts = rows.map((r) => r.startedAt);
      const gaps = starts.slice(1).map((b, i) => b - starts[i]!);
      const inWin = starts.filter((s) => tf <= s && s <= tf + W).length;
      // Gaps that overlap [tf, tf + W].
      const over = starts.slice(1).flatMap((b, i) => (b >= tf && starts[i]! <= tf + W ? [b - starts[i]!] : []));
      const tripped = rows.filter((r) => tf <= r.startedAt && r.startedAt <= tf + W && r.outcome === 'tripped').length;
      const span = starts.length > 1 ? (starts.at(-1)! - starts[0]!) / 60_000 : 1;
      const rate = rows.filter((r) => r.outcome === 'tripped').length / span;
      const g = [...gaps].sort((x, y) => x - y);
      const p95 = g.length ? g[Math.min(g.length - 1, Math.trunc(0.95 * g.length))]! : 0;
      const median = g.length === 0 ? 0 : g.length % 2 ? g[(g.length - 1) / 2]! : (g[g.length / 2 - 1]! + g[g.length / 2]!) / 2;
      const s = (ms: number): string => pyFixed(ms / 1000, 1);
      lines.push(
        `| ${f.kind} (${pyFixed(f.t, 0)}) | ${a.name} | ${inWin} | ${s(Math.max(0, ...over))} | ${s(median)} / ${s(p95)} / ${s(g.length ? g.at(-1)! : 0)} | ${tripped} (${pyFixed(rate, 1)}) |`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

/** A finished run's windows: from its arms' logs, else from its recorded windows.md. */
export function runWindows(runDir: string, windowS: number): { names: string[]; windows: SuccessWindow[]; from: 'logs' | 'windows.md' } {
  const arms = readArmLogs(runDir);
  if (arms.length) return { ...successWindows(arms, windowS), from: 'logs' };
  const md = join(runDir, 'windows.md');
  if (!existsSync(md)) throw new Error(`${runDir}: no arm-N.db logs and no windows.md`);
  return { ...parseWindowsMd(readFileSync(md, 'utf8')), from: 'windows.md' };
}

export interface SeedRun {
  label: string;
  names: string[];
  windows: SuccessWindow[];
}

/** Per arm and window, each run's success, the mean and the worst over the runs; windows that start before `seconds`. */
export function seedsTable(
  runs: SeedRun[],
  seconds: number,
): { md: string; rows: Array<{ arm: string; from: number; to: number; rates: Array<number | null>; mean: number | null; worst: number | null }> } {
  const names = runs[0]?.names ?? [];
  for (const r of runs) if (r.names.join() !== names.join()) throw new Error(`${r.label}: arms ${r.names.join(', ')}, the first run has ${names.join(', ')}`);
  const spans = (runs[0]?.windows ?? []).filter((w) => w.from < seconds).map((w) => [w.from, w.to] as const);
  const rows = names.flatMap((arm, i) =>
    spans.map(([from, to]) => {
      const rates = runs.map((r) => r.windows.find((w) => w.from === from)?.cells[i]?.rate ?? null);
      const have = rates.filter((x): x is number => x !== null);
      return {
        arm,
        from,
        to,
        rates,
        mean: have.length === runs.length ? have.reduce((a, b) => a + b, 0) / have.length : null,
        worst: have.length === runs.length ? Math.min(...have) : null,
      };
    }),
  );
  const f = (x: number | null): string => (x === null ? '-' : pyFixed(x, 2));
  const md = [
    `| arm | window (s) | ${runs.map((r) => r.label).join(' | ')} | mean | worst |`,
    `|---|---|${'---|'.repeat(runs.length + 2)}`,
    ...rows.map((r) => `| ${r.arm} | ${r.from}-${r.to} | ${r.rates.map(f).join(' | ')} | **${f(r.mean)}** | ${f(r.worst)} |`),
  ].join('\n');
  return { md: md + '\n', rows };
}

/** Success per window against time: one colour per arm, a thin line per run, the mean thick. */
export function seedsSvg(runs: SeedRun[], seconds: number): string {
  const box = { W: 720, H: 360, L: 50, R: 190, T: 30, B: 40 };
  const { W, H, R, T, B, L } = box;
  const { rows } = seedsTable(runs, seconds);
  const names = runs[0]?.names ?? [];
  const xMax = Math.max(1, ...rows.map((r) => r.to));
  const { parts, x, y } = frame({
    box,
    xMax,
    root: ` viewBox="0 0 ${W} ${H}"`,
    title: {
      text: `Success per window (simulator ground truth) over ${runs.length} runs: thin each run, thick the mean`,
      x: L,
      y: 18,
      attrs: ' font-size="13"',
    },
    grid: { at: [0, 0.25, 0.5, 0.75, 1], label: String, stroke: '#eee', attrs: ' font-size="10" text-anchor="end"' },
    xTitle: { text: 'seconds from the first practice episode (window middles)', dy: 8, attrs: ' font-size="11" text-anchor="middle"' },
  });
  parts.push(
    `<text x="${W - R}" y="${H - B + 14}" font-size="10" text-anchor="end">${xMax.toFixed(0)}</text><text x="${L}" y="${H - B + 14}" font-size="10">0</text>`,
  );
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
  names.forEach((name, i) => {
    const c = colours[i % colours.length] as string;
    const mine = rows.filter((r) => r.arm === name);
    const mid = (r: { from: number; to: number }): number => x((r.from + r.to) / 2);
    runs.forEach((_, k) => {
      const pts = mine.flatMap((r): Array<[number, number]> => (r.rates[k] == null ? [] : [[mid(r), y(r.rates[k])]]));
      parts.push(polyline(points(pts), c, 1));
    });
    const mean = mine.flatMap((r): Array<[number, number]> => (r.mean === null ? [] : [[mid(r), y(r.mean)]]));
    parts.push(polyline(points(mean), c, 3), `<text x="${W - R + 10}" y="${T + 18 * i + 10}" fill="${c}" font-size="12">${name}</text>`);
  });
  parts.push(SVG_CLOSE);
  return parts.join('');
}
