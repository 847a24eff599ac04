/**
 * `npm run bench` runs every bench/*.bench.ts one after another (never in parallel: they measure time),
 * or only the named ones: `npm run bench -- sim store`. Flags after the names go to each named benchmark and are
 * checked against its table (bench/commands.ts) before any runs: `npm run bench -- sim --quick`,
 * `npm run bench -- daemon --help`.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { commandUsage, formatRows, parseCommand } from '../src/cli/flags.ts';
import { BENCHES, BY_NAME_ONLY } from './commands.ts';

const here = import.meta.dirname;
const argv = process.argv.slice(2);
const firstFlag = argv.findIndex((a) => a.startsWith('-'));
const wanted = firstFlag < 0 ? argv : argv.slice(0, firstFlag);
const flags = firstFlag < 0 ? [] : argv.slice(firstFlag);
const names = BENCHES.map((b) => b.name);

if (!wanted.length && flags.some((a) => a === '--help' || a === '-h')) {
  console.log(
    [
      'Usage: npm run bench -- [NAME ...] [flags for them]',
      '',
      'Runs the named benchmarks (without names: all but ' +
        BY_NAME_ONLY.map((b) => b.name).join(', ') +
        ') one after another; figures printed and written to bench/results/NAME.json.',
      '`npm run bench -- NAME --help` lists the flags of one.',
      '',
      ...formatRows(BENCHES.map((b) => [b.name, b.about ?? ''])),
    ].join('\n'),
  );
  process.exit(0);
}
const unknown = wanted.filter((w) => !names.includes(w));
if (unknown.length) {
  console.error(`bench: unknown benchmark ${unknown.join(', ')}; available: ${names.join(', ')} (see --help)`);
  process.exit(2);
}
const chosen = BENCHES.filter((b) => (wanted.length ? wanted.includes(b.name) : !BY_NAME_ONLY.includes(b)));
// Every chosen benchmark's flags are checked first: a typo must not surface after an hour of the ones before it.
let help = false;
for (const b of chosen) {
  try {
    help = parseCommand(b, flags).help || help;
  } catch (e) {
    console.error(`bench ${b.name}: ${(e as Error).message}`);
    process.exit(2);
  }
}
if (help) {
  console.log(chosen.map((b) => commandUsage(b)).join('\n\n'));
  process.exit(0);
}
let failed = 0;
for (const b of chosen) {
  console.log(`\n=== ${b.name}.bench.ts ===`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, `${b.name}.bench.ts`), ...flags], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
console.log(`\nresults in ${join(here, 'results')}/`);
process.exit(failed ? 1 : 0);
