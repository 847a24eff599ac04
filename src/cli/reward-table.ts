/**
 * Markdown tables of reward-classifier runs over seeds: per seed and held-out connector, means and worst per
 * configuration, one configuration against another per seed, where each errs by tip height, and the runs on
 * seatings that do not press. Reads what `train-reward --results` and `eval-reward --out` write; writes nothing.
 *
 *   npx tsx src/cli/reward-table.ts 'DAIB, image=a-seed0.json,a-seed1.json' 'ERM, image=b-seed0.json,b-seed1.json' \
 *     --pairs 1:2 --unpressed DIR > table.md
 *
 * Numbers are printed as Python's format() would (results/reward-seeds/table.md was first made by a Python script):
 * 1 decimal, or none for shares and minutes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BalancedEvaluation } from '../learn/daib.ts';
import type { HeightErrors, RewardRow } from '../offline/reward.ts';
import { runIfMain } from '../util/args.ts';
import { command, existingFile, fromArgv, T, UsageError } from './flags.ts';

/** The command line, declared once (src/cli/flags.ts). */
export const REWARD_TABLE = command({
  name: 'reward-table',
  usage: 'npx tsx src/cli/reward-table.ts [flags]',
  positionals: "'LABEL=FILE[,FILE...]' ...",
  about: `Markdown tables of reward-classifier runs over seeds, from train-reward's --results files: one configuration per
argument (its label, then its files; their rows in file order), in table order.`,
  flags: T.object({
    pairs: T.optional(
      T.array(T.string({ pattern: '^[1-9][0-9]*:[1-9][0-9]*$' }), {
        uniqueItems: true,
        description: 'configurations compared seed by seed, A:B as their 1-based places among the arguments (A minus B)',
        cli: { arg: 'A:B,...', defaultText: 'none' },
      }),
    ),
    connectors: T.optional(
      T.array(T.string({ minLength: 1 }), { uniqueItems: true, description: 'connector columns', cli: { defaultText: "the first row's held-out connectors" } }),
    ),
    bins: T.array(T.string({ minLength: 1 }), {
      uniqueItems: true,
      default: ['seated', '0-3 mm', '3-6 mm'],
      description: 'height bins of the error table (labels as eval-reward writes them)',
    }),
    unpressed: T.optional(
      T.string({ minLength: 1, description: 'a directory of eval-reward --out JSONs: one row each, named by its file', cli: { arg: 'DIR' } }),
    ),
  }),
});

/** One configuration: a label and the runs of its files. */
export interface RewardConfig {
  label: string;
  rows: RewardRow[];
}

/** What eval-reward --out writes, as far as the tables read it. */
interface UnpressedReport {
  evaluation: BalancedEvaluation;
  errorsByHeight: HeightErrors[];
}

const readJson = (file: string): unknown => {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: ${(e as Error).message}`);
  }
};

/** `LABEL=FILE,FILE` as a configuration: the rows of each file in turn. */
export function readConfig(arg: string): RewardConfig {
  const eq = arg.lastIndexOf('=');
  if (eq <= 0 || eq === arg.length - 1) throw new UsageError(`'${arg}': expected LABEL=FILE[,FILE...]`);
  const files = arg.slice(eq + 1).split(',');
  const rows = files.flatMap((f) => {
    const r = (readJson(f) as { rows?: unknown }).rows;
    if (!Array.isArray(r)) throw new UsageError(`${f}: field 'rows' is missing (not a train-reward --results file)`);
    return r as RewardRow[];
  });
  return { label: arg.slice(0, eq), rows };
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Python's f'{x:.1f}' / f'{x:.0f}': the exact binary value rounded, an exact tie to even (toFixed takes it up). */
export function fixed(x: number, digits: number): string {
  const exact = x.toFixed(100); // every digit of a double of this size
  const point = exact.indexOf('.');
  if (!/^50*$/.test(exact.slice(point + 1 + digits))) return x.toFixed(digits);
  const kept = digits === 0 ? exact.slice(0, point) : exact.slice(0, point + 1 + digits);
  return Number(kept.at(-1)) % 2 === 0 ? kept : x.toFixed(digits);
}
const pct = (x: number, digits = 1): string => fixed(100 * x, digits);
const signed = (x: number): string => `${x >= 0 ? '+' : ''}${pct(x)}`;
/** The first smallest, as Python's min(..., key=...). */
function argmin<T>(xs: T[], key: (x: T) => number): T {
  return xs.reduce((best, x) => (key(x) < key(best) ? x : best));
}
const perDomain = (e: BalancedEvaluation): Map<string, number> => new Map(e.perDomain.map((d) => [d.name ?? String(d.domain), d.accuracy]));
function at<K, V>(m: Map<K, V>, k: K, what: string): V {
  const v = m.get(k);
  if (v === undefined) throw new UsageError(`${what}: ${String(k)} is missing`);
  return v;
}

/** Every table, as markdown lines. */
export function rewardTables(
  configs: RewardConfig[],
  o: { pairs: Array<[number, number]>; connectors?: string[]; bins: string[]; unpressed?: string },
): string[] {
  const first = configs.find((c) => c.rows.length > 0)?.rows[0];
  const names = o.connectors ?? (first ? first.evaluation.perDomain.map((d) => d.name ?? String(d.domain)) : []);
  const out: string[] = [];
  out.push(`| configuration | seed | held-out | ${names.join(' | ')} | worst connector | probe on zI | training min |`);
  out.push(`|---|---|---|${'---|'.repeat(names.length)}---|---|---|`);
  const runs = configs.map((c) =>
    c.rows.map((r) => {
      const per = perDomain(r.evaluation);
      const errs = new Map(r.errorsByHeight.map((b) => [b.name, new Map(b.bins.map((x) => [x.label, x.errorRate]))]));
      return { seed: r.seed, acc: r.evaluation.accuracy, per, errs, row: r };
    }),
  );
  configs.forEach((c, i) => {
    for (const { seed, acc, per, row } of runs[i] ?? []) {
      const worst = argmin([...per.keys()], (n) => at(per, n, c.label));
      const probe = row.domainProbe;
      out.push(
        `| ${c.label} | ${seed} | ${pct(acc)} % | ${names.map((n) => pct(at(per, n, `${c.label} seed ${seed}`))).join(' | ')} | ${worst} ${pct(at(per, worst, c.label))} | ${probe === null || probe === undefined ? '' : `${pct(probe)} %`} | ${fixed(row.seconds / 60, 0)} |`,
      );
    }
  });
  out.push('');
  out.push(`| configuration | seeds | mean | worst seed | ${names.map((n) => `${n} mean (worst)`).join(' | ')} |`);
  out.push(`|---|---|---|---|${'---|'.repeat(names.length)}`);
  configs.forEach((c, i) => {
    const rs = runs[i] ?? [];
    if (rs.length === 0) return;
    const w = argmin(rs, (r) => r.acc);
    const cells = names.map((n) => {
      const xs = rs.map((r) => at(r.per, n, c.label));
      return `${pct(mean(xs))} (${pct(Math.min(...xs))})`;
    });
    out.push(
      `| ${c.label} | ${rs.map((r) => r.seed).join(',')} | ${pct(mean(rs.map((r) => r.acc)))} % | ${pct(w.acc)} % (seed ${w.seed}) | ${cells.join(' | ')} |`,
    );
  });
  out.push('');
  for (const [a, b] of o.pairs) {
    const ca = configs[a - 1];
    const cb = configs[b - 1];
    if (!ca || !cb) throw new UsageError(`--pairs ${a}:${b}: there are ${configs.length} configurations`);
    const d = new Map((runs[a - 1] ?? []).map((r) => [r.seed, r.acc]));
    const e = new Map((runs[b - 1] ?? []).map((r) => [r.seed, r.acc]));
    const common = [...d.keys()].filter((s) => e.has(s)).sort((x, y) => x - y);
    if (common.length === 0) continue;
    const diff = (s: number): number => at(d, s, ca.label) - at(e, s, cb.label);
    out.push(
      `${ca.label} - ${cb.label}: ${common.map((s) => `seed ${s} ${signed(diff(s))}`).join(', ')}; mean over these seeds ${signed(mean(common.map(diff)))} points`,
    );
  }
  out.push('');
  out.push(`share of held-out frames called wrongly, mean over seeds (${o.bins[0] ?? ''} / unseated ${o.bins.slice(1).join(' / ')} above seated):`);
  configs.forEach((c, i) => {
    const rs = runs[i] ?? [];
    if (rs.length === 0) return;
    const cell = (n: string): string =>
      `${n} ${o.bins.map((b) => pct(mean(rs.map((r) => at(at(r.errs, n, `${c.label} errorsByHeight`), b, `${c.label} ${n} bin`))), 0)).join(' / ')}`;
    out.push(`  ${c.label}: ${names.map(cell).join('; ')}`);
  });
  if (o.unpressed !== undefined) {
    out.push('');
    out.push(`| unpressed seatings (data/heldout-p.db) | mean | ${names.join(' | ')} | seated frames wrong (mean over connectors) |`);
    out.push(`|---|---|${'---|'.repeat(names.length)}---|`);
    for (const f of readdirSync(o.unpressed).sort()) {
      if (!f.endsWith('.json')) continue;
      const r = readJson(join(o.unpressed, f)) as UnpressedReport;
      const per = perDomain(r.evaluation);
      const seated = mean(r.errorsByHeight.flatMap((b) => b.bins.filter((x) => x.label === 'seated').map((x) => x.errorRate)));
      out.push(`| ${f.slice(0, -5)} | ${pct(r.evaluation.accuracy)} % | ${names.map((n) => pct(at(per, n, f))).join(' | ')} | ${pct(seated, 0)} % |`);
    }
  }
  return out;
}

export function main(
  argv: string[],
  print: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
  err: (text: string) => void = (t) => process.stderr.write(t),
): number {
  const r = fromArgv(
    REWARD_TABLE,
    argv,
    (a, p) => {
      if (p.positionals.length === 0) throw new UsageError("no configurations: give one 'LABEL=FILE[,FILE...]' per configuration");
      const configs = p.positionals.map(readConfig);
      const pairs = (a.pairs ?? []).map((s) => s.split(':').map(Number) as [number, number]);
      return {
        configs,
        o: {
          pairs,
          bins: a.bins,
          ...(a.connectors ? { connectors: a.connectors } : {}),
          ...(a.unpressed ? { unpressed: existingFile('--unpressed', a.unpressed) } : {}),
        },
      };
    },
    { out: (t) => print(t.replace(/\n$/, '')), err },
  );
  if (typeof r === 'number') return r;
  for (const line of rewardTables(r.configs, r.o)) print(line);
  return 0;
}

runIfMain(import.meta.url, 'reward-table', async () => main(process.argv.slice(2)));
