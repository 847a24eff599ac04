// The seated end in each run's log: per run, for practice and for evaluation episodes, how many episodes the seated end
// closed, how many of those were not seated by ground truth where they ended (false ends), the logged transitions per
// episode (20 without the end: what the trainer's updates are owed for), and the ground-truth successes.
// Usage: npx tsx results/online-hold/ends.ts RUN_DIR...
import { statSync } from 'node:fs';
import { openReadOnly } from '../../src/store/open.ts';
import { runLogs } from '../../src/experiment/compare.ts';

console.log('| run | kind | episodes | seated ends | false ends (not seated there) | transitions per episode | ground-truth successes |');
console.log('|---|---|---|---|---|---|---|');
for (const run of process.argv.slice(2)) {
  if (!statSync(run).isDirectory()) continue;
  const file = runLogs(run)[0]?.db;
  if (!file) continue;
  const db = openReadOnly(file);
  const rows = db
    .prepare(
      `SELECT kind, COUNT(*) AS n, SUM(reason LIKE 'seated end:%') AS ends, SUM(reason LIKE 'seated end:%' AND gt_success = 0) AS falseEnds,
              SUM(gt_success) AS gt, (SELECT COUNT(*) FROM transitions t JOIN episodes f ON f.id = t.episode_id WHERE f.kind = e.kind) AS tr
       FROM episodes e WHERE kind IN ('practice', 'eval') GROUP BY kind ORDER BY kind DESC`,
    )
    .all() as { kind: string; n: number; ends: number; falseEnds: number; gt: number; tr: number }[];
  for (const r of rows) console.log(`| ${run.split('/').pop()} | ${r.kind} | ${r.n} | ${r.ends} | ${r.falseEnds} | ${(r.tr / r.n).toFixed(1)} | ${r.gt} |`);
  db.close();
}
