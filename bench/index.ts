/**
 * `npm run bench` runs every bench/*.bench.ts one after another (never in parallel: they measure time),
 * or only the named ones: `npm run bench -- sim store`.
 */
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const all = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort();
const wanted = process.argv.slice(2);
const chosen = wanted.length ? all.filter((f) => wanted.includes(f.replace(/\.bench\.ts$/, ''))) : all;
if (wanted.length && chosen.length !== wanted.length) {
  const names = all.map((f) => f.replace(/\.bench\.ts$/, ''));
  console.error(`unknown benchmark in [${wanted.join(', ')}]; available: ${names.join(', ')}`);
  process.exit(2);
}
let failed = 0;
for (const f of chosen) {
  console.log(`\n=== ${f} ===`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, f)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
console.log(`\nresults in ${join(here, 'results')}/`);
process.exit(failed ? 1 : 0);
