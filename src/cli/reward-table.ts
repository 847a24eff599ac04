/**
 * Markdown tables of reward-classifier runs over seeds: per seed and held-out connector, means and worst per
 * configuration, one configuration against another per seed, where each errs by tip height, and the runs on
 * seatings that do not press. Reads what `train-reward --results` and `eval-reward --out` write; writes nothing.
 *
 *   npx tsx src/cli/reward-table.ts 'DAIB, image=a-seed0.json,a-seed1.json' 'ERM, image=b-seed0.json,b-seed1.json' \
 *     --pairs 1:2 --unpressed DIR > table.md
 *
 * Two layouts of the same figures: `compact` (results/reward-seeds/table.md) and `sections` (results/reward-depth/
 * table.md: headed sections, the error shares as a table, the unpressed runs per configuration and seed).
 * Numbers are printed as Python's format() would (both tables were first made by Python scripts): 1 decimal, or none
 * for shares and minutes.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { BalancedEvaluation } from '../learn/daib.ts';
import type { HeightErrors, RewardRow } from '../offline/reward.ts';
import { runIfMain } from '../util/args.ts';
import { fixed, mean } from '../util/py-format.ts';

export { fixed, mean };
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
      T.string({
        minLength: 1,
        description:
          "a directory of eval-reward --out JSONs on seatings that do not press: compact, one row per file named by it; sections, the file of each run's name, per configuration and seed",
        cli: { arg: 'DIR' },
      }),
    ),
    layout: T.enum(['compact', 'sections'], {
      default: 'compact',
      description: 'compact: tables and lines (results/reward-seeds); sections: headed sections, every figure a table (results/reward-depth)',
    }),
  }),
});

/** One configuration: a label, its files and their runs (in file order), and the held-out data they were scored on. */
export interface RewardConfig {
  label: string;
  rows: RewardRow[];
  /** Each file and the seed of its first run (null: none), for the unpressed report of the same name. */
  files: Array<{ path: string; seed: number | null }>;
  heldOutDb: string | null;
}

/** What eval-reward --out writes, as far as the tables read it. */
interface UnpressedReport {
  db?: string;
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
  let heldOutDb: string | null = null;
  const read = files.map((path) => {
    const j = readJson(path) as { rows?: unknown; heldOutDb?: unknown };
    if (!Array.isArray(j.rows)) throw new UsageError(`${path}: field 'rows' is missing (not a train-reward --results file)`);
    if (typeof j.heldOutDb === 'string') heldOutDb ??= j.heldOutDb;
    return { path, rows: j.rows as RewardRow[] };
  });
  return {
    label: arg.slice(0, eq),
    rows: read.flatMap((f) => f.rows),
    files: read.map((f) => ({ path: f.path, seed: f.rows[0]?.seed ?? null })),
    heldOutDb,
  };
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

export interface TableOptions {
  pairs: Array<[number, number]>;
  connectors?: string[];
  bins: string[];
  unpressed?: string;
  layout?: 'compact' | 'sections';
}

interface Run {
  seed: number;
  acc: number;
  per: Map<string, number>;
  errs: Map<string, Map<string, number>>;
  row: RewardRow;
}

/** Every table, as markdown lines. */
export function rewardTables(configs: RewardConfig[], o: TableOptions): string[] {
  const first = configs.find((c) => c.rows.length > 0)?.rows[0];
  const names = o.connectors ?? (first ? first.evaluation.perDomain.map((d) => d.name ?? String(d.domain)) : []);
  const runs: Run[][] = configs.map((c) =>
    c.rows.map((r) => {
      const per = perDomain(r.evaluation);
      const errs = new Map(r.errorsByHeight.map((b) => [b.name, new Map(b.bins.map((x) => [x.label, x.errorRate]))]));
      return { seed: r.seed, acc: r.evaluation.accuracy, per, errs, row: r };
    }),
  );
  for (const [a, b] of o.pairs) {
    if (!configs[a - 1] || !configs[b - 1]) throw new UsageError(`--pairs ${a}:${b}: there are ${configs.length} configurations`);
  }
  const t = { configs, runs, names, o };
  if (o.layout === 'sections') {
    const heldOut = configs.find((c) => c.heldOutDb !== null)?.heldOutDb;
    const unpressed = o.unpressed === undefined ? [] : unpressedPerRun(t, o.unpressed);
    return [
      `### Held-out prior data (${heldOut ? `\`${heldOut}\`` : 'held-out data'}), every run`,
      '',
      ...perSeedTable(t),
      '',
      '### Over seeds',
      '',
      ...overSeedsTable(t),
      '',
      '### Differences on common seeds (points)',
      '',
      ...differences(t).map(({ a, b, seeds }) => `- ${a} minus ${b}: ${seeds.map(([s, d]) => `seed ${s} ${signed(d)}`).join(', ')}`),
      '',
      `### Share of held-out frames called wrongly, mean over seeds (${o.bins.join(' / ')} above seated, %)`,
      '',
      `| configuration | ${names.join(' | ')} |`,
      `|---|${'---|'.repeat(names.length)}`,
      ...errorShares(t).map(({ label, cells }) => `| ${label} | ${cells.map((c) => c.join(' / ')).join(' | ')} |`),
      ...(o.unpressed === undefined
        ? []
        : [
            '',
            `### Seated without pressing (\`${unpressed.find((u) => u.report.db)?.report.db ?? o.unpressed}\`, P-controller, exact goal, fz = 0 N), every exported run`,
            '',
            `| configuration | seed | mean | ${names.join(' | ')} | seated frames wrong |`,
            `|---|---|---|${'---|'.repeat(names.length)}---|`,
            ...unpressed.map(({ label, seed, report: r, file }) => {
              const per = perDomain(r.evaluation);
              // Over seated frames (weighted by each connector's count), not over connectors as the compact layout.
              const seated = r.errorsByHeight.flatMap((b) => b.bins.filter((x) => x.label === 'seated'));
              const wrong =
                seated.reduce((a, x) => a + x.samples * x.errorRate, 0) /
                Math.max(
                  1,
                  seated.reduce((a, x) => a + x.samples, 0),
                );
              return `| ${label} | ${seed} | ${pct(r.evaluation.accuracy)} % | ${names.map((n) => pct(at(per, n, file))).join(' | ')} | ${pct(wrong, 0)} % |`;
            }),
          ]),
    ];
  }
  const out: string[] = [...perSeedTable(t), '', ...overSeedsTable(t), ''];
  for (const { a, b, seeds } of differences(t)) {
    out.push(
      `${a} - ${b}: ${seeds.map(([s, d]) => `seed ${s} ${signed(d)}`).join(', ')}; mean over these seeds ${signed(mean(seeds.map(([, d]) => d)))} points`,
    );
  }
  out.push('');
  out.push(`share of held-out frames called wrongly, mean over seeds (${o.bins[0] ?? ''} / unseated ${o.bins.slice(1).join(' / ')} above seated):`);
  for (const { label, cells } of errorShares(t)) out.push(`  ${label}: ${names.map((n, i) => `${n} ${(cells[i] ?? []).join(' / ')}`).join('; ')}`);
  if (o.unpressed !== undefined) {
    const files = readdirSync(o.unpressed)
      .sort()
      .filter((f) => f.endsWith('.json'));
    const reports = files.map((f) => ({ f, r: readJson(join(o.unpressed as string, f)) as UnpressedReport }));
    out.push('');
    out.push(`| unpressed seatings (${reports[0]?.r.db ?? 'data/heldout-p.db'}) | mean | ${names.join(' | ')} | seated frames wrong (mean over connectors) |`);
    out.push(`|---|---|${'---|'.repeat(names.length)}---|`);
    for (const { f, r } of reports) {
      const per = perDomain(r.evaluation);
      const seated = mean(r.errorsByHeight.flatMap((b) => b.bins.filter((x) => x.label === 'seated').map((x) => x.errorRate)));
      out.push(`| ${f.slice(0, -5)} | ${pct(r.evaluation.accuracy)} % | ${names.map((n) => pct(at(per, n, f))).join(' | ')} | ${pct(seated, 0)} % |`);
    }
  }
  return out;
}

interface Tables {
  configs: RewardConfig[];
  runs: Run[][];
  names: string[];
  o: TableOptions;
}

/** Every run: held-out accuracy, per connector, the worst, the domain probe, training minutes. */
function perSeedTable({ configs, runs, names }: Tables): string[] {
  const out = [
    `| configuration | seed | held-out | ${names.join(' | ')} | worst connector | probe on zI | training min |`,
    `|---|---|---|${'---|'.repeat(names.length)}---|---|---|`,
  ];
  configs.forEach((c, i) => {
    for (const { seed, acc, per, row } of runs[i] ?? []) {
      const worst = argmin([...per.keys()], (n) => at(per, n, c.label));
      const probe = row.domainProbe;
      out.push(
        `| ${c.label} | ${seed} | ${pct(acc)} % | ${names.map((n) => pct(at(per, n, `${c.label} seed ${seed}`))).join(' | ')} | ${worst} ${pct(at(per, worst, c.label))} | ${probe === null || probe === undefined ? '' : `${pct(probe)} %`} | ${fixed(row.seconds / 60, 0)} |`,
      );
    }
  });
  return out;
}

/** Per configuration: the mean and worst seed, and each connector's mean (worst). */
function overSeedsTable({ configs, runs, names }: Tables): string[] {
  const out = [
    `| configuration | seeds | mean | worst seed | ${names.map((n) => `${n} mean (worst)`).join(' | ')} |`,
    `|---|---|---|---|${'---|'.repeat(names.length)}`,
  ];
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
  return out;
}

/** Each --pairs A:B on the seeds both have: A's accuracy minus B's, per seed (pairs without a common seed left out). */
function differences({ configs, runs, o }: Tables): Array<{ a: string; b: string; seeds: Array<[number, number]> }> {
  return o.pairs.flatMap(([a, b]) => {
    const ca = configs[a - 1] as RewardConfig;
    const cb = configs[b - 1] as RewardConfig;
    const d = new Map((runs[a - 1] ?? []).map((r) => [r.seed, r.acc]));
    const e = new Map((runs[b - 1] ?? []).map((r) => [r.seed, r.acc]));
    const common = [...d.keys()].filter((s) => e.has(s)).sort((x, y) => x - y);
    if (common.length === 0) return [];
    return [{ a: ca.label, b: cb.label, seeds: common.map((s): [number, number] => [s, at(d, s, ca.label) - at(e, s, cb.label)]) }];
  });
}

/** Per configuration and connector: the share of frames called wrongly in each height bin, mean over seeds (%). */
function errorShares({ configs, runs, names, o }: Tables): Array<{ label: string; cells: string[][] }> {
  return configs.flatMap((c, i) => {
    const rs = runs[i] ?? [];
    if (rs.length === 0) return [];
    const cell = (n: string): string[] =>
      o.bins.map((b) => pct(mean(rs.map((r) => at(at(r.errs, n, `${c.label} errorsByHeight`), b, `${c.label} ${n} bin`))), 0));
    return [{ label: c.label, cells: names.map(cell) }];
  });
}

/** The unpressed report of each run that has one: DIR/<the run's file name>, in configuration and file order. */
function unpressedPerRun({ configs }: Tables, dir: string): Array<{ label: string; seed: number; file: string; report: UnpressedReport }> {
  return configs.flatMap((c) =>
    c.files.flatMap(({ path, seed }) => {
      const file = join(dir, basename(path));
      if (!existsSync(file) || seed === null) return [];
      return [{ label: c.label, seed, file, report: readJson(file) as UnpressedReport }];
    }),
  );
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
          layout: a.layout,
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
