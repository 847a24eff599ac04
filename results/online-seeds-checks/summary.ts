// One table row per run: the /20 curve, learned / ground-truth success at the last evaluation, false / missed
// successes of the practice episodes against ground truth (as the daemon judged them, after the checks), refusals by
// each check (and how many of them were seated), wall time and load from the sweep log.
// Usage: npx tsx results/online-seeds-checks/summary.ts SWEEP_LOG RUN_DIR...   (RUN_DIR = .../seed-S-C)
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { openReadOnly } from '../../src/store/open.ts';

const [logFile, ...runs] = process.argv.slice(2);
const log = readFileSync(logFile!, 'utf8').split('\n');
console.log('| connector | seed | /20 at 0, 25, 50, 75, 100 | dip | learned / gt at 100 | false / missed per 100 | refused: lift / height (seated) | wall | load start / end |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const run of runs) {
  const m = /seed-(\d+)-(.+)$/.exec(basename(run));
  if (!m) continue;
  const [, seed, c] = m as unknown as [string, string, string];
  const curveFile = join(run, c, 'curve.json');
  if (!existsSync(curveFile)) continue;
  const curve = JSON.parse(readFileSync(curveFile, 'utf8')) as { successes: number; learnedSuccessRate: number | null; gtSuccessRate: number | null }[];
  const s = curve.map((p) => p.successes);
  const dip = Math.max(0, s[0]! - Math.min(...s.slice(1)));
  const last = curve.at(-1)!;
  const dbFile = readdirSync(join(run, c)).find((f) => /^daemon-.*\.db$/.test(f));
  const db = openReadOnly(join(run, c, dbFile!));
  const eps = db
    .prepare("SELECT outcome, reason, gt_success AS gt FROM episodes WHERE kind = 'practice' AND outcome IN ('success', 'failure') AND gt_success IS NOT NULL")
    .all() as { outcome: string; reason: string | null; gt: number }[];
  db.close();
  const f = eps.filter((e) => e.outcome === 'success' && !e.gt).length;
  const mi = eps.filter((e) => e.outcome === 'failure' && e.gt).length;
  const by = (re: RegExp): typeof eps => eps.filter((e) => e.reason !== null && re.test(e.reason));
  const [lift, height] = [by(/lift check/), by(/height check/)];
  const seated = [...new Set([...lift, ...height])].filter((e) => e.gt).length;
  const start = log.find((l) => l.includes(` start chk ${seed} ${c} `));
  const end = log.find((l) => l.includes(` end chk ${seed} ${c} `));
  const secs = end ? Number(/ (\d+)s /.exec(end)?.[1]) : NaN;
  const load = (l: string | undefined): string => (l ? (/load ([\d.]+)/.exec(l)?.[1] ?? '?') : '?');
  console.log(
    `| ${c} | ${seed} | ${s.join(' ')} | ${dip} | ${last.learnedSuccessRate?.toFixed(2)} / ${last.gtSuccessRate?.toFixed(2)} | ${f} / ${mi}${eps.length !== 100 ? ` (${eps.length} judged)` : ''} | ${lift.length} / ${height.length} (${seated}) | ${(secs / 60).toFixed(1)} min | ${load(start)} / ${load(end)} |`,
  );
}
